package dev.parti.nats.internal;

import java.time.Duration;

/**
 * Exponential retry delays: {@code initial × 2^(attempt−1)}, capped at {@code max}. Immutable.
 *
 * @param initial delay after the first failure, &gt; 0
 * @param max     the cap, &ge; initial
 */
public record Backoff(Duration initial, Duration max) {
    /** Validates. */
    public Backoff {
        if (initial == null || max == null || initial.isZero() || initial.isNegative()) {
            throw new IllegalArgumentException("backoff initial delay must be > 0, was " + initial);
        }
        if (max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("backoff max delay must be >= initial (" + max + " < " + initial + ")");
        }
    }

    /** The delay after failed attempt number {@code attempt} (1 = the first failure). */
    public Duration delay(int attempt) {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt must be >= 1, was " + attempt);
        }
        int shift = Math.min(attempt - 1, 30);
        long nanos = initial.toNanos();
        long maxNanos = max.toNanos();
        return Duration.ofNanos(nanos > (maxNanos >> shift) ? maxNanos : Math.min(maxNanos, nanos << shift));
    }
}
