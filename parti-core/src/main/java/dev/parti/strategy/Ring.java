package dev.parti.strategy;

import dev.parti.Worker;

/**
 * A consistent-hash ring of virtual nodes, built from workers sorted by ID.
 *
 * <p>Each point is a 64-bit value: its upper {@code 64 - OWNER_BITS} bits are the point's position on
 * the ring, its lower {@link #OWNER_BITS} bits the index of the owning worker in the sorted worker
 * array. Sorting those longs therefore sorts the ring by position, and points that share a position
 * are ordered by worker ID, so the order never depends on input order. Positions of a worker's points
 * depend only on its ID and its number of points, never on the other workers: adding or removing a
 * worker only adds or removes that worker's points.
 *
 * <p>A worker has {@code virtualNodes × capacity} points while the ring stays at or under
 * {@link #MAX_POINTS}; beyond that every worker's count is scaled down proportionally (at least one).
 */
final class Ring {
    /** Bits of a point that hold the owner index. */
    static final int OWNER_BITS = 20;
    /** Mask of the owner index. */
    static final long OWNER_MASK = (1L << OWNER_BITS) - 1;
    /** Most workers a ring can hold. */
    static final int MAX_WORKERS = 1 << OWNER_BITS;
    /** Most points a ring holds before per-worker counts are scaled down. */
    static final long MAX_POINTS = 1L << 20;

    private final long[] points;
    private final int[] bucketStart;
    private final int bucketBits;

    private Ring(long[] points, int[] bucketStart, int bucketBits) {
        this.points = points;
        this.bucketStart = bucketStart;
        this.bucketBits = bucketBits;
    }

    /**
     * Builds the ring.
     *
     * @param sortedWorkers workers sorted by ID, non-empty
     * @param virtualNodes  points per unit of capacity, ≥ 1
     */
    static Ring build(Worker[] sortedWorkers, int virtualNodes) {
        int n = sortedWorkers.length;
        if (n > MAX_WORKERS) {
            throw new IllegalArgumentException("a hash ring holds at most " + MAX_WORKERS + " workers, got " + n);
        }
        int[] counts = new int[n];
        double wanted = 0;
        for (Worker w : sortedWorkers) {
            wanted += (double) virtualNodes * w.capacity();
        }
        long total = 0;
        if (wanted <= MAX_POINTS) {
            for (int i = 0; i < n; i++) {
                counts[i] = (int) (virtualNodes * sortedWorkers[i].capacity());
                total += counts[i];
            }
        } else {
            double scale = MAX_POINTS / wanted;
            for (int i = 0; i < n; i++) {
                counts[i] = (int) Math.max(1, Math.floor((double) virtualNodes * sortedWorkers[i].capacity() * scale));
                total += counts[i];
            }
        }
        // Points are generated twice (count, then scatter) rather than copied: mixing is cheaper than memory.
        int size = Math.toIntExact(total);
        int bits = HashSort.bucketBits(size);
        int[] table = HashSort.newTable(bits);
        long[] seeds = new long[n];
        for (int i = 0; i < n; i++) {
            seeds[i] = Hashing.xxHash64(sortedWorkers[i].id());
            for (int k = 1; k <= counts[i]; k++) {
                table[HashSort.bucket(point(seeds[i], k, i), bits)]++;
            }
        }
        HashSort.countsToEnds(table);
        long[] points = new long[size];
        for (int i = 0; i < n; i++) {
            for (int k = 1; k <= counts[i]; k++) {
                long p = point(seeds[i], k, i);
                points[--table[HashSort.bucket(p, bits)]] = p;
            }
        }
        HashSort.sortBuckets(points, table);
        return new Ring(points, table, bits);
    }

    /** The {@code k}-th point of the worker at {@code index} whose ID hashes to {@code seed}. */
    private static long point(long seed, int k, int index) {
        return (Hashing.mix64(seed + k * Hashing.GOLDEN_GAMMA) & ~OWNER_MASK) | index;
    }

    /** Number of points. */
    int size() {
        return points.length;
    }

    /** Index of the first point at or clockwise after {@code hash} (wrapping around). */
    int successor(long hash) {
        long q = hash & ~OWNER_MASK;
        int b = HashSort.bucket(q, bucketBits);
        int i = bucketStart[b];
        int end = bucketStart[b + 1];
        while (i < end && points[i] < q) {
            i++;
        }
        return i == points.length ? 0 : i;
    }

    /** Point {@code index}: position in the upper bits, owner in the lower {@link #OWNER_BITS}. */
    long point(int index) {
        return points[index];
    }

    /** The owner (index in the sorted worker array) of point {@code index}. */
    int owner(int index) {
        return (int) (points[index] & OWNER_MASK);
    }

    /** The owner of the first point at or after {@code hash}. */
    int ownerOf(long hash) {
        return owner(successor(hash));
    }
}
