package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The {@link AssignmentStrategy} contract, checked for each strategy by a subclass. Requests come
 * with varied weights and capacities and a messy previous map.
 */
abstract class AssignmentContractProperties {

    /** The strategy under test. */
    abstract AssignmentStrategy strategy();

    @Provide
    Arbitrary<Request> anyRequest() {
        return StrategyArbitraries.weightedRequests();
    }

    @Provide
    Arbitrary<List<Worker>> someWorkers() {
        return StrategyArbitraries.workers(1, 4);
    }

    @Provide
    Arbitrary<List<Partition>> somePartitions() {
        return StrategyArbitraries.partitions(1, 20);
    }

    @Property(tries = 1000)
    void assignsEveryPartitionExactlyOnceToAWorkerOfTheRequest(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        Set<String> workerIds = new HashSet<>();
        request.workers().forEach(w -> workerIds.add(w.id()));
        if (workerIds.isEmpty()) {
            assertThat(result).isEmpty();
            return;
        }
        assertThat(result.keySet()).isEqualTo(workerIds);
        List<Partition> assigned = new ArrayList<>();
        result.values().forEach(assigned::addAll);
        assertThat(assigned).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(request.partitions());
    }

    @Property(tries = 1000)
    void listsAreSortedAndResultIsUnmodifiable(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        result.values().forEach(list -> assertThat(list).isSorted());
        assertThatThrownBy(() -> result.put("intruder", List.of())).isInstanceOf(UnsupportedOperationException.class);
        result.values().forEach(list ->
                assertThatThrownBy(() -> list.add(Partition.of("x"))).isInstanceOf(UnsupportedOperationException.class));
    }

    @Property(tries = 1000)
    void resultDoesNotDependOnTheOrderOfWorkersPartitionsOrPrevious(
            @ForAll("anyRequest") Request request, @ForAll Random random) {
        Request shuffled = StrategyArbitraries.shuffled(request, random);

        assertThat(strategy().assign(shuffled)).isEqualTo(strategy().assign(request));
    }

    @Property(tries = 1000)
    void givesEveryWorkerAnEmptyListWhenThereAreNoPartitions(
            @ForAll("someWorkers") List<Worker> workers, @ForAll("somePartitions") List<Partition> previouslyOwned) {
        Request request = new Request(workers, List.of(),
                Map.of(workers.get(0).id(), new HashSet<>(previouslyOwned)));

        Map<String, List<Partition>> result = strategy().assign(request);

        assertThat(result).hasSize(workers.size());
        workers.forEach(w -> assertThat(result.get(w.id())).isEmpty());
    }

    @Property(tries = 1000)
    void returnsAnEmptyMapWhenThereAreNoWorkers(@ForAll("somePartitions") List<Partition> partitions) {
        Request request = new Request(List.of(), partitions, Map.of("gone", new HashSet<>(partitions)));

        assertThat(strategy().assign(request)).isEmpty();
    }
}
