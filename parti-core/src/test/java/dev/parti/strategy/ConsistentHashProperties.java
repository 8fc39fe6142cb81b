package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

class ConsistentHashProperties extends AssignmentContractProperties {

    @Override
    AssignmentStrategy strategy() {
        return new ConsistentHash();
    }

    @Property(tries = 1000)
    void aJoiningWorkerOnlyTakesPartitionsNoOtherPartitionMoves(
            @ForAll("anyRequest") Request request,
            @ForAll @IntRange(min = 41, max = 60) int newcomer,
            @ForAll @IntRange(min = 1, max = 4) int capacity,
            @ForAll @IntRange(min = 1, max = 200) int virtualNodes) {
        ConsistentHash strategy = new ConsistentHash(virtualNodes);
        List<Worker> more = new ArrayList<>(request.workers());
        Worker joining = new Worker("w" + newcomer, capacity);
        more.add(joining);

        Map<String, List<Partition>> before = strategy.assign(request);
        Map<String, List<Partition>> after = strategy.assign(new Request(more, request.partitions(), request.previous()));

        Map<Partition, String> was = StrategyArbitraries.owners(before);
        StrategyArbitraries.owners(after).forEach((p, owner) -> {
            if (was.containsKey(p) && !was.get(p).equals(owner)) {
                assertThat(owner).isEqualTo(joining.id());
            }
        });
    }

    @Property(tries = 1000)
    void aLeavingWorkersPartitionsAreTheOnlyOnesThatMove(
            @ForAll("anyRequest") Request request,
            @ForAll @IntRange(min = 0, max = 100) int leaverIndex,
            @ForAll @IntRange(min = 1, max = 200) int virtualNodes) {
        Assume.that(request.workers().size() >= 2);
        ConsistentHash strategy = new ConsistentHash(virtualNodes);
        List<Worker> fewer = new ArrayList<>(request.workers());
        Worker leaver = fewer.remove(leaverIndex % fewer.size());

        Map<String, List<Partition>> before = strategy.assign(request);
        Map<String, List<Partition>> after = strategy.assign(new Request(fewer, request.partitions(), request.previous()));

        Map<Partition, String> is = StrategyArbitraries.owners(after);
        StrategyArbitraries.owners(before).forEach((p, owner) -> {
            if (!owner.equals(leaver.id())) {
                assertThat(is.get(p)).isEqualTo(owner);
            }
        });
    }

    @Property(tries = 1000)
    void ignoresThePreviousAssignmentAndPartitionWeights(@ForAll("anyRequest") Request request) {
        List<Partition> unitWeights = request.partitions().stream().map(p -> p.withWeight(1)).toList();

        assertThat(strategy().assign(Request.fresh(request.workers(), unitWeights)))
                .isEqualTo(strategy().assign(request));
    }
}
