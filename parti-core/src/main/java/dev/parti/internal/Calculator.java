package dev.parti.internal;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.PartiConfig;
import dev.parti.PartitionSource;
import dev.parti.Worker;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The leader's calculator: watches the live workers (heartbeat watch + periodic scan), classifies
 * topology changes, waits the matching stabilization window, runs the strategy, and publishes
 * through the two-phase handoff: a partition that moves is first withheld from its old owner and
 * given to the new one only once the old owner's heartbeat shows it released (or the old owner is
 * dead). Partitions that do not move are never touched.
 *
 * <p>Classification (seed plan, refined): 0 → N workers is a cold start (long window); more than
 * half of the known workers gone or back as fresh instances is a restart (long window, the rest
 * are probably coming back); a
 * vanished worker is an emergency (no window, after the confirmation grace); a graceful leave or a
 * partition change rebalances at once; workers joining is a planned scale (short window); a live
 * worker's metadata changing, or a worker requesting a rebalance, rebalances at once. Planned
 * rebalances are at least a cooldown apart.
 *
 * <p>Every write goes through the {@link AssignmentPublisher} with the leader's lease check, made at
 * the moment of the write (user code, the partition source and the strategy, may run long before
 * it). A failed round (any exception) leaves the calculator dirty and is retried after a backoff.
 *
 * <p>Confined to the worker's main thread.
 */
final class Calculator {
    private static final Logger log = LoggerFactory.getLogger(Calculator.class);
    /** Published versions kept to know what a lagging worker may still acquire. */
    private static final int HISTORY = 16;
    /** The address of a line for a worker the leader does not count live: no instance applies it. */
    static final String NO_INSTANCE = "none";

    /** The calculator's own states. */
    enum State { IDLE, SCALING, REBALANCING, EMERGENCY }

    /** Why a rebalance happens. */
    enum RebalanceType {
        COLD_START, RESTART, PLANNED_SCALE, EMERGENCY, LEAVE, PARTITIONS,
        /** A live worker's metadata changed (e.g. a Kafka member subscribed to other topics). */
        METADATA,
        /** A worker asked for one ({@code PartiManager.requestRebalance()}): a fresh version is published even if nothing moves. */
        REQUESTED
    }

    private static final class Seen {
        Heartbeat hb;
        /** The bytes {@link #hb} was decoded from. */
        byte[] value;
        /** This leader saw the worker write (a revision after the first it saw), so {@link #lastSeenNanos} follows a write. */
        boolean sawWrite;
        long revision;
        long nextCheckNanos;
        long lastSeenNanos;
        long missingSinceNanos;
        /**
         * A read after the grace found the key still absent. Until then the worker counts as live: its return (a new
         * heartbeat after the read that missed it) reaches this leader only through the watch, which may stall.
         */
        boolean goneConfirmed;
        boolean left;
        /** The instance behind the last heartbeat that reported an applied version: a different one later is a restart. */
        String appliedInstance;
        /**
         * A connection identity a DISCONNECT event proved closed by its client (proof of death, {@link DeathWatch}):
         * while the worker's heartbeat still names it, the worker counts as stopped.
         */
        String closedConnection;
        /**
         * The instance this leader saw run the ID before the current one (null: none seen), the version
         * it last reported applied, and until when it may still run under its lease: a line addressed to it in a newer
         * version may be applied by it even after its successor took the ID over (finding 18).
         */
        String formerInstance;
        long formerApplied;
        /** What that instance last reported owning (with {@link #formerApplied}). */
        Set<Partition> formerOwned = Set.of();
        long formerUntilNanos;
        /** That instance's lease has surely ended: it holds nothing, and no line addressed to it is held by anyone. */
        boolean formerEnded;
    }

    private final PartiConfig config;
    private final LongSupplier clock;
    private final AssignmentPublisher publisher;
    private final AssignmentStrategy strategy;
    private final PartitionSource source;
    private final String leaderId;
    private final Consumer<State> stateSink;
    private final BooleanSupplier leaseValid;
    private final long sessionNanos;
    private final long graceNanos;
    private final long heartbeatNanos;

    private final Map<String, Seen> seen = new HashMap<>();
    private final Deque<AssignmentRecord> history = new ArrayDeque<>();
    /**
     * The instance behind each heartbeat found as this term began: such an instance may still be handed a version
     * published before this term (a watch delivering old versions late), which this leader never saw.
     */
    private final Map<String, String> instancesAtBegin = new HashMap<>();
    private long epoch;
    /** This term's recovery grace follows an outage (then proof of death never shortens it). */
    private boolean outageRecovery;
    private State state = State.IDLE;
    private Set<String> known = new TreeSet<>();
    private Map<String, List<Partition>> target;
    private List<Partition> partitions = List.of();
    private boolean partitionsChanged;
    /** A live worker's metadata changed since the last rebalance. */
    private boolean metadataChanged;
    /** A live worker asked for a rebalance since the last one. */
    private boolean rebalanceRequested;
    /** The next handoff publishes a new version even if no owner changes (a requested rebalance: every worker hears of it). */
    private boolean forcePublish;
    private long recoveryUntilNanos;
    private long windowEndNanos;
    /** When this leader's term began (its election won), by {@link #clock}; see {@link #begin(long, long, List, boolean)}. */
    private long termStartNanos;
    /** The next {@link #tick} is the first of this term. */
    private boolean firstRoundOfTerm;
    private RebalanceType pending;
    private long lastRebalanceNanos = Long.MIN_VALUE / 2;
    private boolean dirty = true;
    private boolean restarting;
    /** Earliest next publication attempt after a failed one (backoff). */
    private long retryAtNanos;
    private int failures;
    /** The partition source failed, or returned nothing while partitions were known: the known list is kept. */
    private String sourceProblem;
    private long nextSourceReadNanos;
    private long sourceEmptySinceNanos;
    /** For metrics: the latest rebalance's kind, and when the first one not yet completed started (null: none open). */
    private dev.parti.RebalanceKind handoffKind;
    private Long handoffSinceNanos;

