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
 * <p>A record above the server's max payload is published in pieces ({@link ChunkedAssignment}): the
 * pieces first, under keys unique to this attempt, then the manifest by the same CAS on {@code current},
 * which stays the one fence of the whole record. Pieces are purged once nothing can need them: those of
 * the record a successful publication replaced, those of an attempt whose CAS was refused, and, after a
 * new leader's fence, every piece of an earlier version the current manifest does not name.
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
    /** The manifest of {@link #current} when it is chunked, else null. */
    private ChunkedAssignment.Manifest manifest;
    /** Publication attempts whose CAS outcome is unknown (a timeout): prefix → the revision the CAS expected. */
    private final java.util.Map<String, Long> uncertain = new java.util.HashMap<>();
    private long attempts;
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
        for (int attempt = 0; ; attempt++) {
            if (e == null) {
                current = null;
                manifest = null;
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
                manifest = ChunkedAssignment.isManifest(e.value()) ? ChunkedAssignment.decodeManifest(e.value()) : null;
                current = ChunkedAssignment.decode(e.value(), pieces(manifest)::get);
                versionFloor = Math.max(versionFloor, current.version());
                purgeSettledAttempts(); // only now: an attempt of ours that landed is what was just read
                return current;
            } catch (ChunkedAssignment.StalePieceException stale) {
                // a newer version replaced the manifest while its pieces were read: read it again
                Entry again = kv.get(Bucket.ASSIGNMENT, KEY);
                if (attempt < 3 && again != null && again.revision() != e.revision()) {
                    e = again;
                    continue;
                }
                versionFloor = Math.max(versionFloor, manifest.version());
                log.error("Assignment version {} at revision {} names a piece that is gone ({}); the next publication "
                        + "replaces it with a version above {}", manifest.version(), e.revision(), stale.getMessage(), versionFloor);
                current = null;
                manifest = null;
                return null;
            } catch (IllegalArgumentException bad) {
                // each publication is one write of this key, so no version published on this stream exceeds its revision
                versionFloor = Math.max(versionFloor, e.revision());
                log.error("Unreadable assignment record at revision {} ({}); the next publication replaces it with a version above {}",
                        e.revision(), bad.getMessage(), versionFloor);
                current = null;
                manifest = null;
                return null;
            }
        }
    }

    /** The revision of {@code current} that {@link #current()} was read from or written as (0: none). */
    long revision() {
        return revision;
    }

    /** Every piece {@code m} names, read at once (a new leader's lease keeps running meanwhile); empty for an inline record. */
    private Map<String, byte[]> pieces(ChunkedAssignment.Manifest m) {
        if (m == null) {
            return Map.of();
        }
        List<String> keys = new java.util.ArrayList<>();
        for (int n = 0; n < m.pieces().size(); n++) {
            keys.add(m.key(n));
        }
        Map<String, byte[]> out = new java.util.HashMap<>();
        List<Entry> entries = kv.getAll(Bucket.ASSIGNMENT, keys);
        for (int n = 0; n < keys.size(); n++) {
            if (entries.get(n) != null) {
                out.put(keys.get(n), entries.get(n).value());
            }
        }
        return out;
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
        ChunkedAssignment.Encoded encoded;
        if (manifest != null) {
            // a chunked record keeps its pieces: only the manifest's header changes
            ChunkedAssignment.Manifest m = manifest.withLeader(leaderId, epoch);
            encoded = new ChunkedAssignment.Encoded(ChunkedAssignment.encode(m), m, List.of());
        } else {
            // an inline record just under the limit may not fit under a longer leader ID or epoch: then in pieces
            encoded = encodeAttempt(same, leaderId, epoch);
            if (encoded.chunked()) {
                writePieces(encoded, leaseValid, same.version());
            }
        }
        if (!leaseValid.getAsBoolean()) {
            purgeQuietly(encoded, manifest);
            throw new LeaseLostException("fencing the assignment chain");
        }
        long expected = revision;
        try {
            revision = kv.update(Bucket.ASSIGNMENT, KEY, encoded.current(), expected);
        } catch (CasConflictException lost) {
            purgeQuietly(encoded, manifest);
            load();
            return false;
        } catch (RuntimeException unknown) {
            if (encoded.chunked() && manifest == null) {
                uncertain.put(encoded.manifest().prefix(), expected);
            }
            throw unknown;
        }
        highestRevisionSeen = Math.max(highestRevisionSeen, revision);
        current = same;
        manifest = encoded.manifest();
        try {
            sweep();
        } catch (RuntimeException e) {
            log.warn("Sweeping the pieces of earlier assignment publications failed ({}); the next leader's fence tries again",
                    e.getMessage());
        }
        return true;
    }

    /** The attempt's encoding: inline when it fits, else in pieces under a prefix unique to this attempt. */
    private ChunkedAssignment.Encoded encodeAttempt(AssignmentRecord next, String leaderId, long epoch) {
        // unique to this attempt: no other writer (another leader, or this one retrying) ever writes these keys
        String prefix = ChunkedAssignment.PIECE_PREFIX + "." + next.version() + "." + writerTag(leaderId, epoch) + "-" + (++attempts);
        try {
            return ChunkedAssignment.encode(next, pieceLimit(), prefix);
        } catch (IllegalArgumentException tooLarge) {
            throw new AssignmentTooLargeException(tooLarge.getMessage() + "; not published");
        }
    }

    /** Purges the pieces {@code encoded} wrote, unless they are those of {@code kept} (a fence reuses them). */
    private void purgeQuietly(ChunkedAssignment.Encoded encoded, ChunkedAssignment.Manifest kept) {
        if (encoded.chunked() && (kept == null || !kept.prefix().equals(encoded.manifest().prefix()))) {
            purgeQuietly(encoded.manifest().prefix());
        }
    }

    /**
     * Publishes {@code owners} as the next version, if {@code leaseValid} still holds right before the
     * write. Returns the record, or null when the CAS was lost (then {@link #current()} is what won;
     * the caller must re-check its leadership).
     *
     * @throws LeaseLostException when the lease is no longer valid: nothing was written
     * @throws AssignmentTooLargeException when even the manifest of the record in pieces would exceed the server's max payload
     */
    AssignmentRecord publish(Map<String, List<Partition>> owners, String leaderId, long epoch, BooleanSupplier leaseValid) {
        return publish(owners, Map.of(), leaderId, epoch, leaseValid);
    }

    /** Like {@link #publish(Map, String, long, BooleanSupplier)}, each worker's line addressed to the instance {@code instances} names. */
    AssignmentRecord publish(Map<String, List<Partition>> owners, Map<String, String> instances, String leaderId, long epoch,
                             BooleanSupplier leaseValid) {
        long version = Math.max(current == null ? 0 : current.version(), versionFloor) + 1;
        AssignmentRecord next = new AssignmentRecord(version, leaderId, epoch, owners, instances);
        ChunkedAssignment.Encoded encoded = encodeAttempt(next, leaderId, epoch);
        String prefix = encoded.chunked() ? encoded.manifest().prefix() : null;
        if (encoded.chunked()) {
            writePieces(encoded, leaseValid, version);
        }
        // the lease is checked at the last moment: user code (partition source, strategy) may have run long since the last check
        if (!ReintroducedBugs.noLeaseCheckAtPublish && !leaseValid.getAsBoolean()) {
            purgeQuietly(encoded);
            throw new LeaseLostException("publishing assignment version " + version);
        }
        long expected = revision;
        ChunkedAssignment.Manifest replaced = manifest;
        try {
            revision = expected == 0
                    ? kv.create(Bucket.ASSIGNMENT, KEY, encoded.current())
                    : kv.update(Bucket.ASSIGNMENT, KEY, encoded.current(), expected);
        } catch (CasConflictException lost) {
            log.warn("Publishing assignment version {} lost its compare-and-set: another leader published", version);
            purgeQuietly(encoded); // named by nothing, ever: the CAS was refused
            load();
            return null;
        } catch (RuntimeException unknown) {
            if (encoded.chunked()) {
                uncertain.put(prefix, expected); // the manifest may still land: purged once the key moved past it
            }
            throw unknown;
        }
        highestRevisionSeen = Math.max(highestRevisionSeen, revision);
        current = next;
        manifest = encoded.manifest();
        versionFloor = Math.max(versionFloor, version);
        if (replaced != null && (manifest == null || !replaced.prefix().equals(manifest.prefix()))) {
            purgeQuietly(replaced.prefix()); // readers of the replaced version that miss a piece read current again
        }
        purgeSettledAttempts();
        return next;
    }

    /** Writes the pieces, each while the lease holds (a piece alone is harmless, but a leader writes nothing outside its lease). */
    private void writePieces(ChunkedAssignment.Encoded encoded, BooleanSupplier leaseValid, long version) {
        try {
            for (ChunkedAssignment.Piece p : encoded.pieces()) {
                if (!leaseValid.getAsBoolean()) {
                    throw new LeaseLostException("writing the pieces of assignment version " + version);
                }
                kv.create(Bucket.ASSIGNMENT, p.key(), p.value());
            }
        } catch (RuntimeException e) {
            purgeQuietly(encoded);
            throw e;
        }
    }

    /** The pieces of attempts whose CAS outcome was unknown, once the key moved past the revision they expected. */
    private void purgeSettledAttempts() {
        java.util.Iterator<java.util.Map.Entry<String, Long>> it = uncertain.entrySet().iterator();
        while (it.hasNext()) {
            java.util.Map.Entry<String, Long> a = it.next();
            boolean landed = manifest != null && manifest.prefix().equals(a.getKey());
            if (landed || revision > a.getValue() && purgeQuietly(a.getKey())) {
                it.remove();
            }
        }
    }

    /**
     * After a new leader's fence: purges the pieces of every earlier publication the current manifest does
     * not name. Only versions up to the current one: a later leader's pieces (a higher version) are never
     * touched, so a deposed leader's sweep cannot break a newer record.
     */
    private void sweep() {
        long upTo = current == null ? 0 : current.version();
        java.util.Set<String> prefixes = new java.util.TreeSet<>();
        for (String key : kv.keys(Bucket.ASSIGNMENT)) {
            long v = ChunkedAssignment.pieceVersion(key);
            if (v >= 0 && v <= upTo) {
                prefixes.add(ChunkedAssignment.prefixOf(key));
            }
        }
        if (manifest != null) {
            prefixes.remove(manifest.prefix());
        }
        prefixes.removeAll(uncertain.keySet());
        for (String prefix : prefixes) {
            purgeQuietly(prefix);
        }
        if (!prefixes.isEmpty()) {
            log.info("Purged the pieces of {} earlier assignment publications", prefixes.size());
        }
    }

    private void purgeQuietly(ChunkedAssignment.Encoded encoded) {
        if (encoded.chunked()) {
            purgeQuietly(encoded.manifest().prefix());
        }
    }

    /** Purges a publication's pieces; a failure only leaves garbage (the next leader's sweep takes it). */
    private boolean purgeQuietly(String prefix) {
        try {
            kv.purgePrefix(Bucket.ASSIGNMENT, prefix);
            return true;
        } catch (RuntimeException e) {
            log.warn("Purging the assignment pieces {} failed ({}); left for a later sweep", prefix, e.getMessage());
            return false;
        }
    }

    /** A short tag of the writer for piece keys (worker IDs may hold characters keys may not). */
    private static String writerTag(String leaderId, long epoch) {
        return epoch + "-" + Integer.toHexString(leaderId.hashCode() & 0x7fffffff);
    }

    /** {@link #publish(Map, String, long, BooleanSupplier)} for a writer that holds no lease (tools and tests). */
    AssignmentRecord publish(Map<String, List<Partition>> owners, String leaderId, long epoch) {
        return publish(owners, leaderId, epoch, () -> true);
    }

    /** The largest value one write may carry: the server's max payload less the room for JetStream's headers. */
    private int pieceLimit() {
        long m;
        try {
            m = kv.serverMaxPayload();
        } catch (RuntimeException noInfo) {
            m = MAX_PAYLOAD;
        }
        if (m <= 0) {
            m = MAX_PAYLOAD;
        }
        return (int) Math.min(Integer.MAX_VALUE, m - KvGateway.HEADER_ALLOWANCE);
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
