package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import dev.parti.internal.WorkerIdClaimer.IdLostException;
import java.util.function.LongSupplier;

/**
 * Writes this worker's heartbeat (liveness, applied assignment version, owned partitions) with a
 * CAS on its own last revision, so a worker that was away can never overwrite the heartbeat of a
 * newcomer that took its ID. A heartbeat that merely expired is re-created; one held by another
 * instance means the ID was lost. Records, on the monotonic clock, when the last successful write
 * <em>started</em>: the basis of self-fencing (invariant 5).
 *
 * <p>Confined to the worker's main thread, except {@link #lastSuccessStartNanos()} (volatile).
 */
final class Heartbeater {
    private final Kv kv;
    private final LongSupplier clock;
    private String id;
    private long revision;
    private boolean takeOverExisting;
    private boolean displacedHolder;
    private boolean recreated;
    private volatile long lastSuccessStartNanos;

    Heartbeater(Kv kv, LongSupplier clock) {
        this.kv = kv;
        this.clock = clock;
    }

    /** Starts heartbeating under a freshly claimed ID; {@code takeOver}: replace a heartbeat an earlier holder left. */
    void reset(String workerId, boolean takeOver) {
        this.id = workerId;
        this.revision = 0;
        this.lastSuccessStartNanos = clock.getAsLong(); // a fresh ID starts a fresh lease
        this.takeOverExisting = takeOver;
        this.displacedHolder = false;
    }

    /**
     * Whether the first write under this ID replaced the live heartbeat of another instance that
     * reported owning partitions (or could not be read): that instance may still act as their owner
     * until its next heartbeat fails or its session ends, so this one must not acquire anything before.
     * Cleared by the call.
     */
    boolean takeDisplacedHolder() {
        boolean d = displacedHolder;
        displacedHolder = false;
        return d;
    }

    /**
     * Whether a write had to re-create this worker's expired heartbeat: its session ended on the server
     * and this write started a new one. Cleared by the call.
     */
    boolean takeRecreated() {
        boolean r = recreated;
        recreated = false;
        return r;
    }

    long lastSuccessStartNanos() {
        return lastSuccessStartNanos;
    }

    /**
     * One heartbeat write that started at {@code start} (monotonic nanos, taken before the caller
     * decided what to report). @throws IdLostException when another instance holds the heartbeat
     */
    void beat(Codec.Heartbeat hb, long start) {
        byte[] value = Codec.encode(hb);
        if (revision == 0) {
            revision = createOrTakeOver(value);
        } else {
            try {
                revision = kv.updateOwn(Bucket.HEARTBEATS, id, value, revision, v -> isOwn(v, hb.instance()));
            } catch (CasConflictException e) {
                if (e.holder() != null) {
                    throw new IdLostException("heartbeat of " + id + " was written by another instance");
                }
                try {
                    revision = kv.create(Bucket.HEARTBEATS, id, value);
                    recreated = true;
                } catch (CasConflictException raced) {
                    throw new IdLostException("heartbeat of " + id + " was re-created by another instance");
                }
            }
        }
        lastSuccessStartNanos = start;
    }

    private static boolean isOwn(byte[] value, String instance) {
        try {
            return instance.equals(Codec.decodeHeartbeat(value).instance());
        } catch (IllegalArgumentException unreadable) {
            return false;
        }
    }

    private static boolean mayHoldPartitions(byte[] value, String ownInstance) {
        try {
            Codec.Heartbeat hb = Codec.decodeHeartbeat(value);
            return !hb.owned().isEmpty() && !ownInstance.equals(hb.instance());
        } catch (IllegalArgumentException unreadable) {
            return true;
        }
    }

    private long createOrTakeOver(byte[] value) {
        try {
            return kv.create(Bucket.HEARTBEATS, id, value);
        } catch (CasConflictException e) {
            Entry current = kv.get(Bucket.HEARTBEATS, id);
            if (current == null) {
                return kv.create(Bucket.HEARTBEATS, id, value);
            }
            // The ID key is the authority: whoever just claimed the ID takes over a heartbeat left by an
            // earlier holder (a zombie whose ID expired, or an older instance of a static member);
            // that holder's next heartbeat CAS then fails and it reports everything lost.
            if (takeOverExisting) {
                long rev = kv.update(Bucket.HEARTBEATS, id, value, current.revision());
                displacedHolder = mayHoldPartitions(current.value(), Codec.decodeHeartbeat(value).instance());
                return rev;
            }
            throw new IdLostException("heartbeat key " + id + " is held by another instance");
        }
    }

    /** Deletes the heartbeat if still ours (graceful leave: the leader rebalances at once). */
    void delete() {
        if (id != null && revision > 0) {
            try {
                kv.delete(Bucket.HEARTBEATS, id, revision);
            } catch (CasConflictException e) {
                // not ours any more
            }
        }
        revision = 0;
    }
}