    Calculator(PartiConfig config, LongSupplier clock, AssignmentPublisher publisher, String leaderId,
               Consumer<State> stateSink, BooleanSupplier leaseValid) {
        this.config = config;
        this.clock = clock;
        this.publisher = publisher;
        this.strategy = config.strategy();
        this.source = config.partitionSource();
        this.leaderId = leaderId;
        this.stateSink = stateSink;
        this.leaseValid = leaseValid;
        this.sessionNanos = config.sessionTimeout().toNanos();
        this.graceNanos = config.emergencyGrace().toNanos();
        this.heartbeatNanos = config.heartbeatInterval().toNanos();
    }

    State state() {
        return state;
    }

    /**
     * Starts a term as leader: reads the published assignment, waits the recovery grace before
     * changing anything (invariant 6) and takes the published workers as the known topology.
     */
    void begin(long epoch, List<KvGateway.Entry> heartbeats, boolean afterOutage) {
        begin(epoch, clock.getAsLong(), heartbeats, afterOutage);
    }

    /**
     * {@link #begin(long, List, boolean)} of a term won at {@code termStartNanos} (this calculator's clock): a cold start
     * seen in the term's first round counts its window from then, not from the round. The leader's side is built
     * between the two (fencing the chain, reading every heartbeat and the partitions: 0.1 to 0.4 s at 1 000 workers and
     * 100 000 partitions, in a JVM that has not run it before), and the group's workers gather meanwhile all the same.
     */
    void begin(long epoch, long termStartNanos, List<KvGateway.Entry> heartbeats, boolean afterOutage) {
        this.epoch = epoch;
        long now = clock.getAsLong();
        this.termStartNanos = Math.min(termStartNanos, now);
        this.firstRoundOfTerm = true;
        publisher.load();
        // fence the chain before computing anything: a deposed leader's late write now loses its CAS
        int attempts = 0;
        while (!ReintroducedBugs.noChainFence && !publisher.fence(leaderId, epoch, leaseValid)) {
            if (++attempts >= 3) {
                throw new KvGateway.CasConflictException("fencing the assignment chain lost its compare-and-set "
                        + attempts + " times; another leader keeps publishing");
            }
        }
        AssignmentRecord current = publisher.current();
        history.clear();
        seen.clear();
        metadataChanged = false;
        rebalanceRequested = false;
        forcePublish = false;
        if (current != null) {
            history.addLast(current);
            known = new TreeSet<>(current.owners().keySet());
            target = new TreeMap<>(current.owners());
        } else {
            known = new TreeSet<>();
            target = null;
        }
        onScan(heartbeats, now);
        instancesAtBegin.clear();
        seen.forEach((id, s) -> {
            if (s.hb != null) {
                instancesAtBegin.put(id, s.hb.instance());
            }
        });
        seen.values().forEach(s -> {
            if (s.hb != null) {
                publisher.raiseVersionFloor(s.hb.appliedVersion());
            }
        });
        long liveAtBegin = known.stream().filter(id -> seen.containsKey(id)).count();
        // most of the published workers have no heartbeat as this term starts: the group is restarting
        restarting = known.size() > 1 && liveAtBegin * 2 < known.size();
        // start from the published partitions: a failing or empty source must not revoke everything
        partitions = current == null ? List.of() : publishedPartitions(current);
        sourceProblem = null;
        sourceEmptySinceNanos = 0;
        readPartitions();
        partitionsChanged = current != null && !samePartitions(current);
        // After an outage every worker reconnects on its own schedule: give them a whole session to
        // heartbeat again before anything moves (no emergency storm). Otherwise a missing heartbeat
        // key means the worker's session expired, and the short grace suffices.
        Duration grace = afterOutage && config.sessionTimeout().compareTo(config.recoveryGrace()) > 0
                ? config.sessionTimeout() : config.recoveryGrace();
        recoveryUntilNanos = current == null ? now : now + grace.toNanos();
        outageRecovery = afterOutage;
        pending = null;
        setState(State.IDLE);
        dirty = true;
        log.info("Leader {} (epoch {}) starts from assignment version {}; {} known workers; recovery grace {}",
                leaderId, epoch, current == null ? 0 : current.version(), known.size(),
                current == null ? Duration.ZERO : grace);
    }

    private static List<Partition> publishedPartitions(AssignmentRecord r) {
        List<Partition> ps = new ArrayList<>();
        r.owners().values().forEach(ps::addAll);
        return List.copyOf(ps);
    }

    /** Whether the last publication attempt failed (it is retried after a backoff). */
    boolean publishFailing() {
        return failures > 0;
    }

    /** Why the partition source is not trusted right now (null when it is). */
    String partitionSourceProblem() {
        return sourceProblem;
    }

    private boolean samePartitions(AssignmentRecord current) {
        Map<Partition, Long> published = new HashMap<>();
        current.owners().values().forEach(l -> l.forEach(p -> published.put(p, p.weight())));
        if (published.size() != partitions.size()) {
            return false;
        }
        for (Partition p : partitions) {
            Long w = published.get(p);
            if (w == null || w != p.weight()) {
                return false;
            }
        }
        return true;
    }

