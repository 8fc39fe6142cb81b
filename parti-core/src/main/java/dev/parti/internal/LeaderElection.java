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
    /** Bumped by {@link #stepDownOnDisconnect} (any thread): a round that wins across it gives the key back. */
    private volatile long disconnects;
    /** The key is ours at {@link #revision} but we stepped down on a disconnect: the next round deletes it. */
    private volatile boolean releasePending;

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
        long disconnectsAtStart = disconnects;
        if (releasePending && !leader) {
            // stepped down on a disconnect: give the key back (compare-and-set on our revision), an election now
            try {
                kv.delete(Bucket.LEADER, KEY, revision);
            } catch (CasConflictException gone) {
                // deleted by a follower that saw our connection closed, or expired and taken: not ours any more
            }
            releasePending = false;
        }
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
        if (disconnects != disconnectsAtStart) {
            releasePending = true; // the connection dropped while we created the key: lead not, give it back next round
            return false;
        }
        leader = true;
        if (disconnects != disconnectsAtStart) {
            leader = false; // a disconnect right between the check and the write above
            releasePending = true;
            return false;
        }
        return true;
    }

    /** Gives up leadership locally (the lease lapses on the server by TTL, or is deleted on close). */
    void stepDown() {
        leader = false;
    }

    /**
     * Any thread (jnats' callback on DISCONNECTED, proof of death on): stops acting as leader at once
     * ({@link #leaseValid()} is false from now on). A follower may delete the key a grace after the server reports
     * the connection closed; if none does, the next round (once back) deletes it, so an election runs without
     * waiting for the TTL.
     */
    void stepDownOnDisconnect() {
        disconnects++;
        if (leader) {
            leader = false;
            releasePending = true;
        }
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
