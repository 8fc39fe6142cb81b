package dev.parti.strategy;

import dev.parti.Partition;

/**
 * Partition → position in an array, by {@link Partition#equals(Object) equality} (keys only):
 * an open-addressing table without boxing.
 */
final class PartitionIndex {
    private final Partition[] keys;
    private final int[] values;
    private final int mask;

    /** Indexes {@code partitions[i] → i}; the partitions are distinct. */
    PartitionIndex(Partition[] partitions) {
        int cap = Integer.highestOneBit(Math.max(2, partitions.length + (partitions.length >> 1))) << 1;
        keys = new Partition[cap];
        values = new int[cap];
        mask = cap - 1;
        for (int i = 0; i < partitions.length; i++) {
            Partition p = partitions[i];
            int slot = slot(p);
            while (keys[slot] != null) {
                slot = (slot + 1) & mask;
            }
            keys[slot] = p;
            values[slot] = i;
        }
    }

    /** The index of {@code p}, or −1 if absent. */
    int indexOf(Partition p) {
        int slot = slot(p);
        Partition k;
        while ((k = keys[slot]) != null) {
            if (k == p || k.equals(p)) {
                return values[slot];
            }
            slot = (slot + 1) & mask;
        }
        return -1;
    }

    private int slot(Partition p) {
        return (int) Hashing.mix64(p.hashCode()) & mask;
    }
}