    /**
     * A heartbeat watch event: one older than what a read or the watch already gave is ignored. Returns whether it
     * told the calculator something new (a join, a leave, a changed report); a worker's unchanged heartbeat only
     * renews its liveness, which the periodic round reads, so it needs no round of its own.
     */
    boolean onHeartbeat(KvGateway.Entry e, long now) {
        return onHeartbeat(e, now, false);
    }

    /**
     * {@code current}: the entry comes from a read of the key, so it is the server's current value. Returns whether
     * it changed what this leader knows (then the round is dirty).
     */
    private boolean onHeartbeat(KvGateway.Entry e, long now, boolean current) {
        Seen s = seen.computeIfAbsent(e.key(), k -> new Seen());
        if (!current && e.revision() < s.revision) {
            return false; // a late delivery: revisions of a key only grow (a read is the authority after a bucket recreation)
        }
        if (s.revision != 0 && e.revision() != s.revision) {
            s.sawWrite = true;
        }
        if (e.deleted()) {
            s.left = true;
            s.hb = null;
        } else {
            Heartbeat hb;
            if (s.hb != null && java.util.Arrays.equals(e.value(), s.value)) {
                hb = s.hb; // at rest a worker writes the same bytes every interval: decode once, not W times a round
            } else {
                try {
                    hb = Codec.decodeHeartbeat(e.value());
                } catch (IllegalArgumentException bad) {
                    log.warn("Skipping unreadable heartbeat of {}: {}", e.key(), bad.getMessage());
                    return false;
                }
            }
            s.value = e.value();
            boolean changed = s.left || s.missingSinceNanos != 0 || !hb.equals(s.hb);
            Heartbeat before = s.hb;
            if (before != null && !s.left) {
                if (!before.metadata().equals(hb.metadata())) {
                    metadataChanged = true;
                    log.info("Leader {}: metadata of worker {} changed", leaderId, e.key());
                }
                // a counter per instance: a fresh instance starts at 0, so any other change is a new request
                if (hb.rebalanceRequests() != before.rebalanceRequests() && hb.rebalanceRequests() > 0) {
                    rebalanceRequested = true;
                    log.info("Leader {}: worker {} requested a rebalance", leaderId, e.key());
                }
            }
            if (before != null && !s.left && before.instance() != null && !before.instance().equals(hb.instance())
                    && alive(e.key(), s, now)) {
                // another instance runs the ID now. The one before wrote its last heartbeat before this one's first
                // (the key's CAS orders them), so its lease ends within a session from now, by this leader's clock;
                // until then it may still apply a line addressed to it that it had not acknowledged. (One this leader
                // already counted gone is trusted gone, as everywhere: its partitions may have moved already.)
                s.formerInstance = before.instance();
                s.formerApplied = before.appliedVersion();
                s.formerOwned = before.owned();
                s.formerUntilNanos = now + sessionNanos;
                s.formerEnded = false;
            }
            s.hb = hb;
            publisher.raiseVersionFloor(hb.appliedVersion());
            if (hb.appliedVersion() > 0) {
                s.appliedInstance = hb.instance();
            }
            s.revision = e.revision();
            s.left = false;
            s.lastSeenNanos = now;
            s.missingSinceNanos = 0;
            s.goneConfirmed = false;
            if (!changed) {
                return false;
            }
        }
        dirty = true;
        return true;
    }

    /** A full scan of the heartbeat bucket: the polling fallback, and crash detection on servers without expiry markers. */
    void onScan(List<KvGateway.Entry> entries, long now) {
        Set<String> present = new HashSet<>();
        for (KvGateway.Entry e : entries) {
            present.add(e.key());
            Seen s = seen.get(e.key());
            if (s == null || s.hb == null || s.left) {
                onHeartbeat(e, now, true);
            } else {
                s.missingSinceNanos = 0;
                s.goneConfirmed = false;
            }
        }
        for (Map.Entry<String, Seen> e : seen.entrySet()) {
            if (!present.contains(e.getKey()) && e.getValue().missingSinceNanos == 0 && !e.getValue().left) {
                e.getValue().missingSinceNanos = now;
                dirty = true;
            }
        }
    }

    /** Asks for the partitions to be read again before the next tick. */
    void refreshPartitions() {
        List<Partition> before = partitions;
        readPartitions();
        if (!sameWeighted(before, partitions)) {
            partitionsChanged = true;
            dirty = true;
        }
    }

    /**
     * Reads the partition source. A failure, duplicates, or an empty list while partitions are known
     * keep the known list (nothing is revoked for a source hiccup) and are retried every heartbeat
     * interval; an empty list is accepted once it persisted for the cold-start window (topics deleted).
     */
    private void readPartitions() {
        long now = clock.getAsLong();
        nextSourceReadNanos = now + heartbeatNanos;
        List<Partition> ps;
        try {
            ps = source.partitions(liveWorkerList(now));
            if (ps == null) {
                throw new IllegalStateException("PartitionSource.partitions() returned null");
            }
        } catch (Exception e) {
            if (sourceProblem == null) {
                log.error("Partition source failed; keeping the known {} partitions and retrying", partitions.size(), e);
            }
            sourceProblem = "partition source failed: " + e;
            sourceEmptySinceNanos = 0;
            return;
        }
        if (ps.stream().distinct().count() != ps.size()) {
            if (sourceProblem == null) {
                log.error("Partition source returned duplicate partitions; keeping the known list and retrying");
            }
            sourceProblem = "partition source returned duplicate partitions";
            return;
        }
        if (ps.isEmpty() && !partitions.isEmpty()) {
            if (sourceEmptySinceNanos == 0) {
                sourceEmptySinceNanos = now;
                log.warn("Partition source returned no partitions; keeping the known {} for up to {} ms",
                        partitions.size(), config.coldStartWindow().toMillis());
            }
            if (now - sourceEmptySinceNanos < config.coldStartWindow().toNanos()) {
                sourceProblem = "partition source returned no partitions";
                return;
            }
        }
        sourceEmptySinceNanos = 0;
        if (sourceProblem != null) {
            log.info("Partition source answers again ({} partitions)", ps.size());
        }
        sourceProblem = null;
        partitions = List.copyOf(ps);
    }

