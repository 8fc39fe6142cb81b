package dev.parti.strategy;

import java.util.Arrays;

/**
 * Sorting of 64-bit hash values in expected linear time: a counting pass on the top bits spreads
 * well-mixed values over about one bucket per value, then each bucket is sorted on its own
 * (insertion sort when small, a comparison sort otherwise, so adversarial input stays
 * O(n log n)). Signed {@code long} order, like {@link Arrays#sort(long[])}.
 */
final class HashSort {
    private static final int SMALL = 32;

    private HashSort() {
    }

    /** Bits of the bucket index for {@code n} values: about one value per bucket. */
    static int bucketBits(int n) {
        return Math.max(1, Math.min(24, 32 - Integer.numberOfLeadingZeros(Math.max(1, n - 1))));
    }

    /** The bucket of {@code x} among {@code 2^bits}, monotone in signed order. */
    static int bucket(long x, int bits) {
        return (int) ((x ^ Long.MIN_VALUE) >>> (64 - bits));
    }

    /**
     * Sorts {@code a} in place.
     *
     * @return the bucket table: values of bucket {@code b} (see {@link #bucket}) are at
     *     {@code [start[b], start[b + 1])}, with {@code bits = bucketBits(a.length)}
     */
    static int[] sort(long[] a) {
        int n = a.length;
        int bits = bucketBits(n);
        int[] start = new int[(1 << bits) + 1];
        for (long x : a) {
            start[bucket(x, bits) + 1]++;
        }
        for (int b = 1; b < start.length; b++) {
            start[b] += start[b - 1];
        }
        long[] out = new long[n];
        int[] fill = Arrays.copyOf(start, start.length - 1);
        for (long x : a) {
            out[fill[bucket(x, bits)]++] = x;
        }
        for (int b = 0; b + 1 < start.length; b++) {
            int from = start[b];
            int to = start[b + 1];
            if (to - from > SMALL) {
                Arrays.sort(out, from, to);
            } else {
                for (int i = from + 1; i < to; i++) {
                    long v = out[i];
                    int j = i - 1;
                    while (j >= from && out[j] > v) {
                        out[j + 1] = out[j];
                        j--;
                    }
                    out[j + 1] = v;
                }
            }
        }
        System.arraycopy(out, 0, a, 0, n);
        return start;
    }

    /**
     * The permutation sorting indices {@code 0 … n − 1} by {@code keys[i]}, then by {@code tie[i]}
     * (distinct).
     */
    static int[] order(long[] keys, int[] tie) {
        int n = keys.length;
        int bits = bucketBits(n);
        int[] start = new int[(1 << bits) + 1];
        for (long x : keys) {
            start[bucket(x, bits) + 1]++;
        }
        for (int b = 1; b < start.length; b++) {
            start[b] += start[b - 1];
        }
        int[] out = new int[n];
        int[] fill = Arrays.copyOf(start, start.length - 1);
        for (int i = 0; i < n; i++) {
            out[fill[bucket(keys[i], bits)]++] = i;
        }
        IndexSort.IndexComparator cmp = (x, y) -> {
            int c = Long.compare(keys[x], keys[y]);
            return c != 0 ? c : Integer.compare(tie[x], tie[y]);
        };
        for (int b = 0; b + 1 < start.length; b++) {
            int from = start[b];
            int to = start[b + 1];
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
