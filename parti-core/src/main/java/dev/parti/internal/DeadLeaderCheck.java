package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proof of death for the leader itself ({@code PartiConfig.disconnectEvents}): the followers' side. With the feature
 * on every member listens to the {@code DISCONNECT} events ({@link DeathWatch}); once the grace of a {@code Client
 * Closed} report has passed, a follower asks whether the closed connection was the current leader's: it reads the
 * leader key (revision {@code R}, the leader's worker ID and instance), then that worker's heartbeat key. Only if the
 * heartbeat is the same instance's, still names the closed connection as its liveness connection, and the connection
 * it names for its writes was reported closed too (any reason) does it delete the leader key with a compare-and-set
 * on {@code R}: every member's next election round then runs at once ({@code create} still decides who
 * leads). A leader that renewed since (so was alive and reconnected) has moved the key past {@code R}, and a new leader
 * created it anew: either way the delete loses its compare-and-set and changes nothing. Concurrent followers doing the
 * same race harmlessly: one delete wins, the others lose theirs.
 *
 * <p>It also remembers, for a session, the identities proved closed (grace passed) on this member: a member that
 * becomes leader replays them into its calculator (the dead leader is a worker holding partitions too), which reads
 * each named worker's key again before counting it stopped ({@link Calculator#onConnectionClosed}).
 *
 * <p>Confined to the worker's main thread. The safety argument is in docs/PROTOCOL.md (proof of death, a killed leader).
 */
final class DeadLeaderCheck {
    private static final Logger log = LoggerFactory.getLogger(DeadLeaderCheck.class);
    /** At most this many identities are remembered (a storm of disconnects must not grow without bound). */
    static final int MAX_REMEMBERED = 10_000;

    /** What a follower makes of a closed connection, given the leader key and the leader's heartbeat key. */
    enum Verdict {
        /** No leader key, a deleted one, or one that cannot be read: nothing to depose. */
        NO_LEADER,
        /** The leader key is this member's own record: it is alive (it is asking). */
        SELF,
        /** The leader's heartbeat key is gone, unreadable or of another instance: the ordinary lease path decides. */
        NO_HEARTBEAT,
        /** The leader's heartbeat names another connection (or none): the closed connection was not the leader's. */
        OTHER_CONNECTION,
        /**
         * The closed connection is the leader's liveness connection, but the connection its writes travel over has not
         * been reported closed (yet): a late write of it could still land. Wait for that report ({@link
         * DeathWatch#awaitDrop}); {@link Decision#writes()} names it.
         */
        WRITES_OPEN,
        /** The leader's instance, its heartbeat still naming the closed connection: delete the key at its revision. */
        DELETE
    }

    /**
     * A verdict and, for {@link Verdict#DELETE}, the revision to delete at and the leader it deposes; for {@link
     * Verdict#WRITES_OPEN}, the writes connection to wait for.
     */
    record Decision(Verdict verdict, long revision, String leaderId, String leaderInstance, String writes) {
        static Decision of(Verdict v) {
            return new Decision(v, 0, null, null, null);
        }
    }

    private final Kv kv;
    private final String selfInstance;
    private final long rememberNanos;
    /** identity → until when a new leader still replays it; insertion order. */
    private final Map<String, Long> closed = new LinkedHashMap<>();

    /**
     * @param rememberNanos how long a proved close is replayed by a member becoming leader (a session: by then the
     *                      dead worker's heartbeat key has expired and the ordinary path decides)
     */
    DeadLeaderCheck(Kv kv, String selfInstance, long rememberNanos) {
        this.kv = kv;
        this.selfInstance = selfInstance;
        this.rememberNanos = rememberNanos;
    }