    /**
     * Re-reads a source that is not trusted yet, at most every heartbeat interval; after a failed
     * publication too (the partitions may have changed, e.g. shrunk below the max payload again).
     */
    private void retrySource(long now) {
        if (sourceProblem == null && (failures == 0 || now < retryAtNanos) || now < nextSourceReadNanos) {
            return;
        }
        List<Partition> before = partitions;
        readPartitions();
        if (!sameWeighted(before, partitions)) {
            partitionsChanged = true;
            dirty = true;
        }
    }

    private static boolean sameWeighted(List<Partition> a, List<Partition> b) {
        if (a.size() != b.size()) {
            return false;
        }
        Map<Partition, Long> m = new HashMap<>();
        a.forEach(p -> m.put(p, p.weight()));
        for (Partition p : b) {
            Long w = m.get(p);
            if (w == null || w != p.weight()) {
                return false;
            }
        }
        return true;
    }

    private boolean alive(String id, Seen s, long now) {
        if (s.left || s.hb == null) {
            return false;
        }
        if (s.closedConnection != null && s.closedConnection.equals(s.hb.connection())) {
            return false; // proof of death: its connection was closed by its client, and it fenced itself on that
        }
        // gone only once a read confirmed the key is absent and it stayed absent for the grace
        if (s.missingSinceNanos == 0 || now - s.missingSinceNanos < graceNanos) {
            return true;
        }
        // ... and a session after this leader last saw it write (hole 12). The server expires a key by its own
        // wall clock, which can jump ahead (or an R3 stream leader whose clock is ahead takes over), and then the
        // key is gone while the worker still owns under its lease. That lease is shorter than a session counted
        // from the moment the worker sent a write, which is before this leader saw it; so by this leader's clock
        // the lease has surely ended a session after the sighting, whatever the server's clock did. Only a write
        // seen happening counts: a heartbeat found by this term's first scan may be a crashed worker's last one,
        // written up to a session ago, and waiting a session from the scan would delay every leader failover
        // (a new leader trusts the server's expiry for those: docs/PROTOCOL.md, invariant 5).
        if (s.sawWrite && now - s.lastSeenNanos < sessionNanos && !ReintroducedBugs.trustServerExpiry) {
            return true;
        }
        // ... and a read made once all of that held found the key still absent: the worker may have come back right
        // after the read that missed it, and a stalled watch would not tell (suspects() asks for that read)
        return !s.goneConfirmed && !ReintroducedBugs.goneWithoutASecondRead;
    }

    /** Gone by every sign but a confirming read: missing past the grace, and no write seen for a session. */
    private boolean goneButUnconfirmed(Seen s, long now) {
        return !s.left && s.hb != null && s.missingSinceNanos != 0 && !s.goneConfirmed
                && now - s.missingSinceNanos >= graceNanos
                && !(s.sawWrite && now - s.lastSeenNanos < sessionNanos && !ReintroducedBugs.trustServerExpiry);
    }

    /**
     * Workers whose heartbeat the watch has not delivered for two heartbeat intervals: the main
     * thread reads their key ({@link #onVerified}), every half interval while it still holds the
     * same write, until it is gone (the server's TTL is the authority). So a stalled watch never
     * causes an emergency, and a crash is noticed within half an interval of the key's expiry,
     * without scanning the whole bucket.
     */
    List<String> suspects(long now) {
        List<String> out = new ArrayList<>();
        seen.forEach((id, s) -> {
            if (!s.left && s.hb != null && s.missingSinceNanos == 0 && now - s.lastSeenNanos >= 2 * heartbeatNanos
                    && now - s.nextCheckNanos >= 0) {
                out.add(id);
            } else if (!ReintroducedBugs.goneWithoutASecondRead && goneButUnconfirmed(s, now) && now - s.nextCheckNanos >= 0) {
                out.add(id); // gone by every other sign: read once more before counting it gone
            }
        });
        return out;
    }

    /** The result of reading a suspect's heartbeat key: present (alive after all) or absent (missing from now). */
    void onVerified(String id, KvGateway.Entry entry, long now) {
        Seen s = seen.get(id);
        if (s == null) {
            return;
        }
        if (entry != null && entry.revision() == s.revision) {
            // the same write, not yet expired on the server: look again shortly, without renewing it
            s.nextCheckNanos = now + Math.max(heartbeatNanos / 2, 10_000_000L);
            if (!ReintroducedBugs.goneWithoutASecondRead) {
                s.missingSinceNanos = 0; // present after all (the read that missed it raced its return)
                s.goneConfirmed = false;
            }
        } else if (entry != null) {
            onHeartbeat(entry, now, true);
        } else if (s.missingSinceNanos == 0) {
            s.missingSinceNanos = now;
            dirty = true;
        } else if (goneButUnconfirmed(s, now)) {
            s.goneConfirmed = true; // suspects() asks for a missing key only once it is gone by every other sign
            dirty = true;
        }
    }

    /**
     * Proof of death ({@link DeathWatch}): the workers other than this leader whose latest heartbeat seen names
     * connection {@code identity}, and which count as live (candidates for {@link #onConnectionClosed}).
     */
    List<String> workersOn(String identity, long now) {
        List<String> out = new ArrayList<>();
        seen.forEach((id, s) -> {
            if (!id.equals(leaderId) && s.hb != null && identity.equals(s.hb.connection()) && alive(id, s, now)) {
                out.add(id);
            }
        });
        return out;
    }

