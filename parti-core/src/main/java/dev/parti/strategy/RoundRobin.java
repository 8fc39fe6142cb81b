package dev.parti.strategy;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.List;
import java.util.Map;

/**
 * Deals partitions like cards: the {@code i}-th partition in natural order goes to the
 * {@code (i mod W)}-th worker in ID order.
 *
 * <p>Promises, beyond the {@link AssignmentStrategy} contract:
 * <ul>
 *   <li><b>Balance.</b> Partition counts of any two workers differ by at most 1; the workers first in
 *       ID order carry the extra ones.</li>
 *   <li><b>Stateless.</b> Capacities, weights and the previous assignment are ignored. Any change of
 *       the worker or partition set may move most partitions: use {@link StickyBalanced} when
 *       movement matters.</li>
 * </ul>
 *
 * <p>Immutable and thread-safe. Cost: O(P + W·log W) plus the ranking of distinct keys
 * (counting sorts instead of comparisons; see the package documentation).
 */
public final class RoundRobin implements AssignmentStrategy {
    /** The registry name. */
    public static final String NAME = "round-robin";

    /** The only configuration there is. */
    public RoundRobin() {
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Map<String, List<Partition>> assign(Request request) {
        Worker[] workers = Assignments.sortedWorkers(request.workers());
        if (workers.length == 0) {
            return Map.of();
        }
        Partition[] partitions = Assignments.partitions(request.partitions());
        int[] order = PartitionOrder.sort(partitions);
        int[] owner = new int[partitions.length];
        for (int k = 0; k < partitions.length; k++) {
            owner[order[k]] = k % workers.length;
        }
        return Assignments.build(workers, partitions, owner, order);
    }

    @Override
    public String toString() {
        return "RoundRobin";
    }
}
