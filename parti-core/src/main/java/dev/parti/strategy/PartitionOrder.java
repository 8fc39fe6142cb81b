package dev.parti.strategy;

import dev.parti.Partition;
import java.util.Arrays;
import java.util.List;

/**
 * The natural order of many partitions, computed in near-linear time, and a fast
 * partition → index lookup built on the same work.
 *
 * <p>{@link Partition#compareTo(Partition)} compares keys position by position (digit-only keys as
 * numbers) and puts a prefix first. Sorting thousands of partitions with it costs a comparison
 * through several objects per step. Instead, each key position ("level") gives every key a
 * <em>code</em> whose order is the keys' order: on a level whose keys are all small numbers written
 * without leading zeros (Kafka partition numbers) the code is the number + 1; on any other level it
 * is the rank of the key among the level's distinct keys (sorting only the distinct keys, with the
 * same comparison as {@code Partition}). A missing key (a shorter partition) has code 0. The
 * partitions are then ordered by their code tuples with stable counting sorts, last level first
 * (LSD radix sort). The result equals sorting with {@code compareTo}; a property test holds the two
 * together.
 *
 * <p>Code tuples identify partitions, so {@link #indexOf(Partition)} finds a partition by its codes
 * (one table look-up), without {@code equals} on the partitions.
 *
 * <p>An instance belongs to one {@code assign} call (it caches look-ups): never share it between threads.
 */
final class PartitionOrder {
    private final Partition[] partitions;
    private final int[] order;
    private final Level[] levels;
    private final int[][] codes;
    private final int[] buckets;
    private Lookup lookup;

    private PartitionOrder(Partition[] partitions) {
        this.partitions = partitions;
        int n = partitions.length;
        // One pass over the partitions' key lists; the levels then read plain arrays (null = no key).
        String[][] keysAt = new String[4][];
        int depth = 0;
        for (int i = 0; i < n; i++) {
            List<String> keys = partitions[i].keys();
            int size = keys.size();
            if (size > depth) {
                if (size > keysAt.length) {
                    keysAt = Arrays.copyOf(keysAt, Math.max(size, 2 * keysAt.length));
                }
                for (int l = depth; l < size; l++) {
                    keysAt[l] = new String[n];
                }
                depth = size;
            }
            for (int l = 0; l < size; l++) {
                keysAt[l][i] = keys.get(l);
            }
        }
        levels = new Level[depth];
        codes = new int[depth][];
        buckets = new int[depth];
        int[] ord = IndexSort.identity(n);
        int[] tmp = new int[n];
        for (int level = depth - 1; level >= 0; level--) {
            int[] code = new int[n];
            Level l = NumericLevel.of(keysAt[level], code);
            if (l == null) {
                l = RankedLevel.of(keysAt[level], code);
            }
            keysAt[level] = null;
            levels[level] = l;
            codes[level] = code;
            buckets[level] = l.buckets();
            int[] start = new int[buckets[level] + 1];
            for (int i = 0; i < n; i++) {
                start[code[i] + 1]++;
            }
            for (int b = 1; b < start.length; b++) {
                start[b] += start[b - 1];
            }
            for (int k = 0; k < n; k++) {
                int i = ord[k];
                tmp[start[code[i]]++] = i;
            }
            int[] swap = ord;
            ord = tmp;
            tmp = swap;
        }
        order = ord;
    }

    /** The order of {@code partitions} (distinct), with {@link #indexOf} available. */
    static PartitionOrder of(Partition[] partitions) {
        return new PartitionOrder(partitions);
    }

    /**
     * The permutation that sorts {@code partitions} (distinct) by natural order: {@code order[k]} is the
     * index of the {@code k}-th smallest partition.
     */
    static int[] sort(Partition[] partitions) {
        return new PartitionOrder(partitions).order;
    }

    /** {@code order()[k]} is the index of the {@code k}-th smallest partition. */
    int[] order() {
        return order;
    }

    /** The index of a partition equal to {@code p} (same keys), or −1 if there is none. */
    int indexOf(Partition p) {
        if (lookup == null) {
            lookup = Lookup.build(this);
        }
        return lookup.indexOf(this, p);
    }

    /** The composite code of partition {@code p}, or −1 if some key is unknown. */
    private long compositeOf(Partition p, long[] radix) {
        List<String> keys = p.keys();
        if (keys.size() > levels.length) {
            return -1;
        }
        long key = 0;
        for (int l = 0; l < keys.size(); l++) {
            int c = levels[l].codeOf(keys.get(l));
            if (c < 0) {
                return -1;
            }
            key += c * radix[l];
        }
        return key;
    }

    /** Codes of one level: order-preserving, 0 for a missing key, −1 for a key the level never saw. */
    private interface Level {
        /** Codes are in {@code [0, buckets())}. */
        int buckets();

        int codeOf(String key);
    }