    /**
     * Proof of death: the grace after a DISCONNECT event for {@code identity} has passed, and {@code entry} is worker
     * {@code id}'s heartbeat key read since then (null: gone). Only if that read still names the closed connection
     * does the worker count as stopped from now on: its partitions are reassigned at once (an emergency, no window),
     * without waiting for a release. A heartbeat naming another connection (it reconnected) means nothing happened.
     */
    void onConnectionClosed(String id, String identity, KvGateway.Entry entry, long now) {
        Seen s = seen.get(id);
        if (s == null || entry == null) {
            return; // the key is gone: the ordinary expiry path decides
        }
        onHeartbeat(entry, now, true);
        if (!s.left && s.hb != null && identity.equals(s.hb.connection())) {
            s.closedConnection = identity;
            dirty = true;
            log.info("Leader {}: worker {} (instance {}) counts as stopped: its connection {} was closed by its client",
                    leaderId, id, s.hb.instance(), identity);
        }
    }

    /**
     * Proof of death inside a new leader's recovery grace (a killed leader's successor, typically): the grace only
     * waits for heartbeats a new leader may not have yet. When every known worker's heartbeat was found and is live,
     * except workers counted stopped by proof ({@link #onConnectionClosed}), there is nothing to wait for: the grace
     * ends now and their partitions move as in any emergency. Never after an outage (workers reconnect on their own
     * schedule then) and never with a known worker missing.
     */
    private boolean proofEndsRecovery(long now) {
        if (outageRecovery) {
            return false;
        }
        boolean proved = false;
        for (String id : known) {
            Seen s = seen.get(id);
            if (s != null && !s.left && s.hb != null && s.closedConnection != null
                    && s.closedConnection.equals(s.hb.connection())) {
                proved = true;
            } else if (s == null || !alive(id, s, now)) {
                return false;
            }
        }
        if (!proved) {
            return false;
        }
        recoveryUntilNanos = now;
        log.info("Leader {}: recovery grace ended early: every known worker heartbeats except those counted stopped by "
                + "proof of death", leaderId);
        return true;
    }

    /**
     * NATS is reachable again after this leader could not reach it: every worker gets a whole
     * session to heartbeat again before anything moves (invariant 6), without a blocking scan.
     */
    void recoverAfterOutage(long now) {
        Duration grace = config.sessionTimeout().compareTo(config.recoveryGrace()) > 0
                ? config.sessionTimeout() : config.recoveryGrace();
        recoveryUntilNanos = now + grace.toNanos();
        outageRecovery = true;
        seen.values().forEach(s -> {
            s.lastSeenNanos = now;
            s.missingSinceNanos = 0;
        });
        dirty = true;
        log.info("Leader {}: NATS reachable again; recovery grace {} before any change", leaderId, grace);
    }

    /** The live workers with their capacity and metadata, sorted by ID. */
    private List<Worker> liveWorkerList(long now) {
        return workers(liveWorkers(now));
    }

    /** The workers {@code ids} with their capacity and metadata, in the order of {@code ids}. */
    private List<Worker> workers(Set<String> ids) {
        List<Worker> workers = new ArrayList<>();
        for (String id : ids) {
            workers.add(worker(id));
        }
        return workers;
    }

    private Worker worker(String id) {
        Seen s = seen.get(id);
        Heartbeat hb = s == null ? null : s.hb;
        return hb == null ? Worker.of(id) : new Worker(id, Math.max(1, hb.capacity()), hb.metadata());
    }

    /** Live worker IDs, sorted. */
    /** Workers this leader counts in the group (live or not yet counted gone). */
    int knownWorkers() {
        return seen.size();
    }

    Set<String> liveWorkers(long now) {
        Set<String> live = new TreeSet<>();
        seen.forEach((id, s) -> {
            if (alive(id, s, now)) {
                live.add(id);
            }
        });
        return live;
    }

    /**
     * One round. Returns false when a publication lost its CAS (the caller re-checks leadership).
     */
    boolean tick() {
        long now = clock.getAsLong();
        boolean firstRound = firstRoundOfTerm;
        firstRoundOfTerm = false;
        for (Seen s : seen.values()) {
            if (s.formerInstance != null && !s.formerEnded && now - s.formerUntilNanos >= 0) {
                s.formerEnded = true; // its lease has surely ended: what it was given may move now
                dirty = true;
            }
        }
        if (now < recoveryUntilNanos && !proofEndsRecovery(now)) {
            return readdressDuringRecovery(now);
        }
        retrySource(now);
        Set<String> live = liveWorkers(now);
        Set<String> gone = new TreeSet<>(known);
        gone.removeAll(live);
        if (gone.isEmpty() && state != State.SCALING) {
            // every known worker is back: a restart seen at the start of this term is over
            restarting = false;
        }
        Set<String> joined = new TreeSet<>(live);
        joined.removeAll(known);
        boolean crashed = gone.stream().anyMatch(id -> seen.get(id) == null || !seen.get(id).left);

        if (!gone.isEmpty() && state != State.SCALING) {
            // a restart: more than half of the known workers vanished or came back as fresh instances
            long restarted = known.stream().filter(live::contains).filter(id -> restartedInstance(seen.get(id))).count();
            if (restarting || known.size() > 1 && (gone.size() + restarted) * 2 > known.size() && !live.isEmpty()) {
                startWindow(RebalanceType.RESTART, config.coldStartWindow(), now, false);
            } else if (crashed) {
                rebalance(RebalanceType.EMERGENCY, live, now);
            } else {
                rebalanceAfterCooldown(RebalanceType.LEAVE, live, now);
            }
        } else if (state == State.SCALING) {
            if (crashed && pending != RebalanceType.RESTART && !gone.isEmpty()) {
                rebalance(RebalanceType.EMERGENCY, live, now);
            } else if (now >= windowEndNanos || coldStartComplete(live, now)) {
                rebalance(pending, live, now);
            }
        } else if (!joined.isEmpty()) {
            if (known.isEmpty()) {
                startWindow(RebalanceType.COLD_START, config.coldStartWindow(), firstRound ? termStartNanos : now, now,
                        false);
            } else {
                startWindow(RebalanceType.PLANNED_SCALE, config.plannedScaleWindow(), now, true);
            }
            if (state == State.SCALING && (now >= windowEndNanos || coldStartComplete(live, now))) {
                rebalance(pending, live, now);
            }
        } else if (partitionsChanged || metadataChanged || rebalanceRequested) {
            rebalanceAfterCooldown(partitionsChanged ? RebalanceType.PARTITIONS
                    : rebalanceRequested ? RebalanceType.REQUESTED : RebalanceType.METADATA, live, now);
        }
        return handoff(live, now);
    }

