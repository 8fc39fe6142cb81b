package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IntSummaryStatistics;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class StickyBalancedProperties extends AssignmentContractProperties {

    @Override
    AssignmentStrategy strategy() {
        return new StickyBalanced();
    }

    @Provide
    Arbitrary<Request> equalCapacityRequest() {
        return StrategyArbitraries.requests();
    }

    @Property(tries = 1000)
    void everyWorkerGetsTheFloorOrCeilingOfItsCapacityShare(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        BigInteger p = BigInteger.valueOf(request.partitions().size());
        BigInteger capacity = BigInteger.valueOf(request.workers().stream().mapToLong(Worker::capacity).sum());
        for (Worker w : request.workers()) {
            BigInteger[] share = p.multiply(BigInteger.valueOf(w.capacity())).divideAndRemainder(capacity);
            int floor = share[0].intValueExact();
            int ceiling = share[1].signum() == 0 ? floor : floor + 1;
            assertThat(result.get(w.id()).size()).as("count of %s", w).isBetween(floor, ceiling);
        }
    }

    @Property(tries = 1000)
    void withEqualCapacitiesCountsDifferByAtMostOne(@ForAll("equalCapacityRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        IntSummaryStatistics counts = result.values().stream().mapToInt(List::size).summaryStatistics();
        if (!result.isEmpty()) {
            assertThat(counts.getMax() - counts.getMin()).isLessThanOrEqualTo(1);
        }
    }

    /**
     * The fewest partitions any assignment with floor-or-ceiling counts must take from their previous
     * owner: every worker keeps at most its count, and only the workers given the ceiling can keep
     * one more than the floor.
     */
    @Property(tries = 1000)
    void takesAwayTheFewestPartitionsThatBalanceAllows(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        Map<Partition, String> previousOwner = previousOwners(request);
        Map<Partition, String> owner = StrategyArbitraries.owners(result);
        int moved = 0;
        for (Map.Entry<Partition, String> e : previousOwner.entrySet()) {
            if (!e.getValue().equals(owner.get(e.getKey()))) {
                moved++;
            }
        }
        Map<String, Integer> kept = new HashMap<>();
        previousOwner.values().forEach(w -> kept.merge(w, 1, Integer::sum));
        BigInteger p = BigInteger.valueOf(request.partitions().size());
        BigInteger capacity = BigInteger.valueOf(Math.max(1, request.workers().stream().mapToLong(Worker::capacity).sum()));
        int extras = request.partitions().size();
        int keepable = 0;
        int couldKeepOneMore = 0;
        for (Worker w : request.workers()) {
            BigInteger[] share = p.multiply(BigInteger.valueOf(w.capacity())).divideAndRemainder(capacity);
            int floor = share[0].intValueExact();
            int k = kept.getOrDefault(w.id(), 0);
            extras -= floor;
            keepable += Math.min(k, floor);
            if (share[1].signum() > 0 && k > floor) {
                couldKeepOneMore++;
            }
        }
        if (request.workers().isEmpty()) {
            return;
        }
        int fewest = previousOwner.size() - keepable - Math.min(extras, couldKeepOneMore);
        assertThat(moved).isEqualTo(fewest);
    }

    @Property(tries = 1000)
    void aWorkerNeverGivesAPartitionAwayWhileReceivingOne(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        Map<Partition, String> previousOwner = previousOwners(request);
        Map<Partition, String> owner = StrategyArbitraries.owners(result);
        for (Worker w : request.workers()) {
            boolean gave = previousOwner.entrySet().stream()
                    .anyMatch(e -> e.getValue().equals(w.id()) && !owner.get(e.getKey()).equals(w.id()));
            boolean received = result.get(w.id()).stream().anyMatch(part -> !w.id().equals(previousOwner.get(part)));
            assertThat(gave && received).as("%s gave and received", w).isFalse();
        }
    }

    @Property(tries = 1000)
    void nothingMovesWhenNothingChanged(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> first = strategy().assign(request);
        Request again = new Request(request.workers(), request.partitions(), StrategyArbitraries.asPrevious(first));

        assertThat(strategy().assign(again)).isEqualTo(first);
    }

    @Property(tries = 1000)
    void withEqualCapacitiesAJoiningWorkerTakesAtMostCeilingOfPOverNPlusOneAndNothingElseMoves(
            @ForAll("equalCapacityRequest") Request request, @ForAll @IntRange(min = 41, max = 60) int newcomer) {
        Assume.that(!request.workers().isEmpty());
        Map<String, List<Partition>> balanced = strategy().assign(request);
        List<Worker> more = new ArrayList<>(request.workers());
        Worker joining = Worker.of("w" + newcomer);
        more.add(joining);

        Map<String, List<Partition>> after = strategy().assign(
                new Request(more, request.partitions(), StrategyArbitraries.asPrevious(balanced)));

        int p = request.partitions().size();
        int n = request.workers().size();
        assertThat(StrategyArbitraries.moved(balanced, after)).isLessThanOrEqualTo((p + n) / (n + 1));
        assertThat(StrategyArbitraries.moved(balanced, after)).isEqualTo(after.get(joining.id()).size());
    }

    @Property(tries = 1000)
    void withEqualCapacitiesALeavingWorkersPartitionsAreTheOnlyOnesThatMove(
            @ForAll("equalCapacityRequest") Request request, @ForAll @IntRange(min = 0, max = 100) int leaverIndex) {
        Assume.that(request.workers().size() >= 2);
        Map<String, List<Partition>> balanced = strategy().assign(request);
        List<Worker> fewer = new ArrayList<>(request.workers());
        Worker leaver = fewer.remove(leaverIndex % fewer.size());

        Map<String, List<Partition>> after = strategy().assign(
                new Request(fewer, request.partitions(), StrategyArbitraries.asPrevious(balanced)));

        Map<Partition, String> owner = StrategyArbitraries.owners(after);
        balanced.forEach((w, ps) -> {
            if (!w.equals(leaver.id())) {
                ps.forEach(part -> assertThat(owner.get(part)).isEqualTo(w));
            }
        });
    }

    @Property(tries = 1000)
    void aColdStartWithEqualCapacitiesEqualsRoundRobin(@ForAll("equalCapacityRequest") Request request) {
        Request fresh = Request.fresh(request.workers(), request.partitions());

        assertThat(strategy().assign(fresh)).isEqualTo(new RoundRobin().assign(fresh));
    }

    /** Partition of the request → first worker of the request, in ID order, whose previous set lists it. */
    private static Map<Partition, String> previousOwners(Request request) {
        Set<Partition> exists = Set.copyOf(request.partitions());
        Map<Partition, String> owners = new HashMap<>();
        request.workers().stream().sorted().forEach(w ->
                request.previous().getOrDefault(w.id(), Set.of()).forEach(part -> {
                    if (exists.contains(part)) {
                        owners.putIfAbsent(part, w.id());
                    }
                }));
        return owners;
    }
}
