package dev.parti.nats;

import dev.parti.AssignmentListener;
import dev.parti.LossPolicy;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.nats.internal.Backoff;
import dev.parti.nats.internal.ConsumerNames;
import dev.parti.nats.internal.ServerVersion;
import io.nats.client.Connection;
import io.nats.client.ConsumeOptions;
import io.nats.client.ConsumerContext;
import io.nats.client.Dispatcher;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.MessageConsumer;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.StreamContext;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.DeliverPolicy;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes a JetStream stream partitioned among the workers of a Parti group: each worker keeps pull
 * consumers for exactly the partitions Parti assigns to it and hands their messages to a {@link
 * PartitionHandler}, one message at a time per partition, in stream order.
 *
 * <pre>{@code
 * PartiConfig parti = PartiConfig.builder("orders-workers")
 *     .natsUrl(url)
 *     .partitionSource(PartitionSource.of(PartitionedConsumer.numbered("orders", 16)))
 *     .build();
 * try (PartitionedConsumer consumer = PartitionedConsumer.builder(parti, "ORDERS",
 *         SubjectMapping.template("orders.{partition}.>"), (partition, msg) -> process(msg)).build()) {
 *     consumer.start();
 *     ...
 * }
 * }</pre>
 *
 * <p><b>Consumers.</b> Every partition has one durable pull consumer on the stream, named from a prefix
 * and the partition ({@link #consumerName(Partition)}), never from the worker: its ack floor is the
 * partition's committed position. When a worker gains a partition it reads that floor, recreates the
 * consumer to start right after it (so deliveries a previous owner left unacknowledged come first, in
 * order, and its pull requests die with the old consumer) and starts fetching. A restart of the same
 * worker ID, or any other worker, resumes from the same place. Consumer creation is retried with
 * exponential backoff; after {@link Builder#failureThreshold(int)} failed attempts in a row the partition
 * is reported through {@link PartitionEvents#onConsumerFailing}, {@link #status()} and the Parti manager
 * ({@link PartiManager#reportFault}: {@link dev.parti.DegradedReason#EXTERNAL_FAULT}, cleared when the
 * consumer works or the partition is released). A partition that received nothing for a pull expiry has
 * its consumer looked up, so a consumer or stream deleted under the helper is recreated or reported; after a
 * reconnect every owned partition's consumer is recreated (pulls waiting at a restarted server are lost).
 *
 * <p><b>Handoff.</b> On revocation (Parti's callback thread) the helper stops fetching, drops what was
 * fetched but not started, waits until the running handler call returns and its ack is confirmed by the
 * server, or until {@link Builder#revokeTimeout(Duration)} passes (the handler is then interrupted), and
 * only then returns, so Parti reports the release, and the next owner starts, after the last handler call
 * ended. Under {@link LossPolicy#FENCE} no message is handed to the handler while the worker's lease is
 * not valid ({@link PartiManager#isLeaseValid()}), so a paused or cut-off worker does not race the new owner.
 *
 * <p><b>Delivery.</b> At least once. A redelivery of a message already handled in this ownership is
 * acked and skipped; a lost delivery (a gap in the consumer's delivery sequence, for example across a
 * server restart) restarts the consumer after the last handled message rather than break the order.
 * The consumers' ack policy is "all" (one ack covers the earlier messages of the partition): a partition
 * acks every min(32, maxInFlight / 4) messages and when it is caught up, and acks held back are sent within
 * 100 ms and on release. After a crash of an owner, the new owner sees again at most what the crashed one
 * had fetched and not acked: at most {@link Builder#maxInFlight(int)} messages per partition. After a
 * {@code kill -9} of nats-server, also the acks the server had received but not yet written to its store.
 *
 * <p><b>Server versions.</b> On nats-server 2.9 a consumer has one filter subject, so a partition must map
 * to one subject; on 2.10+ a partition may map to several and gets one multi-filter consumer. The version
 * is read from the connection at {@link #start()}.
 *
 * <p><b>Threads.</b> {@code parti-nats-<group>-consumers} creates and recreates consumers; the
 * {@link Builder#handlerThreads(int)} jnats dispatchers the helper creates on the connection deliver and
 * handle the messages (their threads come from the connection's executor: {@code parti-nats-<group>:<n>}
 * when the helper opened the connection, the connection name's otherwise). {@link #close()} leaves the
 * group (releasing every partition as above), stops the consumer thread, closes the dispatchers and,
 * when the helper opened it, the connection.
 */
public final class PartitionedConsumer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PartitionedConsumer.class);
    private static final int CONSUMER_NOT_FOUND = 10014;
    private static final int STREAM_NOT_FOUND = 10059;
    private static final Duration ACK_CONFIRM_WAIT = Duration.ofSeconds(1);
    /** At most this many handled messages between two acks of a partition (also at most a quarter of maxInFlight). */
    private static final int MAX_ACK_EVERY = 32;
    /** How often acks held back are sent (a partition whose backlog stopped mid-batch). */
    private static final long ACK_FLUSH_MS = 100;

    /** Default {@link Builder#maxInFlight(int)}. */
    public static final int DEFAULT_MAX_IN_FLIGHT = 256;
    /** Default {@link Builder#revokeTimeout(Duration)}. */
    public static final Duration DEFAULT_REVOKE_TIMEOUT = Duration.ofSeconds(10);
    /** Default {@link Builder#ackWait(Duration)}. */
    public static final Duration DEFAULT_ACK_WAIT = Duration.ofSeconds(30);
    /** Default {@link Builder#pullExpiry(Duration)}. */
    public static final Duration DEFAULT_PULL_EXPIRY = Duration.ofSeconds(30);
    /** Default {@link Builder#failureThreshold(int)}. */
    public static final int DEFAULT_FAILURE_THRESHOLD = 5;

    private enum State { LATENT, STARTED, CLOSED }

    private final AtomicReference<State> state = new AtomicReference<>(State.LATENT);
    private final PartiConfig parti;
    private final String stream;
    private final SubjectMapping mapping;
    private final PartitionHandler handler;
    private final PartitionEvents events;
    private final String prefix;
    private final int maxInFlight;
    private final Duration ackWait;
    private final Duration revokeTimeout;
    private final Duration pullExpiry;
    private final Backoff backoff;
    private final int failureThreshold;
    private final ConsumerCleanup cleanup;
    private final boolean fence;
    private final Connection givenConnection;
    private final PartiManager manager;
    private final int handlerThreads;
    private final int ackEvery;
    private final ScheduledExecutorService control;
    private final Map<Partition, Lane> lanes = new ConcurrentHashMap<>();
    /**
     * Per partition, the stream sequence of the last message this helper handled, kept across ownerships:
     * everything up to it was handled at least once, so a new ownership may start after it even when the
     * server's ack floor is lower (acks lost when nats-server was killed). Bounded by the partition count.
     */
    private final Map<Partition, Long> progress = new ConcurrentHashMap<>();
    private final AtomicLong handled = new AtomicLong();
    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicLong resets = new AtomicLong();
    private final AtomicLong revokeTimeouts = new AtomicLong();
    private final AtomicLong failedCreations = new AtomicLong();
    private final AtomicLong handlerFailures = new AtomicLong();

    private volatile Connection connection;
    private volatile boolean ownsConnection;
    private volatile JetStreamManagement jsm;
    private volatile StreamContext streamContext;
    /** The dispatchers whose threads run the handlers; a partition keeps one for its whole ownership. */
    private volatile List<Dispatcher> dispatchers = List.of();
    private final AtomicInteger nextDispatcher = new AtomicInteger();
    private volatile ServerVersion serverVersion;
    /** Creation time of the stream the positions refer to (a stream deleted and created again starts over). */
    private volatile java.time.ZonedDateTime streamCreated;
    private volatile boolean closing;

    private PartitionedConsumer(Builder b) {
        this.parti = b.parti;
        this.stream = b.stream;
        this.mapping = b.mapping;
        this.handler = b.handler;
        this.events = b.events;
        this.prefix = b.prefix != null ? b.prefix : ConsumerNames.prefixFor("parti_" + b.parti.group());
        this.maxInFlight = b.maxInFlight;
        this.ackWait = b.ackWait;
        this.revokeTimeout = b.revokeTimeout;
        this.pullExpiry = b.pullExpiry;
        this.backoff = b.backoff;
        this.failureThreshold = b.failureThreshold;
        this.cleanup = b.cleanup;
        this.fence = b.parti.lossPolicy() == LossPolicy.FENCE;
        this.givenConnection = b.connection;
        String group = b.parti.group();
        this.handlerThreads = b.handlerThreads;
        this.ackEvery = Math.max(1, Math.min(MAX_ACK_EVERY, b.maxInFlight / 4));
        this.control = Executors.newSingleThreadScheduledExecutor(named("parti-nats-" + group + "-consumers"));
        this.manager = new PartiManager(parti, new Follower());
    }

    /**
     * A builder.
     *
     * @param parti   the Parti group this worker joins (its partition source gives the partitions)
     * @param stream  the JetStream stream holding the partitioned subjects
     * @param mapping how a partition maps to subjects of the stream
     * @param handler handles the messages
     */
    public static Builder builder(PartiConfig parti, String stream, SubjectMapping mapping, PartitionHandler handler) {
        return new Builder(parti, stream, mapping, handler);
    }

    /** Partitions {@code name/0 … name/(count−1)}: with {@code SubjectMapping.template("<name>.{partition}.>")}. */
    public static List<Partition> numbered(String name, int count) {
        if (count < 1) {
            throw new IllegalArgumentException("partition count must be >= 1, was " + count);
        }
        List<Partition> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(Partition.of(name, Integer.toString(i)));
        }
        return out;
    }

    /**
     * Connects (unless given a connection), reads the server version, checks the subject mapping of every
     * partition of the source against it, and joins the Parti group ({@link PartiManager#start()}).
     * Partitions arrive later, through the assignment.
     *
     * @throws IllegalStateException when called twice or after close, or when a partition maps to several
     *         subjects and the server is older than 2.10
     * @throws dev.parti.PartiException when NATS is unreachable or Parti cannot start
     */
    public void start() {
        if (!state.compareAndSet(State.LATENT, State.STARTED)) {
            throw new IllegalStateException("PartitionedConsumer of group " + parti.group() + " was already "
                    + (state.get() == State.CLOSED ? "closed" : "started"));
        }
        try {
            connect();
            jsm = connection.jetStreamManagement();
            streamContext = connection.getStreamContext(stream); // fails early and clearly when the stream does not exist
            streamCreated = streamContext.getStreamInfo().getCreateTime();
            serverVersion = ServerVersion.parse(connection.getServerInfo().getVersion());
            checkMapping();
            List<Dispatcher> ds = new ArrayList<>(handlerThreads);
            for (int i = 0; i < handlerThreads; i++) {
                ds.add(connection.createDispatcher());
            }
            dispatchers = List.copyOf(ds);
            control.scheduleWithFixedDelay(() -> lanes.values().forEach(Lane::flushAck), ACK_FLUSH_MS, ACK_FLUSH_MS,
                    TimeUnit.MILLISECONDS);
            connection.addConnectionListener(reconnected);
            control.scheduleWithFixedDelay(this::checkIdleConsumers, pullExpiry.toMillis(), pullExpiry.toMillis(),
                    TimeUnit.MILLISECONDS);
            manager.start();
        } catch (IOException | JetStreamApiException e) {
            close();
            throw new IllegalStateException("cannot consume stream " + stream + " for group " + parti.group() + ": " + e, e);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private void connect() throws IOException {
        if (givenConnection != null) {
            connection = givenConnection;
        } else if (parti.connection() != null) {
            connection = parti.connection();
        } else {
            Options.Builder b = parti.natsOptions() == null ? new Options.Builder() : new Options.Builder(parti.natsOptions());
            Options options = b.servers(parti.natsUrl().split("\\s*,\\s*"))
                    .connectionName("parti-nats-" + parti.group())
                    .maxReconnects(-1)
                    .reconnectWait(Duration.ofMillis(250))
                    .build();
            try {
                connection = Nats.connect(options);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while connecting to " + parti.natsUrl(), e);
            }
            ownsConnection = true;
        }
    }

    private void checkMapping() {
        List<Partition> partitions;
        try {
            partitions = parti.partitionSource().partitions();
        } catch (Exception e) {
            log.warn("group {}: cannot read the partition source to check the subject mapping: {}", parti.group(), e.toString());
            return;
        }
        for (Partition p : partitions) {
            List<String> subjects = SubjectMapping.Templates.checked(mapping, p);
            if (subjects.size() > 1 && !serverVersion.supportsMultiFilter()) {
                throw new IllegalStateException("partition " + p.id() + " maps to " + subjects.size() + " subjects " + subjects
                        + ", which needs a multi-filter consumer (nats-server 2.10+); the server is " + serverVersion);
            }
        }
    }

    /** The Parti manager of this worker (worker ID, state, assignment). */
    public PartiManager manager() {
        return manager;
    }

    /** The durable consumer name of {@code partition}. */
    public String consumerName(Partition partition) {
        return ConsumerNames.durable(prefix, partition.id());
    }

    /** The server version read at {@link #start()}, or null before. */
    public String serverVersion() {
        ServerVersion v = serverVersion;
        return v == null ? null : v.toString();
    }

    /** Whether this worker uses multi-filter consumers where a partition maps to several subjects (server 2.10+). */
    public boolean multiFilterConsumers() {
        ServerVersion v = serverVersion;
        return v != null && v.supportsMultiFilter();
    }

    /** The owned partitions and their consumers' state, ordered by partition. */
    public List<PartitionStatus> status() {
        Map<Partition, PartitionStatus> sorted = new TreeMap<>();
        for (Lane lane : lanes.values()) {
            sorted.put(lane.partition, lane.status());
        }
        return List.copyOf(sorted.values());
    }

    /** Whether every owned partition's consumer runs (none acquiring, failing or resetting). */
    public boolean isFullyRunning() {
        return lanes.values().stream().allMatch(l -> l.phase() == PartitionStatus.Phase.RUNNING);
    }

    /** Counters since start. */
    public Stats stats() {
        return new Stats(handled.get(), duplicates.get(), resets.get(), revokeTimeouts.get(), failedCreations.get(),
                handlerFailures.get());
    }

    /**
     * Counters of one helper.
     *
     * @param handled          messages handled and acked
     * @param duplicatesSkipped redeliveries of messages handled already in the same ownership, acked without handling
     * @param consumerResets   consumers recreated after a lost delivery
     * @param revokeTimeouts   partitions released with a handler still running
     * @param failedCreations  failed consumer-creation attempts
     * @param handlerFailures  handler calls that threw (each message is handed again after a backoff)
     */
    public record Stats(long handled, long duplicatesSkipped, long consumerResets, long revokeTimeouts, long failedCreations,
                        long handlerFailures) {
    }

    /** Leaves the group: every partition is released as on a revocation, then the helper's threads stop. Idempotent. */
    @Override
    public void close() {
        close(false);
    }

    /**
     * Stops this worker; with {@code remainInGroup} its Parti worker ID and heartbeat stay until they
     * expire ({@link PartiManager#close(boolean)}), so a restart with the same static worker ID gets the
     * same partitions, and their consumers, back. Idempotent.
     */
    public void close(boolean remainInGroup) {
        State before = state.getAndSet(State.CLOSED);
        if (before == State.CLOSED) {
            return;
        }
        closing = true;
        try {
            if (before == State.STARTED) {
                // Release everything while the manager still heartbeats: PartiManager.close() stops heartbeating
                // before it calls onRevoked, so a handler outliving the session timeout there would let the
                // leader hand the partition to another worker while it still runs.
                release(List.copyOf(lanes.keySet()), true);
                manager.close(remainInGroup); // revokes through Follower.onRevoked: nothing left to wait for
            }
        } catch (RuntimeException e) {
            log.warn("group {}: closing the Parti manager failed: {}", parti.group(), e.toString());
        } finally {
            if (!lanes.isEmpty()) {
                release(List.copyOf(lanes.keySet()), false);
            }
            control.shutdownNow();
            awaitTermination(control);
            Connection c = connection;
            if (c != null) {
                c.removeConnectionListener(reconnected);
            }
            for (Dispatcher d : dispatchers) {
                try {
                    c.closeDispatcher(d);
                } catch (RuntimeException e) {
                    log.debug("closing a dispatcher failed: {}", e.toString());
                }
            }
            if (c != null && ownsConnection) {
                try {
                    c.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private void awaitTermination(ExecutorService executor) {
        try {
            if (!executor.awaitTermination(revokeTimeout.toMillis() + 5_000, TimeUnit.MILLISECONDS)) {
                log.warn("group {}: a helper thread did not stop", parti.group());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------ assignment (Parti's callback thread)

    private final class Follower implements AssignmentListener {
        @Override
        public void onAssigned(Set<Partition> added, long version) {
            if (closing) {
                return; // this worker is leaving: the manager revokes these in a moment, nothing to consume meanwhile
            }
            for (Partition p : added) {
                List<Dispatcher> ds = dispatchers;
                Dispatcher d = ds.get(Math.floorMod(nextDispatcher.getAndIncrement(), ds.size()));
                Lane lane = new Lane(p, consumerName(p), d, handler, engine, ackEvery);
                if (lanes.putIfAbsent(p, lane) == null) {
                    submit(() -> acquire(lane));
                }
            }
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            release(removed, true);
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            release(lost, false);
        }
    }

    private final Lane.Engine engine = new Lane.Engine() {
        @Override
        public void requestReset(Lane lane, String why) {
            MessageConsumer[] stopped = lane.stopIfRunning(PartitionStatus.Phase.RESETTING);
            if (stopped == null) {
                return;
            }
            resets.incrementAndGet();
            log.info("group {}: {}: {}; recreating its consumer after sequence {}", parti.group(), lane.partition, why, lane.lastHandled);
            submit(() -> {
                Lane.closeQuietly(stopped[0], lane.partition);
                acquire(lane);
            });
        }

        @Override
        public void requestRetry(Lane lane, Exception cause) {
            MessageConsumer[] stopped = lane.stopIfRunning(PartitionStatus.Phase.RESETTING);
            if (stopped == null) {
                return;
            }
            handlerFailures.incrementAndGet();
            int failures = ++lane.handlerFailures;
            Duration delay = backoff.delay(failures);
            log.warn("group {}: handler failed on {} after sequence {} ({} in a row); the message is handed again in {}: {}",
                    parti.group(), lane.partition, lane.lastHandled, failures, delay, cause.toString());
            try {
                control.schedule(() -> {
                    Lane.closeQuietly(stopped[0], lane.partition);
                    acquire(lane);
                }, delay.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RuntimeException rejected) {
                Lane.closeQuietly(stopped[0], lane.partition); // the helper is closing
            }
        }

        @Override
        public void countDuplicate() {
            duplicates.incrementAndGet();
        }

        @Override
        public void countHandled() {
            handled.incrementAndGet();
        }

        @Override
        public boolean mayHandle() {
            return !fence || manager.isLeaseValid();
        }
    };

    private void submit(Runnable task) {
        try {
            control.execute(task);
        } catch (RuntimeException e) {
            log.debug("group {}: helper is closing; task dropped", parti.group());
        }
    }

    /**
     * Releases {@code partitions}: stops fetching all of them, then waits (all together, up to the revoke
     * timeout) for their handlers to return and, when {@code confirmAcks}, for the server to confirm the
     * acks. Returns when the partitions may be given to another worker.
     */
    private void release(Collection<Partition> partitions, boolean confirmAcks) {
        List<Lane> releasing = new ArrayList<>();
        for (Partition p : partitions) {
            Lane lane = lanes.get(p);
            if (lane != null) {
                Lane.closeQuietly(lane.stopFetching(PartitionStatus.Phase.RELEASING), lane.partition);
                releasing.add(lane);
            }
        }
        if (releasing.isEmpty()) {
            return;
        }
        long start = System.nanoTime();
        long deadline = start + revokeTimeout.toNanos();
        List<Lane> idle = new ArrayList<>();
        for (Lane lane : releasing) {
            boolean clean = false;
            try {
                clean = lane.acquireLock.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (clean) {
                    lane.acquireLock.unlock(); // no creation in progress; none will start (the lane is RELEASING)
                }
                clean = clean && lane.awaitIdle(Math.max(0, deadline - System.nanoTime()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (clean) {
                idle.add(lane);
            } else {
                revokeTimeouts.incrementAndGet();
                Duration waited = Duration.ofNanos(System.nanoTime() - start);
                log.warn("group {}: {} released after {} with its handler still running (revoke timeout {})",
                        parti.group(), lane.partition, waited, revokeTimeout);
                fire(e -> e.onRevokeTimeout(lane.partition, waited));
            }
        }
        for (Lane lane : releasing) {
            lane.flushAck(); // the acks held back: the partition's position for the next owner
        }
        Set<Lane> confirmed = ConcurrentHashMap.newKeySet();
        if (confirmAcks) {
            confirmed.addAll(confirmAcks(idle, deadline));
        }
        for (Lane lane : releasing) {
            if (closing && cleanup == ConsumerCleanup.DELETE_ON_CLOSE) {
                deleteQuietly(lane.consumerName);
            }
            if (lane.lastHandled > 0) {
                progress.merge(lane.partition, lane.lastHandled, Math::max);
            }
            lanes.remove(lane.partition, lane);
            clearFault(lane); // not this worker's partition any more
            boolean clean = confirmed.contains(lane);
            fire(e -> e.onReleased(lane.partition, clean));
        }
    }

    /**
     * Waits until the server's ack floor of each lane's consumer reached its last handled message, up to
     * the revoke deadline and at most {@link #ACK_CONFIRM_WAIT}: a floor that does not move within that
     * time lost acks in a server crash and only moves when the server redelivers them after the ack wait,
     * which is no reason to hold the partition.
     */
    private List<Lane> confirmAcks(List<Lane> idle, long revokeDeadline) {
        List<Lane> done = new ArrayList<>();
        if (idle.isEmpty()) {
            return done;
        }
        long deadline = Math.min(revokeDeadline, System.nanoTime() + ACK_CONFIRM_WAIT.toNanos());
        try {
            connection.flush(Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime())));
        } catch (Exception e) {
            log.debug("flush before confirming acks failed: {}", e.toString());
        }
        for (Lane lane : idle) {
            long want = lane.lastHandled;
            if (want == 0) {
                done.add(lane);
                continue;
            }
            while (true) {
                try {
                    ConsumerInfo info = jsm.getConsumerInfo(stream, lane.consumerName);
                    if (position(info) >= want) {
                        done.add(lane);
                        break;
                    }
                } catch (IOException | JetStreamApiException e) {
                    log.debug("confirming acks of {} failed: {}", lane.partition, e.toString());
                }
                if (System.nanoTime() > deadline) {
                    log.warn("group {}: acks of {} up to sequence {} not confirmed within {}; "
                            + "the next owner may see them again", parti.group(), lane.partition, want, ACK_CONFIRM_WAIT);
                    break;
                }
                pause(10);
            }
        }
        return done;
    }

    // ------------------------------------------------------------------ consumers (helper's consumer thread)

    private void acquire(Lane lane) {
        if (state.get() != State.STARTED) {
            return;
        }
        if (!lane.acquireLock.tryLock()) {
            return; // being released
        }
        try {
            PartitionStatus.Phase phase = lane.phase();
            if (phase == PartitionStatus.Phase.RELEASING || phase == PartitionStatus.Phase.RUNNING) {
                return;
            }
            if (lane.filters == null) {
                lane.filters = SubjectMapping.Templates.checked(mapping, lane.partition);
            }
            ConsumerContext context = recreateConsumer(lane);
            long startSeq = lane.lastHandled + 1;
            int gen = lane.nextGeneration();
            ConsumeOptions options = ConsumeOptions.builder()
                    .batchSize(Math.min(maxInFlight, 256))
                    .expiresIn(pullExpiry.toMillis())
                    .build();
            if (!lane.run(gen)) {
                return; // released meanwhile
            }
            lane.lastActivityNanos = System.nanoTime();
            MessageConsumer started = context.consume(options, lane.dispatcher, msg -> lane.deliver(gen, msg));
            if (!lane.attach(gen, started)) {
                Lane.closeQuietly(started, lane.partition); // released meanwhile: undo
                return;
            }
            int failed = lane.failedAttempts;
            lane.failedAttempts = 0;
            lane.lastError = null;
            if (failed >= failureThreshold) {
                log.info("group {}: consumer of {} created after {} failed attempts", parti.group(), lane.partition, failed);
                fire(e -> e.onConsumerRecovered(lane.partition, failed));
            }
            clearFault(lane);
            log.debug("group {}: consuming {} from stream sequence {}", parti.group(), lane.partition, startSeq);
            fire(e -> e.onAcquired(lane.partition, lane.consumerName, startSeq));
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            int attempts = ++lane.failedAttempts;
            failedCreations.incrementAndGet();
            lane.lastError = e.toString();
            Duration delay = backoff.delay(attempts);
            lane.setPhase(attempts >= failureThreshold ? PartitionStatus.Phase.FAILING : PartitionStatus.Phase.ACQUIRING);
            if (attempts >= failureThreshold) {
                if (attempts == failureThreshold) {
                    log.error("group {}: consumer of {} failed {} times, retrying every {} at most: {}",
                            parti.group(), lane.partition, attempts, backoff.max(), e.toString());
                    lane.faultReported = true;
                    manager.reportFault(faultSource(lane), "the consumer " + lane.consumerName + " of stream " + stream
                            + " cannot be created (" + attempts + " attempts): " + e);
                    fire(ev -> ev.onConsumerFailing(lane.partition, attempts, e));
                }
            } else {
                log.warn("group {}: creating the consumer of {} failed (attempt {}), retrying in {}: {}",
                        parti.group(), lane.partition, attempts, delay, e.toString());
            }
            try {
                control.schedule(() -> acquire(lane), delay.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RuntimeException rejected) {
                log.debug("group {}: helper is closing; no retry for {}", parti.group(), lane.partition);
            }
        } finally {
            lane.acquireLock.unlock();
        }
    }

    /**
     * Recreates the durable consumer of {@code lane} to start right after the partition's position: the
     * largest of the old consumer's ack floor and what this helper handled of the partition (in this
     * ownership or an earlier one); the whole stream when there was neither. Sets the lane's last handled sequence to that position.
     */
    private ConsumerContext recreateConsumer(Lane lane) throws IOException, JetStreamApiException {
        ConsumerInfo info = null;
        try {
            info = jsm.getConsumerInfo(stream, lane.consumerName);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() != CONSUMER_NOT_FOUND) {
                throw e;
            }
        }
        if (info == null) { // no consumer: maybe the stream was deleted and created again, and its sequences restarted
            java.time.ZonedDateTime created = streamContext.getStreamInfo().getCreateTime();
            if (!created.equals(streamCreated)) {
                log.warn("group {}: stream {} was created again ({}, was {}); positions restart from its beginning",
                        parti.group(), stream, created, streamCreated);
                streamCreated = created;
                progress.clear();
            }
            if (!created.equals(lane.streamCreated)) {
                lane.lastHandled = 0;
            }
        }
        lane.streamCreated = streamCreated;
        long floor = Math.max(lane.lastHandled, progress.getOrDefault(lane.partition, 0L));
        if (info != null) {
            floor = Math.max(floor, position(info));
            try {
                jsm.deleteConsumer(stream, lane.consumerName);
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() != CONSUMER_NOT_FOUND) {
                    throw e;
                }
            }
        }
        ConsumerConfiguration.Builder cc = ConsumerConfiguration.builder()
                .durable(lane.consumerName)
                .ackPolicy(AckPolicy.All) // messages are handled in order: one ack covers the earlier ones
                .ackWait(ackWait)
                .maxAckPending(maxInFlight);
        List<String> filters = lane.filters;
        if (filters.size() == 1) {
            cc.filterSubject(filters.get(0));
        } else {
            cc.filterSubjects(filters);
        }
        if (floor > 0) {
            cc.deliverPolicy(DeliverPolicy.ByStartSequence).startSequence(floor + 1);
        } else {
            cc.deliverPolicy(DeliverPolicy.All);
        }
        lane.unacked.set(null); // an ack for the old consumer must not reach the new one (same name); it starts after floor
        ConsumerContext context = streamContext.createOrUpdateConsumer(cc.build());
        String ignored = ignoredFilters(filters, context.getCachedConsumerInfo());
        if (ignored != null) {
            deleteQuietly(lane.consumerName); // it would deliver other partitions' messages
            throw new IllegalStateException("the server created the consumer of " + lane.partition + " " + ignored
                    + "; nats-server " + connection.getServerInfo().getVersion()
                    + " (a partition with several subjects needs multi-filter consumers, nats-server 2.10+, on every server)");
        }
        lane.lastHandled = floor;
        return context;
    }

    /**
     * After a reconnect (jnats thread) every running partition's consumer is recreated after its last handled
     * message: pull requests waiting at a restarted server are gone, and deliveries of before the restart may be
     * lost or pending until their ack wait, which would stall the partitions (until jnats' heartbeat alarm and
     * the ack wait) or break their order. Costs one consumer recreation per owned partition and reconnect.
     */
    private final io.nats.client.ConnectionListener reconnected = (conn, event) -> {
        if (event == io.nats.client.ConnectionListener.Events.RESUBSCRIBED && state.get() == State.STARTED) {
            submit(() -> lanes.values().forEach(lane -> engine.requestReset(lane, "the connection to NATS was re-established")));
        }
    };

    /**
     * The partition position a consumer holds: everything up to this stream sequence was handled. That is its
     * ack floor, except for a consumer that was created to start at sequence {@code S} and has acked nothing
     * yet: the server reports its ack floor as 0 (nats-server 2.9.10), while its creator made it start at
     * {@code S} because everything before was handled. Without this a partition that moved on right after
     * its consumer was recreated (for example after a reconnect, or by an owner that then got no message)
     * was handled again from its first message.
     */
    static long position(ConsumerInfo info) {
        long floor = info.getAckFloor() == null ? 0 : info.getAckFloor().getStreamSequence();
        ConsumerConfiguration cc = info.getConsumerConfiguration();
        if (cc != null && cc.getDeliverPolicy() == DeliverPolicy.ByStartSequence && cc.getStartSequence() > 0) {
            floor = Math.max(floor, cc.getStartSequence() - 1);
        }
        return floor;
    }

    /**
     * Null when the server created a consumer with exactly the {@code requested} filter subjects; else what
     * it did instead. nats-server before 2.10 ignores {@code filter_subjects} and creates a consumer of the
     * whole stream (a client connected to a 2.10 server when the helper started may reach a 2.9 server of a
     * mixed cluster after a reconnect, which jnats' own version check does not catch).
     */
    static String ignoredFilters(List<String> requested, ConsumerInfo created) {
        List<String> got = created == null || created.getConsumerConfiguration() == null
                || created.getConsumerConfiguration().getFilterSubjects() == null
                ? List.of() : created.getConsumerConfiguration().getFilterSubjects();
        if (Set.copyOf(got).equals(Set.copyOf(requested))) {
            return null;
        }
        return got.isEmpty() ? "without a filter subject (asked for " + requested + ")"
                : "with filter subjects " + got + " (asked for " + requested + ")";
    }

    /** The source name of a lane's fault in {@link PartiManager#reportFault}: {@code parti-nats:<partition>}. */
    private static String faultSource(Lane lane) {
        return "parti-nats:" + lane.partition.id();
    }

    private void clearFault(Lane lane) {
        if (lane.faultReported) {
            lane.faultReported = false;
            manager.clearFault(faultSource(lane));
        }
    }

    /**
     * Consumer thread, every pull expiry: a running partition that received nothing for that long gets its
     * consumer looked up, so a consumer or a stream deleted under the helper (which jnats' pull loop does not
     * report) is found: the consumer is recreated, and when that keeps failing the fault is reported.
     */
    private void checkIdleConsumers() {
        if (connection.getStatus() != Connection.Status.CONNECTED) {
            return; // the reconnect recreates the consumers anyway; lookups now would only time out
        }
        long idleSince = System.nanoTime() - pullExpiry.toNanos();
        for (Lane lane : lanes.values()) {
            if (lane.phase() != PartitionStatus.Phase.RUNNING || lane.lastActivityNanos - idleSince > 0) {
                continue;
            }
            try {
                jsm.getConsumerInfo(stream, lane.consumerName);
                lane.lastActivityNanos = System.nanoTime();
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == CONSUMER_NOT_FOUND || e.getApiErrorCode() == STREAM_NOT_FOUND) {
                    engine.requestReset(lane, (e.getApiErrorCode() == STREAM_NOT_FOUND ? "its stream " + stream : "its consumer")
                            + " is gone (" + e.getErrorDescription() + ")");
                } else {
                    log.warn("group {}: checking the consumer of {} failed: {}", parti.group(), lane.partition, e.toString());
                }
            } catch (IOException | RuntimeException e) {
                log.debug("group {}: checking the consumer of {} failed: {}", parti.group(), lane.partition, e.toString());
                return; // NATS does not answer: the rest waits for the next round, not for a timeout each
            }
        }
    }

    private void deleteQuietly(String name) {
        try {
            jsm.deleteConsumer(stream, name);
        } catch (IOException | JetStreamApiException e) {
            log.warn("group {}: could not delete consumer {}: {}", parti.group(), name, e.toString());
        }
    }

    private void fire(Consumer<PartitionEvents> call) {
        try {
            call.accept(events);
        } catch (RuntimeException e) {
            log.warn("group {}: a PartitionEvents listener threw: {}", parti.group(), e.toString());
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static ThreadFactory named(String prefix) {
        boolean numbered = prefix.endsWith("-");
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, numbered ? prefix + n.incrementAndGet() : prefix);
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * Settings of a {@link PartitionedConsumer}; {@link #build()} validates them and throws
     * {@link IllegalArgumentException} naming the setting and the rule.
     */
    public static final class Builder {
        private final PartiConfig parti;
        private final String stream;
        private final SubjectMapping mapping;
        private final PartitionHandler handler;
        private PartitionEvents events = new PartitionEvents() { };
        private Connection connection;
        private String prefix;
        private int maxInFlight = DEFAULT_MAX_IN_FLIGHT;
        private Duration ackWait = DEFAULT_ACK_WAIT;
        private Duration revokeTimeout = DEFAULT_REVOKE_TIMEOUT;
        private Duration pullExpiry = DEFAULT_PULL_EXPIRY;
        private Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
        private int failureThreshold = DEFAULT_FAILURE_THRESHOLD;
        private int handlerThreads = Math.max(2, Runtime.getRuntime().availableProcessors());
        private ConsumerCleanup cleanup = ConsumerCleanup.KEEP;

        private Builder(PartiConfig parti, String stream, SubjectMapping mapping, PartitionHandler handler) {
            this.parti = Objects.requireNonNull(parti, "parti config");
            this.stream = Objects.requireNonNull(stream, "stream");
            this.mapping = Objects.requireNonNull(mapping, "subject mapping");
            this.handler = Objects.requireNonNull(handler, "handler");
        }

        /** The connection for JetStream (the caller owns it: never closed by the helper). Default: the Parti config's connection, or one the helper opens to its URL and closes. */
        public Builder connection(Connection c) {
            this.connection = Objects.requireNonNull(c, "connection");
            return this;
        }

        /** Told about consumer failures and releases. */
        public Builder events(PartitionEvents e) {
            this.events = Objects.requireNonNull(e, "events");
            return this;
        }

        /** Prefix of the durable consumer names, {@code [A-Za-z0-9_-]{1,100}}. Default: {@code parti_<group>} (encoded). */
        public Builder consumerPrefix(String p) {
            this.prefix = Objects.requireNonNull(p, "consumerPrefix");
            return this;
        }

        /** Unacknowledged messages per partition (the consumer's max ack pending), ≥ 1; bounds redeliveries after a crash. Default 256. */
        public Builder maxInFlight(int n) {
            this.maxInFlight = n;
            return this;
        }

        /** The consumers' ack wait. Default 30 s; must exceed the revoke timeout. */
        public Builder ackWait(Duration d) {
            this.ackWait = Objects.requireNonNull(d, "ackWait");
            return this;
        }

        /** How long a revocation waits for a running handler and the ack confirmation. Default 10 s. */
        public Builder revokeTimeout(Duration d) {
            this.revokeTimeout = Objects.requireNonNull(d, "revokeTimeout");
            return this;
        }

        /** How long one pull request waits at the server (idle heartbeats are derived from it). Default 30 s, ≥ 1 s. */
        public Builder pullExpiry(Duration d) {
            this.pullExpiry = Objects.requireNonNull(d, "pullExpiry");
            return this;
        }

        /** Retry delays of consumer creation: {@code initial × 2^(n−1)} up to {@code max}. Default 100 ms … 5 s. */
        public Builder retryBackoff(Duration initial, Duration max) {
            this.backoff = new Backoff(initial, max);
            return this;
        }

        /** Failed creation attempts in a row after which a partition is reported failing, ≥ 1. Default 5. */
        public Builder failureThreshold(int n) {
            this.failureThreshold = n;
            return this;
        }

        /**
         * Threads running handlers, ≥ 1. Default max(2, cores). Each is the thread of one jnats dispatcher on
         * the connection; the owned partitions are spread over them round-robin, and a partition's messages are
         * delivered and handled on its dispatcher's thread, inline, as a plain {@code consume()} handler is (no
         * hand-off between threads per message). A handler that blocks therefore delays the other partitions
         * of its dispatcher, not those of the others.
         */
        public Builder handlerThreads(int n) {
            this.handlerThreads = n;
            return this;
        }

        /** What happens to the consumers when the helper closes. Default {@link ConsumerCleanup#KEEP}. */
        public Builder cleanup(ConsumerCleanup c) {
            this.cleanup = Objects.requireNonNull(c, "cleanup");
            return this;
        }

        /** Validates and builds; creates the Parti manager (not started). */
        public PartitionedConsumer build() {
            require(!stream.isBlank() && stream.chars().noneMatch(c -> c == '.' || c == '*' || c == '>' || Character.isWhitespace(c)),
                    "stream", "must be a stream name (no '.', '*', '>' or whitespace), was '" + stream + "'");
            require(prefix == null || ConsumerNames.isValidPrefix(prefix), "consumerPrefix",
                    "must be 1..100 characters of [A-Za-z0-9_-], was '" + prefix + "'");
            require(maxInFlight >= 1, "maxInFlight", "must be >= 1, was " + maxInFlight);
            require(handlerThreads >= 1, "handlerThreads", "must be >= 1, was " + handlerThreads);
            require(failureThreshold >= 1, "failureThreshold", "must be >= 1, was " + failureThreshold);
            require(!revokeTimeout.isNegative() && !revokeTimeout.isZero(), "revokeTimeout", "must be > 0, was " + revokeTimeout);
            require(pullExpiry.compareTo(Duration.ofSeconds(1)) >= 0, "pullExpiry", "must be >= 1s, was " + pullExpiry);
            require(ackWait.compareTo(revokeTimeout) > 0, "ackWait",
                    "must be > revokeTimeout (" + ackWait + " <= " + revokeTimeout + "): a message must not be redelivered while its handler may still run");
            return new PartitionedConsumer(this);
        }

        private static void require(boolean ok, String field, String rule) {
            if (!ok) {
                throw new IllegalArgumentException("Invalid PartitionedConsumer setting: " + field + " " + rule);
            }
        }
    }
}