    /** A level of small numbers written without leading zeros: code = number + 1. */
    private static final class NumericLevel implements Level {
        private final int buckets;

        private NumericLevel(int buckets) {
            this.buckets = buckets;
        }

        /** Fills {@code code} and returns the level, or {@code null} if the level does not qualify. */
        static NumericLevel of(String[] keys, int[] code) {
            int limit = Math.max(1 << 16, 4 * keys.length);
            int max = 0;
            for (int i = 0; i < keys.length; i++) {
                String key = keys[i];
                if (key == null) {
                    code[i] = 0;
                    continue;
                }
                int v = parse(key);
                if (v < 0 || v >= limit) {
                    return null;
                }
                code[i] = v + 1;
                max = Math.max(max, v + 1);
            }
            return new NumericLevel(max + 1);
        }

        /** The value of a digit-only key of at most 9 digits without leading zeros, else −1. */
        private static int parse(String s) {
            int len = s.length();
            if (len > 9 || (len > 1 && s.charAt(0) == '0')) {
                return -1;
            }
            int v = 0;
            for (int j = 0; j < len; j++) {
                int d = s.charAt(j) - '0';
                if (d < 0 || d > 9) {
                    return -1;
                }
                v = v * 10 + d;
            }
            return v;
        }

        @Override
        public int buckets() {
            return buckets;
        }

        @Override
        public int codeOf(String key) {
            int v = parse(key);
            return v >= 0 && v + 1 < buckets ? v + 1 : -1;
        }
    }

    /** Any other level: code = rank among the level's distinct keys (1-based). */
    private static final class RankedLevel implements Level {
        private final StringIds ids;
        private final int[] rankOfId;
        /** The last key looked up, by identity: partitions of one topic usually share the string. */
        private String lastKey;
        private int lastCode;

        private RankedLevel(StringIds ids, int[] rankOfId) {
            this.ids = ids;
            this.rankOfId = rankOfId;
        }

        static RankedLevel of(String[] keys, int[] code) {
            StringIds ids = new StringIds();
            String last = null;
            int lastId = 0;
            for (int i = 0; i < keys.length; i++) {
                String s = keys[i];
                if (s == null) {
                    code[i] = -1;
                    continue;
                }
                if (s != last) {
                    last = s;
                    lastId = ids.idOf(s);
                }
                code[i] = lastId;
            }
            String[] distinct = ids.keys();
            int d = distinct.length;
            boolean[] digits = new boolean[d];
            long[] value = new long[d];
            for (int j = 0; j < d; j++) {
                String s = distinct[j];
                digits[j] = isDigits(s);
                value[j] = digits[j] && s.length() <= 18 && (s.length() == 1 || s.charAt(0) != '0') ? Long.parseLong(s) : -1;
            }
            int[] byKey = IndexSort.identity(d);
            IndexSort.sort(byKey, (a, b) -> {
                if (value[a] >= 0 && value[b] >= 0) {
                    return Long.compare(value[a], value[b]);
                }
                if (digits[a] && digits[b]) {
                    return compareDigits(distinct[a], distinct[b]);
                }
                if (digits[a] != digits[b]) {
                    return digits[a] ? -1 : 1; // numbers before other keys, as in Partition
                }
                return distinct[a].compareTo(distinct[b]);
            });
            int[] rank = new int[d];
            for (int r = 0; r < d; r++) {
                rank[byKey[r]] = r + 1;
            }
            for (int i = 0; i < code.length; i++) {
                code[i] = code[i] < 0 ? 0 : rank[code[i]];
            }
            return new RankedLevel(ids, rank);
        }

        @Override
        public int buckets() {
            return rankOfId.length + 1;
        }

        @Override
        public int codeOf(String key) {
            if (key == lastKey) {
                return lastCode;
            }
            int id = ids.find(key);
            lastKey = key;
            lastCode = id < 0 ? -1 : rankOfId[id];
            return lastCode;
        }
    }

    /** Composite code → index: a dense table when the code space is small, else a hash table. */
    private static final class Lookup {
        private final long[] radix;
        private final int[] dense;
        private final long[] sparseKeys;
        private final int[] sparseValues;
        private final PartitionIndex fallback;

        private Lookup(long[] radix, int[] dense, long[] sparseKeys, int[] sparseValues, PartitionIndex fallback) {
            this.radix = radix;
            this.dense = dense;
            this.sparseKeys = sparseKeys;
            this.sparseValues = sparseValues;
            this.fallback = fallback;
        }

