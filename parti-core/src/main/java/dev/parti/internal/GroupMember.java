package dev.parti.internal;

import dev.parti.AssignmentListener;
import dev.parti.DegradedReason;
import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiException;
import dev.parti.Partition;
import dev.parti.StateListener;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.KvRejectedException;
import dev.parti.internal.KvGateway.KvUnavailableException;
import dev.parti.internal.WorkerIdClaimer.IdLostException;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker of a group: wires the protocol roles together and owns their threads.
 *
 * <p>Threads: three single-threaded executors, all stopped by {@link #close(boolean)}; in production
 * ({@link SharedScheduler}) views over threads the JVM's workers share, holding a thread only while one of their
 * tasks runs, which carries the name below meanwhile:
 * <ul>
 *   <li>{@code parti-<group>-main}: every KV call after start-up, the election, heartbeats and the
 *   leader's calculator; watch events from jnats' dispatcher are handed over to it.</li>
 *   <li>{@code parti-<group>-callbacks}: every user callback, in order, never concurrently.</li>
 *   <li>{@code parti-<group>-lease}: the lease watchdog; under {@code fence} it gives everything up
 *   as soon as the lease is stale, even while the main thread is stuck in a KV call.</li>
 * </ul>
 * Lifecycle LATENT → STARTED → CLOSED, changed by compare-and-set (start and close are also
 * serialised by a lock, so a close racing a start waits for it and then undoes it).
 *
 * <p>Which thread calls what: {@link AssignmentListener} and {@link StateListener} run on
 * {@code -callbacks} only; state changes and degraded reasons are queued there under the state lock,
 * so listeners see them in the order they happened. The {@link dev.parti.MetricsRecorder} is called on
 * whichever thread made the change ({@code -main}, {@code -lease} or {@code -callbacks}). jnats'
 * dispatcher threads only hand watch events over to {@code -main} (assignment records are decoded
 * there and offered to the applier, which never calls user code on that thread).
 *
 * <p>Every exception from the KV gateway or from user code (partition source, strategy, listeners)
 * is caught on the thread that met it: a failed step is retried on the next tick (the leader's
 * publication after a backoff), never dropped, and a leader is only ever fully built or not at all.
 */
public final class GroupMember {
    private static final Logger log = LoggerFactory.getLogger(GroupMember.class);

    private enum Lifecycle { LATENT, STARTED, CLOSED }

    private final PartiConfig config;
    private final LongSupplier clock;
    /** Clock, threads, waits and KV store: {@link MemberRuntime#SYSTEM} in production, virtual in the simulation. */
    private final MemberRuntime runtime;
    private final String instance;
    private final BucketNames names;
    private final AssignmentApplier applier;
    private final List<StateListener> stateListeners = new CopyOnWriteArrayList<>();
    private final AtomicReference<Lifecycle> lifecycle = new AtomicReference<>(Lifecycle.LATENT);
    private final ReentrantLock lifecycleLock = new ReentrantLock();
    private final Object stateMonitor = new Object();
    private final long heartbeatNanos;
    /**
     * At rest (an assignment applied), the fallback poll of the assignment key runs every this many heartbeat
     * intervals: at 1 s that is one read every 20 s per worker, against one heartbeat write a second.
     */
    private static final int ASSIGNMENT_POLL_AT_REST = 20;

    private volatile ManagerState state = ManagerState.INIT;
    private ManagerState beforeDegraded;
    /** Active degraded reasons and their detail; guarded by stateMonitor. */
    private final Map<DegradedReason, String> reasons = new EnumMap<>(DegradedReason.class);
    /** Which step raised which reason (a step's next success clears it); guarded by stateMonitor. */
    private final Map<String, DegradedReason> raisedBy = new HashMap<>();
    /** Whether the current DEGRADED episode included an outage (KV unreachable or a stale lease). */
    private boolean outageThisEpisode;
    private Map<Bucket, Duration> bucketTtls;
    private long lastProvisionNanos;
    private long lastBucketCheckNanos = Long.MIN_VALUE / 2;

    private Connection connection;
    private boolean ownsConnection;
    /** On a connection Parti opened: the server's permission refusals (null on a connection given in the config). */
    private final AtomicReference<PermissionWatch> permissions = new AtomicReference<>();
    private SharedNats.Lease connectionLease;
    /**
     * Proof of death: the liveness connection the heartbeat names ({@link LivenessConnection}); the shared one when the
     * connection is shared (its lease closes it), else this worker's own. Null when the feature is off or it failed.
     */
    private Connection livenessConnection;
    private Kv kv;
    private WorkerIdClaimer claimer;
    /** close() staying in the group wrote a last heartbeat reporting everything released (written on the main thread). */
    private volatile boolean releasedOnClose;
    private volatile Heartbeater heartbeater;
    private LeaderElection election;
    private AssignmentPublisher publisher;
    private Calculator calculator;
    private volatile String workerId;
    /** The newest assignment-key revision decoded (watch and poll threads); reset with a new ID. */
    private final AtomicLong assignmentRevisionSeen = new AtomicLong();
    /** Hash of the record at {@link #assignmentRevisionSeen}: the same revision with other bytes means a recreated bucket. */
    private volatile int assignmentHashSeen;
    private ScheduledExecutorService main;
    private ScheduledExecutorService leaseWatchdog;
    private ExecutorService callbacks;
    /** Set once the stale lease of the current episode has been acted on; cleared by a successful heartbeat. */
    private final java.util.concurrent.atomic.AtomicBoolean fencedThisEpisode = new java.util.concurrent.atomic.AtomicBoolean();
    /** The thread running one of this worker's callbacks now (null between callbacks in production). */
    private volatile Thread callbackThread;
    /**
     * Closing, and the listener's {@code onRevoked} has not returned yet: the main loop and the lease watchdog
     * go on (heartbeats report the partitions held, a stale lease still fences), so nothing moves to another
     * worker while this one finishes its work, however long that takes (as Kafka's heartbeat thread keeps
     * the member in its group while {@code onPartitionsRevoked} runs in close).
     */
    private volatile boolean revokingOnClose;
    private ScheduledFuture<?> ticker;
    private AutoCloseable assignmentWatch;
    private AutoCloseable heartbeatWatch;
    /**
     * The leader key, watched so that a follower reads it only when it may be free: no event for a whole
     * leader TTL (nats-server 2.9 expires keys without an event), a delete (a resignation), or none yet.
     * Written by the watch's dispatcher thread, read by the main thread.
     */
    private AutoCloseable leaderWatch;
    private volatile boolean leaderKeyPresent;
    private volatile long leaderEventNanos;
    /** The leader key was deleted (its holder resigned): run an election round at the next tick. */
    private volatile boolean electionNow;
    /** Set by a reconnect: the assignment watch may have missed updates, poll at once. */
    private volatile boolean pollAssignmentNow;
    /**
     * Set by a reconnect: the watches are opened again (their consumers may have died with a restarted server,
     * without an error) before the assignment key is polled.
     */
    private volatile boolean rewatchNow;

    // main-thread state
    private long lastBeatNanos;
    private long lastIdRenewNanos;
    private long lastElectionNanos;
    private long lastScanNanos;
    /** Main thread: a calculator round for heartbeat changes is queued behind the events that asked for it. */
    private boolean roundQueued;
    private long lastAssignmentPollNanos;
    private long lastDegradedExitNanos = Long.MIN_VALUE / 2;
    private long lastLeaderBuildNanos = Long.MIN_VALUE / 2;
    /** When the current ID's lease started (the last successful claim or renewal started); volatile: read by the lease thread. */
    private volatile long idLeaseStartNanos;
    /** Nothing is acquired before this (a static-ID takeover waits for the previous instance's session). */
    private volatile long acquireNotBeforeNanos = Long.MIN_VALUE / 2;
    private boolean beatRequested;
    /** Set by close(): a start() still connecting or retrying gives up at its next attempt. */
    private volatile boolean startAborted;
    /** What the heartbeat publishes as metadata: the defaults (host, pid) and the user's. */
    private volatile Map<String, String> metadata = defaultMetadata();
    /** Rebalances this instance requested (published in the heartbeat; the leader acts on a change). */
    private final AtomicLong rebalanceRequests = new AtomicLong();
    /**
     * Test seam for rolling-upgrade tests: with the system property {@value #LEGACY_HEARTBEAT_PROPERTY}
     * set to {@code true} when this member is constructed, it writes its heartbeat as release 1.0 did
     * (no metadata, no rebalance counter), like a member of the previous release.
     */
    private final boolean legacyHeartbeat = Boolean.getBoolean(LEGACY_HEARTBEAT_PROPERTY);
    static final String LEGACY_HEARTBEAT_PROPERTY = "dev.parti.test.legacyHeartbeat";
    private volatile boolean leaseStale;
    private volatile boolean idLost;
    /** Proof of death (main thread): the account's client DISCONNECT events, every member's; null when off or not yet open. */
    private DeathWatch deathWatch;
    /**
     * Proof of death for the leader (main thread): with the feature on every member keeps {@link #deathWatch} open and,
     * while it follows, deposes a leader proved dead; null when off.
     */
    private DeadLeaderCheck deadLeaderCheck;
    /** Main thread: the watch was opened once (a failure is not retried every tick). */
    private boolean deathWatchTried;
    /** Main thread: a calculator just built replays the connections proved closed within the last session. */
    private boolean replayClosed;
    /**
     * Proof of death (worker side): fenced because the connection dropped, and no heartbeat naming the connection it
     * travelled over has succeeded since (see {@link #heartbeat}); until then the assignment horizon is not read.
     */
    private volatile boolean disconnectFenced;
    private volatile long disconnectFencedAtNanos;
    /** Set as close() begins: heartbeats no longer name the connection, whose closing is not a death. */
    private volatile boolean closingConnection;

    public GroupMember(PartiConfig config, AssignmentListener listener) {
        this(config, listener, MemberRuntime.SYSTEM);
    }

    GroupMember(PartiConfig config, AssignmentListener listener, LongSupplier clock) {
        this(config, listener, MemberRuntime.withClock(clock));
    }

    GroupMember(PartiConfig config, AssignmentListener listener, MemberRuntime runtime) {
        this.config = config;
        this.runtime = runtime;
        this.clock = runtime::nanoTime;
        this.instance = runtime.newInstanceId();
        this.names = new BucketNames(config.group());
        this.applier = new AssignmentApplier(listener, config.metrics());
        this.applier.instance(instance);
        this.heartbeatNanos = config.heartbeatInterval().toNanos();
    }

    // ---------------------------------------------------------------- public surface

    public void addStateListener(StateListener l) {
        stateListeners.add(l);
    }

    public ManagerState state() {
        return state;
    }

    public String workerId() {
        return workerId;
    }

    public boolean isLeader() {
        LeaderElection e = election;
        // the lease, not just the flag: a leader whose main thread stalls stops saying so before anyone else can win
        return e != null && e.isLeader() && e.leaseValid() && lifecycle.get() == Lifecycle.STARTED;
    }

    public Set<Partition> currentAssignment() {
        return applier.owned();
    }

    public long assignmentVersion() {
        return applier.appliedVersion();
    }

    /**
     * Whether this worker is a safe owner right now: started, holding its ID, and its last
     * successful heartbeat write started less than {@code sessionTimeout − safetyMargin} ago.
     */
    public boolean isLeaseValid() {
        Heartbeater h = heartbeater;
        if (lifecycle.get() != Lifecycle.STARTED || h == null || idLost || state == ManagerState.SHUTDOWN) {
            return false;
        }
        return !leaseExpired(clock.getAsLong());
    }

    /** Any thread: an application-reported fault (PartiManager#reportFault) raises external-fault as step "external:source". */
    public void reportFault(String source, String detail) {
        raise(DegradedReason.EXTERNAL_FAULT, "external:" + source, source + ": " + detail);
    }

    /** Any thread: the fault reported for {@code source} is over. */
    public void clearFault(String source) {
        settle("external:" + source);
    }

    /** The active degraded reasons by name, for the heartbeat (operators read them with {@code parti watch}). */
    private Set<String> degradedReasonIds() {
        synchronized (stateMonitor) {
            if (reasons.isEmpty()) {
                return Set.of();
            }
            Set<String> ids = new java.util.TreeSet<>();
            reasons.keySet().forEach(r -> ids.add(r.code()));
            return ids;
        }
    }

    /** The active degraded reasons (empty when none), a snapshot. */
    public Set<DegradedReason> degradedReasons() {
        synchronized (stateMonitor) {
            return reasons.isEmpty() ? Set.of() : Set.copyOf(reasons.keySet());
        }
    }

    /**
     * Whether this worker's lease ran out: its last successful heartbeat started more than
     * {@code sessionTimeout − safetyMargin} ago, or its ID's last successful claim or renewal more
     * than {@code workerIdTtl − safetyMargin} ago (a refused renewal does not keep the ID alive).
     */
    private boolean leaseExpired(long now) {
        return heartbeatAge(now) > config.sessionTimeout().minus(config.safetyMargin()).toNanos()
                || now - idLeaseStartNanos > config.workerIdTtl().minus(config.safetyMargin()).toNanos();
    }

    private long heartbeatAge(long now) {
        return now - heartbeater.lastSuccessStartNanos();
    }

    public boolean awaitState(ManagerState target, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (stateMonitor) {
            while (state != target) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(stateMonitor, left);
            }
            return true;
        }
    }

    /** Asks the leader's calculator to read the partition source again (no effect on a follower). */
    public void refreshPartitions() {
        ScheduledExecutorService m = main;
        if (m == null || lifecycle.get() != Lifecycle.STARTED) {
            throw new IllegalStateException("refreshPartitions() needs a started manager, state is " + state);
        }
        m.execute(() -> {
            if (calculator != null && election.isLeader()) {
                calculator.refreshPartitions();
                calculatorTick();
            }
        });
    }

    /** The metadata this worker publishes: {@code host}, {@code pid} and what {@link #setMetadata} set. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Replaces the user's metadata (the defaults stay unless overridden); published with the next heartbeat, at once when started. */
    public void setMetadata(Map<String, String> user) {
        Map<String, String> m = new java.util.TreeMap<>(defaultMetadata());
        int size = 0;
        for (Map.Entry<String, String> e : user.entrySet()) {
            if (e.getKey() == null || e.getKey().isEmpty() || e.getValue() == null) {
                throw new IllegalArgumentException("metadata keys must be non-empty and values non-null: " + e);
            }
            size += e.getKey().length() + e.getValue().length();
            m.put(e.getKey(), e.getValue());
        }
        if (size > MAX_METADATA_CHARS) {
            throw new IllegalArgumentException("metadata of " + size + " characters is larger than the "
                    + MAX_METADATA_CHARS + " a heartbeat carries");
        }
        metadata = java.util.Collections.unmodifiableMap(m);
        if (lifecycle.get() == Lifecycle.STARTED) {
            requestBeat();
        }
    }

    /** Asks the leader for a group-wide rebalance through this worker's next heartbeat (written at once). */
    public void requestRebalance() {
        if (lifecycle.get() != Lifecycle.STARTED) {
            throw new IllegalStateException("requestRebalance() needs a started manager, state is " + state);
        }
        rebalanceRequests.incrementAndGet();
        requestBeat();
    }

    /** Largest user metadata (sum of key and value lengths): heartbeats stay small. */
    static final int MAX_METADATA_CHARS = 16 * 1024;

    private static volatile Map<String, String> defaults;

    private static Map<String, String> defaultMetadata() {
        Map<String, String> d = defaults;
        if (d == null) {
            String host = System.getenv("HOSTNAME");
            if (host == null || host.isBlank()) {
                try {
                    host = java.net.InetAddress.getLocalHost().getHostName();
                } catch (java.io.IOException | RuntimeException e) {
                    host = "unknown";
                }
            }
            d = Map.of(dev.parti.Worker.HOST_KEY, host, dev.parti.Worker.PID_KEY, Long.toString(ProcessHandle.current().pid()));
            defaults = d;
        }
        return d;
    }

    // ---------------------------------------------------------------- start

    public void start() {
        lifecycleLock.lock();
        try {
            if (!lifecycle.compareAndSet(Lifecycle.LATENT, Lifecycle.STARTED)) {
                throw new IllegalStateException("start() may be called once; lifecycle is " + lifecycle.get());
            }
            try {
                doStart();
            } catch (RuntimeException e) {
                lifecycle.set(Lifecycle.CLOSED);
                teardown(false);
                moveTo(ManagerState.SHUTDOWN);
                throw e;
            }
        } finally {
            lifecycleLock.unlock();
        }
    }

    private void doStart() {
        String group = config.group();
        callbacks = runtime.callbackExecutor("parti-" + group + "-callbacks", t -> callbackThread = t);
        main = runtime.scheduler("parti-" + group + "-main");
        moveTo(ManagerState.CLAIMING_ID);
        long t0 = clock.getAsLong();
        // short enough that one stuck call cannot eat the lease, long enough for a loaded machine
        Duration twoBeats = config.heartbeatInterval().multipliedBy(2);
        Duration third = config.sessionTimeout().dividedBy(3);
        Duration requestTimeout = clamp(twoBeats.compareTo(third) < 0 ? twoBeats : third,
                Duration.ofMillis(500), Duration.ofSeconds(5));
        kv = runtime.kv(names, requestTimeout);
        if (kv == null) {
            connect();
            kv = new KvGateway(connection, names, requestTimeout);
        }
        long tConnected = clock.getAsLong();
        Map<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, config.workerIdTtl());
        ttls.put(Bucket.HEARTBEATS, config.sessionTimeout());
        ttls.put(Bucket.LEADER, config.leaderTtl());
        long deadline = clock.getAsLong() + config.startupTimeout().toNanos();
        bucketTtls = ttls;
        retryUntil(deadline, "creating the buckets of group " + group, () -> {
            kv.provision(ttls, config.bucketReplicas());
            return null;
        });
        lastProvisionNanos = clock.getAsLong();
        long tBuckets = lastProvisionNanos;
        claimer = new WorkerIdClaimer(kv, config.workerId(), config.maxWorkers(), instance);
        heartbeater = new Heartbeater(kv, clock);
        publisher = new AssignmentPublisher(kv);
        // a closed instance of this static member in this JVM, known stopped, left its revisions (issue 19, goal 1)
        StaticHandovers.Handover handover = config.workerId() == null ? null
                : runtime.staticHandovers().take(handoverKey(), clock.getAsLong(), config.workerIdTtl().toNanos());
        String id = retryUntil(deadline, "claiming a worker ID", () -> {
            long claimStart = clock.getAsLong(); // the attempt that succeeds starts the ID's lease
            String claimed = claimer.claim(handover == null ? 0 : handover.idRevision());
            idLeaseStartNanos = claimStart;
            return claimed;
        });
        adoptId(id);
        if (handover != null && claimer.claimedFromClosedInstance()) {
            heartbeater.takeOverFromClosedInstance(handover.heartbeatRevision());
        }
        long tClaimed = clock.getAsLong();
        retryUntil(deadline, "writing the first heartbeat", () -> {
            heartbeat();
            return null;
        });
        afterFirstHeartbeat();
        lastIdRenewNanos = clock.getAsLong();
        long tBeat = lastIdRenewNanos;
        moveTo(ManagerState.ELECTION);
        election = new LeaderElection(kv, clock, config.leaderTtl(), config.safetyMargin(), id, instance);
        // WAITING_ASSIGNMENT before the watch: its first delivery may be applied at once, moving the worker to STABLE
        moveTo(ManagerState.WAITING_ASSIGNMENT);
        openWatches();
        long tWatches = clock.getAsLong();
        long tick = clamp(config.heartbeatInterval().dividedBy(4), Duration.ofMillis(10), Duration.ofMillis(250)).toNanos();
        ticker = main.scheduleWithFixedDelay(this::tick, 0, tick, TimeUnit.NANOSECONDS);
        // Self-fencing must not wait for the main thread, which may sit in a KV call for a whole request timeout.
        // one thread for the JVM's workers in production (the check never blocks); virtual in the simulation
        leaseWatchdog = runtime.leaseWatchdog("parti-" + group + "-lease");
        leaseWatchdog.scheduleWithFixedDelay(this::watchLease, tick, tick, TimeUnit.NANOSECONDS);
        // the join path, phase by phase (issue 19: a returning static member's start-up is measured from this line)
        log.info("Worker {} joined group {} (instance {}) in {} ms: connect {} ms, buckets {} ms, ID claim {} ms, "
                + "first heartbeat {} ms, watches {} ms{}", id, group, instance, ms(tWatches - t0), ms(tConnected - t0),
                ms(tBuckets - tConnected), ms(tClaimed - tBuckets), ms(tBeat - tClaimed), ms(tWatches - tBeat),
                clock.getAsLong() - acquireNotBeforeNanos < 0 ? "; acquiring nothing before the displaced instance's session ended" : "");
    }

    private void connect() {
        if (config.connection() != null) {
            connection = config.connection();
            ownsConnection = false;
            if (connection.getStatus() != Connection.Status.CONNECTED) {
                throw new PartiException("The NATS connection given to group " + config.group() + " is " + connection.getStatus());
            }
            return;
        }
        Options.Builder b = config.natsOptions() == null ? new Options.Builder() : new Options.Builder(config.natsOptions());
        String[] urls = config.natsUrl().split("\\s*,\\s*");
        Options options = b.servers(urls)
                .serverPool(new ConfiguredServers(urls)) // only these (Builder.servers appends to the user's)
                .connectionName("parti-" + config.group())
                .connectionTimeout(clamp(config.startupTimeout(), Duration.ofMillis(100), Duration.ofSeconds(5)))
                .maxReconnects(-1)
                .reconnectWait(clamp(config.heartbeatInterval(), Duration.ofMillis(50), Duration.ofSeconds(1)))
                .pingInterval(clamp(config.heartbeatInterval().multipliedBy(2), Duration.ofMillis(200), Duration.ofSeconds(10)))
                .connectionListener(this::onConnectionEvent)
                // no reconnect buffer: a KV write whose request timed out while disconnected must fail, not
                // land later (after the lease it was written under ended, or after a successor's write)
                .reconnectBufferSize(0)
                .build();
        options = PermissionWatch.install(options, names, permissions);
        // proof of death: a connection that carries nothing, for the server to report closed when this process dies
        Options liveness = config.disconnectEvents() == null ? null
                : LivenessConnection.options(options, new ConfiguredServers(urls), this::onLivenessEvent);
        long deadline = System.nanoTime() + config.startupTimeout().toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            checkStartAborted("connecting to NATS");
            try {
                if (config.shareConnection()) { // one connection per server set and options in the JVM
                    connectionLease = SharedNats.acquire(options, this::onConnectionEvent, liveness, this::onLivenessEvent);
                    connection = connectionLease.connection();
                    livenessConnection = connectionLease.liveness();
                } else {
                    connection = Nats.connect(options);
                    ownsConnection = true; // (closed by teardown even if the liveness connection's open is interrupted)
                    livenessConnection = liveness == null ? null : LivenessConnection.open(liveness);
                }
                ownsConnection = true;
                return;
            } catch (IOException e) {
                last = e;
                PermissionWatch watch = permissions.get();
                if (watch != null && watch.credentialsRefused() != null) { // a refusal, not a network failure: do not retry
                    throw new PartiException("NATS at " + config.natsUrl() + " refused the credentials of group "
                            + config.group() + "'s connection [" + watch.credentialsRefused() + "]: check the user, password, "
                            + "token, nkey or creds file in natsOptions", e);
                }
                sleepQuietly(Math.min(200, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PartiException("Interrupted while connecting to NATS at " + config.natsUrl(), e);
            }
        }
        throw new PartiException("NATS unreachable at " + config.natsUrl() + " within startupTimeout "
                + config.startupTimeout() + (last == null ? "" : ": " + last.getMessage()), last);
    }

    private void checkStartAborted(String what) {
        if (startAborted) {
            throw new PartiException("start() of group " + config.group() + " aborted by close() while " + what, null);
        }
    }

    private <T> T retryUntil(long deadline, String what, java.util.function.Supplier<T> step) {
        while (true) {
            checkStartAborted(what);
            PermissionWatch watch = permissions.get();
            long mark = watch == null ? 0 : watch.mark();
            try {
                return step.get();
            } catch (KvUnavailableException e) {
                PermissionWatch.Violation refused = watch == null ? null : watch.since(mark);
                if (refused != null) { // a refusal that jnats only saw as a timeout: retrying cannot help
                    throw watch.toException(what, refused, e);
                }
                if (clock.getAsLong() - deadline > 0) {
                    throw new PartiException("NATS unreachable while " + what + " for group " + config.group()
                            + " within startupTimeout " + config.startupTimeout() + ": " + e.getMessage(), e);
                }
                runtime.sleep(100);
            } catch (KvRejectedException e) {
                throw new PartiException("NATS refused " + what + " for group " + config.group() + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * The first heartbeat under a new ID replaced that of another live instance holding partitions
     * (a static ID taken over from an older instance): acquire nothing before its session has ended.
     * Its lease ran from a heartbeat that started before this write, so one session from now covers it.
     */
    private void afterFirstHeartbeat() {
        if (heartbeater.takeDisplacedHolder() && !ReintroducedBugs.staticTakeoverAtOnce) {
            long wait = config.sessionTimeout().toNanos();
            acquireNotBeforeNanos = clock.getAsLong() + wait;
            log.warn("Worker {}: took over ID {} from another live instance that reported owning partitions; "
                    + "acquiring nothing for {} ms, until that instance's session has ended", workerId, workerId,
                    wait / 1_000_000);
            main.schedule(() -> {
                ExecutorService cb = callbacks;
                if (cb != null && !cb.isShutdown()) {
                    executeQuietly(cb, this::applyAndAcknowledge);
                }
            }, wait + 1_000_000, TimeUnit.NANOSECONDS);
        }
    }

    /** This static member's key in {@link StaticHandovers}: the NATS it uses, its group, its static ID. */
    private String handoverKey() {
        String nats = config.connection() != null ? "connection@" + System.identityHashCode(config.connection()) : config.natsUrl();
        return StaticHandovers.key(nats, config.group(), config.workerId());
    }

    /** Whether this worker may acquire partitions now: a valid lease, and not inside a takeover wait. */
    private boolean mayAcquire() {
        return isLeaseValid() && clock.getAsLong() - acquireNotBeforeNanos >= 0;
    }

    private static void executeQuietly(ExecutorService e, Runnable r) {
        try {
            e.execute(r);
        } catch (RejectedExecutionException closing) {
            log.debug("not run, closing: {}", closing.toString());
        }
    }

    private void adoptId(String id) {
        workerId = id;
        assignmentRevisionSeen.set(0); // records decoded so far hold another ID's line
        applier.workerId(id);
        heartbeater.reset(id, true);
    }

    // ---------------------------------------------------------------- main thread

    private void tick() {
        if (lifecycle.get() != Lifecycle.STARTED && !revokingOnClose) {
            return;
        }
        try {
            long now = clock.getAsLong();
            if (idLost) {
                if (!revokingOnClose) {
                    reclaim();
                }
                return;
            }
            // before any write: a worker back from a pause must fence itself before it heartbeats again
            checkLease(now);
            // lease-critical writes first: the heartbeat, then the leader lease
            if (beatRequested || now - lastBeatNanos >= heartbeatNanos) {
                guarded("heartbeat", this::heartbeat);
            }
            if (applier.needsHorizon() && isLeaseValid() && !disconnectFenced) {
                guarded("assignment horizon", this::readHorizon);
            }
            if (electionNow || now - lastElectionNanos >= heartbeatNanos) {
                electionNow = false;
                if (electionRoundNeeded(now)) {
                    lastElectionNanos = now;
                    guarded("election", this::electionRound);
                } else if (!leaseExpired(now)) {
                    // a follower that needs no round: the leader key's watch and a fresh heartbeat show NATS answers,
                    // so what a failed round raised is over (no round may run again for a long time)
                    settle("election");
                }
            }
            // half the TTL: a failed renewal is retried every tick for the other half (≥ a session), and
            // a 200-worker group at rest writes 13 renewals/s instead of 20 (B6 at-rest write budget)
            if (now - lastIdRenewNanos >= config.workerIdTtl().toNanos() / 2) {
                guarded("worker-ID renewal", () -> {
                    claimer.renew();
                    idLeaseStartNanos = now;
                    lastIdRenewNanos = now;
                    // the renewal may be what makes the lease whole again (after an outage the heartbeat ran first):
                    // then the stale episode ends here, or a lease going stale again would not be acted on
                    // (simulator, docs/SIMULATION.md finding 17)
                    if (!leaseExpired(clock.getAsLong()) && !ReintroducedBugs.staleEpisodeEndsOnlyWithAHeartbeat) {
                        endStaleEpisode();
                    }
                });
            }
            if (rewatchNow) {
                rewatchNow = false;
                guarded("watch", this::rewatch);
            }
            // the watch delivers every version; the poll is its fallback (a reconnect, a watch that died)
            if (pollAssignmentNow || !ReintroducedBugs.noPeriodicAssignmentPoll
                    && now - lastAssignmentPollNanos >= heartbeatNanos * (waitingForAssignment() ? 1 : ASSIGNMENT_POLL_AT_REST)) {
                pollAssignmentNow = false;
                lastAssignmentPollNanos = now;
                guarded("assignment poll", this::pollAssignment);
            }
            if (config.disconnectEvents() != null && calculator == null) {
                checkLeaderDisconnect(now);
            }
            if (election.isLeader() && calculator != null) {
                checkDisconnects(now);
                for (String suspect : calculator.suspects(now)) {
                    guarded("heartbeat check", () -> calculator.onVerified(suspect,
                            kv.get(Bucket.HEARTBEATS, suspect), clock.getAsLong()));
                }
                // the full scan is only the fallback for a watch that missed a join
                if (now - lastScanNanos >= scanIntervalNanos() && calculator != null) {
                    lastScanNanos = now;
                    guarded("heartbeat scan", () -> calculator.onScan(kv.entries(Bucket.HEARTBEATS), clock.getAsLong()));
                }
                calculatorTick();
            }
            reprovisionIfMissing(now);
        } catch (RuntimeException e) {
            log.error("Worker {}: unexpected error in the main loop; retried on the next tick", workerId, e);
        }
    }

    /**
     * Runs one KV step. Its failure raises a degraded reason (KV unreachable, bucket missing, refused,
     * or anything unexpected); its next success clears what it raised. Nothing escapes: the step is
     * retried on its next turn.
     */
    private void guarded(String what, Runnable step) {
        if (idLost || lifecycle.get() != Lifecycle.STARTED && !revokingOnClose) {
            return; // closing: the rest of this tick's KV steps would only delay close() (NATS may be down)
        }
        PermissionWatch watch = permissions.get();
        long mark = watch == null ? 0 : watch.mark();
        try {
            step.run();
            config.metrics().kvOperation(what, true);
            settle(what);
        } catch (IdLostException e) {
            onIdLost(e.getMessage());
        } catch (RuntimeException e) {
            RuntimeException failure = watch == null ? e : watch.classify(e, what, mark);
            config.metrics().kvOperation(what, false);
            config.metrics().kvError(what, KvErrors.kindOf(failure));
            onStepFailed(what, failure);
        }
    }

    /** Classifies a failed step into a degraded reason; nothing is rethrown. */
    private void onStepFailed(String what, RuntimeException e) {
        if (e instanceof AssignmentPublisher.LeaseLostException) {
            if (calculator != null || election.isLeader()) {
                stopLeading(e.getMessage());
            }
        } else if (e instanceof KvGateway.CasConflictException) {
            // somebody else wrote first (another leader); the step runs again on its next turn
            log.info("Worker {}: {} lost a compare-and-set: {}", workerId, what, e.getMessage());
        } else if (e instanceof KvUnavailableException) {
            log.debug("Worker {}: {} failed: {}", workerId, what, e.getMessage());
            raise(DegradedReason.KV_UNAVAILABLE, what, what + ": " + e.getMessage());
            checkBuckets();
        } else if (e instanceof KvGateway.BucketMissingException) {
            raise(DegradedReason.BUCKET_MISSING, what, what + ": " + e.getMessage());
        } else if (e instanceof KvRejectedException) {
            if (!raisedAlready(what, DegradedReason.KV_REJECTED)) {
                log.warn("Worker {}: {} refused: {}", workerId, what, e.getMessage());
            }
            raise(DegradedReason.KV_REJECTED, what, what + ": " + e.getMessage());
        } else {
            if (!raisedAlready(what, DegradedReason.KV_REJECTED)) {
                log.error("Worker {}: {} failed unexpectedly; retrying", workerId, what, e);
            }
            raise(DegradedReason.KV_REJECTED, what, what + ": " + e);
        }
    }

    /** Whether {@code step} already holds {@code reason} (a repeated failure is logged once). */
    private boolean raisedAlready(String step, DegradedReason reason) {
        synchronized (stateMonitor) {
            return raisedBy.get(step) == reason;
        }
    }

    /**
     * Main thread, after a KV call timed out on a connected connection: is a bucket gone? (A deleted
     * bucket's reads time out on nats-server 2.9.) At most once a session.
     */
    private void checkBuckets() {
        long now = clock.getAsLong();
        if (kv == null || !kv.connected()
                || now - lastBucketCheckNanos < config.sessionTimeout().toNanos()) {
            return;
        }
        lastBucketCheckNanos = now;
        try {
            List<String> missing = new java.util.ArrayList<>();
            for (Bucket b : Bucket.values()) {
                if (!kv.bucketExists(b)) {
                    missing.add(names.name(b));
                }
            }
            if (!missing.isEmpty()) {
                raise(DegradedReason.BUCKET_MISSING, "provision", "bucket(s) " + missing + " of group " + config.group()
                        + " missing on the server (deleted under a running group)");
            }
        } catch (RuntimeException e) {
            log.debug("Worker {}: checking the buckets failed: {}", workerId, e.toString());
        }
    }

    /** A bucket is missing: create the group's buckets again (at most once a session), as at start-up. */
    private void reprovisionIfMissing(long now) {
        if (!hasReason(DegradedReason.BUCKET_MISSING) || now - lastProvisionNanos < config.sessionTimeout().toNanos()) {
            return;
        }
        lastProvisionNanos = now;
        guarded("provision-again", () -> {
            kv.provision(bucketTtls, config.bucketReplicas());
            log.warn("Worker {}: a bucket of group {} was missing; buckets created again", workerId, config.group());
            synchronized (stateMonitor) {
                raisedBy.values().removeIf(r -> r == DegradedReason.BUCKET_MISSING);
            }
            clear(DegradedReason.BUCKET_MISSING);
        });
    }

    private void heartbeat() {
        long start = clock.getAsLong();
        long sinceLast = start - heartbeater.lastSuccessStartNanos();
        if (sinceLast > config.sessionTimeout().minus(config.safetyMargin()).toNanos()) {
            // The lease lapsed since the last successful heartbeat (a pause can fall between two checks):
            // apply the policy before this write makes the lease look fresh again.
            actOnStaleLease(Duration.ofNanos(sinceLast), "no successful heartbeat for " + sinceLast / 1_000_000 + " ms");
        }
        AssignmentApplier.Snapshot s = applier.snapshot();
        Set<Partition> owned = s.owned();
        if (!heartbeater.inherited().isEmpty()) {
            if (start - acquireNotBeforeNanos < 0) {
                // still waiting after displacing a live holder: report what it held too (see Heartbeater#inherited)
                owned = new java.util.TreeSet<>(owned);
                owned.addAll(heartbeater.inherited());
            } else {
                heartbeater.clearInherited();
            }
        }
        Via via = connectionIdentity();
        heartbeater.beat(legacyHeartbeat
                ? new Codec.Heartbeat(instance, s.appliedVersion(), owned, s.fenced(), config.capacity())
                : new Codec.Heartbeat(instance, s.appliedVersion(), owned, s.fenced(), config.capacity(),
                        metadata, rebalanceRequests.get(), degradedReasonIds(), via == null ? null : via.liveness(),
                        via == null ? null : via.writes()), start);
        lastBeatNanos = clock.getAsLong();
        beatRequested = false;
        afterBeatOver(via, start);
        if (leaseExpired(clock.getAsLong())) {
            return; // the ID's lease is still stale: the episode goes on
        }
        endStaleEpisode();
        // NATS answers: the lease is fresh, and what the heartbeat-bucket steps (which may not run again
        // soon) raised is over; the periodic steps (election, ID renewal, poll) clear theirs on their next
        // success, so one unreachable bucket does not make the state flap at every heartbeat
        settle("lease");
        settle("heartbeat check");
        settle("heartbeat scan");
        // proof of death's reads run only on an event: nothing may run again to clear what they raised
        settle("disconnect check");
        settle("leader death check");
    }

    /**
     * Main thread: whether this round needs the KV store. A leader renews every round; a follower only
     * when the leader key may be free (see {@link #leaderWatch}), so a group at rest does no election reads.
     * Only {@code create} decides who leads: the watch saves reads, it never makes a leader.
     */
    private boolean electionRoundNeeded(long now) {
        return election.isLeader() || calculator != null || leaderWatch == null || !leaderKeyPresent
                || now - leaderEventNanos >= config.leaderTtl().toNanos();
    }

    /** Dispatcher thread of the leader-key watch. */
    private void onLeaderEvent(KvGateway.Entry e) {
        leaderEventNanos = clock.getAsLong();
        leaderKeyPresent = !e.deleted();
        if (e.deleted()) {
            // a resigned leader: a round now, not at the next tick a heartbeat interval after the last round
            electionNow = true;
            ScheduledExecutorService m = main;
            if (m != null && !m.isShutdown()) {
                executeQuietly(m, this::tick);
            }
        }
    }

    private void electionRound() {
        if (disconnectFenced && provesDeath()) {
            // proof of death: a worker whose connection dropped neither leads nor runs for it until it is back
            if (calculator != null || election.isLeader()) {
                election.stepDown();
                stopLeading("NATS connection dropped (disconnect events on)");
            }
            return;
        }
        boolean won = election.tick();
        if (won) {
            log.info("Worker {} is leader of group {} (epoch {})", workerId, config.group(), election.epoch());
        }
        if (election.isLeader() && calculator == null
                && (won || clock.getAsLong() - lastLeaderBuildNanos >= heartbeatNanos)) {
            // a leader is built whole or not at all; a failed build is retried while the lease holds
            becomeLeader();
        } else if (!election.isLeader() && calculator != null) {
            stopLeading("lease lost");
        }
    }

    /**
     * Builds the leader's side: the calculator (which fences the assignment chain and reads the
     * heartbeats) and the heartbeat watch. Nothing is kept unless all of it succeeded; a failure
     * propagates (its step degrades) and the next election round, still leader, tries again.
     */
    private void becomeLeader() {
        lastLeaderBuildNanos = clock.getAsLong();
        Calculator c = new Calculator(config, clock, publisher, workerId, this::onCalculatorState, election::leaseValid);
        AutoCloseable watch = null;
        try {
            faultPoint("become-leader");
            // the watch first: a heartbeat written between the scan and the watch is not missed (events
            // wait on the main thread, which runs this, and are applied once the calculator is in place)
            watch = kv.watch(Bucket.HEARTBEATS, ">", e -> {
                ScheduledExecutorService m = main;
                if (m != null && !m.isShutdown()) {
                    executeQuietly(m, () -> {
                        if (calculator == c) {
                            boolean changed = true;
                            try {
                                changed = c.onHeartbeat(e, clock.getAsLong());
                            } catch (RuntimeException bad) {
                                log.error("Worker {}: heartbeat event of {} could not be handled", workerId, e.key(), bad);
                            }
                            // a round per changed heartbeat only: a round is O(workers), and at 1 000 workers a round
                            // per unchanged heartbeat (1 000/s) kept this thread from renewing the leader lease (B6);
                            // and one round for the changes queued meanwhile, not one each (1 000 acknowledgments of
                            // a 100 000-partition version, at up to 0.3 s a round, did the same)
                            if (changed && !roundQueued) {
                                roundQueued = true;
                                executeQuietly(m, () -> {
                                    roundQueued = false;
                                    if (calculator == c) {
                                        calculatorTick();
                                    }
                                });
                            }
                        }
                    });
                }
            });
            c.begin(election.epoch(), lastLeaderBuildNanos, kv.entries(Bucket.HEARTBEATS), recentlyDegraded());
        } catch (RuntimeException e) {
            closeQuietly(watch);
            log.warn("Worker {}: becoming leader failed ({}); retrying while the lease holds", workerId, e.toString());
            throw e;
        }
        calculator = c;
        heartbeatWatch = watch;
        lastScanNanos = clock.getAsLong();
        openDeathWatch();
        replayClosed = true;
        if (publisher.takeRecreated()) {
            raise(DegradedReason.BUCKET_RECREATED, "publish", "the assignment bucket was recreated; "
                    + "publishing above every version a worker reports applied");
        }
    }

    private void stopLeading(String why) {
        log.info("Worker {} steps down as leader of group {}: {}", workerId, config.group(), why);
        election.stepDown();
        calculator = null;
        closeQuietly(heartbeatWatch);
        heartbeatWatch = null;
        // the DISCONNECT watch stays open: a follower listens too (it deposes a leader proved dead)
        settle("publish");
        settle("partition-source");
        onCalculatorState(Calculator.State.IDLE);
    }

    /**
     * How often the leader lists every heartbeat, the fallback for a join or leave its watch missed (a crash is found
     * by reading a silent worker's key): once a session up to 100 workers, less often in larger groups, where the
     * listing is long enough to delay the lease renewal behind it (1 000 workers: 0.3–4.5 s on one JVM, B6).
     */
    private long scanIntervalNanos() {
        Calculator c = calculator;
        int workers = c == null ? 0 : c.knownWorkers();
        return config.sessionTimeout().toNanos() * Math.max(1, workers / SCAN_WORKERS_PER_SESSION);
    }

    /** Heartbeats listed once a session; beyond, the scan interval grows with the group (see {@link #scanIntervalNanos}). */
    static final int SCAN_WORKERS_PER_SESSION = 100;

    /**
     * One calculator round (main thread). Whatever it throws is handled here: a lapsed lease steps
     * down, anything else degrades with its reason, and the calculator, still dirty, retries the
     * publication after its backoff.
     */
    private void calculatorTick() {
        Calculator c = calculator;
        if (c == null) {
            return;
        }
        if (!election.leaseValid()) {
            return; // a leader writes nothing outside its lease (invariant 2); the publisher checks again at the write
        }
        try {
            if (!c.tick()) {
                // lost CAS: somebody else published; re-check our lease at once
                lastElectionNanos = 0;
                if (!isOurLeaderKey()) {
                    stopLeading("assignment CAS lost to another leader");
                    return;
                }
            }
            if (!c.publishFailing()) {
                settle("publish");
            }
        } catch (AssignmentPublisher.LeaseLostException e) {
            stopLeading(e.getMessage());
            return;
        } catch (AssignmentPublisher.AssignmentTooLargeException e) {
            log.error("Worker {}: {}", workerId, e.getMessage());
            raise(DegradedReason.ASSIGNMENT_TOO_LARGE, "publish", e.getMessage());
        } catch (RuntimeException e) {
            onStepFailed("publish", e);
        }
        if (calculator == c) {
            String problem = c.partitionSourceProblem();
            if (problem != null) {
                raise(DegradedReason.PARTITION_SOURCE_FAILED, "partition-source", problem);
            } else {
                settle("partition-source");
            }
        }
    }

    private boolean isOurLeaderKey() {
        KvGateway.Entry e = kv.get(Bucket.LEADER, LeaderElection.KEY);
        if (e == null) {
            return false;
        }
        try {
            return instance.equals(Codec.decodeLeader(e.value()).instance());
        } catch (IllegalArgumentException bad) {
            return false;
        }
    }

    /**
     * Main thread, once a fenced worker is back (lease valid again, so its heartbeat is in the store): reads the
     * version current now. Versions up to it were published while this worker was away and are never applied;
     * its next heartbeat reports it, so the leader publishes a fresh one (see {@link AssignmentApplier#horizon}).
     */
    private void readHorizon() {
        KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
        long current = 0;
        if (e != null && !e.deleted()) {
            try {
                current = ChunkedAssignment.version(e.value()); // the header alone, inline or chunked
            } catch (IllegalArgumentException unreadable) {
                current = e.revision(); // no version published on this stream exceeds its revision
            }
        }
        if (e != null) {
            onAssignmentEvent(e);
        }
        faultPoint("horizon-read");
        applier.horizon(current);
        if (!ReintroducedBugs.noApplyAfterHorizon) {
            // a version the watch delivered while this read was under way (published after the version it returned)
            // was refused as horizon-pending and is offered no more: apply it now (simulator, SIMULATION.md finding 20)
            executeQuietly(callbacks, this::applyAndAcknowledge);
        }
        log.info("Worker {}: back after a fence; versions up to {} were published while it was away and are not applied",
                workerId, current);
        beatRequested = true; // report the horizon now: the leader publishes a fresh version for a fenced worker
    }

    /** The polling fallback of the assignment watch (a watch can miss updates across a server restart). */
    private void pollAssignment() {
        // what was seen before the read: the watch may deliver a newer revision while the read is under way, and a
        // read older than that is merely late, not a sign that the bucket was recreated (a full run saw that false
        // alarm once the reads went to the stream leader)
        long seen = assignmentRevisionSeen.get();
        int hashSeen = assignmentHashSeen;
        KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
        if (e != null) {
            boolean sameRevisionOtherRecord = e.revision() == seen && java.util.Arrays.hashCode(e.value()) != hashSeen
                    && hashSeen == assignmentHashSeen; // not caught between the watch's revision and its hash
            if (e.revision() < seen || sameRevisionOtherRecord) {
                // the key's revision went backwards (or the same revision holds another record): the assignment
                // bucket was recreated and its chain restarted; the leader continues above every applied version
                assignmentRevisionSeen.set(0);
                raise(DegradedReason.BUCKET_RECREATED, "assignment-chain", "the assignment bucket was recreated (revision "
                        + e.revision() + " after a newer one was seen)");
            }
            onAssignmentEvent(e);
        }
    }

    private boolean waitingForAssignment() {
        return state == ManagerState.WAITING_ASSIGNMENT || state == ManagerState.DEGRADED || applier.isFenced();
    }

    /** A jnats dispatcher thread (watch) or the main thread (poll): decode for this ID and offer; never calls user code. */
    private void onAssignmentEvent(KvGateway.Entry e) {
        try {
            if (e.deleted()) {
                return;
            }
            String id = workerId;
            long seen = assignmentRevisionSeen.get();
            if (id == null || e.revision() <= seen) {
                return; // the periodic poll mostly finds what the watch delivered: no decode
            }
            if (ChunkedAssignment.isManifest(e.value())) {
                // its pieces are KV reads: on the main thread, never on a (shared) watch dispatcher thread
                ScheduledExecutorService m = main;
                if (m != null && !m.isShutdown()) {
                    executeQuietly(m, () -> readChunked(e));
                }
                return;
            }
            Codec.AssignmentRecord r;
            try {
                r = Codec.decodeAssignmentOf(e.value(), id);
            } catch (IllegalArgumentException bad) {
                log.warn("Skipping unreadable assignment record (revision {}): {}", e.revision(), bad.getMessage());
                return;
            }
            offerAssignment(e, r);
        } catch (RuntimeException unexpected) {
            log.error("Worker {}: assignment record at revision {} could not be handled; the poll retries it",
                    workerId, e.revision(), unexpected);
        }
    }

    /**
     * Main thread: a chunked record's manifest at {@code e}: reads this worker's piece(s) and offers its
     * view. A piece that is gone or does not match (a newer version replaced the manifest) means reading
     * {@code current} again, never applying a mix; the version a piece belongs to is the manifest's.
     */
    private void readChunked(KvGateway.Entry first) {
        KvGateway.Entry e = first;
        try {
            for (int attempt = 0; attempt < 4 && e != null && !e.deleted(); attempt++) {
                String id = workerId;
                if (id == null || e.revision() <= assignmentRevisionSeen.get() || lifecycle.get() != Lifecycle.STARTED) {
                    return;
                }
                if (!ChunkedAssignment.isManifest(e.value())) {
                    onAssignmentEvent(e); // current is inline again
                    return;
                }
                Codec.AssignmentRecord r;
                try {
                    AssignmentPublisher p = publisher;
                    r = p != null && p.revision() == e.revision() && p.current() != null
                            ? p.current() // this worker leads and wrote (or read) exactly this record: no piece to read
                            : ChunkedAssignment.decodeOf(e.value(), id,
                                    key -> {
                                        KvGateway.Entry piece = kv.get(Bucket.ASSIGNMENT, key);
                                        return piece == null ? null : piece.value();
                                    });
                } catch (ChunkedAssignment.StalePieceException stale) {
                    log.debug("Worker {}: {}; reading the assignment again", id, stale.getMessage());
                    e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
                    continue;
                } catch (IllegalArgumentException bad) {
                    log.warn("Skipping unreadable assignment record (revision {}): {}", e.revision(), bad.getMessage());
                    return;
                }
                offerAssignment(e, r);
                return;
            }
            if (e != null && !e.deleted()) {
                pollAssignmentNow = true; // replaced faster than read: the next tick tries again
            }
        } catch (RuntimeException failed) {
            // NATS unreachable or refusing: the revision is not marked seen, so the poll reads it again
            log.warn("Worker {}: reading the chunked assignment at revision {} failed ({}); the poll retries it",
                    workerId, first.revision(), failed.getMessage());
            // a heartbeat interval from now, not on the next tick: an overloaded server must not keep this thread
            // (which also writes the heartbeat) busy with one retry after another
            long retryAt = clock.getAsLong() + heartbeatNanos;
            lastAssignmentPollNanos = retryAt - heartbeatNanos * (waitingForAssignment() ? 1 : ASSIGNMENT_POLL_AT_REST);
        }
    }

    /** Watch, poll or main thread: offers a decoded record (this worker's view of it) read at {@code e}. */
    private void offerAssignment(KvGateway.Entry e, Codec.AssignmentRecord r) {
        try {
            if (assignmentRevisionSeen.accumulateAndGet(e.revision(), Math::max) == e.revision()) {
                assignmentHashSeen = java.util.Arrays.hashCode(e.value());
            }
            if (hasReason(DegradedReason.BUCKET_RECREATED) && r.version() > applier.appliedVersion()) {
                settle("assignment-chain"); // the new chain continues above what this worker applied
            }
            if (applier.offer(r)) {
                ExecutorService cb = callbacks;
                if (cb != null && !cb.isShutdown()) {
                    executeQuietly(cb, this::applyAndAcknowledge);
                }
            }
        } catch (RuntimeException unexpected) {
            log.error("Worker {}: assignment record at revision {} could not be handled; the poll retries it",
                    workerId, e.revision(), unexpected);
        }
    }

    /** Callback thread: apply, then ask the main thread for an immediate heartbeat (the release acknowledgment). */
    private void applyAndAcknowledge() {
        if (lifecycle.get() != Lifecycle.STARTED) {
            return;
        }
        if (applier.applyLatest(this::mayAcquire)) {
            if (state == ManagerState.WAITING_ASSIGNMENT) {
                moveTo(ManagerState.STABLE);
            }
            requestBeat();
        }
    }

    /** Any thread: an immediate heartbeat on the main thread (an acknowledgment or a release to report). */
    private void requestBeat() {
        ScheduledExecutorService m = main;
        if (m != null && !m.isShutdown()) {
            executeQuietly(m, () -> {
                beatRequested = true;
                tick();
            });
        }
    }

    private void onCalculatorState(Calculator.State s) {
        ManagerState target;
        switch (s) {
            case SCALING: target = ManagerState.SCALING; break;
            case REBALANCING: target = ManagerState.REBALANCING; break;
            case EMERGENCY: target = ManagerState.EMERGENCY; break;
            default: target = applier.appliedVersion() > 0 || state != ManagerState.WAITING_ASSIGNMENT
                    ? ManagerState.STABLE : ManagerState.WAITING_ASSIGNMENT;
        }
        synchronized (stateMonitor) {
            if (state == ManagerState.DEGRADED) {
                beforeDegraded = target;
                return;
            }
        }
        if (state != target && state != ManagerState.CLAIMING_ID && state != ManagerState.ELECTION) {
            moveTo(target);
        }
    }

    /** Lease watchdog thread: acts on a stale lease at once, even while the main thread is stuck in a KV call. */
    private void watchLease() {
        if (lifecycle.get() != Lifecycle.STARTED && !revokingOnClose || idLost) {
            return;
        }
        long now = clock.getAsLong();
        if (leaseExpired(now)) {
            actOnStaleLease(Duration.ofNanos(heartbeatAge(now)), staleWhy(now));
        }
    }

    /** Main thread: the whole lease is fresh again (heartbeat and ID); the next stale lease is a new episode. */
    private void endStaleEpisode() {
        fencedThisEpisode.set(false);
        if (leaseStale) {
            leaseStale = false;
            log.info("Worker {}: heartbeat written again; lease is fresh", workerId);
            executeQuietly(callbacks, this::applyAndAcknowledge); // what arrived while the lease was stale
        }
    }

    private String staleWhy(long now) {
        long hbAge = heartbeatAge(now);
        return hbAge > config.sessionTimeout().minus(config.safetyMargin()).toNanos()
                ? "no successful heartbeat for " + hbAge / 1_000_000 + " ms"
                : "worker ID not renewed for " + (now - idLeaseStartNanos) / 1_000_000 + " ms";
    }

    /** Main thread: a leader with a stale lease steps down; the policy is applied once per episode. */
    private void checkLease(long now) {
        if (!leaseExpired(now)) {
            return;
        }
        if (election.isLeader()) {
            stopLeading("stale lease");
        }
        actOnStaleLease(Duration.ofNanos(heartbeatAge(now)), staleWhy(now));
    }

    /**
     * Once per stale-lease episode (main or lease thread): DEGRADED with {@code lease-stale}, a metric,
     * a log line, and under {@code fence} every partition given up. They stay reported as held until
     * {@code onLost} returned on the callback thread; then a heartbeat reports the release.
     */
    private void actOnStaleLease(Duration age, String why) {
        if (!fencedThisEpisode.compareAndSet(false, true)) {
            return;
        }
        leaseStale = true;
        config.metrics().staleLease(age, config.lossPolicy());
        raise(DegradedReason.LEASE_STALE, "lease", why); // cleared only by a heartbeat that finds the whole lease fresh
        if (config.lossPolicy() == LossPolicy.FENCE) {
            log.warn("Worker {}: lease stale ({}): fencing itself", workerId, why);
            AssignmentApplier.Loss loss = applier.fence("stale lease (fence policy)");
            executeQuietly(callbacks, () -> {
                applier.reportLost(loss);
                requestBeat();
                applyAndAcknowledge(); // a version that arrived meanwhile waited for this report
            });
        } else {
            log.warn("Worker {}: lease stale ({}): holding its partitions (hold policy); another worker may be "
                    + "assigned them", workerId, why);
        }
    }

    private void onIdLost(String reason) {
        if (idLost) {
            return;
        }
        idLost = true;
        log.warn("Worker {} lost its ID: {}", workerId, reason);
        // give everything up first: resigning below is a KV call that may take a whole request timeout
        AssignmentApplier.Loss loss = applier.fence("worker ID lost: " + reason);
        executeQuietly(callbacks, () -> {
            applier.reportLost(loss);
            applyAndAcknowledge(); // a version that arrived meanwhile waited for this report
        });
        if (election.isLeader()) {
            // delete the leader key (CAS on our revision) so another worker leads at once, not a leader TTL later
            resign(true);
            stopLeading("worker ID lost");
        }
        raise(DegradedReason.ID_LOST, "claim-id", reason);
        moveTo(ManagerState.CLAIMING_ID);
    }

    private void reclaim() {
        if (claimer.isStatic()) {
            // like Kafka's FencedInstanceIdException: a newer instance with the same static ID took over
            if (state != ManagerState.SHUTDOWN) {
                log.error("Worker {}: static ID taken over by a newer instance of the same member; this instance stops. "
                        + "Call close() to release its threads", workerId);
                if (ticker != null) {
                    ticker.cancel(false);
                }
                moveTo(ManagerState.SHUTDOWN);
            }
            return;
        }
        try {
            long claimStart = clock.getAsLong();
            String id = claimer.claim();
            idLeaseStartNanos = claimStart;
            adoptId(id);
            idLost = false;
            election = new LeaderElection(kv, clock, config.leaderTtl(), config.safetyMargin(), id, instance);
            heartbeat();
            afterFirstHeartbeat();
            lastIdRenewNanos = clock.getAsLong();
            settle("claim-id");
            moveTo(ManagerState.ELECTION);
            moveTo(ManagerState.WAITING_ASSIGNMENT);
            log.info("Worker claimed ID {} again", id);
        } catch (IdLostException e) {
            log.warn("Worker re-claiming an ID: {}", e.getMessage());
        } catch (RuntimeException e) {
            log.warn("Worker re-claiming an ID failed, retrying: {}", e.getMessage());
        }
    }

    // ---------------------------------------------------------------- degraded reasons

    private boolean hasReason(DegradedReason r) {
        synchronized (stateMonitor) {
            return reasons.containsKey(r);
        }
    }

    /**
     * Any thread: {@code reason} holds, raised by step {@code step}. Reported once when it starts (log,
     * metric, {@link StateListener#onDegraded} queued under the state lock), then DEGRADED (except
     * {@code id-lost}, which is CLAIMING_ID).
     */
    private void raise(DegradedReason reason, String step, String detail) {
        boolean added;
        DegradedReason replaced;
        synchronized (stateMonitor) {
            DegradedReason prev = raisedBy.put(step, reason);
            // the step now fails for another reason: the previous one no longer holds (unless another step raised it)
            replaced = prev != null && prev != reason && !raisedBy.containsValue(prev) ? prev : null;
            if (state == ManagerState.SHUTDOWN) {
                return;
            }
            added = reasons.putIfAbsent(reason, detail) == null;
            if (added) {
                queueListeners(l -> l.onDegraded(reason, detail), "onDegraded " + reason.code());
            }
            if (reason == DegradedReason.KV_UNAVAILABLE || reason == DegradedReason.LEASE_STALE) {
                outageThisEpisode = true;
            }
        }
        if (added) {
            log.warn("Worker {} degraded [{}]: {}", workerId, reason.code(), detail);
            config.metrics().degraded(reason, true);
        }
        if (reason != DegradedReason.ID_LOST) {
            enterDegraded();
        }
        if (replaced != null) {
            clear(replaced);
        }
    }

    /** Any thread: step {@code step} succeeded, so what it raised no longer holds (unless another step raised it too). */
    private void settle(String step) {
        DegradedReason r;
        synchronized (stateMonitor) {
            r = raisedBy.remove(step);
            if (r == null || raisedBy.containsValue(r)) {
                return;
            }
        }
        clear(r);
    }

    private void clear(DegradedReason reason) {
        boolean removed;
        boolean none;
        synchronized (stateMonitor) {
            removed = reasons.remove(reason) != null;
            if (removed) {
                queueListeners(l -> l.onRecovered(reason), "onRecovered " + reason.code());
            }
            none = reasons.isEmpty() || reasons.size() == 1 && reasons.containsKey(DegradedReason.ID_LOST);
        }
        if (removed) {
            log.info("Worker {}: [{}] no longer holds", workerId, reason.code());
            config.metrics().degraded(reason, false);
        }
        if (none) {
            leaveDegraded();
        }
    }

    private void enterDegraded() {
        synchronized (stateMonitor) {
            if (state == ManagerState.DEGRADED || state == ManagerState.SHUTDOWN || state == ManagerState.INIT) {
                return;
            }
            beforeDegraded = state;
        }
        moveTo(ManagerState.DEGRADED);
    }

    /** Whether this worker could not reach NATS within the last session timeout (so others may be reconnecting too). */
    private boolean recentlyDegraded() {
        return state == ManagerState.DEGRADED
                || clock.getAsLong() - lastDegradedExitNanos < config.sessionTimeout().toNanos();
    }

    private void leaveDegraded() {
        ManagerState back;
        boolean outage;
        synchronized (stateMonitor) {
            if (state != ManagerState.DEGRADED) {
                return;
            }
            outage = outageThisEpisode;
            outageThisEpisode = false;
            if (outage) {
                lastDegradedExitNanos = clock.getAsLong();
            }
            back = beforeDegraded == null ? ManagerState.STABLE : beforeDegraded;
        }
        log.info("Worker {} is no longer degraded; back to {}", workerId, back);
        moveTo(back);
        Calculator c = calculator;
        if (outage && c != null && election.isLeader()) {
            // invariant 6: after an outage, let every worker heartbeat again before changing anything
            c.recoverAfterOutage(clock.getAsLong());
        }
    }

    /** The assignment watch (versions as they are published) and the leader-key watch (see {@link #leaderWatch}). */
    private void openWatches() {
        assignmentWatch = kv.watch(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, e -> onAssignmentEvent(e));
        leaderWatch = kv.watch(Bucket.LEADER, LeaderElection.KEY, this::onLeaderEvent);
    }

    /** Main thread: the assignment and leader-key watches opened again (after a reconnect); a failure retries. */
    private void rewatch() {
        if (lifecycle.get() != Lifecycle.STARTED) {
            return; // closing: teardown closes the watches
        }
        closeQuietly(assignmentWatch);
        closeQuietly(leaderWatch);
        try {
            openWatches();
        } catch (RuntimeException e) {
            rewatchNow = true; // the polls and election rounds cover the gap meanwhile
            throw e;
        }
    }

    // ---------------------------------------------------------------- proof of death (PartiConfig.disconnectEvents)

    /**
     * Whether this worker publishes its connections' identities: the feature is on, it hears its connection's events,
     * and its liveness connection is open.
     */
    private boolean provesDeath() {
        return config.disconnectEvents() != null && ownsConnection && livenessConnection != null;
    }

    /** What a heartbeat names: the liveness connection (its proof) and the connection the writes travel over. */
    private record Via(String liveness, String writes) {
    }

    /**
     * The identities ({@code <server id>:<client id>}) of the liveness connection and of the connection this worker
     * heartbeats over, or null: the feature is off, the connection is not ours (we would not hear it drop, so could not
     * fence on it), either is not connected right now, or the worker is closing (a closed connection is then not a death).
     */
    private Via connectionIdentity() {
        if (!provesDeath() || closingConnection) {
            return null;
        }
        String liveness = identityOf(livenessConnection);
        String writes = identityOf(connection);
        return liveness == null || writes == null ? null : new Via(liveness, writes);
    }

    private static String identityOf(Connection c) {
        if (c == null || c.getStatus() != Connection.Status.CONNECTED) {
            return null;
        }
        io.nats.client.api.ServerInfo info = c.getServerInfo();
        if (info == null || info.getServerId() == null || info.getServerId().isEmpty()) {
            return null;
        }
        return DeathWatch.identity(info.getServerId(), info.getClientId());
    }

    /**
     * Main thread, after a successful heartbeat that named connection {@code via} and started at {@code start}: a fence
     * on a dropped connection ends once a heartbeat that started after it named the connection still current after the
     * write (so the heartbeat travelled over it, and a leader reading this key no longer sees the dropped connection).
     * Only then is the assignment horizon read. A heartbeat whose connection changed under it asks for another.
     */
    private void afterBeatOver(Via via, long start) {
        if (!disconnectFenced) {
            return;
        }
        if (via != null && via.equals(connectionIdentity()) && start - disconnectFencedAtNanos > 0) {
            disconnectFenced = false;
            log.info("Worker {}: heartbeat written over connection {} (liveness connection {}) after a connection dropped",
                    workerId, via.writes(), via.liveness());
        } else if (via != null || identityOf(livenessConnection) != null) {
            beatRequested = true; // (the liveness connection's reconnect asks for the beat when it is down)
        }
    }

    /**
     * jnats' callback thread, on DISCONNECTED: with proof of death on, the worker fences itself at once (gives up its
     * partitions as on a stale lease), before its client could reconnect: the leader may count it stopped a grace
     * after the server reports this connection closed by its client.
     */
    private void fenceOnDisconnect() {
        if (!provesDeath() || lifecycle.get() != Lifecycle.STARTED && !revokingOnClose || idLost || closingConnection
                && !revokingOnClose || heartbeater == null) {
            return; // (no heartbeater yet: still starting, no heartbeat named this connection, nothing owned)
        }
        disconnectFencedAtNanos = clock.getAsLong();
        disconnectFenced = true;
        LeaderElection e = election;
        if (e != null) {
            // a follower may delete the leader key a grace after the server reports this connection closed: stop
            // writing as leader now (leaseValid() is false from here on); the main thread tears the leader's side down.
            // Also when not leading: an election round winning across this disconnect gives the key back
            boolean wasLeader = e.isLeader();
            e.stepDownOnDisconnect();
            if (wasLeader) {
                log.info("Worker {} stops acting as leader: its NATS connection dropped (disconnect events on)", workerId);
            }
        }
        // inside a stale-lease episode already acted on, the worker is fenced already and owns nothing
        actOnStaleLease(Duration.ofNanos(heartbeatAge(clock.getAsLong())), "NATS connection dropped (disconnect events on)");
    }

    /**
     * Main thread, once started (a follower tries once) or on becoming leader (each term tries again): subscribes to
     * the DISCONNECT events unless subscribed already; a failure leaves the feature inert.
     */
    private void openDeathWatch() {
        String subject = config.disconnectEvents();
        if (subject == null || connection == null || deathWatch != null || deathWatchTried && calculator == null) {
            return;
        }
        deathWatchTried = true;
        DeathWatch w = new DeathWatch(subject, config.disconnectGrace().toNanos(), config.sessionTimeout().toNanos(), clock,
                delay -> {
            ScheduledExecutorService m = main;
            if (m != null && !m.isShutdown()) {
                try {
                    m.schedule(this::tick, delay + 1_000_000, TimeUnit.NANOSECONDS);
                } catch (RejectedExecutionException closing) {
                    log.debug("not scheduled, closing: {}", closing.toString());
                }
            }
        });
        PermissionWatch pw = permissions.get();
        long mark = pw == null ? 0 : pw.mark();
        try {
            w.open(connection, () -> {
                PermissionWatch.Violation v = pw == null ? null : pw.since(mark);
                return v != null && "subscribe".equals(v.operation()) && subject.equals(v.subject());
            });
            deathWatch = w;
            if (deadLeaderCheck == null) {
                deadLeaderCheck = new DeadLeaderCheck(kv, instance, config.sessionTimeout().toNanos());
            }
        } catch (RuntimeException e) {
            log.warn("Worker {}: could not subscribe to {} ({}); crashes are detected by session expiry", workerId,
                    subject, e.toString());
            closeQuietly(w);
        }
    }

    /** Main thread, leader: connections proved closed whose grace has passed, confirmed by reading the worker's key. */
    private void checkDisconnects(long now) {
        DeathWatch w = deathWatch;
        Calculator c = calculator;
        if (w == null || c == null) {
            return;
        }
        List<String> due = w.due(now);
        DeadLeaderCheck check = deadLeaderCheck;
        if (check != null) {
            check.remember(due, now);
            if (replayClosed) {
                // a new leader: the connections proved closed within the last session (the dead leader's among them)
                replayClosed = false;
                due = check.remembered(now);
            }
        }
        for (String identity : due) {
            for (String id : c.workersOn(identity, now)) {
                guarded("disconnect check", () -> {
                    KvGateway.Entry entry = kv.get(Bucket.HEARTBEATS, id);
                    String writes = writesAwaited(entry, identity, w, now);
                    if (writes != null) {
                        log.info("Leader {}: worker {}'s liveness connection {} was closed by its client; waiting for the "
                                + "report of its writes connection {}", workerId, id, identity, writes);
                        w.awaitDrop(identity, writes, now);
                        return;
                    }
                    c.onConnectionClosed(id, identity, entry, clock.getAsLong());
                });
            }
        }
    }

    /**
     * The writes connection a proof of {@code liveness} still waits for: the one {@code entry}'s heartbeat names, when
     * that heartbeat names {@code liveness} and the server has not reported its writes connection closed; else null.
     */
    private static String writesAwaited(KvGateway.Entry entry, String liveness, DeathWatch w, long now) {
        if (entry == null || entry.deleted() || entry.value() == null) {
            return null;
        }
        Codec.Heartbeat hb;
        try {
            hb = Codec.decodeHeartbeat(entry.value());
        } catch (IllegalArgumentException unreadable) {
            return null;
        }
        if (!liveness.equals(hb.connection()) || w.dropped(hb.writesConnection(), now)) {
            return null;
        }
        return hb.writesConnection();
    }

    /**
     * Main thread, not leading, feature on: keeps the DISCONNECT watch open, remembers the connections proved closed,
     * and deposes a leader proved dead ({@link DeadLeaderCheck}): a compare-and-set delete of its key, then an election.
     */
    private void checkLeaderDisconnect(long now) {
        openDeathWatch(); // once; it returns at once when open or tried
        DeathWatch w = deathWatch;
        if (w == null) {
            return;
        }
        DeadLeaderCheck check = deadLeaderCheck;
        if (check == null) {
            return;
        }
        List<String> due = w.due(now);
        check.remember(due, now);
        if (disconnectFenced) {
            return; // our own connection dropped: what we read now may be stale, and we are fenced anyway
        }
        for (String identity : due) {
            guarded("leader death check", () -> {
                if (check.depose(identity, w, now)) {
                    electionNow = true;
                    ScheduledExecutorService m = main;
                    if (m != null && !m.isShutdown()) {
                        executeQuietly(m, this::tick);
                    }
                }
            });
        }
    }

    /** The simulator's connection events (its KV model has no jnats connection to listen to). */
    void connectionEvent(ConnectionListener.Events event) {
        onConnectionEvent(null, event);
    }

    /**
     * jnats' callback thread, the liveness connection's events: on DISCONNECTED the worker fences itself as when its
     * own connection drops (the server may report the liveness connection closed by its client); once it is back, a
     * heartbeat names the new one.
     */
    private void onLivenessEvent(Connection conn, ConnectionListener.Events event) {
        log.info("Worker {}: NATS liveness connection {}", workerId, event);
        if (event == ConnectionListener.Events.DISCONNECTED) {
            fenceOnDisconnect();
        } else if (event == ConnectionListener.Events.RECONNECTED) {
            ScheduledExecutorService m = main;
            if (m != null && !m.isShutdown()) {
                executeQuietly(m, () -> {
                    beatRequested = true;
                    tick();
                });
            }
        }
    }

    private void onConnectionEvent(Connection conn, ConnectionListener.Events event) {
        log.info("Worker {}: NATS connection {}", workerId, event);
        if (event == ConnectionListener.Events.DISCONNECTED) {
            fenceOnDisconnect();
        }
        if (event == ConnectionListener.Events.RECONNECTED) {
            rewatchNow = !ReintroducedBugs.noRewatchOnReconnect;
            pollAssignmentNow = true;
        } else if (event == ConnectionListener.Events.RESUBSCRIBED) {
            pollAssignmentNow = true;
        }
    }

    // ---------------------------------------------------------------- state

    private void moveTo(ManagerState next) {
        ManagerState prev;
        synchronized (stateMonitor) {
            prev = state;
            if (prev == next) {
                return;
            }
            if (!prev.canMoveTo(next)) {
                log.error("Worker {}: refused state transition {} -> {}", workerId, prev, next);
                return;
            }
            state = next;
            stateMonitor.notifyAll();
            // queued under the lock: listeners see the changes in the order they happened
            queueListeners(l -> l.onStateChange(prev, next), prev + " -> " + next);
        }
        log.debug("Worker {}: {} -> {}", workerId, prev, next);
        config.metrics().stateChanged(prev, next);
    }

    /** Under stateMonitor: queues one call per state listener on the callback thread (never runs them here). */
    private void queueListeners(java.util.function.Consumer<StateListener> call, String what) {
        ExecutorService cb = callbacks;
        if (stateListeners.isEmpty() || cb == null || cb.isShutdown()) {
            return;
        }
        executeQuietly(cb, () -> {
            for (StateListener l : stateListeners) {
                try {
                    call.accept(l);
                } catch (RuntimeException e) {
                    log.error("StateListener threw on {}", what, e);
                }
            }
        });
    }

    // ---------------------------------------------------------------- close

    /**
     * Stops the worker. {@code remainInGroup == false} (leave): revoke everything, resign
     * leadership, delete the heartbeat and release the ID, so the group rebalances at once.
     * {@code true}: revoke locally but keep the heartbeat and the ID until they expire, so nothing
     * moves before the session timeout (a restart with the same static ID gets the same partitions);
     * a leader resigns leadership either way, so the group is never without one meanwhile.
     * Idempotent. Must not be called from a Parti callback.
     */
    public void close(boolean remainInGroup) {
        if (Thread.currentThread() == callbackThread) {
            throw new IllegalStateException("close() must not be called from a Parti callback thread");
        }
        // a start() still retrying (NATS unreachable) gives up at its next attempt instead of at startupTimeout
        startAborted = true;
        lifecycleLock.lock();
        try {
            if (lifecycle.compareAndSet(Lifecycle.LATENT, Lifecycle.CLOSED)) {
                moveTo(ManagerState.SHUTDOWN);
                return;
            }
            if (!lifecycle.compareAndSet(Lifecycle.STARTED, Lifecycle.CLOSED)) {
                return;
            }
            teardown(!remainInGroup);
            moveTo(ManagerState.SHUTDOWN);
        } finally {
            lifecycleLock.unlock();
        }
    }

    private void teardown(boolean leave) {
        closingConnection = true;
        long waitMs = config.sessionTimeout().toMillis() + 5_000;
        long t0 = clock.getAsLong();
        boolean revoked = revokeOnClose(waitMs);
        long tRevoked = clock.getAsLong();
        if (ticker != null) {
            // NATS not connected: interrupt a tick waiting for a KV reply that cannot come in time
            ticker.cancel(kv != null && !kv.connected());
        }
        if (leaseWatchdog != null) {
            leaseWatchdog.shutdownNow();
        }
        closeQuietly(assignmentWatch);
        closeQuietly(leaderWatch);
        long tWatches = clock.getAsLong();
        if (main != null && kv != null && claimer != null && claimer.id() != null) {
            Future<?> f = main.submit(() -> {
                closeQuietly(heartbeatWatch);
                heartbeatWatch = null;
                closeQuietly(deathWatch);
                deathWatch = null;
                // NATS not connected: no KV write could succeed, each would only wait its request timeout;
                // revoke locally and let the session (and lease, and ID) expire, as Kafka abandons LeaveGroup
                boolean reachable = kv.connected();
                if (!reachable) {
                    log.warn("Worker {}: NATS is not connected on close; leaving by session expiry", workerId);
                }
                // still inside the wait after taking the ID over from a live holder: the heartbeat reports what that
                // instance may still own, so it must stay until it expires (a deleted one would let the leader give
                // those partitions away at once; found by the simulator, seeds 1036 and 1059)
                boolean displacedMayOwn = !heartbeater.inherited().isEmpty() && clock.getAsLong() - acquireNotBeforeNanos < 0;
                // a leaving leader with a valid lease hands its own partitions over before it resigns
                Calculator handingOver = reachable && leave && election != null && election.isLeader() && election.leaseValid()
                        && !idLost && !displacedMayOwn ? calculator : null;
                calculator = null;
                if (handingOver == null && reachable && leave) {
                    resign(true);
                }
                if (handingOver != null) {
                    try {
                        if (revoked && handingOver.handOverOnLeave()) {
                            log.info("Worker {}: leaving leader handed its partitions over", workerId);
                        }
                    } catch (RuntimeException e) {
                        log.warn("Worker {}: handing partitions over on leave failed ({}); the next leader will", workerId, e.getMessage());
                    }
                    resign(true);
                }
                if (!leave && revoked && !idLost && reachable) {
                    // staying in the group: report the release, so a restart under the same static ID
                    // need not wait for this instance's session before it acquires its partitions again
                    try {
                        heartbeat();
                        releasedOnClose = heartbeater.inherited().isEmpty();
                    } catch (RuntimeException e) {
                        log.debug("Worker {}: last heartbeat on close failed: {}", workerId, e.toString());
                    }
                }
                if (!leave && reachable) {
                    // a leader staying in the group hands leadership on at once (after the heartbeat above, so
                    // the next leader reads the release): a returning instance of its ID, which never applies a
                    // line addressed to this one, would otherwise wait for the lease to lapse and the next
                    // leader's recovery grace; leadership moves nothing
                    resign(true);
                }
                if (leave && !idLost && revoked && displacedMayOwn) {
                    log.warn("Worker {}: closing inside the wait after taking its ID over from a live instance; leaving "
                            + "by session expiry, so nothing that instance may still own moves before", workerId);
                    if (reachable) {
                        try {
                            heartbeat(); // reports the displaced instance's partitions held until the key expires
                        } catch (RuntimeException e) {
                            log.debug("Worker {}: last heartbeat on close failed: {}", workerId, e.toString());
                        }
                    }
                } else if (leave && !idLost && !revoked) {
                    // the listener may still work on its partitions: keep the heartbeat (it reports them
                    // held) and the ID, so nothing moves before this worker's session has expired
                    log.warn("Worker {}: onRevoked did not return within {} ms; leaving by session expiry instead of "
                            + "deleting the heartbeat", workerId, waitMs);
                } else if (leave && !idLost && reachable) {
                    try {
                        heartbeat();
                        heartbeater.delete();
                        claimer.release();
                    } catch (RuntimeException e) {
                        log.warn("Worker {}: leaving the group cleanly failed ({}); its session will expire", workerId, e.getMessage());
                    }
                }
            });
            try {
                f.get(waitMs, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                log.warn("Worker {}: close did not finish cleanly: {}", workerId, e.toString());
            }
        }
        long tWritten = clock.getAsLong();
        shutdown(leaseWatchdog);
        shutdown(main);
        shutdown(callbacks);
        if (releasedOnClose && claimer.isStatic() && main.isTerminated() && callbacks.isTerminated()
                && (leaseWatchdog == null || leaseWatchdog.isTerminated())) {
            // stopped for good, everything reported released: the next instance of this member here may take over at once
            runtime.staticHandovers().offer(handoverKey(), new StaticHandovers.Handover(instance, claimer.revision(),
                    heartbeater.revision(), clock.getAsLong()));
        }
        if (ownsConnection && connection != null) {
            try {
                if (connectionLease != null) {
                    connectionLease.close(); // closes the shared connection with its last user (its liveness one last)
                } else {
                    try {
                        connection.close();
                    } finally {
                        LivenessConnection.close(livenessConnection); // last: its close would prove this process dead
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        long tEnd = clock.getAsLong();
        log.info("Worker {} of group {} closed ({}) in {} ms: revoke {} ms, watches {} ms, last writes {} ms, threads and "
                + "connection {} ms", workerId, config.group(), leave ? "left the group" : "kept its ID", ms(tEnd - t0),
                ms(tRevoked - t0), ms(tWatches - tRevoked), ms(tWritten - tWatches), ms(tEnd - tWritten));
    }

    /**
     * Closing thread: {@code onRevoked} for everything held, on the callback thread after what is queued there
     * (a pending {@code onLost} keeps its partitions reported held until it returns), while the main loop keeps
     * heartbeating. Returns whether it returned within {@code waitMs}.
     */
    private boolean revokeOnClose(long waitMs) {
        ExecutorService cb = callbacks;
        if (cb == null || main == null || claimer == null || claimer.id() == null) {
            return false;
        }
        revokingOnClose = true;
        try {
            cb.submit(applier::revokeAll).get(waitMs, TimeUnit.MILLISECONDS);
            // a fence just before close (a lease that lapsed while the process was stopped) left nothing to revoke,
            // but its onLost may still run, or wait behind the revocation: what it lets go is released only once it
            // returned, so a leaving leader must not hand it over before (simulator, finding 19)
            long until = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(waitMs);
            while (applier.hasUnreportedLosses() && !ReintroducedBugs.closeIgnoresAFencesLoss) {
                long left = until - clock.getAsLong();
                if (left <= 0) {
                    return false;
                }
                cb.submit(() -> { }).get(left, TimeUnit.NANOSECONDS);
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | RejectedExecutionException | TimeoutException e) {
            log.warn("Worker {}: revoking on close did not finish: {}", workerId, e.toString());
        } finally {
            revokingOnClose = false;
        }
        return false;
    }

    private void resign(boolean leave) {
        try {
            if (leave && election != null) {
                election.resign();
            }
        } catch (RuntimeException e) {
            log.warn("Worker {}: resigning leadership failed: {}", workerId, e.getMessage());
        }
    }

    private static void shutdown(ExecutorService e) {
        if (e == null) {
            return;
        }
        e.shutdown();
        try {
            if (!e.awaitTermination(5, TimeUnit.SECONDS)) {
                e.shutdownNow();
                e.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException ie) {
            e.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                log.debug("closing a watch: {}", e.toString());
            }
        }
    }

    private static String ms(long nanos) {
        return String.format(java.util.Locale.ROOT, "%.1f", nanos / 1e6);
    }

    private static Duration clamp(Duration d, Duration min, Duration max) {
        return d.compareTo(min) < 0 ? min : d.compareTo(max) > 0 ? max : d;
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- test hooks

    /** Tests: called at named points of the protocol (e.g. {@code become-leader}) and may throw, like a KV call failing there. */
    volatile java.util.function.Consumer<String> faults;

    private void faultPoint(String point) {
        java.util.function.Consumer<String> f = faults;
        if (f != null) {
            f.accept(point);
        }
    }

    /** Tests: the newest revision of the assignment key this worker has read (by its watch, its poll or its main thread). */
    long assignmentRevisionSeen() {
        return assignmentRevisionSeen.get();
    }

    /** Tests (the simulation's checker): whether this worker holds the leader lease right now, closing or not. */
    boolean holdsLeaderLease() {
        LeaderElection e = election;
        return e != null && e.leaseValid();
    }

    /** Runs {@code r} on the main thread and waits: lets tests freeze the worker (a GC-pause zombie). */
    void runOnMainThread(Runnable r) throws Exception {
        main.submit(r).get();
    }
}
