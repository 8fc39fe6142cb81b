package dev.parti.strategy;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.List;
import java.util.Map;

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, 2018), weighted: partitions
 * are placed one by one, heaviest first, each on the first worker clockwise from its hash on the same
 * ring as {@link ConsistentHash} that still has room for it.
 *
 * <p>Definitions, for a request with total partition weight {@code T}, total worker capacity
 * {@code C} and heaviest partition weight {@code m}:
 * <ul>
 *   <li>the <em>fair share</em> of worker {@code w} is {@code fair(w) = T × capacity(w) / C};</li>
 *   <li>its <em>bound</em> is {@code bound(w) = max(c × fair(w), fair(w) + m)}, with the load factor
 *       {@code c} ({@link #DEFAULT_LOAD_FACTOR} unless given).</li>
 * </ul>
 * The second term exists for partitions heavier than {@code (c − 1) × fair(w)}: a single partition
 * may be heavier than {@code c × fair(w)} of every worker, and then no bound of the first form can
 * be met. With it there is always a worker with room: if every worker had
 * {@code load(w) + weight > bound(w) ≥ fair(w) + m ≥ fair(w) + weight}, the loads would add up to more
 * than {@code T}.
 *
 * <p>Promises, beyond the {@link AssignmentStrategy} contract:
 * <ul>
 *   <li><b>Bounded load.</b> Every worker's total partition weight is at most {@code bound(w)}
 *       (computed in {@code double}; loads are exact).</li>
 *   <li><b>Weights and capacities honoured</b> through that bound, and capacity also scales the
 *       worker's virtual nodes on the ring, so its hash share is proportional to it.</li>
 *   <li><b>Stateless.</b> The previous assignment is ignored; stability comes from hashing: a
 *       partition leaves its ring successor only when that worker is full.</li>
 *   <li>Partitions of weight 0 always go to their ring successor and never count towards a bound.</li>
 * </ul>
 * Order of placement: weight descending, then partition hash (xxHash64 of the UTF-8
 * {@link Partition#id()}), then natural order: independent of input order.
 *
 * <p>Immutable and thread-safe. Throws {@link IllegalArgumentException} if the total weight
 * overflows a {@code long}. Cost: expected O(W·v + P) with unit weights (O(P·log P) with varied
 * weights) plus the ring walks past full workers.
 */
public final class WeightedBoundedLoad implements AssignmentStrategy {
    /** The registry name. */
    public static final String NAME = "weighted-bounded-load";
    /** Load factor {@code c} when not given. */
    public static final double DEFAULT_LOAD_FACTOR = 1.25;

    private final double loadFactor;
    private final int virtualNodes;

    /** Load factor {@link #DEFAULT_LOAD_FACTOR}, {@link ConsistentHash#DEFAULT_VIRTUAL_NODES} virtual nodes. */
    public WeightedBoundedLoad() {
        this(DEFAULT_LOAD_FACTOR);
    }

    /**
     * @param loadFactor the factor {@code c} over the fair share, finite and &gt; 1
     * @throws IllegalArgumentException when out of range
     */
    public WeightedBoundedLoad(double loadFactor) {
        this(loadFactor, ConsistentHash.DEFAULT_VIRTUAL_NODES);
    }

    /**
     * @param loadFactor   the factor {@code c} over the fair share, finite and &gt; 1
     * @param virtualNodes ring points per unit of worker capacity, 1 … {@link ConsistentHash#MAX_VIRTUAL_NODES}
     * @throws IllegalArgumentException when out of range
     */
    public WeightedBoundedLoad(double loadFactor, int virtualNodes) {
        if (!(loadFactor > 1.0) || Double.isInfinite(loadFactor)) {
            throw new IllegalArgumentException("loadFactor must be finite and > 1, was " + loadFactor);
        }
        this.loadFactor = loadFactor;
        this.virtualNodes = ConsistentHash.checkVirtualNodes(virtualNodes);
    }

    /** The factor {@code c} over the fair share. */
    public double loadFactor() {
        return loadFactor;
    }

    /** Ring points per unit of worker capacity. */
    public int virtualNodes() {
        return virtualNodes;
    }

    /** {@code max(c × fair, fair + maxWeight)} where {@code fair = totalWeight × capacity / totalCapacity}. */
    private double bound(long totalWeight, long maxWeight, long capacity, double totalCapacity) {
        double fair = (double) totalWeight * capacity / totalCapacity;
        return Math.max(loadFactor * fair, fair + maxWeight);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Map<String, List<Partition>> assign(Request request) {
        Worker[] workers = Assignments.sortedWorkers(request.workers());
        int n = workers.length;
        if (n == 0) {
            return Map.of();
        }
        if (request.partitions().isEmpty()) {
            return Assignments.allEmpty(workers);
        }
        Partition[] partitions = Assignments.partitions(request.partitions());
        int p = partitions.length;
        long[] weight = new long[p];
        long[] hash = new long[p];
        long total = 0;
        long max = 0;
        boolean uniform = true;
        for (int i = 0; i < p; i++) {
            long w = partitions[i].weight();
            weight[i] = w;
            hash[i] = Hashing.xxHash64(partitions[i].id());
            try {
                total = Math.addExact(total, w);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("total partition weight exceeds " + Long.MAX_VALUE, e);
            }
            max = Math.max(max, w);
            uniform &= w == weight[0];
        }
        double totalCapacity = 0;
        for (Worker w : workers) {
            totalCapacity += w.capacity();
        }
        double[] bound = new double[n];
        for (int w = 0; w < n; w++) {
            bound[w] = bound(total, max, workers[w].capacity(), totalCapacity);
        }

        int[] natural = PartitionOrder.sort(partitions);
        int[] rank = new int[p];
        for (int k = 0; k < p; k++) {
            rank[natural[k]] = k;
        }
        int[] order;
        if (uniform) {
            order = HashSort.order(hash, rank);
        } else {
            order = IndexSort.identity(p);
            IndexSort.sort(order, (a, b) -> {
                int c = Long.compare(weight[b], weight[a]);
                if (c == 0) {
                    c = Long.compare(hash[a], hash[b]);
                }
                return c != 0 ? c : Integer.compare(rank[a], rank[b]);
            });
        }

        Ring ring = Ring.build(workers, virtualNodes);
        int size = ring.size();
        long[] load = new long[n];
        int[] owner = new int[p];
        for (int k = 0; k < p; k++) {
            int i = order[k];
            long w = weight[i];
            int point = ring.successor(hash[i]);
            int chosen = -1;
            for (int step = 0; step < size; step++) {
                int candidate = ring.owner(point);
                if (load[candidate] + w <= bound[candidate]) {
                    chosen = candidate;
                    break;
                }
                point = point + 1 == size ? 0 : point + 1;
            }
            if (chosen < 0) {
                chosen = leastOverflow(load, bound, w);
            }
            owner[i] = chosen;
            load[chosen] += w;
        }
        return Assignments.build(workers, partitions, owner, natural);
    }

    /** Unreachable in exact arithmetic (see the class comment); guards against rounding. */
    private static int leastOverflow(long[] load, double[] bound, long w) {
        int best = 0;
        double bestOver = Double.POSITIVE_INFINITY;
        for (int i = 0; i < load.length; i++) {
            double over = load[i] + w - bound[i];
            if (over < bestOver) {
                bestOver = over;
                best = i;
            }
        }
        return best;
    }

    @Override
    public String toString() {
        return "WeightedBoundedLoad[loadFactor=" + loadFactor + ", virtualNodes=" + virtualNodes + "]";
    }
}
