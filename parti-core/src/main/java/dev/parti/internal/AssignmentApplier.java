package dev.parti.internal;

import dev.parti.AssignmentListener;
import dev.parti.MetricsRecorder;
import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies published assignments to this worker: diffs the newest version against what the worker
 * owns, calls {@code onRevoked} then {@code onAssigned}, and only then reports the new owned set
 * (through the next heartbeat). Versions older than the applied one are ignored; when several
 * arrive quickly only the newest is applied, never a mix (invariant 3). After a loss (fence or lost
 * ID) nothing is owned again until a version newer than the one in force at the loss arrives.
 *
 * A fenced worker owns nothing from the fence on ({@link #owned()} is empty at once), but its
 * heartbeat keeps reporting the lost partitions as held ({@link #snapshot()}) until {@code onLost}
 * has returned: the new owner starts only once the listener has let go (or the session expired).
 *
 * <p>{@link #offer} runs on a jnats or the main thread; {@link #applyLatest}, {@link #reportLost} and
 * {@link #revokeAll} on the callback thread; {@link #fence}, {@link #snapshot} and {@link #workerId}
 * anywhere.
 */
final class AssignmentApplier {
    private static final Logger log = LoggerFactory.getLogger(AssignmentApplier.class);

    /** What the heartbeat reports. */
    record Snapshot(long appliedVersion, Set<Partition> owned, boolean fenced) { }

    private final AssignmentListener listener;
    private final MetricsRecorder metrics;
    private final AtomicReference<AssignmentRecord> latest = new AtomicReference<>();
    private final Object lock = new Object();
    private volatile String workerId;
    /** This worker's instance: a line addressed to another instance of the same ID is never applied. */
    private volatile String instance;
    // guarded by lock
    private final Set<Partition> owned = new TreeSet<>();
    /** Fenced partitions whose {@code onLost} (or {@code onRevoked}) has not returned yet: still reported as held. */
    private final Set<Partition> releasing = new TreeSet<>();
    /** Partitions whose {@code onRevoked} is running: a fence meanwhile does not report them lost as well. */
    private final Set<Partition> revoking = new TreeSet<>();
    private long appliedVersion;
    private boolean fenced;
    private long fencedAtVersion;
    /**
     * Fenced, and the version current in the KV store since this worker is back is not known yet: nothing
     * may be applied. The watch may still deliver versions the leader published while this worker was
     * paused or cut off (computed when it still looked alive, so they may give it partitions the leader
     * has since given away without waiting for it); only a version published after this worker is back
     * (its heartbeat written, then the current version read) is safe to act on.
     */
    private boolean horizonPending;
    private long fences;
    /**
     * Losses taken by {@link #fence} whose {@code onLost} has not returned: nothing is applied meanwhile, or an
     * apply queued on the callback thread before the loss's report would call {@code onAssigned} for partitions
     * the listener still holds, and {@code onLost} for them afterwards.
     */
    private int lossesUnreported;

    AssignmentApplier(AssignmentListener listener, MetricsRecorder metrics) {
        this.listener = listener;
        this.metrics = metrics;
    }

    /** Sets this worker's instance (once, before the first offer). */
    void instance(String instance) {
        this.instance = instance;
    }

    /** A new ID: what was offered for the previous ID is dropped (it was decoded for that ID's line). */
    void workerId(String id) {
        this.workerId = id;
        latest.set(null);
    }

    /** Keeps the newest record seen; returns true if it is newer than anything offered before. */
    boolean offer(AssignmentRecord r) {
        AssignmentRecord prev;
        do {
            prev = latest.get();
            if (prev != null && prev.version() >= r.version()) {
                return false;
            }
        } while (!latest.compareAndSet(prev, r));
        return true;
    }

    Snapshot snapshot() {
        synchronized (lock) {
            // a fenced worker reports the version in force at the loss, so the leader knows it waits for a fresh one
            Set<Partition> held = owned;
            if (!releasing.isEmpty()) {
                held = new TreeSet<>(owned);
                held.addAll(releasing);
            }
            return new Snapshot(fenced ? Math.max(appliedVersion, fencedAtVersion) : appliedVersion, Set.copyOf(held), fenced);
        }
    }

    /** Whether a fence took partitions away whose {@code onLost} has not returned yet. */
    boolean hasUnreportedLosses() {
        synchronized (lock) {
            return lossesUnreported > 0;
        }
    }

    /** Whether the worker gave everything up and waits for a fresh version (no copy of the owned set). */
    boolean isFenced() {
        synchronized (lock) {
            return fenced;
        }
    }

    Set<Partition> owned() {
        synchronized (lock) {
            return Collections.unmodifiableSet(new TreeSet<>(owned));
        }
    }

    long appliedVersion() {
        synchronized (lock) {
            return appliedVersion;
        }
    }

    /** Applies the newest offered record if it is newer than the applied one. Returns true if something was applied. */
    boolean applyLatest(java.util.function.BooleanSupplier leaseValid) {
        AssignmentRecord r = latest.get();
        String id = workerId;
        if (r == null || id == null || !leaseValid.getAsBoolean()) {
            // on a stale lease nothing is acquired (a queued version may be old news after a pause);
            // the newest version is applied once a heartbeat succeeds again
            return false;
        }
        Set<Partition> removed;
        Set<Partition> added;
        long fenceCount;
        if (instance != null && !r.addressedTo(id, instance)) {
            // written for an earlier (or a later) instance of this worker ID: never inherited; the leader
            // publishes a version addressed to this instance once it has seen its heartbeat
            log.debug("Worker {}: version {} is addressed to instance {}, not this one ({}); not applied", id, r.version(),
                    r.instanceOf(id), instance);
            return false;
        }
        synchronized (lock) {
            if (r.version() <= appliedVersion || fenced && (horizonPending || r.version() <= fencedAtVersion)
                    || lossesUnreported > 0) {
                return false;
            }
            fenceCount = fences;
            Set<Partition> mine = new TreeSet<>(r.of(id));
            removed = new TreeSet<>(owned);
            removed.removeAll(mine);
            added = new TreeSet<>(mine);
            added.removeAll(owned);
            revoking.addAll(removed);
        }
        if (!removed.isEmpty()) {
            call("onRevoked", () -> listener.onRevoked(Collections.unmodifiableSet(removed), r.version()));
        }
        synchronized (lock) {
            // the listener let these go, whatever happened meanwhile: never report them lost (or revoke them) again
            revoking.removeAll(removed);
            owned.removeAll(removed);
            releasing.removeAll(removed);
            if (fences != fenceCount || !leaseValid.getAsBoolean()) {
                return false; // fenced or lease lapsed while revoking: this version is not ours to apply any more
            }
            owned.addAll(added);
            appliedVersion = r.version();
            fenced = false;
        }
        call("onAssigned", () -> listener.onAssigned(Collections.unmodifiableSet(added), r.version()));
        metrics.assignmentApplied(r.version(), added.size(), removed.size());
        log.debug("Worker {} applied version {}: +{} -{}", id, r.version(), added.size(), removed.size());
        return true;
    }

    /** What {@link #fence} took away, to report with {@link #reportLost}. */
    record Loss(Set<Partition> partitions, long version, String reason) { }

    /**
     * Any thread: owns nothing from now on, until a version newer than the one in force arrives.
     * Synchronous, so {@link #owned()} is empty the moment a stale lease is detected; the listener
     * is told afterwards, on the callback thread, with {@link #reportLost}.
     */
    Loss fence(String reason) {
        synchronized (lock) {
            Set<Partition> lost = new TreeSet<>(owned);
            // what onRevoked is letting go right now stays reported held until it returns, but is not lost as well
            lost.removeAll(revoking);
            if (!ReintroducedBugs.fenceReleasesAtOnce) {
                releasing.addAll(owned);
            }
            owned.clear();
            fenced = true;
            fences++;
            AssignmentRecord r = latest.get();
            fencedAtVersion = Math.max(appliedVersion, r == null ? 0 : r.version());
            horizonPending = !ReintroducedBugs.noFenceFloorAfterSessionLoss;
            lossesUnreported++;
            return new Loss(lost, appliedVersion, reason);
        }
    }

    /** Whether a fenced worker still has to read the current version before it may apply anything. */
    boolean needsHorizon() {
        synchronized (lock) {
            return fenced && horizonPending;
        }
    }

    /**
     * Main thread, after a heartbeat written since the fence: {@code currentVersion} is the version in the
     * KV store now (0 if none). Only a version above it (published after this worker is back) is applied.
     */
    void horizon(long currentVersion) {
        synchronized (lock) {
            if (fenced) {
                fencedAtVersion = Math.max(fencedAtVersion, currentVersion);
            }
            horizonPending = false;
        }
    }

    /**
     * Callback thread: {@code onLost} for what {@link #fence} took away; only once it returned are the
     * partitions no longer reported as held (the caller then asks for a heartbeat, and applies the newest
     * version, which waited for this report). Every {@link Loss} is reported exactly once.
     */
    void reportLost(Loss loss) {
        log.warn("Worker {} gives up {} partitions: {}", workerId, loss.partitions().size(), loss.reason());
        try {
            call("onLost", () -> listener.onLost(Collections.unmodifiableSet(loss.partitions()), loss.version()));
        } finally {
            synchronized (lock) {
                releasing.removeAll(loss.partitions());
                lossesUnreported--;
            }
        }
    }

    /** Revokes everything ({@code onRevoked}), e.g. on a graceful close. */
    void revokeAll() {
        Set<Partition> all;
        long version;
        synchronized (lock) {
            all = new HashSet<>(owned);
            version = appliedVersion;
            revoking.addAll(all); // a fence while onRevoked runs (the lease lapses during a long close) loses none of them
        }
        if (!all.isEmpty()) {
            call("onRevoked", () -> listener.onRevoked(Collections.unmodifiableSet(new TreeSet<>(all)), version));
        }
        synchronized (lock) {
            revoking.removeAll(all);
            owned.removeAll(all);
            releasing.removeAll(all);
        }
    }

    private void call(String name, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.error("AssignmentListener.{} of worker {} threw; the assignment change stands", name, workerId, e);
        }
    }
}
