package dev.parti.kafka.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.kafka.KafkaAssignorStrategy;
import dev.parti.strategy.Strategies;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.junit.jupiter.api.Test;

/** The leader's strategy over members with different subscriptions (each member's metadata). */
class SubscriptionStrategyTest {
    private static List<Partition> topic(String name, int n) {
        List<Partition> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(Partition.of(name, Integer.toString(i)));
        }
        return out;
    }

    private static Worker member(String id, String subscription) {
        return new Worker(id, 1, subscription == null ? Map.of() : Map.of(SubscriptionState.METADATA_KEY, subscription));
    }

    /** Every partition of a subscribed topic is given once, only to a subscriber; each set of subscribers is balanced. */
    @Property(tries = 200)
    void everyMemberGetsOnlyItsTopicsAndEveryPartitionIsGivenOnce(@ForAll @IntRange(min = 1, max = 6) int a,
                                                                  @ForAll @IntRange(min = 1, max = 6) int b,
                                                                  @ForAll @IntRange(min = 0, max = 6) int c,
                                                                  @ForAll("strategies") String name) {
        List<Partition> partitions = new ArrayList<>(topic("a", a));
        partitions.addAll(topic("b", b));
        partitions.addAll(topic("c", c));
        List<Worker> workers = List.of(member("w-0", "topics:a,b"), member("w-1", "topics:a"),
                member("w-2", "java:0:[bc]"), member("w-3", "re2j:c"));
        AssignmentStrategy inner = name.equals("range") ? new KafkaAssignorStrategy(new RangeAssignor()) : Strategies.byName(name);
        Map<String, List<Partition>> result = new SubscriptionStrategy(inner).assign(Request.fresh(workers, partitions));
        assertThat(result.keySet()).containsExactlyInAnyOrder("w-0", "w-1", "w-2", "w-3");
        List<Partition> given = new ArrayList<>();
        result.values().forEach(given::addAll);
        assertThat(given).containsExactlyInAnyOrderElementsOf(partitions);
        assertThat(result.get("w-1")).allSatisfy(p -> assertThat(p.keys().get(0)).isEqualTo("a"));
        assertThat(result.get("w-0")).allSatisfy(p -> assertThat(p.keys().get(0)).isIn("a", "b"));
        assertThat(result.get("w-2")).allSatisfy(p -> assertThat(p.keys().get(0)).isIn("b", "c"));
        assertThat(result.get("w-3")).allSatisfy(p -> assertThat(p.keys().get(0)).isEqualTo("c"));
        // topic a is shared by w-0 and w-1 only: split between them as evenly as the strategy does
        long aOf0 = result.get("w-0").stream().filter(p -> p.keys().get(0).equals("a")).count();
        long aOf1 = result.get("w-1").stream().filter(p -> p.keys().get(0).equals("a")).count();
        assertThat(Math.abs(aOf0 - aOf1)).isLessThanOrEqualTo(1);
    }

    @net.jqwik.api.Provide
    net.jqwik.api.Arbitrary<String> strategies() {
        return net.jqwik.api.Arbitraries.of("sticky-balanced", "round-robin", "range");
    }

    /** A member of an older release publishes no subscription: it counts as subscribed to every topic. */
    @Test
    void aMemberWithoutASubscriptionCountsAsSubscribedToEverything() {
        List<Partition> partitions = new ArrayList<>(topic("a", 2));
        partitions.addAll(topic("b", 2));
        Map<String, List<Partition>> result = new SubscriptionStrategy(Strategies.byName("round-robin"))
                .assign(Request.fresh(List.of(member("w-0", null), member("w-1", "topics:a")), partitions));
        assertThat(result.get("w-0")).extracting(p -> p.keys().get(0)).contains("b");
        assertThat(result.get("w-1")).allSatisfy(p -> assertThat(p.keys().get(0)).isEqualTo("a"));
        assertThat(result.get("w-0").size() + result.get("w-1").size()).isEqualTo(4);
    }
}
