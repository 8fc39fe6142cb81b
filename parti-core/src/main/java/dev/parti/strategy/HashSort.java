package dev.parti.strategy;

import java.util.Arrays;

/**
 * Sorting of 64-bit hash values in expected linear time: a counting pass on the top bits spreads
 * well-mixed values over about one bucket per value, a scatter pass puts each value into its bucket,
 * then each bucket is sorted on its own (insertion sort when small, a comparison sort otherwise, so
 * adversarial input stays O(n log n)). Signed {@code long} order, like {@link Arrays#sort(long[])}.
 *
 * <p>Protocol, for callers that generate their values twice instead of keeping a copy:
 * {@link #bucketBits}, {@link #newTable}, {@link #bucket} for counting ({@code table[b]++}),
 * {@link #countsToEnds}, scatter with {@code a[--table[bucket(x)]] = x}, then {@link #sortBuckets}.
 * Afterwards the values of bucket {@code b} are at {@code [table[b], table[b + 1])}.
 */
final class HashSort {
    private static final int SMALL = 32;

    private HashSort() {
    }

    /** Bits of the bucket index for {@code n} values: about one value per bucket. */
    static int bucketBits(int n) {
        return Math.max(1, Math.min(24, 32 - Integer.numberOfLeadingZeros(Math.max(1, n - 1))));
    }

    /** A zeroed table of {@code 2^bits + 1} entries. */
    static int[] newTable(int bits) {
        return new int[(1 << bits) + 1];
    }

    /** The bucket of {@code x} among {@code 2^bits}, monotone in signed order. */
    static int bucket(long x, int bits) {
        return (int) ((x ^ Long.MIN_VALUE) >>> (64 - bits));
    }

    /** Turns bucket counts into bucket ends (exclusive), and sets the last entry to the total. */
    static void countsToEnds(int[] table) {
        int last = table.length - 1;
        for (int b = 1; b < last; b++) {
            table[b] += table[b - 1];
        }
        table[last] = last == 0 ? 0 : table[last - 1];
    }

    /** Sorts each bucket of {@code a} described by {@code table}. */
    static void sortBuckets(long[] a, int[] table) {
        for (int b = 0; b + 1 < table.length; b++) {
            int from = table[b];
            int to = table[b + 1];
            if (to - from > SMALL) {
                Arrays.sort(a, from, to);
            } else {
                for (int i = from + 1; i < to; i++) {
                    long v = a[i];
                    int j = i - 1;
                    while (j >= from && a[j] > v) {
                        a[j + 1] = a[j];
                        j--;
                    }
                    a[j + 1] = v;
                }
            }
        }
    }

    /**
     * Sorts {@code a} and returns the bucket table (see the class comment): the protocol composed in
     * one place, as the tests check it against {@link Arrays#sort(long[])}; {@link Ring} follows the
     * same steps without the copy.
     */
    static int[] sort(long[] a) {
        int bits = bucketBits(a.length);
        int[] table = newTable(bits);
        for (long x : a) {
            table[bucket(x, bits)]++;
        }
        countsToEnds(table);
        long[] copy = a.clone();
        for (long x : copy) {
            a[--table[bucket(x, bits)]] = x;
        }
        sortBuckets(a, table);
        return table;
    }

    /**
     * The permutation sorting indices {@code 0 … n − 1} by {@code keys[i]}, then by {@code tie[i]}
     * (distinct).
     */
    static int[] order(long[] keys, int[] tie) {
        int n = keys.length;
        int bits = bucketBits(n);
        int[] table = newTable(bits);
        for (long x : keys) {
            table[bucket(x, bits)]++;
        }
        countsToEnds(table);
        int[] out = new int[n];
        for (int i = n - 1; i >= 0; i--) {
            out[--table[bucket(keys[i], bits)]] = i;
        }
        IndexSort.IndexComparator cmp = (x, y) -> {
            int c = Long.compare(keys[x], keys[y]);
            return c != 0 ? c : Integer.compare(tie[x], tie[y]);
        };
        for (int b = 0; b + 1 < table.length; b++) {
            int from = table[b];
            int to = table[b + 1];
            if (to - from > SMALL) {
                int[] slice = Arrays.copyOfRange(out, from, to);
                IndexSort.sort(slice, cmp);
                System.arraycopy(slice, 0, out, from, slice.length);
            } else {
                for (int i = from + 1; i < to; i++) {
                    int v = out[i];
                    int j = i - 1;
                    while (j >= from && cmp.compare(out[j], v) > 0) {
                        out[j + 1] = out[j];
                        j--;
                    }
                    out[j + 1] = v;
                }
            }
        }
        return out;
    }
}
