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

    /**
     * A rolling migration's switch: members that publish what their Kafka sides own, balanced and disjoint, and no
     * previous Parti assignment (Parti's cold start). Sticky strategies keep every partition where it is: nothing moves.
     */
    @Property(tries = 200)
    void atTheSwitchABalancedKafkaAssignmentIsKeptWhole(@ForAll @IntRange(min = 1, max = 6) int members,
                                                        @ForAll @IntRange(min = 0, max = 40) int partitionCount,
                                                        @ForAll long shuffleSeed,
                                                        @ForAll("sticky") String name) {
        List<Partition> partitions = topic("orders", partitionCount);
        List<Partition> shuffled = new ArrayList<>(partitions);
        java.util.Collections.shuffle(shuffled, new java.util.Random(shuffleSeed));
        Map<String, java.util.Set<org.apache.kafka.common.TopicPartition>> kafka = new java.util.TreeMap<>();
        for (int m = 0; m < members; m++) {
            kafka.put("w-" + m, new java.util.HashSet<>());
        }
        for (int i = 0; i < shuffled.size(); i++) { // dealt round robin: balanced, each member's share scattered
            kafka.get("w-" + (i % members)).add(KafkaPartitions.toTopicPartition(shuffled.get(i)));
        }
        List<Worker> workers = new ArrayList<>();
        for (Map.Entry<String, java.util.Set<org.apache.kafka.common.TopicPartition>> e : kafka.entrySet()) {
            Map<String, String> metadata = new java.util.HashMap<>(Map.of(SubscriptionState.METADATA_KEY, "topics:orders"));
            String owned = SubscriptionStrategy.encodeOwned(e.getValue());
            if (owned != null) {
                metadata.put(PartiConsumerDelegate.BRIDGE_OWNED_METADATA, owned);
            }
            workers.add(new Worker(e.getKey(), 1, metadata));
        }
        AssignmentStrategy inner = name.equals("cooperative-sticky")
                ? new KafkaAssignorStrategy(new org.apache.kafka.clients.consumer.CooperativeStickyAssignor())
                : Strategies.byName(name);
        Map<String, List<Partition>> result = new SubscriptionStrategy(inner).assign(Request.fresh(workers, partitions));
        for (Map.Entry<String, java.util.Set<org.apache.kafka.common.TopicPartition>> e : kafka.entrySet()) {
            assertThat(KafkaPartitions.toTopicPartitions(result.getOrDefault(e.getKey(), List.of())))
                    .as("%s keeps what it owned in Kafka", e.getKey()).containsExactlyInAnyOrderElementsOf(e.getValue());
        }
    }

    @net.jqwik.api.Provide
    net.jqwik.api.Arbitrary<String> sticky() {
        return net.jqwik.api.Arbitraries.of("sticky-balanced", "cooperative-sticky");
    }

    /**
     * Once Parti has assigned (a previous assignment exists), what members say they owned in Kafka is not read: a
     * member joining later, or a stale claim, never moves a partition away from an owner Parti knows.
     */
    @Test
    void afterPartisFirstAssignmentWhatAMemberOwnedInKafkaIsNotRead() {
        List<Partition> partitions = topic("orders", 4);
        Map<String, String> claimsAll = Map.of(SubscriptionState.METADATA_KEY, "topics:orders",
                PartiConsumerDelegate.BRIDGE_OWNED_METADATA, "orders:0,1,2,3");
        List<Worker> workers = List.of(new Worker("w-0", 1, claimsAll), new Worker("w-1", 1, claimsAll),
                new Worker("w-2", 1, claimsAll));
        Map<String, java.util.Set<Partition>> previous = Map.of("w-1", java.util.Set.copyOf(partitions));
        assertThat(SubscriptionStrategy.withOwnedInKafka(new Request(workers, partitions, previous))).isEqualTo(previous);
        Map<String, List<Partition>> seeded = new SubscriptionStrategy(Strategies.byName("sticky-balanced"))
                .assign(new Request(workers, partitions, previous));
        Map<String, List<Partition>> plain = Strategies.byName("sticky-balanced").assign(new Request(
                List.of(member("w-0", null), member("w-1", null), member("w-2", null)), partitions, previous));
        assertThat(seeded).isEqualTo(plain);

        assertThat(SubscriptionStrategy.encodeOwned(java.util.Set.of())).isNull();
        assertThat(SubscriptionStrategy.ownedInKafka(new Worker("w-9", 1, Map.of(PartiConsumerDelegate.BRIDGE_OWNED_METADATA,
                "orders:x")))).as("unreadable: ignored").isEmpty();
        java.util.Set<org.apache.kafka.common.TopicPartition> many = new java.util.HashSet<>();
        for (int i = 0; i < 5_000; i++) {
            many.add(new org.apache.kafka.common.TopicPartition("orders", i));
        }
        assertThat(SubscriptionStrategy.encodeOwned(many)).as("too long for a heartbeat: not published").isNull();
    }

    /**
     * A rolling migration's switch ends Parti's cold-start window once as many members of its Kafka generation have
     * joined as the member that announced it counted; without that count, or with members of another generation, the
     * window runs out as usual.
     */
    @Test
    void aSwitchIsCompleteOnceAsManyMembersOfItsGenerationJoinedAsItsAnnouncerCounted() {
        SubscriptionStrategy s = new SubscriptionStrategy(new dev.parti.strategy.StickyBalanced());
        Worker announcer = switching("w-1", "5:3");
        Worker second = switching("w-2", "5");
        Worker third = switching("w-3", "5");
        assertThat(s.coldStartComplete(List.of(announcer, second))).as("2 of 3").isFalse();
        assertThat(s.coldStartComplete(List.of(announcer, second, third))).as("3 of 3").isTrue();
        assertThat(s.coldStartComplete(List.of(second, third, switching("w-4", "5")))).as("no count: the announcer is not there")
                .isFalse();
        assertThat(s.coldStartComplete(List.of(announcer, second, switching("w-3", "6")))).as("one of another generation")
                .isFalse();
        assertThat(s.coldStartComplete(List.of(switching("w-1", "5:x"), second, third))).as("an unreadable count").isFalse();
        assertThat(s.coldStartComplete(List.of(member("w-1", null), member("w-2", null)))).as("no switch")
                .isFalse();
    }

    private static Worker switching(String id, String generation) {
        return new Worker(id, 1, Map.of(PartiConsumerDelegate.SWITCH_METADATA, generation));
    }
}
