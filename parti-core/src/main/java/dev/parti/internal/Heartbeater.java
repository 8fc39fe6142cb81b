package dev.parti.internal;

import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import dev.parti.internal.WorkerIdClaimer.IdLostException;
import java.util.Set;
import java.util.TreeSet;
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
    /**
     * What the displaced heartbeat reported held: reported as held by this instance too until the caller's wait
     * ends, so a third instance taking the ID over meanwhile waits as well (the first may still hold them),
     * and the leader moves none of them to another worker before then.
     */
    private Set<Partition> inherited = Set.of();
    private volatile long lastSuccessStartNanos;
    /** The revision of the last heartbeat of a closed instance of this member in this JVM ({@link StaticHandovers}), or 0. */
    private long closedInstanceRevision;

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
        this.inherited = Set.of();
        this.closedInstanceRevision = 0;
    }

    /**
     * The first write takes over the heartbeat at {@code revision}, left by an instance of this member that is known
     * to have stopped after reporting everything released: one compare-and-set, and no takeover wait. If the
     * heartbeat changed since, the usual takeover runs.
     */
    void takeOverFromClosedInstance(long revision) {
        this.closedInstanceRevision = revision;
    }

    /** The revision of this worker's last heartbeat write (0 when none). */
    long revision() {
        return revision;
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

    /** What the displaced holder reported held (empty if none); reported by the caller until its wait ends. */
    Set<Partition> inherited() {
        return inherited;
    }

    /** The wait after a takeover is over: the displaced instance's lease has ended. */
    void clearInherited() {
        inherited = Set.of();
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

    private static Set<Partition> reportedHeld(byte[] value) {
        try {
            return Set.copyOf(Codec.decodeHeartbeat(value).owned());
        } catch (IllegalArgumentException unreadable) {
            return Set.of();
        }
    }

    /**
     * The partitions the published assignment gives the displaced instance in a version newer than the one its
     * heartbeat reports applied: a heartbeat only says what was held when it was written, and an instance stopped
     * (SIGSTOP, a GC pause) right after applying a version has not reported it yet. Found by the simulator (seed
     * 526137501): a third instance took the ID over from a second that had applied a version since its last
     * heartbeat, saw nothing reported held, and acquired while the second still held. Null when none (or this
     * instance's own heartbeat was read back); a record this reader cannot decode counts as giving it everything
     * the heartbeat cannot rule out, so the caller waits.
     */
    private Set<Partition> assignedSinceItsLastHeartbeat(byte[] displacedValue, String ownInstance) {
        Codec.Heartbeat displaced;
        try {
            displaced = Codec.decodeHeartbeat(displacedValue);
        } catch (IllegalArgumentException unreadable) {
            return null; // mayHoldPartitions already made the caller wait
        }
        if (ownInstance.equals(displaced.instance())) {
            return null;
        }
        Entry published = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
        if (published == null) {
            return null;
        }
        try {
            Codec.AssignmentRecord r = ChunkedAssignment.decodeOf(published.value(), id, key -> {
                Entry piece = kv.get(Bucket.ASSIGNMENT, key);
                return piece == null ? null : piece.value();
            });
            if (r.version() <= displaced.appliedVersion() || !r.addressedTo(id, displaced.instance())) {
                return null;
            }
            return Set.copyOf(r.of(id));
        } catch (IllegalArgumentException unreadable) {
            displacedHolder = true;
            return null;
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
        // the displaced holder keeps heartbeating until the takeover lands: a write of its between our read
        // and our update loses us the CAS, so read again (a few times; its heartbeats are an interval apart)
        for (int attempt = 1; ; attempt++) {
            try {
                return createOrTakeOverOnce(value);
            } catch (CasConflictException e) {
                if (!takeOverExisting || attempt >= 5) {
                    throw e;
                }
            }
        }
    }

    private long createOrTakeOverOnce(byte[] value) {
        long closed = closedInstanceRevision;
        closedInstanceRevision = 0;
        if (takeOverExisting && closed > 0) {
            try {
                return kv.update(Bucket.HEARTBEATS, id, value, closed);
            } catch (CasConflictException changed) {
                // written since that instance closed (or this write's reply was lost): the usual takeover decides
            }
        }
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
                Codec.Heartbeat mine = Codec.decodeHeartbeat(value);
                // set before the write and kept across attempts: a retry after a lost reply reads this
                // instance's own takeover write and must not forget whom it displaced
                if (mayHoldPartitions(current.value(), mine.instance())) {
                    displacedHolder = true;
                    Set<Partition> held = new TreeSet<>(inherited);
                    held.addAll(reportedHeld(current.value()));
                    inherited = Set.copyOf(held);
                }
                Set<Partition> unacknowledged = assignedSinceItsLastHeartbeat(current.value(), mine.instance());
                if (unacknowledged != null && !unacknowledged.isEmpty()) {
                    // it may have applied a version after its last heartbeat (then been stopped): it may hold these too
                    displacedHolder = true;
                    Set<Partition> held = new TreeSet<>(inherited);
                    held.addAll(unacknowledged);
                    inherited = Set.copyOf(held);
                }
                if (!inherited.isEmpty()) {
                    // the takeover write itself says so: an instance displacing this one reads it at once
                    Set<Partition> both = new TreeSet<>(mine.owned());
                    both.addAll(inherited);
                    value = Codec.encode(mine.withOwned(both));
                }
                return kv.update(Bucket.HEARTBEATS, id, value, current.revision());
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