    /**
     * The follower's decision, pure: {@code closed} is a connection identity proved closed by its client whose grace
     * has passed, {@code leader} the leader key read after that (null: absent), {@code heartbeat} the key of the worker
     * that record names, read after {@code leader} (null: absent), {@code dropped} whether the server reported a
     * connection closed (any reason). Deletes only when all of it still points at the closed connection and the
     * heartbeat's writes connection was reported closed, and then at exactly the revision read.
     */
    static Decision decide(String closed, Predicate<String> dropped, String selfInstance, Entry leader, Entry heartbeat) {
        Codec.LeaderRecord r = leaderOf(leader);
        if (r == null) {
            return Decision.of(Verdict.NO_LEADER);
        }
        if (r.instance().equals(selfInstance)) {
            return Decision.of(Verdict.SELF);
        }
        if (heartbeat == null || heartbeat.deleted() || !r.workerId().equals(heartbeat.key())) {
            return Decision.of(Verdict.NO_HEARTBEAT);
        }
        Codec.Heartbeat hb;
        try {
            hb = Codec.decodeHeartbeat(heartbeat.value());
        } catch (IllegalArgumentException unreadable) {
            return Decision.of(Verdict.NO_HEARTBEAT);
        }
        if (!r.instance().equals(hb.instance())) {
            return Decision.of(Verdict.NO_HEARTBEAT);
        }
        if (closed == null || !closed.equals(hb.connection())) {
            return Decision.of(Verdict.OTHER_CONNECTION);
        }
        if (!dropped.test(hb.writesConnection())) {
            return new Decision(Verdict.WRITES_OPEN, 0, r.workerId(), r.instance(), hb.writesConnection());
        }
        return new Decision(Verdict.DELETE, leader.revision(), r.workerId(), r.instance(), null);
    }

    /** The leader record in {@code e}, or null (absent, deleted, unreadable). */
    static Codec.LeaderRecord leaderOf(Entry e) {
        if (e == null || e.deleted() || e.value() == null) {
            return null;
        }
        try {
            return Codec.decodeLeader(e.value());
        } catch (IllegalArgumentException unreadable) {
            return null;
        }
    }

    /**
     * Main thread, follower: the confirming reads and, if they say so, the compare-and-set delete of the leader key.
     * Returns whether this member deleted it. When the leader's writes connection has not been reported closed yet,
     * parks the proof in {@code watch} until it is ({@link DeathWatch#awaitDrop}: the identity comes back through
     * {@link DeathWatch#due}). KV failures propagate (the caller's step degrades and the identity is not asked about
     * again: the leader's lease still ends by its TTL).
     */
    boolean depose(String identity, DeathWatch watch, long now) {
        Entry leader = kv.get(Bucket.LEADER, LeaderElection.KEY);
        Codec.LeaderRecord r = leaderOf(leader);
        if (r == null || r.instance().equals(selfInstance)) {
            return false;
        }
        Decision d = decide(identity, id -> watch.dropped(id, now), selfInstance, leader,
                kv.get(Bucket.HEARTBEATS, r.workerId()));
        if (d.verdict() == Verdict.WRITES_OPEN) {
            log.info("Leader {}: its liveness connection {} was closed by its client; waiting for the report of its writes "
                    + "connection {} before deposing it", d.leaderId(), identity, d.writes());
            watch.awaitDrop(identity, d.writes(), now);
            return false;
        }
        if (d.verdict() != Verdict.DELETE) {
            return false;
        }
        try {
            kv.delete(Bucket.LEADER, LeaderElection.KEY, d.revision());
        } catch (CasConflictException replaced) {
            log.info("The leader key moved past revision {} before the delete: leader {} renewed it or was replaced",
                    d.revision(), d.leaderId());
            return false;
        }
        log.info("Leader {} (instance {}) counts as stopped: its connection {} was closed by its client, its heartbeat "
                + "still names it and its writes connection was reported closed; deleted the leader key at revision {} for "
                + "an election now", d.leaderId(),
                d.leaderInstance(), identity, d.revision());
        return true;
    }

    /** Main thread: remembers identities proved closed at {@code now} (for a member that becomes leader later). */
    void remember(List<String> identities, long now) {
        expire(now);
        for (String identity : identities) {
            if (closed.size() >= MAX_REMEMBERED) {
                return;
            }
            closed.putIfAbsent(identity, now + rememberNanos);
        }
    }

    /** Main thread: the identities proved closed within the last session. */
    List<String> remembered(long now) {
        expire(now);
        return new ArrayList<>(closed.keySet());
    }

    private void expire(long now) {
        Iterator<Long> it = closed.values().iterator();
        while (it.hasNext()) {
            if (now - it.next() >= 0) {
                it.remove();
            }
        }
    }
}