    /**
     * Inside the recovery grace nothing moves, but a live ID now run by an instance the published version is not
     * addressed to (a static member restarted, typically the previous leader that resigned on a close that
     * remains in the group) gets the published lines again, re-addressed, at once: its instance never applies
     * a line addressed to an earlier one and would wait out the grace. The version publishes the current owners
     * unchanged (a partition still held elsewhere is not given, and then nothing is published before the grace
     * ends); the new instance itself acquires nothing while its predecessor may still own (its takeover wait).
     */
    private boolean readdressDuringRecovery(long now) {
        AssignmentRecord current = publisher.current();
        if (current == null || target == null || !dirty || now < retryAtNanos) {
            return true;
        }
        boolean readdress = false;
        for (String id : liveWorkers(now)) {
            Heartbeat hb = seen.get(id).hb;
            if (current.instanceOf(id) != null && !current.addressedTo(id, hb.instance())) {
                readdress = true;
            }
        }
        if (!readdress) {
            return true;
        }
        try {
            return handoffWithBackoff(liveWorkers(now), now, true);
        } finally {
            dirty = true; // the grace's end looks at everything once more
        }
    }

    /**
     * This leader is leaving the group and has already revoked everything it owned: reassign its
     * partitions among the other live workers now, with no window or cooldown, and publish while it
     * still holds the leader lease. Otherwise they would wait for the next leader's election and
     * recovery grace. Nothing is done without a trustworthy picture (inside the recovery grace, or
     * before any assignment): the next leader decides then.
     *
     * @return whether a version without this leader was published
     */
    boolean handOverOnLeave() {
        long now = clock.getAsLong();
        if (now < recoveryUntilNanos || target == null) {
            return false;
        }
        Seen self = seen.computeIfAbsent(leaderId, k -> new Seen());
        self.left = true;
        self.hb = null;
        Set<String> live = liveWorkers(now);
        if (live.isEmpty()) {
            return false;
        }
        rebalance(RebalanceType.LEAVE, live, now);
        AssignmentRecord before = publisher.current();
        return handoff(live, now) && publisher.current() != before;
    }

    /** A change that needs no stabilization window still waits for the cooldown since the last rebalance. */
    private void rebalanceAfterCooldown(RebalanceType type, Set<String> live, long now) {
        if (now - lastRebalanceNanos >= config.rebalanceCooldown().toNanos()) {
            rebalance(type, live, now);
        } else {
            startWindow(type, Duration.ZERO, now, true);
        }
    }

    /**
     * A known worker now run by a new instance that has not applied anything yet: its ID came back
     * after a restart. A worker that merely has not acknowledged its first version yet (same instance)
     * is not one, or a leave right after a cold start would look like a restart.
     */
    private static boolean restartedInstance(Seen s) {
        Heartbeat hb = s.hb;
        return hb.appliedVersion() == 0 && hb.owned().isEmpty() && !hb.fenced()
                && s.appliedInstance != null && !s.appliedInstance.equals(hb.instance());
    }

    /**
     * Inside a cold start's window: whether the strategy says every worker it waits for is live
     * ({@link AssignmentStrategy#coldStartComplete}), so the window ends now (logged when it does).
     */
    private boolean coldStartComplete(Set<String> live, long now) {
        if (pending != RebalanceType.COLD_START || live.isEmpty()) {
            return false;
        }
        List<Worker> workers = workers(live);
        boolean complete;
        try {
            complete = strategy.coldStartComplete(workers);
        } catch (RuntimeException e) {
            log.warn("Leader {}: strategy {} failed to tell whether the cold start is complete; waiting out the window",
                    leaderId, strategy.name(), e);
            return false;
        }
        if (complete) {
            log.info("Leader {}: cold start complete by strategy {} with {} workers, {} ms before the window's end",
                    leaderId, strategy.name(), workers.size(), Math.max(0, windowEndNanos - now) / 1_000_000);
        }
        return complete;
    }

    private void startWindow(RebalanceType type, Duration window, long now, boolean cooldown) {
        startWindow(type, window, now, now, cooldown);
    }

    /** A window of {@code type} that opened at {@code since} (at or before {@code now}). */
    private void startWindow(RebalanceType type, Duration window, long since, long now, boolean cooldown) {
        pending = type;
        long end = since + window.toNanos();
        if (cooldown) {
            end = Math.max(end, lastRebalanceNanos + config.rebalanceCooldown().toNanos());
        }
        windowEndNanos = end;
        log.info("Leader {}: {} detected; stabilization window {} ms", leaderId, type,
                Duration.ofNanos(Math.max(0, end - now)).toMillis());
        setState(State.SCALING);
    }

