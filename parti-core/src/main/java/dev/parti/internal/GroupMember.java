package dev.parti.internal;

import dev.parti.AssignmentListener;
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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
 * <p>Threads (all named after the group and stopped by {@link #close(boolean)}):
 * <ul>
 *   <li>{@code parti-<group>-main}: every KV call after start-up, the election, heartbeats and the
 *   leader's calculator; watch events from jnats' dispatcher are handed over to it.</li>
 *   <li>{@code parti-<group>-callbacks}: every user callback, in order, never concurrently.</li>
 *   <li>{@code parti-<group>-lease}: the lease watchdog; under {@code fence} it gives everything up
 *   as soon as the lease is stale, even while the main thread is stuck in a KV call.</li>
 * </ul>
 * Lifecycle LATENT → STARTED → CLOSED, changed by compare-and-set (start and close are also
 * serialised by a lock, so a close racing a start waits for it and then undoes it).
 */
public final class GroupMember {
    private static final Logger log = LoggerFactory.getLogger(GroupMember.class);

    private enum Lifecycle { LATENT, STARTED, CLOSED }

    private final PartiConfig config;
    private final LongSupplier clock;
    private final String instance = UUID.randomUUID().toString();
    private final BucketNames names;
    private final AssignmentApplier applier;
    private final List<StateListener> stateListeners = new CopyOnWriteArrayList<>();
    private final AtomicReference<Lifecycle> lifecycle = new AtomicReference<>(Lifecycle.LATENT);
    private final ReentrantLock lifecycleLock = new ReentrantLock();
    private final Object stateMonitor = new Object();
    private final long heartbeatNanos;

    private volatile ManagerState state = ManagerState.INIT;
    private ManagerState beforeDegraded;

    private Connection connection;
    private boolean ownsConnection;
    private KvGateway kv;
    private WorkerIdClaimer claimer;
    private volatile Heartbeater heartbeater;
    private LeaderElection election;
    private AssignmentPublisher publisher;
    private Calculator calculator;
    private volatile String workerId;
    /** The newest assignment-key revision decoded (watch and poll threads); reset with a new ID. */
    private final AtomicLong assignmentRevisionSeen = new AtomicLong();
    private ScheduledExecutorService main;
    private ScheduledExecutorService leaseWatchdog;
    private ExecutorService callbacks;
    /** Set once the stale lease of the current episode has been acted on; cleared by a successful heartbeat. */
    private final java.util.concurrent.atomic.AtomicBoolean fencedThisEpisode = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile Thread callbackThread;
    private ScheduledFuture<?> ticker;
    private AutoCloseable assignmentWatch;
    private AutoCloseable heartbeatWatch;

    // main-thread state
    private long lastBeatNanos;
    private long lastIdRenewNanos;
    private long lastElectionNanos;
    private long lastScanNanos;
    private long lastAssignmentPollNanos;
    private long lastDegradedExitNanos = Long.MIN_VALUE / 2;
    private boolean beatRequested;
    private volatile boolean leaseStale;
    private volatile boolean idLost;

    public GroupMember(PartiConfig config, AssignmentListener listener) {
        this(config, listener, System::nanoTime);
    }

    GroupMember(PartiConfig config, AssignmentListener listener, LongSupplier clock) {
        this.config = config;
        this.clock = clock;
        this.names = new BucketNames(config.group());
        this.applier = new AssignmentApplier(listener, config.metrics());
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
        long age = clock.getAsLong() - h.lastSuccessStartNanos();
        return age <= config.sessionTimeout().minus(config.safetyMargin()).toNanos();
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
        callbacks = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "parti-" + group + "-callbacks");
            t.setDaemon(true);
            callbackThread = t;
            return t;
        });
        main = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "parti-" + group + "-main");
            t.setDaemon(true);
            return t;
        });
        moveTo(ManagerState.CLAIMING_ID);
        connect();
        // short enough that one stuck call cannot eat the lease, long enough for a loaded machine
        Duration twoBeats = config.heartbeatInterval().multipliedBy(2);
        Duration third = config.sessionTimeout().dividedBy(3);
        Duration requestTimeout = clamp(twoBeats.compareTo(third) < 0 ? twoBeats : third,
                Duration.ofMillis(500), Duration.ofSeconds(5));
        kv = new KvGateway(connection, names, requestTimeout);
        Map<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, config.workerIdTtl());
        ttls.put(Bucket.HEARTBEATS, config.sessionTimeout());
        ttls.put(Bucket.LEADER, config.leaderTtl());
        long deadline = System.nanoTime() + config.startupTimeout().toNanos();
        retryUntil(deadline, "creating the buckets of group " + group, () -> {
            kv.provision(ttls, config.bucketReplicas());
            return null;
        });
        claimer = new WorkerIdClaimer(kv, config.workerId(), config.maxWorkers(), instance);
        heartbeater = new Heartbeater(kv, clock);
        publisher = new AssignmentPublisher(kv);
        String id = retryUntil(deadline, "claiming a worker ID", claimer::claim);
        adoptId(id);
        retryUntil(deadline, "writing the first heartbeat", () -> {
            heartbeat();
            return null;
        });
        lastIdRenewNanos = clock.getAsLong();
        moveTo(ManagerState.ELECTION);
        election = new LeaderElection(kv, clock, config.leaderTtl(), config.safetyMargin(), id, instance);
        // WAITING_ASSIGNMENT before the watch: its first delivery may be applied at once, moving the worker to STABLE
        moveTo(ManagerState.WAITING_ASSIGNMENT);
        assignmentWatch = kv.watch(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, e -> onAssignmentEvent(e));
        long tick = clamp(config.heartbeatInterval().dividedBy(4), Duration.ofMillis(10), Duration.ofMillis(250)).toNanos();
        ticker = main.scheduleWithFixedDelay(this::tick, 0, tick, TimeUnit.NANOSECONDS);
        // Self-fencing must not wait for the main thread, which may sit in a KV call for a whole request timeout.
        leaseWatchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "parti-" + group + "-lease");
            t.setDaemon(true);
            return t;
        });
        leaseWatchdog.scheduleWithFixedDelay(this::watchLease, tick, tick, TimeUnit.NANOSECONDS);
        log.info("Worker {} joined group {} (instance {})", id, group, instance);
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
        Options options = b.servers(config.natsUrl().split("\\s*,\\s*"))
                .connectionName("parti-" + config.group())
                .connectionTimeout(clamp(config.startupTimeout(), Duration.ofMillis(100), Duration.ofSeconds(5)))
                .maxReconnects(-1)
                .reconnectWait(clamp(config.heartbeatInterval(), Duration.ofMillis(50), Duration.ofSeconds(1)))
                .pingInterval(clamp(config.heartbeatInterval().multipliedBy(2), Duration.ofMillis(200), Duration.ofSeconds(10)))
                .connectionListener(this::onConnectionEvent)
                .build();
        long deadline = System.nanoTime() + config.startupTimeout().toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try {
                connection = Nats.connect(options);
                ownsConnection = true;
                return;
            } catch (IOException e) {
                last = e;
                sleepQuietly(Math.min(200, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PartiException("Interrupted while connecting to NATS at " + config.natsUrl(), e);
            }
        }
        throw new PartiException("NATS unreachable at " + config.natsUrl() + " within startupTimeout "
                + config.startupTimeout() + (last == null ? "" : ": " + last.getMessage()), last);
    }

    private <T> T retryUntil(long deadline, String what, java.util.function.Supplier<T> step) {
        while (true) {
            try {
                return step.get();
            } catch (KvUnavailableException e) {
                if (System.nanoTime() > deadline) {
                    throw new PartiException("NATS unreachable while " + what + " for group " + config.group()
                            + " within startupTimeout " + config.startupTimeout() + ": " + e.getMessage(), e);
                }
                sleepQuietly(100);
            } catch (KvRejectedException e) {
                throw new PartiException("NATS refused " + what + " for group " + config.group() + ": " + e.getMessage(), e);
            }
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
        if (lifecycle.get() != Lifecycle.STARTED) {
            return;
        }
        try {
            long now = clock.getAsLong();
            if (idLost) {
                reclaim();
                return;
            }
            // before any write: a worker back from a pause must fence itself before it heartbeats again
            checkLease(now);
            // lease-critical writes first: the heartbeat, then the leader lease
            if (beatRequested || now - lastBeatNanos >= heartbeatNanos) {
                guarded("heartbeat", this::heartbeat);
            }
            if (now - lastElectionNanos >= heartbeatNanos) {
                lastElectionNanos = now;
                guarded("election", this::electionRound);
            }
            // half the TTL: a failed renewal is retried every tick for the other half (≥ a session), and
            // a 200-worker group at rest writes 13 renewals/s instead of 20 (B6 at-rest write budget)
            if (now - lastIdRenewNanos >= config.workerIdTtl().toNanos() / 2) {
                guarded("worker-ID renewal", () -> {
                    claimer.renew();
                    lastIdRenewNanos = now;
                });
            }
            if (now - lastAssignmentPollNanos >= heartbeatNanos * (waitingForAssignment() ? 1 : 5)) {
                lastAssignmentPollNanos = now;
                guarded("assignment poll", this::pollAssignment);
            }
            if (election.isLeader() && calculator != null) {
                for (String suspect : calculator.suspects(now)) {
                    guarded("heartbeat check", () -> calculator.onVerified(suspect,
                            kv.get(Bucket.HEARTBEATS, suspect), clock.getAsLong()));
                }
                // the full scan is only the fallback for a watch that missed a join
                if (now - lastScanNanos >= config.sessionTimeout().toNanos() && calculator != null) {
                    lastScanNanos = now;
                    guarded("heartbeat scan", () -> calculator.onScan(kv.entries(Bucket.HEARTBEATS), clock.getAsLong()));
                }
                calculatorTick();
            }
        } catch (RuntimeException e) {
            log.error("Worker {}: unexpected error in the main loop", workerId, e);
        }
    }

    private void guarded(String what, Runnable step) {
        if (idLost) {
            return;
        }
        try {
            step.run();
            config.metrics().kvOperation(what, true);
        } catch (IdLostException e) {
            onIdLost(e.getMessage());
        } catch (KvUnavailableException e) {
            config.metrics().kvOperation(what, false);
            log.debug("Worker {}: {} failed: {}", workerId, what, e.getMessage());
            enterDegraded(what + ": " + e.getMessage());
        } catch (KvRejectedException e) {
            config.metrics().kvOperation(what, false);
            log.warn("Worker {}: {} refused: {}", workerId, what, e.getMessage());
        }
    }

    private void heartbeat() {
        long start = clock.getAsLong();
        long sinceLast = start - heartbeater.lastSuccessStartNanos();
        if (sinceLast > config.sessionTimeout().minus(config.safetyMargin()).toNanos()) {
            // The lease lapsed since the last successful heartbeat (a pause can fall between two checks):
            // apply the policy before this write makes the lease look fresh again.
            actOnStaleLease(Duration.ofNanos(sinceLast));
        }
        AssignmentApplier.Snapshot s = applier.snapshot();
        heartbeater.beat(new Codec.Heartbeat(instance, s.appliedVersion(), s.owned(), s.fenced(), config.capacity()), start);
        lastBeatNanos = clock.getAsLong();
        beatRequested = false;
        fencedThisEpisode.set(false);
        if (leaseStale) {
            leaseStale = false;
            log.info("Worker {}: heartbeat written again; lease is fresh", workerId);
            callbacks.execute(this::applyAndAcknowledge); // what arrived while the lease was stale
        }
        leaveDegraded();
    }

    private void electionRound() {
        boolean won = election.tick();
        if (won) {
            log.info("Worker {} is leader of group {} (epoch {})", workerId, config.group(), election.epoch());
            becomeLeader();
        } else if (!election.isLeader() && calculator != null) {
            stopLeading("lease lost");
        }
    }

    private void becomeLeader() {
        calculator = new Calculator(config, clock, publisher, workerId, this::onCalculatorState);
        calculator.begin(election.epoch(), kv.entries(Bucket.HEARTBEATS), recentlyDegraded());
        lastScanNanos = clock.getAsLong();
        heartbeatWatch = kv.watch(Bucket.HEARTBEATS, ">", e -> {
            ScheduledExecutorService m = main;
            if (m != null && !m.isShutdown()) {
                m.execute(() -> {
                    if (calculator != null) {
                        calculator.onHeartbeat(e, clock.getAsLong());
                        calculatorTick();
                    }
                });
            }
        });
    }

    private void stopLeading(String why) {
        log.info("Worker {} steps down as leader of group {}: {}", workerId, config.group(), why);
        election.stepDown();
        calculator = null;
        closeQuietly(heartbeatWatch);
        heartbeatWatch = null;
        onCalculatorState(Calculator.State.IDLE);
    }

    private void calculatorTick() {
        if (calculator == null) {
            return;
        }
        if (!election.leaseValid()) {
            return; // a leader writes nothing outside its lease (invariant 2)
        }
        try {
            if (!calculator.tick()) {
                // lost CAS: somebody else published; re-check our lease at once
                lastElectionNanos = 0;
                if (!isOurLeaderKey()) {
                    stopLeading("assignment CAS lost to another leader");
                }
            }
        } catch (KvUnavailableException e) {
            enterDegraded("publishing: " + e.getMessage());
        } catch (KvRejectedException e) {
            log.warn("Worker {}: publishing refused: {}", workerId, e.getMessage());
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

    /** The polling fallback of the assignment watch (a watch can miss updates across a server restart). */
    private void pollAssignment() {
        KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
        if (e != null) {
            onAssignmentEvent(e);
        }
    }

    private boolean waitingForAssignment() {
        return state == ManagerState.WAITING_ASSIGNMENT || state == ManagerState.DEGRADED || applier.isFenced();
    }

    private void onAssignmentEvent(KvGateway.Entry e) {
        if (e.deleted()) {
            return;
        }
        String id = workerId;
        long seen = assignmentRevisionSeen.get();
        if (id == null || e.revision() <= seen) {
            return; // the periodic poll mostly finds what the watch delivered: no decode
        }
        Codec.AssignmentRecord r;
        try {
            r = Codec.decodeAssignmentOf(e.value(), id);
        } catch (IllegalArgumentException bad) {
            log.warn("Skipping unreadable assignment record (revision {}): {}", e.revision(), bad.getMessage());
            return;
        }
        assignmentRevisionSeen.accumulateAndGet(e.revision(), Math::max);
        if (applier.offer(r)) {
            ExecutorService cb = callbacks;
            if (cb != null && !cb.isShutdown()) {
                cb.execute(this::applyAndAcknowledge);
            }
        }
    }

    /** Callback thread: apply, then ask the main thread for an immediate heartbeat (the release acknowledgment). */
    private void applyAndAcknowledge() {
        if (lifecycle.get() != Lifecycle.STARTED) {
            return;
        }
        if (applier.applyLatest(this::isLeaseValid)) {
            if (state == ManagerState.WAITING_ASSIGNMENT) {
                moveTo(ManagerState.STABLE);
            }
            ScheduledExecutorService m = main;
            if (m != null && !m.isShutdown()) {
                m.execute(() -> {
                    beatRequested = true;
                    tick();
                });
            }
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
        if (lifecycle.get() != Lifecycle.STARTED) {
            return;
        }
        long age = clock.getAsLong() - heartbeater.lastSuccessStartNanos();
        if (age > config.sessionTimeout().minus(config.safetyMargin()).toNanos()) {
            actOnStaleLease(Duration.ofNanos(age));
        }
    }

    /** Main thread: a leader with a stale lease steps down; the policy is applied once per episode. */
    private void checkLease(long now) {
        long age = now - heartbeater.lastSuccessStartNanos();
        if (age <= config.sessionTimeout().minus(config.safetyMargin()).toNanos()) {
            return;
        }
        if (election.isLeader()) {
            stopLeading("stale lease");
        }
        actOnStaleLease(Duration.ofNanos(age));
    }

    /** Once per stale-lease episode (any thread): DEGRADED, a metric, a log line, and under {@code fence} every partition given up. */
    private void actOnStaleLease(Duration age) {
        if (!fencedThisEpisode.compareAndSet(false, true)) {
            return;
        }
        leaseStale = true;
        config.metrics().staleLease(age, config.lossPolicy());
        enterDegraded("no successful heartbeat for " + age.toMillis() + " ms");
        if (config.lossPolicy() == LossPolicy.FENCE) {
            log.warn("Worker {}: lease stale ({} ms since the last successful heartbeat started): fencing itself",
                    workerId, age.toMillis());
            AssignmentApplier.Loss loss = applier.fence("stale lease (fence policy)");
            callbacks.execute(() -> applier.reportLost(loss));
        } else {
            log.warn("Worker {}: lease stale ({} ms since the last successful heartbeat started): holding its "
                    + "partitions (hold policy); another worker may be assigned them", workerId, age.toMillis());
        }
    }

    private void onIdLost(String reason) {
        if (idLost) {
            return;
        }
        idLost = true;
        log.warn("Worker {} lost its ID: {}", workerId, reason);
        if (election.isLeader()) {
            stopLeading("worker ID lost");
        }
        AssignmentApplier.Loss loss = applier.fence("worker ID lost: " + reason);
        callbacks.execute(() -> applier.reportLost(loss));
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
            String id = claimer.claim();
            adoptId(id);
            idLost = false;
            election = new LeaderElection(kv, clock, config.leaderTtl(), config.safetyMargin(), id, instance);
            heartbeat();
            lastIdRenewNanos = clock.getAsLong();
            moveTo(ManagerState.ELECTION);
            moveTo(ManagerState.WAITING_ASSIGNMENT);
            log.info("Worker claimed ID {} again", id);
        } catch (IdLostException e) {
            log.warn("Worker re-claiming an ID: {}", e.getMessage());
        } catch (KvUnavailableException | KvRejectedException | PartiException e) {
            log.warn("Worker re-claiming an ID failed, retrying: {}", e.getMessage());
        }
    }

    private void enterDegraded(String why) {
        synchronized (stateMonitor) {
            if (state == ManagerState.DEGRADED || state == ManagerState.SHUTDOWN) {
                return;
            }
            beforeDegraded = state;
        }
        log.warn("Worker {} is degraded: {}", workerId, why);
        moveTo(ManagerState.DEGRADED);
    }

    /** Whether this worker could not reach NATS within the last session timeout (so others may be reconnecting too). */
    private boolean recentlyDegraded() {
        return state == ManagerState.DEGRADED
                || clock.getAsLong() - lastDegradedExitNanos < config.sessionTimeout().toNanos();
    }

    private void leaveDegraded() {
        ManagerState back;
        synchronized (stateMonitor) {
            if (state != ManagerState.DEGRADED) {
                return;
            }
            lastDegradedExitNanos = clock.getAsLong();
            back = beforeDegraded == null ? ManagerState.STABLE : beforeDegraded;
        }
        log.info("Worker {} reaches NATS again; back to {}", workerId, back);
        moveTo(back);
        if (calculator != null && election.isLeader()) {
            // invariant 6: after an outage, let every worker heartbeat again before changing anything
            calculator.recoverAfterOutage(clock.getAsLong());
        }
    }

    private void onConnectionEvent(Connection conn, ConnectionListener.Events event) {
        log.info("Worker {}: NATS connection {}", workerId, event);
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
        }
        log.debug("Worker {}: {} -> {}", workerId, prev, next);
        config.metrics().stateChanged(prev, next);
        ExecutorService cb = callbacks;
        if (!stateListeners.isEmpty() && cb != null && !cb.isShutdown()) {
            cb.execute(() -> {
                for (StateListener l : stateListeners) {
                    try {
                        l.onStateChange(prev, next);
                    } catch (RuntimeException e) {
                        log.error("StateListener threw on {} -> {}", prev, next, e);
                    }
                }
            });
        }
    }

    // ---------------------------------------------------------------- close

    /**
     * Stops the worker. {@code remainInGroup == false} (leave): revoke everything, resign
     * leadership, delete the heartbeat and release the ID, so the group rebalances at once.
     * {@code true}: revoke locally but keep the heartbeat and the ID until they expire, so nothing
     * moves before the session timeout (a restart with the same static ID gets the same partitions).
     * Idempotent. Must not be called from a Parti callback.
     */
    public void close(boolean remainInGroup) {
        if (Thread.currentThread() == callbackThread) {
            throw new IllegalStateException("close() must not be called from a Parti callback thread");
        }
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
        long waitMs = config.sessionTimeout().toMillis() + 5_000;
        if (ticker != null) {
            ticker.cancel(false);
        }
        if (leaseWatchdog != null) {
            leaseWatchdog.shutdownNow();
        }
        closeQuietly(assignmentWatch);
        if (main != null && kv != null && claimer != null && claimer.id() != null) {
            Future<?> f = main.submit(() -> {
                closeQuietly(heartbeatWatch);
                heartbeatWatch = null;
                // a leaving leader with a valid lease hands its own partitions over before it resigns
                Calculator handingOver = leave && election != null && election.isLeader() && election.leaseValid()
                        && !idLost ? calculator : null;
                calculator = null;
                if (handingOver == null) {
                    resign(leave);
                }
                boolean revoked = false;
                try {
                    callbacks.submit(applier::revokeAll).get(waitMs, TimeUnit.MILLISECONDS);
                    revoked = true;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException | TimeoutException e) {
                    log.warn("Worker {}: revoking on close did not finish: {}", workerId, e.toString());
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
                if (leave && !idLost) {
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
        shutdown(leaseWatchdog);
        shutdown(main);
        shutdown(callbacks);
        if (ownsConnection && connection != null) {
            try {
                connection.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        log.info("Worker {} of group {} closed ({})", workerId, config.group(), leave ? "left the group" : "kept its ID");
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

    /** Runs {@code r} on the main thread and waits: lets tests freeze the worker (a GC-pause zombie). */
    void runOnMainThread(Runnable r) throws Exception {
        main.submit(r).get();
    }
}
