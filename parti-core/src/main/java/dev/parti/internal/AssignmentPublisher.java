package dev.parti.internal;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes assignments as one record under one key (atomic publication, invariant 3), each a CAS
 * on the revision this leader last saw, so the assignment history is one linear chain and a deposed
 * leader can never overwrite an assignment it has not seen (invariant 2). Versions continue from the
 * highest published one across leaders.
 *
 * <p>Confined to the worker's main thread.
 */
final class AssignmentPublisher {
    private static final Logger log = LoggerFactory.getLogger(AssignmentPublisher.class);
    static final String KEY = "current";
    /** NATS' default max payload. */
    static final int MAX_PAYLOAD = 1024 * 1024;

    private final KvGateway kv;
    private AssignmentRecord current;
    private long revision;

    AssignmentPublisher(KvGateway kv) {
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
        try {
            current = Codec.decodeAssignment(e.value());
        } catch (IllegalArgumentException bad) {
            log.error("Unreadable assignment record at revision {} ({}); the next publication replaces it", e.revision(), bad.getMessage());
            current = null;
        }
        return current;
    }

    AssignmentRecord current() {
        return current;
    }

    /**
     * Publishes {@code owners} as the next version. Returns the record, or null when the CAS was
     * lost (the caller must re-check its leadership).
     */
    AssignmentRecord publish(Map<String, List<Partition>> owners, String leaderId, long epoch) {
        long version = current == null ? 1 : current.version() + 1;
        AssignmentRecord next = new AssignmentRecord(version, leaderId, epoch, owners);
        byte[] bytes = Codec.encode(next);
        if (bytes.length > MAX_PAYLOAD) {
            log.error("Assignment version {} is {} bytes, above NATS' default max payload", version, bytes.length);
        }
        try {
            revision = revision == 0
                    ? kv.create(Bucket.ASSIGNMENT, KEY, bytes)
                    : kv.update(Bucket.ASSIGNMENT, KEY, bytes, revision);
            current = next;
            return next;
        } catch (CasConflictException lost) {
            log.warn("Publishing assignment version {} lost its compare-and-set: another leader published", version);
            load();
            return null;
        }
    }
}
