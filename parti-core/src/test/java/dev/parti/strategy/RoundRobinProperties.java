package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.IntSummaryStatistics;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

class RoundRobinProperties extends AssignmentContractProperties {

    @Override
    AssignmentStrategy strategy() {
        return new RoundRobin();
    }

    @Property(tries = 1000)
    void partitionCountsOfAnyTwoWorkersDifferByAtMostOne(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        IntSummaryStatistics counts = result.values().stream().mapToInt(List::size).summaryStatistics();
        if (!result.isEmpty()) {
            assertThat(counts.getMax() - counts.getMin()).isLessThanOrEqualTo(1);
        }
    }

    @Property(tries = 1000)
    void dealsPartitionsInNaturalOrderOverWorkersInIdOrder(@ForAll("anyRequest") Request request) {
        Map<String, List<Partition>> result = strategy().assign(request);

        Assume.that(!request.workers().isEmpty());
        List<Worker> workers = request.workers().stream().sorted().toList();
        List<Partition> partitions = request.partitions().stream().sorted().toList();
        for (int i = 0; i < partitions.size(); i++) {
            assertThat(result.get(workers.get(i % workers.size()).id())).contains(partitions.get(i));
        }
    }
}
