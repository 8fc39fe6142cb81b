package dev.parti.internal;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes assignments as one record under one key (atomic publication, invariant 3), each a CAS
 * on the revision this leader last saw, so the assignment history is one linear chain and a deposed
 * leader can never overwrite an assignment it has not seen (invariant 2). A new leader first
 * {@linkplain #fence fences} the chain: it rewrites the record it read, so any write a deposed
 * leader still has in flight (or buffered by the client while disconnected) loses its CAS. Every
 * write is made only while the caller's lease check passes at that moment. Versions continue from
 * the highest one any worker may have seen, across leaders, unreadable records and recreated buckets.
 *
 * <p>Confined to the worker's main thread.
 */
final class AssignmentPublisher {
    private static final Logger log = LoggerFactory.getLogger(AssignmentPublisher.class);
    static final String KEY = "current";
    /** NATS' default max payload, used when the server does not say. */
    static final int MAX_PAYLOAD = 1024 * 1024;

    private final Kv kv;
    private AssignmentRecord current;
    private long revision;
    /** The highest version any worker may have applied that this publisher knows of. */
    private long versionFloor;
    /** The highest revision of the key seen; a lower one later means the bucket was recreated. */
    private long highestRevisionSeen;
    private boolean recreated;

    AssignmentPublisher(Kv kv) {
        this.kv = kv;
    }

    /** Reads the published assignment (null if none), remembering its revision for the next CAS. */
    AssignmentRecord load() {
        Entry e = kv.get(Bucket.ASSIGNMENT, KEY);
        if (e == null) {
            current = null;
            revision = 0;
            return null;
        }
        revision = e.revision();
        if (revision < highestRevisionSeen) {
            recreated = true;
            log.warn("Assignment key is at revision {} after revision {} was seen: the bucket was recreated", revision, highestRevisionSeen);
        }
        highestRevisionSeen = Math.max(highestRevisionSeen, revision);
        try {
            current = Codec.decodeAssignment(e.value());
            versionFloor = Math.max(versionFloor, current.version());
        } catch (IllegalArgumentException bad) {
            // each publication is one write, so no version published on this stream exceeds its revision
            versionFloor = Math.max(versionFloor, e.revision());
            log.error("Unreadable assignment record at revision {} ({}); the next publication replaces it with a version above {}",
                    e.revision(), bad.getMessage(), versionFloor);
            current = null;
        }
        return current;
    }

    AssignmentRecord current() {
        return current;
    }

    /** Whether a load saw the key's revision go backwards since the last call (and clears it). */
    boolean takeRecreated() {
        boolean r = recreated;
        recreated = false;
        return r;
    }

    /** No version published from now on is at or below {@code version} (e.g. the highest a heartbeat reports applied). */
    void raiseVersionFloor(long version) {
        versionFloor = Math.max(versionFloor, version);
    }

    /**
     * A new leader's first write: rewrites the record just {@linkplain #load loaded} (same version,
     * this leader's epoch) by CAS, so every later write by an earlier leader loses its CAS. Workers
     * ignore it (not a newer version). Returns false when the CAS was lost (reloaded: call again), true
     * when fenced or when there is nothing readable to rewrite (the first publication's CAS fences then).
     */
    boolean fence(String leaderId, long epoch, BooleanSupplier leaseValid) {
        if (current == null) {
            return true;
        }
        AssignmentRecord same = new AssignmentRecord(current.version(), leaderId, epoch, current.owners(), current.instances());
        if (!leaseValid.getAsBoolean()) {
            throw new LeaseLostException("fencing the assignment chain");
        }
        try {
            revision = kv.update(Bucket.ASSIGNMENT, KEY, Codec.encode(same), revision);
            highestRevisionSeen = Math.max(highestRevisionSeen, revision);
            current = same;
            return true;
        } catch (CasConflictException lost) {
            load();
            return false;
        }
    }

    /**
     * Publishes {@code owners} as the next version, if {@code leaseValid} still holds right before the
     * write. Returns the record, or null when the CAS was lost (then {@link #current()} is what won;
     * the caller must re-check its leadership).
     *
     * @throws LeaseLostException when the lease is no longer valid: nothing was written
     * @throws AssignmentTooLargeException when the record exceeds the server's max payload: nothing was written
     */
    AssignmentRecord publish(Map<String, List<Partition>> owners, String leaderId, long epoch, BooleanSupplier leaseValid) {
        return publish(owners, Map.of(), leaderId, epoch, leaseValid);
    }

    /** Like {@link #publish(Map, String, long, BooleanSupplier)}, each worker's line addressed to the instance {@code instances} names. */
    AssignmentRecord publish(Map<String, List<Partition>> owners, Map<String, String> instances, String leaderId, long epoch,
                             BooleanSupplier leaseValid) {
        long version = Math.max(current == null ? 0 : current.version(), versionFloor) + 1;
        AssignmentRecord next = new AssignmentRecord(version, leaderId, epoch, owners, instances);
        byte[] bytes = Codec.encode(next);
        long max = maxPayload();
        if (bytes.length > max) {
            throw new AssignmentTooLargeException("assignment version " + version + " is " + bytes.length
                    + " bytes, above the server's max payload of " + max + " bytes; not published");
        }
        // the lease is checked at the last moment: user code (partition source, strategy) may have run long since the last check
        if (!ReintroducedBugs.noLeaseCheckAtPublish && !leaseValid.getAsBoolean()) {
            throw new LeaseLostException("publishing assignment version " + version);
        }
        try {
            revision = revision == 0
                    ? kv.create(Bucket.ASSIGNMENT, KEY, bytes)
                    : kv.update(Bucket.ASSIGNMENT, KEY, bytes, revision);
            highestRevisionSeen = Math.max(highestRevisionSeen, revision);
            current = next;
            versionFloor = Math.max(versionFloor, version);
            return next;
        } catch (CasConflictException lost) {
            log.warn("Publishing assignment version {} lost its compare-and-set: another leader published", version);
            load();
            return null;
        }
    }

    /** {@link #publish(Map, String, long, BooleanSupplier)} for a writer that holds no lease (tools and tests). */
    AssignmentRecord publish(Map<String, List<Partition>> owners, String leaderId, long epoch) {
        return publish(owners, leaderId, epoch, () -> true);
    }

    private long maxPayload() {
        try {
            long m = kv.serverMaxPayload();
            return m > 0 ? m - 1024 : MAX_PAYLOAD - 1024; // headroom for the JetStream headers
        } catch (RuntimeException noInfo) {
            return MAX_PAYLOAD - 1024;
        }
    }

    /** The leader's lease was not valid at the moment of a write: nothing was written. */
    static final class LeaseLostException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        LeaseLostException(String what) {
            super("leader lease no longer valid while " + what + "; nothing written");
        }
    }

    /** An assignment record above the server's max payload: nothing was written. */
    static final class AssignmentTooLargeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        AssignmentTooLargeException(String message) {
            super(message);
        }
    }
}
