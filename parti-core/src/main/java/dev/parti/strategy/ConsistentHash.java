package dev.parti.strategy;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.List;
import java.util.Map;

/**
 * Consistent hashing over a ring of virtual nodes: a partition goes to the worker owning the first
 * ring point at or clockwise after the partition's hash.
 *
 * <p>Promises, beyond the {@link AssignmentStrategy} contract:
 * <ul>
 *   <li><b>Monotone.</b> A worker's ring points depend only on its ID and capacity. Adding a worker
 *       moves only partitions to that worker; removing a worker moves only the partitions it owned
 *       (as long as the ring stays under its size limit, see below).</li>
 *   <li><b>Stateless.</b> The previous assignment and partition weights are ignored: the owner of a
 *       partition is a function of its {@link Partition#id() id} and the set of workers only.</li>
 *   <li><b>Capacity.</b> A worker has {@code virtualNodes × capacity} points, so its expected share is
 *       proportional to its capacity. If the ring would exceed 2<sup>20</sup> points, every worker's
 *       count is scaled down proportionally (at least one point each); the monotone promise then
 *       holds only among changes that keep that scale.</li>
 *   <li><b>Balance</b> is statistical only: a worker's expected share is proportional to its capacity,
 *       but the ring's arcs vary by about {@code ±1/√v} ({@code ±8 %} at 150 points) and hashing adds
 *       sampling noise (at 200 workers × 10 000 partitions, loads range over roughly 33–73). No bound
 *       is promised: use {@link WeightedBoundedLoad} or {@link StickyBalanced} for one.</li>
 * </ul>
 *
 * <p>Hashes: xxHash64 (seed 0) of the UTF-8 bytes of {@link Partition#id()} places a partition; a
 * worker's {@code k}-th point is the SplitMix64 finalizer of {@code xxHash64(id) + k × 0x9E3779B97F4A7C15}.
 * These functions are fixed, so the same input gives the same output on every JVM and version.
 * At most 2<sup>20</sup> workers.
 *
 * <p>Immutable and thread-safe. Cost: expected O(W·v + P) for W workers, v virtual nodes and P
 * partitions (the ring is bucket-sorted and indexed by its top bits).
 */
public final class ConsistentHash implements AssignmentStrategy {
    /** The registry name. */
    public static final String NAME = "consistent-hash";
    /** Virtual nodes per unit of capacity when not given. */
    public static final int DEFAULT_VIRTUAL_NODES = 150;
    /** The largest accepted number of virtual nodes per unit of capacity. */
    public static final int MAX_VIRTUAL_NODES = 100_000;

    private final int virtualNodes;

    /** With {@link #DEFAULT_VIRTUAL_NODES} virtual nodes per unit of capacity. */
    public ConsistentHash() {
        this(DEFAULT_VIRTUAL_NODES);
    }

    /**
     * @param virtualNodes ring points per unit of worker capacity, 1 … {@link #MAX_VIRTUAL_NODES}
     * @throws IllegalArgumentException when out of range
     */
    public ConsistentHash(int virtualNodes) {
        this.virtualNodes = checkVirtualNodes(virtualNodes);
    }

    static int checkVirtualNodes(int virtualNodes) {
        if (virtualNodes < 1 || virtualNodes > MAX_VIRTUAL_NODES) {
            throw new IllegalArgumentException(
                    "virtualNodes must be in [1, " + MAX_VIRTUAL_NODES + "], was " + virtualNodes);
        }
        return virtualNodes;
    }

    /** Ring points per unit of worker capacity. */
    public int virtualNodes() {
        return virtualNodes;
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
        if (request.partitions().isEmpty()) {
            return Assignments.allEmpty(workers);
        }
        Ring ring = Ring.build(workers, virtualNodes);
        Partition[] partitions = Assignments.partitions(request.partitions());
        int[] owner = new int[partitions.length];
        for (int i = 0; i < partitions.length; i++) {
            owner[i] = ring.ownerOf(Hashing.xxHash64(partitions[i].id()));
        }
        return Assignments.build(workers, partitions, owner, PartitionOrder.sort(partitions));
    }

    @Override
    public String toString() {
        return "ConsistentHash[virtualNodes=" + virtualNodes + "]";
    }
}