    private void rebalance(RebalanceType type, Set<String> live, long now) {
        setState(type == RebalanceType.EMERGENCY ? State.EMERGENCY : State.REBALANCING);
        handoffKind = dev.parti.RebalanceKind.valueOf(type.name());
        if (handoffSinceNanos == null) {
            handoffSinceNanos = now;
        }
        config.metrics().rebalanceStarted(handoffKind);
        readPartitions();
        long start = clock.getAsLong();
        List<Worker> workers = workers(live);
        Map<String, Set<Partition>> previous = new HashMap<>();
        AssignmentRecord current = publisher.current();
        if (target != null) {
            target.forEach((w, ps) -> previous.put(w, new HashSet<>(ps)));
        } else if (current != null) {
            current.owners().forEach((w, ps) -> previous.put(w, new HashSet<>(ps)));
        }
        Map<String, List<Partition>> result = strategy.assign(new AssignmentStrategy.Request(workers, partitions, previous));
        target = new TreeMap<>(result);
        log.info("Leader {}: {} rebalance over {} workers and {} partitions computed in {} µs", leaderId, type,
                workers.size(), partitions.size(), (clock.getAsLong() - start) / 1000);
        known = new TreeSet<>(live);
        partitionsChanged = false;
        metadataChanged = false;
        if (rebalanceRequested || type == RebalanceType.REQUESTED) {
            forcePublish = true;
        }
        rebalanceRequested = false;
        restarting = false;
        pending = null;
        lastRebalanceNanos = now;
        dirty = true;
    }

    /** Derives what may be published now from the target and the releases seen, and publishes it if it changed. */
    private boolean handoff(Set<String> live, long now) {
        if (target == null || !dirty || now < retryAtNanos) {
            return true;
        }
        return handoffWithBackoff(live, now, false);
    }

    /** One {@link #handoffOnce}; a failure leaves the round dirty, retried after a backoff of 1, 2, 4, 8 intervals. */
    private boolean handoffWithBackoff(Set<String> live, long now, boolean readdressOnly) {
        try {
            boolean ok = handoffOnce(live, now, readdressOnly);
            failures = 0;
            retryAtNanos = 0;
            return ok;
        } catch (RuntimeException e) {
            dirty = true;
            failures = Math.min(failures + 1, 4);
            retryAtNanos = now + heartbeatNanos * (1L << (failures - 1));
            throw e;
        }
    }

    /** {@code readdressOnly}: publish only if no ID's line changes (the recovery grace's re-addressing). */
    private boolean handoffOnce(Set<String> live, long now, boolean readdressOnly) {
        dirty = false;
        Map<Partition, Set<String>> holders = holders(live, now);
        Map<String, List<Partition>> desired = new TreeMap<>();
        boolean complete = true;
        for (Map.Entry<String, List<Partition>> e : target.entrySet()) {
            List<Partition> give = new ArrayList<>();
            for (Partition p : e.getValue()) {
                Set<String> h = holders.get(p);
                if (h == null || h.isEmpty() || h.size() == 1 && h.contains(e.getKey())) {
                    give.add(p);
                } else {
                    complete = false;
                }
            }
            desired.put(e.getKey(), give);
        }
        AssignmentRecord current = publisher.current();
        if (current != null && mayApplyAnUnknownVersion(live)) {
            // a worker that has not applied the oldest version this leader knows may still apply one it never saw (an
            // earlier leader's, delivered late by its watch) that gives it partitions: nothing is newly acquired until
            // it has caught up or its session ended; what the current version gives stays where it is
            for (Map.Entry<String, List<Partition>> e : desired.entrySet()) {
                Set<Partition> had = new HashSet<>(current.of(e.getKey()));
                if (e.getValue().removeIf(p -> !had.contains(p))) {
                    complete = false;
                }
            }
        }
        boolean needsFresh = false;
        if (current != null) {
            for (String id : live) {
                Heartbeat hb = seen.get(id).hb;
                if (hb.fenced() && hb.appliedVersion() >= current.version()) {
                    needsFresh = true;
                }
                // a new instance holds this ID: it never applies a line addressed to the earlier one
                if (!current.addressedTo(id, hb.instance()) || current.instanceOf(id) == null && desired.containsKey(id)) {
                    needsFresh = true;
                }
            }
        }
        // each line is addressed to the instance the leader last saw holding the ID; the line of a worker it does not
        // count live is addressed to no instance: that worker may come back unseen (its new heartbeat still in a
        // stalled watch) and must not acquire from a line the next version moves without waiting for it
        Map<String, String> instances = new TreeMap<>();
        for (String id : desired.keySet()) {
            Seen s = seen.get(id);
            String instance = s != null && s.hb != null ? s.hb.instance() : current == null ? null : current.instanceOf(id);
            if (!live.contains(id) && !ReintroducedBugs.linesForWorkersNotLive) {
                instance = NO_INSTANCE;
            }
            if (instance != null) {
                instances.put(id, instance);
            }
        }
        if (readdressOnly && (current == null || !sameOwners(current.owners(), desired))) {
            return true;
        }
        if (current == null || needsFresh || forcePublish || !sameOwners(current.owners(), desired)) {
            long t0 = clock.getAsLong();
            AssignmentRecord published = publisher.publish(desired, instances, leaderId, epoch, leaseValid);
            if (published == null) {
                // lost the CAS: what won may be acquired by its workers right now, so holders() must know it
                remember(publisher.current());
                dirty = true;
                return false;
            }
            remember(published);
            forcePublish = false;
            config.metrics().assignmentPublished(published.version(), partitions.size(), live.size(),
                    Duration.ofNanos(clock.getAsLong() - t0));
            log.info("Leader {} published version {}{}{}", leaderId, published.version(),
                    complete ? "" : " (handoff pending)", needsFresh ? " (fresh version for a fenced worker)" : "");
            dirty = true; // re-evaluate once more: acknowledgments may already be in
        }
        if (complete && handoffSinceNanos != null && takenOver(live)) {
            config.metrics().handoffCompleted(handoffKind, Duration.ofNanos(Math.max(0, now - handoffSinceNanos)));
            handoffSinceNanos = null;
        }
        if (complete && state != State.SCALING) {
            setState(State.IDLE);
        }
        return true;
    }

