package dev.parti.strategy;

import dev.parti.Partition;
import java.util.List;

/**
 * The natural order of many partitions, computed in near-linear time.
 *
 * <p>{@link Partition#compareTo(Partition)} compares keys position by position (digit-only keys as
 * numbers) and puts a prefix first. Sorting thousands of partitions with it costs a comparison
 * through several objects per step. Instead, for each key position this class gives every distinct
 * key string a dense rank (sorting only the distinct strings, with the same key comparison), and
 * then orders the partitions by their rank tuples with stable counting sorts, last position first
 * (LSD radix sort), a missing position ranking lowest. The result equals sorting with
 * {@code compareTo}; a property test holds the two together.
 */
final class PartitionOrder {
    private PartitionOrder() {
    }

    /**
     * The permutation that sorts {@code partitions} (distinct) by natural order: {@code order[k]} is the
     * index of the {@code k}-th smallest partition.
     */
    static int[] sort(Partition[] partitions) {
        int n = partitions.length;
        int levels = 0;
        for (Partition p : partitions) {
            levels = Math.max(levels, p.keys().size());
        }
        int[] order = IndexSort.identity(n);
        int[] tmp = new int[n];
        int[] code = new int[n];
        for (int level = levels - 1; level >= 0; level--) {
            int buckets = numericLevel(partitions, level, code);
            if (buckets < 0) {
                buckets = rankLevel(partitions, level, code) + 1;
            }
            int[] start = new int[buckets + 1];
            for (int i = 0; i < n; i++) {
                start[code[i] + 1]++;
            }
            for (int b = 1; b <= buckets; b++) {
                start[b] += start[b - 1];
            }
            for (int k = 0; k < n; k++) {
                int i = order[k];
                tmp[start[code[i]]++] = i;
            }
            int[] swap = order;
            order = tmp;
            tmp = swap;
        }
        return order;
    }

    /**
     * The fast path for a level whose keys are all small numbers written without leading zeros (Kafka
     * partition numbers): fills {@code code[i]} with 0 if partition {@code i} has no key at
     * {@code level}, else with 1 + the number, where the numbers' order is the keys' order.
     *
     * @return the number of codes used (max code + 1), or −1 if the level does not qualify and
     *     {@code code} must be filled by {@link #rankLevel}
     */
    private static int numericLevel(Partition[] partitions, int level, int[] code) {
        int limit = Math.max(1 << 16, 4 * partitions.length);
        int max = 0;
        for (int i = 0; i < partitions.length; i++) {
            List<String> keys = partitions[i].keys();
            if (level >= keys.size()) {
                code[i] = 0;
                continue;
            }
            String s = keys.get(level);
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
            if (v >= limit) {
                return -1;
            }
            code[i] = v + 1;
            max = Math.max(max, v + 1);
        }
        return max + 1;
    }

    /**
     * Fills {@code code[i]} with 0 if partition {@code i} has no key at {@code level}, else with
     * 1 + the rank of that key among the distinct keys at that level.
     *
     * @return the number of distinct keys at {@code level}
     */
    private static int rankLevel(Partition[] partitions, int level, int[] code) {
        StringIds ids = new StringIds();
        String last = null;
        int lastId = 0;
        for (int i = 0; i < partitions.length; i++) {
            List<String> keys = partitions[i].keys();
            if (level >= keys.size()) {
                code[i] = 0;
                continue;
            }
            String s = keys.get(level);
            if (s != last) {
                last = s;
                lastId = ids.idOf(s) + 1;
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
            return digits[a] && digits[b] ? compareDigits(distinct[a], distinct[b]) : distinct[a].compareTo(distinct[b]);
        });
        int[] rank = new int[d];
        for (int r = 0; r < d; r++) {
            rank[byKey[r]] = r + 1;
        }
        for (int i = 0; i < code.length; i++) {
            if (code[i] > 0) {
                code[i] = rank[code[i] - 1];
            }
        }
        return d;
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
        private String[] table;
        private int[] hashes;
        private int[] ids;
        private String[] byId;
        private int size;

        StringIds() {
            table = new String[16];
            hashes = new int[16];
            ids = new int[16];
            byId = new String[8];
        }

        int idOf(String s) {
            int h = s.hashCode();
            int mask = table.length - 1;
            int slot = (h ^ (h >>> 16)) * 0x9E3779B9 >>> 8 & mask;
            String k;
            while ((k = table[slot]) != null) {
                if (k == s || (hashes[slot] == h && k.equals(s))) {
                    return ids[slot];
                }
                slot = (slot + 1) & mask;
            }
            if (size == byId.length) {
                byId = java.util.Arrays.copyOf(byId, size * 2);
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

        String[] keys() {
            return java.util.Arrays.copyOf(byId, size);
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
                    int h = oldHashes[i];
                    int slot = (h ^ (h >>> 16)) * 0x9E3779B9 >>> 8 & mask;
                    while (table[slot] != null) {
                        slot = (slot + 1) & mask;
                    }
                    table[slot] = oldTable[i];
                    hashes[slot] = h;
                    ids[slot] = oldIds[i];
                }
            }
        }
    }
}
