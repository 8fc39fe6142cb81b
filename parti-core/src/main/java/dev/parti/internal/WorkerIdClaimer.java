package dev.parti.internal;

import dev.parti.PartiException;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.Arrays;

/**
 * Claims and keeps this worker's stable ID (invariant 1). A pool ID {@code w-N} is claimed with
 * KV {@code create} (lowest free N first; beyond the first {@value #LINEAR_PROBES}, the lowest not held in one
 * listing of the bucket's keys), so two live workers never hold one ID; a static ID
 * (Kafka's {@code group.instance.id}) is created, or taken over by CAS from an earlier instance
 * of the same member, which then fails its next renewal and reports everything lost. Renewal is an
 * {@code update} on the last revision; a lost CAS means the ID is gone.
 *
 * <p>Confined to the worker's main thread.
 */
final class WorkerIdClaimer {
    /** Pool IDs tried one create at a time before the held ones are listed (small groups never list). */
    static final int LINEAR_PROBES = 8;
    private final Kv kv;
    private final String staticId;
    private final int poolSize;
    private final byte[] record;
    private String id;
    private long revision;
    private boolean fromClosedInstance;

    WorkerIdClaimer(Kv kv, String staticId, int poolSize, String instance) {
        this.kv = kv;
        this.staticId = staticId;
        this.poolSize = poolSize;
        this.record = Codec.encode(new Codec.IdRecord(instance));
    }

    String id() {
        return id;
    }

    boolean isStatic() {
        return staticId != null;
    }

    /** The revision of the ID key this worker last wrote (0 when none). */
    long revision() {
        return revision;
    }

    /** Whether the last {@link #claim} took the ID over from the closed instance whose revision it was given. */
    boolean claimedFromClosedInstance() {
        return fromClosedInstance;
    }

    /** Claims an ID. @throws PartiException when the pool is exhausted */
    String claim() {
        return claim(0);
    }

    /**
     * Claims an ID; a static one, when {@code closedRevision > 0}, first by one compare-and-set on the revision a
     * closed instance of this member in this JVM left ({@link StaticHandovers}), then the usual way if the key
     * changed since. @throws PartiException when the pool is exhausted
     */
    String claim(long closedRevision) {
        id = null;
        revision = 0;
        fromClosedInstance = false;
        if (staticId != null) {
            if (closedRevision > 0) {
                try {
                    revision = kv.update(Bucket.IDS, staticId, record, closedRevision);
                    id = staticId;
                    fromClosedInstance = true;
                    return id;
                } catch (CasConflictException changed) {
                    // written since that instance closed: claim it the usual way
                }
            }
            try {
                revision = kv.create(Bucket.IDS, staticId, record);
            } catch (CasConflictException taken) {
                Entry e = kv.get(Bucket.IDS, staticId);
                revision = e == null ? kv.create(Bucket.IDS, staticId, record)
                        : kv.update(Bucket.IDS, staticId, record, e.revision());
            }
            id = staticId;
            return id;
        }
        java.util.Set<String> held = java.util.Set.of();
        for (int n = 0; n < poolSize; n++) {
            String candidate = "w-" + n;
            if (n == LINEAR_PROBES) {
                // a large group: one listing instead of a create per held ID (a cold start of 1 000 workers made
                // half a million refused creates), then the lowest ID free in it; one taken meanwhile is skipped
                held = new java.util.HashSet<>(kv.keys(Bucket.IDS));
            }
            if (held.contains(candidate)) {
                continue;
            }
            try {
                revision = kv.create(Bucket.IDS, candidate, record);
                id = candidate;
                return id;
            } catch (CasConflictException taken) {
                // held by a live worker: try the next one
            }
        }
        throw new PartiException("Worker ID pool exhausted: all " + poolSize + " IDs w-0..w-" + (poolSize - 1)
                + " of bucket " + "are held by live workers; raise maxWorkers");
    }

    /**
     * Renews the ID. Returns normally when renewed; throws {@link IdLostException} when another
     * worker holds it now. An ID that merely expired (nobody took it) is re-created.
     */
    void renew() {
        try {
            revision = kv.updateOwn(Bucket.IDS, id, record, revision, v -> Arrays.equals(v, record));
        } catch (CasConflictException e) {
            if (e.holder() != null) {
                throw new IdLostException("worker ID " + id + " is held by another instance now");
            }
            try {
                revision = kv.create(Bucket.IDS, id, record);
            } catch (CasConflictException raced) {
                throw new IdLostException("worker ID " + id + " was claimed by another worker after it expired");
            }
        }
    }

    /** Deletes the ID if still ours (graceful leave). */
    void release() {
        if (id != null && revision > 0) {
            try {
                kv.delete(Bucket.IDS, id, revision);
            } catch (CasConflictException e) {
                // not ours any more: nothing to release
            }
        }
        revision = 0;
    }

    /** The ID is held by someone else now. */
    static final class IdLostException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        IdLostException(String message) {
            super(message);
        }
    }
}
