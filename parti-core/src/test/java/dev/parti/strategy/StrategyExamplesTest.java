package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Small worked examples of each strategy's promises; the properties check them in general. */
class StrategyExamplesTest {
    private static final Worker A = Worker.of("a");
    private static final Worker B = Worker.of("b");
    private static final Worker C = Worker.of("c");

    private static List<Partition> ordersTopic(int count) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            ps.add(Partition.of("orders", Integer.toString(i)));
        }
        return ps;
    }

    private static Partition orders(int i) {
        return Partition.of("orders", Integer.toString(i));
    }

    @Test
    void roundRobinDealsPartitionsInNumericOrderOverWorkersInIdOrder() {
        Map<String, List<Partition>> result = new RoundRobin().assign(Request.fresh(List.of(C, A, B), ordersTopic(11)));

        assertThat(result.get("a")).containsExactly(orders(0), orders(3), orders(6), orders(9));
        assertThat(result.get("b")).containsExactly(orders(1), orders(4), orders(7), orders(10));
        assertThat(result.get("c")).containsExactly(orders(2), orders(5), orders(8));
    }

    @Test
    void stickyBalancedKeepsEveryPartitionWhenNothingChanged() {
        Map<String, Set<Partition>> previous = Map.of(
                "a", Set.of(orders(0), orders(5)), "b", Set.of(orders(1), orders(2)), "c", Set.of(orders(3), orders(4)));

        Map<String, List<Partition>> result = new StickyBalanced().assign(new Request(List.of(A, B, C), ordersTopic(6), previous));

        assertThat(result).containsEntry("a", List.of(orders(0), orders(5)))
                .containsEntry("b", List.of(orders(1), orders(2)))
                .containsEntry("c", List.of(orders(3), orders(4)));
    }

    @Test
    void stickyBalancedGivesANewcomerOnlyWhatBalanceRequiresTakenFromTheFullestWorkers() {
        Map<String, Set<Partition>> previous = Map.of(
                "a", Set.of(orders(0), orders(1), orders(2), orders(3)),
                "b", Set.of(orders(4), orders(5), orders(6), orders(7)),
                "c", Set.of(orders(8), orders(9), orders(10), orders(11)));
        Worker d = Worker.of("d");

        Map<String, List<Partition>> result = new StickyBalanced().assign(new Request(List.of(A, B, C, d), ordersTopic(12), previous));

        assertThat(result.get("a")).containsExactly(orders(0), orders(1), orders(2));
        assertThat(result.get("b")).containsExactly(orders(4), orders(5), orders(6));
        assertThat(result.get("c")).containsExactly(orders(8), orders(9), orders(10));
        assertThat(result.get("d")).containsExactly(orders(3), orders(7), orders(11));
    }

    @Test
    void stickyBalancedHandsOnlyTheLeaversPartitionsToTheOthers() {
        Map<String, Set<Partition>> previous = Map.of(
                "a", Set.of(orders(0), orders(1), orders(2)),
                "b", Set.of(orders(3), orders(4), orders(5)),
                "c", Set.of(orders(6), orders(7), orders(8)));

        Map<String, List<Partition>> result = new StickyBalanced().assign(new Request(List.of(A, C), ordersTopic(9), previous));

        assertThat(result.get("a")).containsExactly(orders(0), orders(1), orders(2), orders(3), orders(5));
        assertThat(result.get("c")).containsExactly(orders(4), orders(6), orders(7), orders(8));
    }

    @Test
    void stickyBalancedGivesACapacityTwoWorkerTwiceAsManyPartitions() {
        Map<String, List<Partition>> result = new StickyBalanced().assign(
                Request.fresh(List.of(new Worker("big", 2), A, B), ordersTopic(12)));

        assertThat(result.get("big")).hasSize(6);
        assertThat(result.get("a")).hasSize(3);
        assertThat(result.get("b")).hasSize(3);
    }

    @Test
    void stickyBalancedLetsTheFirstWorkerInIdOrderKeepAPartitionTwoWorkersClaim() {
        Map<String, Set<Partition>> previous = Map.of("b", Set.of(orders(0)), "a", Set.of(orders(0)));

        Map<String, List<Partition>> result = new StickyBalanced().assign(new Request(List.of(A, B), ordersTopic(2), previous));

        assertThat(result.get("a")).containsExactly(orders(0));
        assertThat(result.get("b")).containsExactly(orders(1));
    }

    @Test
    void consistentHashKeepsEveryPartitionOfTheWorkersThatStay() {
        ConsistentHash strategy = new ConsistentHash();
        Map<String, List<Partition>> before = strategy.assign(Request.fresh(List.of(A, B, C), ordersTopic(300)));

        Map<String, List<Partition>> after = strategy.assign(Request.fresh(List.of(A, C), ordersTopic(300)));

        assertThat(after.get("a")).containsAll(before.get("a"));
        assertThat(after.get("c")).containsAll(before.get("c"));
    }

    @Test
    void consistentHashGivesAWorkerOfCapacityThreeRoughlyThreeTimesTheShare() {
        Map<String, List<Partition>> result = new ConsistentHash().assign(
                Request.fresh(List.of(new Worker("big", 3), A, B, C), ordersTopic(6000)));

        // Expected 3 000 and 1 000 each; 150 points per unit of capacity keep it within a few percent.
        assertThat(result.get("big").size()).isBetween(2400, 3600);
        assertThat(result.get("a").size()).isBetween(600, 1400);
    }

    @Test
    void weightedBoundedLoadSpreadsWeightNotCounts() {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            ps.add(Partition.of(List.of("orders", Integer.toString(i)), i < 4 ? 50 : 1));
        }
        WeightedBoundedLoad strategy = new WeightedBoundedLoad();

        Map<String, List<Partition>> result = strategy.assign(Request.fresh(List.of(A, B, C, Worker.of("d")), ps));

        // Total weight 236, fair share 59; bound max(1.25 × 59, 59 + 50) = 109.
        result.values().forEach(list ->
                assertThat(list.stream().mapToLong(Partition::weight).sum()).isLessThanOrEqualTo(109));
    }

    @Test
    void weightedBoundedLoadPlacesAPartitionHeavierThanAnyFairShare() {
        List<Partition> ps = List.of(Partition.of(List.of("huge"), 1_000), Partition.of(List.of("tiny"), 1));

        Map<String, List<Partition>> result = new WeightedBoundedLoad().assign(Request.fresh(List.of(A, B, C), ps));

        assertThat(result.values().stream().mapToInt(List::size).sum()).isEqualTo(2);
    }

    @Test
    void weightedBoundedLoadRejectsATotalWeightThatOverflows() {
        List<Partition> ps = List.of(Partition.of(List.of("x"), Long.MAX_VALUE), Partition.of(List.of("y"), 1));

        assertThatThrownBy(() -> new WeightedBoundedLoad().assign(Request.fresh(List.of(A), ps)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("total partition weight");
    }

    @Test
    void everyStrategyGivesTheSameAnswerForTheSameRequestOnEveryCall() {
        Request request = Request.fresh(List.of(A, B, C), ordersTopic(100));
        for (String name : Strategies.names()) {
            assertThat(Strategies.byName(name).assign(request)).isEqualTo(Strategies.byName(name).assign(request));
        }
    }
}
