package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.junit.jupiter.api.Test;

/** Kafka assignors run as Parti strategies keep their properties and the strategy contract. */
class KafkaAssignorStrategyTest {
    private static List<Partition> topic(String name, int n) {
        List<Partition> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(Partition.of(name, Integer.toString(i)));
        }
        return out;
    }

    private static List<Partition> both(int n) {
        List<Partition> all = new ArrayList<>(topic("orders", n));
        all.addAll(topic("payments", n));
        return all;
    }

    private static void assertContract(Request r, Map<String, List<Partition>> result) {
        assertThat(result.keySet()).containsExactlyInAnyOrderElementsOf(r.workers().stream().map(Worker::id).toList());
        List<Partition> all = new ArrayList<>();
        result.values().forEach(all::addAll);
        assertThat(all).containsExactlyInAnyOrderElementsOf(r.partitions());
        result.values().forEach(ps -> assertThat(ps).isSorted());
    }

    /** Each worker's real topics (metadata {@code kafka.topics}) reach the assignor: Range splits each topic among its subscribers only. */
    @Test
    void eachWorkerGetsOnlyPartitionsOfTheTopicsItsMetadataNames() {
        KafkaAssignorStrategy s = new KafkaAssignorStrategy(new RangeAssignor());
        Worker both = new Worker("w-0", 1, Map.of(KafkaAssignorStrategy.TOPICS_METADATA, "orders,payments"));
        Worker orders = new Worker("w-1", 1, Map.of(KafkaAssignorStrategy.TOPICS_METADATA, "orders"));
        Worker payments = new Worker("w-2", 1, Map.of(KafkaAssignorStrategy.TOPICS_METADATA, "payments"));
        Request r = Request.fresh(List.of(both, orders, payments), both(4));
        Map<String, List<Partition>> result = s.assign(r);
        assertContract(r, result);
        assertThat(result.get("w-1")).extracting(p -> p.keys().get(0)).containsOnly("orders").hasSize(2);
        assertThat(result.get("w-2")).extracting(p -> p.keys().get(0)).containsOnly("payments").hasSize(2);
        assertThat(result.get("w-0")).hasSize(4);
        // without the key a worker subscribes to every topic of the request (as before)
        Map<String, List<Partition>> all = s.assign(Request.fresh(List.of(Worker.of("w-0"), Worker.of("w-1")), both(2)));
        assertThat(all.get("w-0")).extracting(p -> p.keys().get(0)).containsExactlyInAnyOrder("orders", "payments");
    }

    @Test
    void rangeKeepsTopicsCoPartitioned() {
        KafkaAssignorStrategy s = new KafkaAssignorStrategy(new RangeAssignor());
        assertThat(s.name()).isEqualTo("kafka:range");
        Request r = Request.fresh(List.of(Worker.of("w-1"), Worker.of("w-0"), Worker.of("w-2")), both(6));
        Map<String, List<Partition>> result = s.assign(r);
        assertContract(r, result);
        for (List<Partition> mine : result.values()) {
            Set<String> ordersNumbers = new HashSet<>();
            Set<String> paymentsNumbers = new HashSet<>();
            for (Partition p : mine) {
                (p.keys().get(0).equals("orders") ? ordersNumbers : paymentsNumbers).add(p.keys().get(1));
            }
            assertThat(ordersNumbers).hasSize(2).isEqualTo(paymentsNumbers);
        }
        assertThat(result.get("w-0")).extracting(p -> p.keys().get(1)).containsOnly("0", "1");
    }

    @Test
    void cooperativeStickyKeepsPreviousOwnersWhenAWorkerJoins() {
        KafkaAssignorStrategy s = new KafkaAssignorStrategy(new CooperativeStickyAssignor());
        Request first = Request.fresh(List.of(Worker.of("a"), Worker.of("b")), topic("t", 12));
        Map<String, List<Partition>> before = s.assign(first);
        assertContract(first, before);
        Request second = new Request(List.of(Worker.of("a"), Worker.of("b"), Worker.of("c")), topic("t", 12),
                Map.of("a", Set.copyOf(before.get("a")), "b", Set.copyOf(before.get("b"))));
        Map<String, List<Partition>> after = s.assign(second);
        assertContract(second, after);
        assertThat(before.get("a")).containsAll(after.get("a"));
        assertThat(before.get("b")).containsAll(after.get("b"));
        assertThat(after.get("a")).hasSize(4);
        assertThat(after.get("b")).hasSize(4);
    }

    @Test
    void contractHoldsForEdgeCases() {
        KafkaAssignorStrategy s = new KafkaAssignorStrategy(new RoundRobinAssignor());
        assertThat(s.assign(Request.fresh(List.of(), topic("t", 3)))).isEmpty();
        Request noPartitions = Request.fresh(List.of(Worker.of("a"), Worker.of("b")), List.of());
        assertThat(s.assign(noPartitions)).containsOnlyKeys("a", "b").allSatisfy((k, v) -> assertThat(v).isEmpty());
        Request more = Request.fresh(List.of(Worker.of("a"), Worker.of("b"), Worker.of("c")), topic("t", 2));
        assertContract(more, s.assign(more));
        Request staleHistory = new Request(List.of(Worker.of("a")), topic("t", 2),
                Map.of("gone", Set.of(Partition.of("t", "0")), "a", Set.of(Partition.of("old", "9"), Partition.of("x"))));
        assertContract(staleHistory, s.assign(staleHistory));
    }

    @Test
    void rejectsPartitionsThatAreNotKafkaPartitions() {
        KafkaAssignorStrategy s = new KafkaAssignorStrategy(new RangeAssignor());
        assertThatThrownBy(() -> s.assign(Request.fresh(List.of(Worker.of("a")), List.of(Partition.of("t", "zero")))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("t/zero");
        assertThatThrownBy(() -> s.assign(Request.fresh(List.of(Worker.of("a")), List.of(Partition.of("t")))))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
