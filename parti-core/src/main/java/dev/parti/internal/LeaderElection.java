package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.LongSupplier;

/**
 * Leader election over the leader key (invariant 2): {@code create} to win, CAS {@code update} to
 * renew, bucket TTL as the lease. The epoch is the revision of the winning {@code create}, which
 * strictly increases across leaders. The lease is valid, by this worker's monotonic clock, until
 * {@code start of last successful write + leader TTL − safety margin}; a leader writes nothing
 * outside a valid lease.
 *
 * <p>Confined to the worker's main thread, except {@link #isLeader()} (volatile).
 */
final class LeaderElection {
    static final String KEY = "leader";

    private final Kv kv;
    private final LongSupplier clock;
    private final long leaseNanos;
    private final byte[] record;
    private volatile boolean leader;
    private long revision;
    private long epoch;
    private volatile long leaseStartNanos; // read by isLeader() callers on any thread

    LeaderElection(Kv kv, LongSupplier clock, Duration leaderTtl, Duration safetyMargin,
                   String workerId, String instance) {
        this.kv = kv;
        this.clock = clock;
        this.leaseNanos = leaderTtl.minus(safetyMargin).toNanos();
        this.record = Codec.encode(new Codec.LeaderRecord(workerId, instance));
    }

    boolean isLeader() {
        return leader;
    }

    long epoch() {
        return epoch;
    }

    /** Whether this worker may write as leader right now. */
    boolean leaseValid() {
        return leader && clock.getAsLong() - leaseStartNanos < leaseNanos;
    }

    /**
     * One election round: renew if leader, else try to take an absent key. Returns true when this
     * worker just became leader. Network failures propagate ({@link KvGateway.KvUnavailableException}).
     */
    boolean tick() {
        long start = clock.getAsLong();
        if (leader) {
            if (start - leaseStartNanos >= leaseNanos) {
                stepDown();
                return false;
            }
            try {
                // a renewal whose reply was lost left our own record: nobody else wrote since, still ours
                revision = kv.updateOwn(Bucket.LEADER, KEY, record, revision, v -> Arrays.equals(v, record));
                leaseStartNanos = start;
            } catch (CasConflictException lost) {
                stepDown();
            }
            return false;
        }
        Entry current = kv.get(Bucket.LEADER, KEY);
        if (current != null) {
            return false;
        }
        try {
            revision = kv.create(Bucket.LEADER, KEY, record);
        } catch (CasConflictException someoneElse) {
            return false;
        }
        epoch = revision;
        leaseStartNanos = start;
        leader = true;
        return true;
    }

    /** Gives up leadership locally (the lease lapses on the server by TTL, or is deleted on close). */
    void stepDown() {
        leader = false;
    }

    /** Deletes the leader key if still ours, so another worker takes over at once. */
    void resign() {
        if (leader) {
            leader = false;
            try {
                kv.delete(Bucket.LEADER, KEY, revision);
            } catch (CasConflictException e) {
                // already somebody else's
            }
        }
    }
}
