package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proof of death for the leader itself ({@code PartiConfig.disconnectEvents}): the followers' side. With the feature
 * on every member listens to the {@code DISCONNECT} events ({@link DeathWatch}); once the grace of a {@code Client
 * Closed} report has passed, a follower asks whether the closed connection was the current leader's: it reads the
 * leader key (revision {@code R}, the leader's worker ID and instance), then that worker's heartbeat key. Only if the
 * heartbeat is the same instance's and still names the closed connection does it delete the leader key with a
 * compare-and-set on {@code R}: every member's next election round then runs at once ({@code create} still decides who
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
        /** The leader's instance, its heartbeat still naming the closed connection: delete the key at its revision. */
        DELETE
    }

    /** A verdict and, for {@link Verdict#DELETE}, the revision to delete at and the leader it deposes. */
    record Decision(Verdict verdict, long revision, String leaderId, String leaderInstance) {
        static Decision of(Verdict v) {
            return new Decision(v, 0, null, null);
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
     * that record names, read after {@code leader} (null: absent). Deletes only when all of it still points at the
     * closed connection, and then at exactly the revision read.
     */
    static Decision decide(String closed, String selfInstance, Entry leader, Entry heartbeat) {
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
        return new Decision(Verdict.DELETE, leader.revision(), r.workerId(), r.instance());
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
     * Returns whether this member deleted it. KV failures propagate (the caller's step degrades and the identity is
     * not asked about again: the leader's lease still ends by its TTL).
     */
    boolean depose(String identity) {
        Entry leader = kv.get(Bucket.LEADER, LeaderElection.KEY);
        Codec.LeaderRecord r = leaderOf(leader);
        if (r == null || r.instance().equals(selfInstance)) {
            return false;
        }
        Decision d = decide(identity, selfInstance, leader, kv.get(Bucket.HEARTBEATS, r.workerId()));
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
        log.info("Leader {} (instance {}) counts as stopped: its connection {} was closed by its client and its heartbeat "
                + "still names it; deleted the leader key at revision {} for an election now", d.leaderId(),
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
