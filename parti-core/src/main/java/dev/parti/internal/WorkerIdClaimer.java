package dev.parti.internal;

import dev.parti.PartiException;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.Arrays;

/**
 * Claims and keeps this worker's stable ID (invariant 1). A pool ID {@code w-N} is claimed with
 * KV {@code create} (the lowest free N among the first {@value #LINEAR_PROBES}; beyond them, the first free N from
 * the number of keys the bucket holds up, and only when the next {@value #NEAR_PROBES} are taken too, the lowest
 * not held in one listing of the bucket's keys), so two live workers never hold one ID; a static ID
 * (Kafka's {@code group.instance.id}) is created, or taken over by CAS from an earlier instance
 * of the same member, which then fails its next renewal and reports everything lost. Renewal is an
 * {@code update} on the last revision; a lost CAS means the ID is gone.
 *
 * <p>Confined to the worker's main thread.
 */
final class WorkerIdClaimer {
    /** Pool IDs tried one create at a time first: a small group never needs more. */
    static final int LINEAR_PROBES = 8;
    /** Then IDs tried from the number of keys in the bucket up, before the held ones are listed. */
    static final int NEAR_PROBES = 16;
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
        int linear = Math.min(LINEAR_PROBES, poolSize);
        for (int n = 0; n < linear; n++) {
            if (tryCreate("w-" + n)) {
                return id;
            }
        }
        if (linear < poolSize) {
            // a large group: its IDs are mostly the lowest ones, so try near their number first (one small request),
            // where one listing of every key, per worker, made a cold start of 1 000 workers read half a million keys
            long inUse = kv.keyCountHint(Bucket.IDS);
            if (inUse >= linear) {
                for (long n = inUse; n < Math.min(inUse + NEAR_PROBES, poolSize); n++) {
                    if (tryCreate("w-" + n)) {
                        return id;
                    }
                }
            }
            // those are taken too (a pool nearly full, or many claims at once): the lowest not held in one listing
            java.util.Set<String> held = new java.util.HashSet<>(kv.keys(Bucket.IDS));
            for (int n = linear; n < poolSize; n++) {
                String candidate = "w-" + n;
                if (!held.contains(candidate) && tryCreate(candidate)) {
                    return id; // one taken meanwhile is skipped
                }
            }
        }
        throw new PartiException("Worker ID pool exhausted: all " + poolSize + " IDs w-0..w-" + (poolSize - 1)
                + " of bucket " + "are held by live workers; raise maxWorkers");
    }

    private boolean tryCreate(String candidate) {
        try {
            revision = kv.create(Bucket.IDS, candidate, record);
            id = candidate;
            return true;
        } catch (CasConflictException taken) {
            return false; // held by a live worker
        }
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
