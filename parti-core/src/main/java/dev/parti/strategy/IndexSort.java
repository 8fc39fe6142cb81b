package dev.parti.strategy;

/** A stable merge sort of {@code int} indices by a primitive comparator: no boxing. */
final class IndexSort {
    private static final int INSERTION_LIMIT = 24;

    /** Compares two indices. */
    @FunctionalInterface
    interface IndexComparator {
        int compare(int a, int b);
    }

    private IndexSort() {
    }

    /** {@code [0, 1, …, n − 1]}. */
    static int[] identity(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        return a;
    }

    /** Sorts {@code a} by {@code cmp}, stably. */
    static void sort(int[] a, IndexComparator cmp) {
        int[] tmp = a.clone();
        mergeSort(tmp, a, 0, a.length, cmp);
    }

    /** Sorts {@code src[from, to)} into {@code dst[from, to)}; both start with the same content. */
    private static void mergeSort(int[] src, int[] dst, int from, int to, IndexComparator cmp) {
        int len = to - from;
        if (len <= INSERTION_LIMIT) {
            for (int i = from + 1; i < to; i++) {
                int v = dst[i];
                int j = i - 1;
                while (j >= from && cmp.compare(dst[j], v) > 0) {
                    dst[j + 1] = dst[j];
                    j--;
                }
                dst[j + 1] = v;
            }
            return;
        }
        int mid = (from + to) >>> 1;
        mergeSort(dst, src, from, mid, cmp);
        mergeSort(dst, src, mid, to, cmp);
        if (cmp.compare(src[mid - 1], src[mid]) <= 0) {
            System.arraycopy(src, from, dst, from, len);
            return;
        }
        for (int i = from, p = from, q = mid; i < to; i++) {
            if (q >= to || (p < mid && cmp.compare(src[p], src[q]) <= 0)) {
                dst[i] = src[p++];
            } else {
                dst[i] = src[q++];
            }
        }
    }
}