        static Lookup build(PartitionOrder po) {
            int depth = po.levels.length;
            int n = po.partitions.length;
            long[] radix = new long[depth];
            long space = 1;
            for (int l = depth - 1; l >= 0; l--) {
                radix[l] = space;
                if (space > Long.MAX_VALUE / 4 / po.buckets[l]) {
                    return new Lookup(null, null, null, null, new PartitionIndex(po.partitions));
                }
                space *= po.buckets[l];
            }
            long[] composite = new long[n];
            for (int i = 0; i < n; i++) {
                long key = 0;
                for (int l = 0; l < depth; l++) {
                    key += po.codes[l][i] * radix[l];
                }
                composite[i] = key;
            }
            if (space <= Math.max(1024, 4L * n)) {
                int[] dense = new int[(int) space];
                Arrays.fill(dense, -1);
                for (int i = 0; i < n; i++) {
                    dense[(int) composite[i]] = i;
                }
                return new Lookup(radix, dense, null, null, null);
            }
            int cap = Integer.highestOneBit(Math.max(2, n + (n >> 1))) << 1;
            long[] keys = new long[cap];
            int[] values = new int[cap];
            Arrays.fill(values, -1);
            for (int i = 0; i < n; i++) {
                int slot = slot(composite[i], cap);
                while (values[slot] >= 0) {
                    slot = (slot + 1) & (cap - 1);
                }
                keys[slot] = composite[i];
                values[slot] = i;
            }
            return new Lookup(radix, null, keys, values, null);
        }

        int indexOf(PartitionOrder po, Partition p) {
            if (fallback != null) {
                return fallback.indexOf(p);
            }
            long key = po.compositeOf(p, radix);
            if (key < 0) {
                return -1;
            }
            if (dense != null) {
                return dense[(int) key];
            }
            int slot = slot(key, sparseKeys.length);
            int v;
            while ((v = sparseValues[slot]) >= 0) {
                if (sparseKeys[slot] == key) {
                    return v;
                }
                slot = (slot + 1) & (sparseKeys.length - 1);
            }
            return -1;
        }

        private static int slot(long key, int cap) {
            return (int) Hashing.mix64(key) & (cap - 1);
        }
    }

    /** Digit-only keys as {@link Partition} compares them: by value, then by text (leading zeros). */
    private static int compareDigits(String a, String b) {
        int i = 0;
        while (i < a.length() - 1 && a.charAt(i) == '0') {
            i++;
        }
        int j = 0;
        while (j < b.length() - 1 && b.charAt(j) == '0') {
            j++;
        }
        int la = a.length() - i;
        int lb = b.length() - j;
        if (la != lb) {
            return Integer.compare(la, lb);
        }
        for (int k = 0; k < la; k++) {
            int c = Character.compare(a.charAt(i + k), b.charAt(j + k));
            if (c != 0) {
                return c;
            }
        }
        return a.compareTo(b);
    }

    private static boolean isDigits(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch < '0' || ch > '9') {
                return false;
            }
        }
        return true;
    }

    /** Distinct strings → dense IDs in first-seen order: open addressing, no boxing. */
    private static final class StringIds {
        private String[] table = new String[16];
        private int[] hashes = new int[16];
        private int[] ids = new int[16];
        private String[] byId = new String[8];
        private int size;

        /** The ID of {@code s}, added if new. */
        int idOf(String s) {
            int h = s.hashCode();
            int mask = table.length - 1;
            int slot = spread(h) & mask;
            String k;
            while ((k = table[slot]) != null) {
                if (k == s || (hashes[slot] == h && k.equals(s))) {
                    return ids[slot];
                }
                slot = (slot + 1) & mask;
            }
            if (size == byId.length) {
                byId = Arrays.copyOf(byId, size * 2);
            }
            table[slot] = s;
            hashes[slot] = h;
            ids[slot] = size;
            byId[size] = s;
            int id = size++;
            if (size * 2 > table.length) {
                grow();
            }
            return id;
        }

        /** The ID of {@code s}, or −1. */
        int find(String s) {
            int h = s.hashCode();
            int mask = table.length - 1;
            int slot = spread(h) & mask;
            String k;
            while ((k = table[slot]) != null) {
                if (k == s || (hashes[slot] == h && k.equals(s))) {
                    return ids[slot];
                }
                slot = (slot + 1) & mask;
            }
            return -1;
        }

        String[] keys() {
            return Arrays.copyOf(byId, size);
        }

        private static int spread(int h) {
            return ((h ^ (h >>> 16)) * 0x9E3779B9) >>> 8;
        }

        private void grow() {
            String[] oldTable = table;
            int[] oldHashes = hashes;
            int[] oldIds = ids;
            int cap = oldTable.length * 2;
            table = new String[cap];
            hashes = new int[cap];
            ids = new int[cap];
            int mask = cap - 1;
            for (int i = 0; i < oldTable.length; i++) {
                if (oldTable[i] != null) {
                    int slot = spread(oldHashes[i]) & mask;
                    while (table[slot] != null) {
                        slot = (slot + 1) & mask;
                    }
                    table[slot] = oldTable[i];
                    hashes[slot] = oldHashes[i];
                    ids[slot] = oldIds[i];
                }
            }
        }
    }
}
