package dev.parti.cli;

import dev.parti.internal.BucketNames;
import dev.parti.internal.ChunkedAssignment;
import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway.Bucket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a group's four buckets hold at one moment, decoded through {@link Codec}: worker IDs,
 * heartbeats, the leader key and the published assignment, each with its revision and the server's
 * write time. Mutable so that {@code watch} can apply KV changes one by one; {@link #copy()} gives a
 * frozen picture. Not thread-safe: one thread (the reader, or the watch loop) owns an instance.
 */
final class GroupState {
    /** A decoded record with its KV metadata. */
    record Stored<T>(String key, T value, long revision, Instant written) { }

    /** One bucket's settings as the server reports them; {@code ttl} is zero when the bucket has none. */
    record BucketInfo(String name, boolean exists, Duration ttl, int replicas) { }

    final String group;
    final BucketNames names;
    final Map<Bucket, BucketInfo> buckets = new EnumMap<>(Bucket.class);
    final Map<String, Stored<Codec.IdRecord>> ids = new TreeMap<>();
    final Map<String, Stored<Codec.Heartbeat>> heartbeats = new TreeMap<>();
    final Map<String, Stored<Codec.LeaderRecord>> leader = new TreeMap<>();
    final Map<String, Stored<Codec.AssignmentRecord>> assignment = new TreeMap<>();
    /** Records that could not be decoded: {@code bucket/key: reason}. */
    final Map<String, String> unreadable = new TreeMap<>();
    /**
     * The assignment bucket's values as stored, pieces of a chunked record included: {@code current} may be a
     * manifest naming pieces that arrive (a watch) or are read (describe) before or after it.
     */
    final Map<String, byte[]> assignmentValues = new TreeMap<>();

    GroupState(String group) {
        this.group = group;
        this.names = new BucketNames(group);
    }

    /** Whether any of the group's buckets exists. */
    boolean exists() {
        return buckets.values().stream().anyMatch(BucketInfo::exists);
    }

    /** Applies one KV entry (a put with its value, or a delete/expiry with {@code value == null}). */
    void apply(Bucket bucket, String key, byte[] value, long revision, Instant written) {
        String where = names.name(bucket) + "/" + key;
        if (bucket == Bucket.ASSIGNMENT) {
            applyAssignment(key, value, revision, written);
            return;
        }
        unreadable.remove(where);
        Map<String, ? extends Stored<?>> target = map(bucket);
        if (value == null) {
            target.remove(key);
            return;
        }
        try {
            switch (bucket) {
                case IDS: ids.put(key, new Stored<>(key, Codec.decodeId(value), revision, written)); break;
                case HEARTBEATS: heartbeats.put(key, new Stored<>(key, Codec.decodeHeartbeat(value), revision, written)); break;
                case LEADER: leader.put(key, new Stored<>(key, Codec.decodeLeader(value), revision, written)); break;
                case ASSIGNMENT: assignment.put(key, new Stored<>(key, Codec.decodeAssignment(value), revision, written)); break;
                default: throw new IllegalStateException("unknown bucket " + bucket);
            }
        } catch (IllegalArgumentException bad) {
            target.remove(key);
            unreadable.put(where, bad.getMessage());
        }
    }

    /** Revision and write time of each assignment-bucket key, for records decoded once their pieces are in. */
    private final Map<String, Object[]> assignmentMeta = new TreeMap<>();

    /**
     * An assignment-bucket entry: a record (inline or a manifest) or a piece of a chunked record. A manifest whose
     * pieces are not all here yet keeps the previous record (it is decoded again as pieces arrive); a piece that does
     * not match is a newer record's business, not an unreadable record.
     */
    private void applyAssignment(String key, byte[] value, long revision, Instant written) {
        if (value == null) {
            assignmentValues.remove(key);
            assignmentMeta.remove(key);
        } else {
            assignmentValues.put(key, value);
            assignmentMeta.put(key, new Object[] {revision, written});
        }
        for (String k : new ArrayList<>(assignmentValues.keySet())) {
            if (k.startsWith(ChunkedAssignment.PIECE_PREFIX + ".")) {
                continue;
            }
            String where = names.name(Bucket.ASSIGNMENT) + "/" + k;
            byte[] v = assignmentValues.get(k);
            try {
                Codec.AssignmentRecord r = ChunkedAssignment.decode(v, assignmentValues::get);
                Object[] meta = assignmentMeta.get(k);
                assignment.put(k, new Stored<>(k, r, (Long) meta[0], (Instant) meta[1]));
                unreadable.remove(where);
            } catch (ChunkedAssignment.StalePieceException piecesNotHereYet) {
                // keep what was decoded before; the pieces come with the next entries
            } catch (IllegalArgumentException bad) {
                assignment.remove(k);
                unreadable.put(where, bad.getMessage());
            }
        }
        for (String k : new ArrayList<>(assignment.keySet())) {
            if (!assignmentValues.containsKey(k)) {
                assignment.remove(k);
            }
        }
    }

    /**
     * Keeps only {@code present} keys of {@code bucket} (keys that expired by TTL leave no delete marker), except
     * keys written less than half the bucket's TTL before {@code now}: those cannot have expired, and a key listing
     * that races a rewrite of the key (one revision per key: the old message goes as the new one lands) can miss it.
     */
    List<String> retain(Bucket bucket, java.util.Collection<String> present, Instant now) {
        List<String> gone = new ArrayList<>();
        Map<String, ? extends Stored<?>> target = map(bucket);
        Duration ttl = ttl(bucket);
        for (String key : new ArrayList<>(target.keySet())) {
            Instant written = target.get(key).written();
            boolean tooRecent = ttl != null && !ttl.isZero() && written != null
                    && Duration.between(written, now).compareTo(ttl.dividedBy(2)) < 0;
            if (!present.contains(key) && !tooRecent) {
                target.remove(key);
                gone.add(key);
            }
        }
        if (bucket == Bucket.ASSIGNMENT) {
            assignmentValues.keySet().retainAll(new java.util.HashSet<>(present));
            assignmentMeta.keySet().retainAll(new java.util.HashSet<>(present));
        }
        return gone;
    }

    private Map<String, ? extends Stored<?>> map(Bucket bucket) {
        switch (bucket) {
            case IDS: return ids;
            case HEARTBEATS: return heartbeats;
            case LEADER: return leader;
            case ASSIGNMENT: return assignment;
            default: throw new IllegalStateException("unknown bucket " + bucket);
        }
    }

    /** The leader record (the leader bucket holds one key), or null. */
    Stored<Codec.LeaderRecord> currentLeader() {
        return leader.isEmpty() ? null : leader.values().iterator().next();
    }

    /** The newest published assignment (the assignment bucket holds one key), or null. */
    Stored<Codec.AssignmentRecord> currentAssignment() {
        Stored<Codec.AssignmentRecord> best = null;
        for (Stored<Codec.AssignmentRecord> s : assignment.values()) {
            if (best == null || s.value().version() > best.value().version()) {
                best = s;
            }
        }
        return best;
    }

    /** The TTL of a bucket, or null if unknown or none. */
    Duration ttl(Bucket b) {
        BucketInfo info = buckets.get(b);
        return info == null || !info.exists() || info.ttl() == null || info.ttl().isZero() ? null : info.ttl();
    }

    GroupState copy() {
        GroupState c = new GroupState(group);
        c.buckets.putAll(buckets);
        c.ids.putAll(ids);
        c.heartbeats.putAll(heartbeats);
        c.leader.putAll(leader);
        c.assignment.putAll(assignment);
        c.unreadable.putAll(unreadable);
        c.assignmentValues.putAll(assignmentValues);
        c.assignmentMeta.putAll(assignmentMeta);
        return c;
    }

    Map<String, String> unreadable() {
        return Collections.unmodifiableMap(unreadable);
    }
}
