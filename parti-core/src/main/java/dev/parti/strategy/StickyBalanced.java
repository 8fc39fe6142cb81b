package dev.parti.strategy;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import java.math.BigInteger;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Balanced by partition count, and sticky: a partition stays with its previous owner unless balance
 * requires otherwise. Parti's default strategy.
 *
 * <p>Definitions, for {@code P} partitions and total worker capacity {@code C}:
 * <ul>
 *   <li>the <em>share</em> of worker {@code w} is {@code P × capacity(w) / C};</li>
 *   <li>the <em>previous owner</em> of a partition is the first worker, in ID order, of this request
 *       whose previous set lists it; workers and partitions of the previous map that are not in the
 *       request are ignored.</li>
 * </ul>
 *
 * <p>Promises, beyond the {@link AssignmentStrategy} contract:
 * <ul>
 *   <li><b>Balance.</b> Every worker gets {@code ⌊share⌋} or {@code ⌈share⌉} partitions. With equal
 *       capacities, the counts of any two workers therefore differ by at most 1. Capacities other
 *       than equal give proportional counts; partition weights are ignored (use
 *       {@link WeightedBoundedLoad} for weighted work).</li>
 *   <li><b>Minimal movement.</b> The number of partitions taken away from a previous owner is the
 *       smallest any assignment keeping the balance promise can achieve. A worker never gives a
 *       partition away while receiving one.</li>
 *   <li>Consequences, when the previous assignment was balanced by this rule and covered every
 *       partition: with nothing changed, nothing moves. With equal capacities, moreover: when one
 *       worker joins {@code N}, at most {@code ⌈P/(N+1)⌉} partitions move (exactly
 *       {@code ⌊P/(N+1)⌋}, all to the newcomer); when a worker leaves, only its partitions move.
 *       (With unequal capacities the shares of all workers change with the membership, and a few
 *       more partitions may move.)</li>
 *   <li><b>Deterministic.</b> Ties are broken by sorted IDs: the workers that get {@code ⌈share⌉}
 *       are first those that would otherwise have to give a partition away, then those with the
 *       larger fractional share, then by worker ID; a worker over its count gives up its last
 *       partitions in natural order; free partitions (new, orphaned or given up) are dealt in natural
 *       order, round robin over the workers below their count in ID order. A cold start (no previous
 *       assignment) with equal capacities therefore equals {@link RoundRobin}.</li>
 * </ul>
 *
 * <p>Immutable and thread-safe. Cost: O(P + W·log W + size of previous) plus the ranking of distinct
 * keys (see the package documentation); previous partitions are found by their key codes, not by
 * {@code equals}.
 */
public final class StickyBalanced implements AssignmentStrategy {
    /** The registry name. */
    public static final String NAME = "sticky-balanced";

    /** The only configuration there is. */
    public StickyBalanced() {
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
        PartitionOrder natural = PartitionOrder.of(partitions);
        int[] order = natural.order();

        // Previous owners, first worker in ID order wins.
        int[] owner = new int[p];
        Arrays.fill(owner, -1);
        int[] kept = new int[n];
        Map<String, Set<Partition>> previous = request.previous();
        if (!previous.isEmpty()) {
            for (int w = 0; w < n; w++) {
                Set<Partition> owned = previous.get(workers[w].id());
                if (owned == null) {
                    continue;
                }
                // toArray: HashSet copies its table in one tight loop, cheaper than its iterator.
                for (Object partition : owned.toArray()) {
                    int i = natural.indexOf((Partition) partition);
                    if (i >= 0 && owner[i] < 0) {
                        owner[i] = w;
                        kept[w]++;
                    }
                }
            }
        }

        int[] quota = quotas(workers, p, kept);

        // Workers over their count give up their last partitions in natural order.
        int[] surplus = new int[n];
        int totalSurplus = 0;
        for (int w = 0; w < n; w++) {
            if (kept[w] > quota[w]) {
                surplus[w] = kept[w] - quota[w];
                totalSurplus += surplus[w];
                kept[w] = quota[w];
            }
        }
        for (int k = p - 1; totalSurplus > 0; k--) {
            int i = order[k];
            int w = owner[i];
            if (w >= 0 && surplus[w] > 0) {
                owner[i] = -1;
                surplus[w]--;
                totalSurplus--;
            }
        }

        // Free partitions, in natural order, round robin over the workers below their count.
        int[] below = new int[n];
        int m = 0;
        for (int w = 0; w < n; w++) {
            if (kept[w] < quota[w]) {
                below[m++] = w;
            }
        }
        if (m > 0) {
            int[] need = new int[n];
            for (int w = 0; w < n; w++) {
                need[w] = quota[w] - kept[w];
            }
            int[] next = new int[m];
            for (int j = 0; j < m; j++) {
                next[j] = j + 1 == m ? 0 : j + 1;
            }
            int cur = 0;
            int prev = m - 1;
            for (int k = 0; k < p; k++) {
                int i = order[k];
                if (owner[i] >= 0) {
                    continue;
                }
                int w = below[cur];
                owner[i] = w;
                if (--need[w] == 0) {
                    next[prev] = next[cur];
                } else {
                    prev = cur;
                }
                cur = next[cur];
            }
        }
        return Assignments.build(workers, partitions, owner, order);
    }

    /**
     * Partition counts: {@code ⌊share⌋} each, plus one for as many workers as needed to reach
     * {@code p}, chosen among those with a fractional share: first those keeping more than
     * {@code ⌊share⌋}, then by larger fraction, then by ID.
     */
    static int[] quotas(Worker[] workers, int p, int[] kept) {
        int n = workers.length;
        int[] quota = new int[n];
        boolean equal = true;
        for (Worker w : workers) {
            equal &= w.capacity() == workers[0].capacity();
        }
        if (equal) {
            int base = p / n;
            int extra = p % n;
            Arrays.fill(quota, base);
            for (int w = 0; w < n && extra > 0; w++) {
                if (kept[w] > base) {
                    quota[w]++;
                    extra--;
                }
            }
            for (int w = 0; w < n && extra > 0; w++) {
                if (quota[w] == base) {
                    quota[w]++;
                    extra--;
                }
            }
            return quota;
        }
        BigInteger total = BigInteger.ZERO;
        for (Worker w : workers) {
            total = total.add(BigInteger.valueOf(w.capacity()));
        }
        BigInteger count = BigInteger.valueOf(p);
        BigInteger[] fraction = new BigInteger[n];
        int extra = p;
        for (int w = 0; w < n; w++) {
            BigInteger[] qr = count.multiply(BigInteger.valueOf(workers[w].capacity())).divideAndRemainder(total);
            quota[w] = qr[0].intValueExact();
            fraction[w] = qr[1];
            extra -= quota[w];
        }
        if (extra > 0) {
            int[] order = IndexSort.identity(n);
            IndexSort.sort(order, (a, b) -> {
                int c = Integer.compare(fraction[b].signum(), fraction[a].signum());
                if (c == 0) {
                    c = Boolean.compare(kept[b] > quota[b], kept[a] > quota[a]);
                }
                return c != 0 ? c : fraction[b].compareTo(fraction[a]);
            });
            for (int i = 0; i < extra; i++) {
                quota[order[i]]++;
            }
        }
        return quota;
    }

    @Override
    public String toString() {
        return "StickyBalanced";
    }
}
