package dev.parti.strategy;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The hash functions of the hashing strategies: xxHash64 (seed 0) over the UTF-8 bytes of a string,
 * and the SplitMix64 finalizer to derive further well-spread values from one hash.
 *
 * <p>Both are fixed forever: changing them would move partitions between versions of Parti.
 */
final class Hashing {
    private static final long P1 = 0x9E3779B185EBCA87L;
    private static final long P2 = 0xC2B2AE3D27D4EB4FL;
    private static final long P3 = 0x165667B19E3779F9L;
    private static final long P4 = 0x85EBCA77C2B2AE63L;
    private static final long P5 = 0x27D4EB2F165667C5L;

    /** The golden-ratio increment of SplitMix64. */
    static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INTS = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private Hashing() {
    }

    /** xxHash64 with seed 0 of the UTF-8 encoding of {@code s}. */
    static long xxHash64(String s) {
        return xxHash64(s.getBytes(StandardCharsets.UTF_8));
    }

    /** xxHash64 with seed 0 of {@code data}. */
    static long xxHash64(byte[] data) {
        int len = data.length;
        int i = 0;
        long h;
        if (len >= 32) {
            long v1 = P1 + P2;
            long v2 = P2;
            long v3 = 0;
            long v4 = -P1;
            int limit = len - 32;
            do {
                v1 = round(v1, (long) LONGS.get(data, i));
                v2 = round(v2, (long) LONGS.get(data, i + 8));
                v3 = round(v3, (long) LONGS.get(data, i + 16));
                v4 = round(v4, (long) LONGS.get(data, i + 24));
                i += 32;
            } while (i <= limit);
            h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
            h = mergeRound(h, v1);
            h = mergeRound(h, v2);
            h = mergeRound(h, v3);
            h = mergeRound(h, v4);
        } else {
            h = P5;
        }
        h += len;
        while (i + 8 <= len) {
            h ^= round(0, (long) LONGS.get(data, i));
            h = Long.rotateLeft(h, 27) * P1 + P4;
            i += 8;
        }
        if (i + 4 <= len) {
            h ^= ((int) INTS.get(data, i) & 0xFFFF_FFFFL) * P1;
            h = Long.rotateLeft(h, 23) * P2 + P3;
            i += 4;
        }
        while (i < len) {
            h ^= (data[i] & 0xFFL) * P5;
            h = Long.rotateLeft(h, 11) * P1;
            i++;
        }
        h ^= h >>> 33;
        h *= P2;
        h ^= h >>> 29;
        h *= P3;
        h ^= h >>> 32;
        return h;
    }

    private static long round(long acc, long input) {
        return Long.rotateLeft(acc + input * P2, 31) * P1;
    }

    private static long mergeRound(long acc, long val) {
        return (acc ^ round(0, val)) * P1 + P4;
    }

    /** The SplitMix64 finalizer (Stafford's variant 13): a bijection that spreads every input bit. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