    /**
     * Whether a live worker, run by the instance found as this term began, reports an applied version older than the
     * oldest this leader knows: a version in between, published by an earlier leader, may still reach it.
     */
    private boolean mayApplyAnUnknownVersion(Set<String> live) {
        if (history.isEmpty() || ReintroducedBugs.newLeaderTrustsUnknownVersions) {
            return false;
        }
        long oldest = history.peekFirst().version();
        for (String id : live) {
            Heartbeat hb = seen.get(id).hb;
            if (hb.appliedVersion() < oldest && hb.instance() != null
                    && hb.instance().equals(instancesAtBegin.get(id))) {
                return true;
            }
        }
        return false;
    }

    /** For metrics: every live worker's heartbeat reports owning all of its target partitions. */
    private boolean takenOver(Set<String> live) {
        for (Map.Entry<String, List<Partition>> e : target.entrySet()) {
            Seen s = seen.get(e.getKey());
            if (live.contains(e.getKey()) && (s == null || s.hb == null || !s.hb.owned().containsAll(e.getValue()))) {
                return false;
            }
        }
        return true;
    }

    private void remember(AssignmentRecord r) {
        if (r == null || !history.isEmpty() && history.peekLast().version() >= r.version()) {
            return;
        }
        history.addLast(r);
        while (history.size() > HISTORY) {
            history.removeFirst();
        }
    }

    /**
     * Which live workers may hold each partition: what their heartbeat reports owned, plus what any
     * version newer than the one they applied gave them (they may be applying it right now). A line
     * addressed to an earlier instance of the ID counts too: that instance may still be running (a
     * zombie whose ID was taken over) until the current one has acknowledged a newer version. And a line of a newer
     * version than it acknowledged, addressed to the instance this leader saw run the ID before the current one, counts
     * as held by another owner until that instance's lease has surely ended: it may apply it after its successor's
     * takeover read found nothing to wait for (the version was published after that read; finding 18).
     */
    private Map<Partition, Set<String>> holders(Set<String> live, long now) {
        Map<Partition, Set<String>> holders = new HashMap<>();
        long oldest = history.isEmpty() ? Long.MAX_VALUE : history.peekFirst().version();
        for (String id : live) {
            Seen s = seen.get(id);
            Heartbeat hb = s.hb;
            boolean former = s.formerInstance != null && !s.formerEnded && now - s.formerUntilNanos < 0;
            // the instance this leader saw run the ID before the current one holds at most what it last reported plus
            // the lines addressed to it in newer versions (counted below), and nothing once its lease has ended; its
            // older lines (say the single worker's whole line of a cold start) were superseded by a version it applied:
            // counting them would take partitions from the workers that now hold them, for a session
            String superseded = s.formerInstance != null && (!former || s.formerApplied >= oldest)
                    && !ReintroducedBugs.formerInstanceOldLinesHeld ? s.formerInstance : null;
            for (Partition p : hb.owned()) {
                holders.computeIfAbsent(p, k -> new HashSet<>(2)).add(id);
            }
            if (former && superseded != null) {
                for (Partition p : s.formerOwned) {
                    holders.computeIfAbsent(p, k -> new HashSet<>(2)).add(id);
                }
            }
            for (AssignmentRecord r : history) {
                if ((r.version() > hb.appliedVersion() || hb.appliedVersion() < oldest)
                        && (superseded == null || !superseded.equals(r.instanceOf(id)))) {
                    for (Partition p : r.of(id)) {
                        holders.computeIfAbsent(p, k -> new HashSet<>(2)).add(id);
                    }
                }
            }
            if (former && !ReintroducedBugs.formerInstanceLinesNotHeld) {
                for (AssignmentRecord r : history) {
                    if (r.version() > s.formerApplied && r.instanceOf(id) != null && r.addressedTo(id, s.formerInstance)) {
                        for (Partition p : r.of(id)) {
                            holders.computeIfAbsent(p, k -> new HashSet<>(2)).add(id + " (instance " + s.formerInstance + ")");
                        }
                    }
                }
            }
        }
        return holders;
    }

    private void setState(State next) {
        if (state != next) {
            state = next;
            stateSink.accept(next);
        }
    }

    /** For tests and logs. */
    @Override
    public String toString() {
        return "Calculator[" + state + ", known=" + known + ", pending=" + pending + "]";
    }

    /** Equal owners, partitions and weights (Partition equality alone ignores weights). */
    static boolean sameOwners(Map<String, List<Partition>> a, Map<String, List<Partition>> b) {
        if (!Objects.equals(a, b)) {
            return false;
        }
        for (Map.Entry<String, List<Partition>> e : a.entrySet()) {
            List<Partition> x = e.getValue();
            List<Partition> y = b.get(e.getKey());
            for (int i = 0; i < x.size(); i++) {
                if (x.get(i).weight() != y.get(i).weight()) {
                    return false;
                }
            }
        }
        return true;
    }
}
