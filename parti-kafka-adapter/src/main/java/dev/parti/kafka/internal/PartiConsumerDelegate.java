package dev.parti.kafka.internal;

import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.kafka.MixedGroupException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.ConcurrentModificationException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.IllegalGenerationException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidGroupIdException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The implementation behind {@link dev.parti.kafka.PartiConsumer}: a real {@link KafkaConsumer}
 * driven with {@code assign()}, a Parti membership that decides what it is assigned, and the glue
 * that makes the pair behave like a subscribed {@code KafkaConsumer}.
 *
 * <p>Threads:
 * <ul>
 *   <li>the user's polling thread: every public method (guarded like {@code KafkaConsumer}: a second
 *   thread gets a {@link ConcurrentModificationException}); user callbacks run here only;</li>
 *   <li>Parti's threads (per membership): its callback thread runs {@link Membership}'s listener;</li>
 *   <li>{@code parti-consumer-<client>-timer-N} (two, created at the first subscribe): topic metadata
 *   refreshes and group inspection with a separate {@link Admin} client, and the {@code
 *   max.poll.interval.ms} watchdog.</li>
 * </ul>
 * {@code poll()} polls the inner consumer in slices of at most {@value #POLL_SLICE_MS} ms, cut short
 * (an internal {@code wakeup()} of the inner consumer) when Parti queues a rebalance event, so
 * revocations and assignments reach the user at once; it waits on a signal while nothing is assigned.
 */
public final class PartiConsumerDelegate<K, V> {
    private static final Logger log = LoggerFactory.getLogger(PartiConsumerDelegate.class);

    static final long POLL_SLICE_MS = 100;
    static final long DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
    private static final long NO_CURRENT_THREAD = -1L;
    private static final long MIXED_RECHECK_MS = 1_000;
    private static final String MUTUALLY_EXCLUSIVE = "Subscription to topics, partitions and pattern are mutually exclusive";
    private static final ConsumerRebalanceListener NOOP = new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }
    };

    private enum Mode { NONE, TOPICS, PATTERN, MANUAL }

    private final ConsumerSettings settings;
    private final KafkaConsumer<K, V> inner;
    private final PartiMetrics metrics;
    private final String clientId;
    private final LongSupplier clock;
    private final AtomicLong currentThread = new AtomicLong(NO_CURRENT_THREAD);
    private final AtomicInteger refcount = new AtomicInteger();
    private final AtomicBoolean wakeupRequested = new AtomicBoolean();
    private final Object signal = new Object();
    /** Whether the polling thread is inside the inner consumer's poll (read by Parti's callback thread). */
    private volatile boolean inInnerPoll;
    private final Queue<Runnable> completedCommits = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;
    /** Set while close() or unsubscribe() ends the membership: the watchdog keeps out. */
    private volatile boolean leaving;

    // polling-thread state
    private Mode mode = Mode.NONE;
    private Set<String> topics = Set.of();
    private ConsumerRebalanceListener listener = NOOP;
    /** Partitions the user was told about (onPartitionsAssigned) and not yet revoked or lost = the inner assignment. */
    private final Set<TopicPartition> assigned = new LinkedHashSet<>();
    private long nextAutoCommitNanos;
    private boolean dispatching;

    // group runtime, created at the first subscribe and kept until close
    private Admin admin;
    private TopicWatcher watcher;
    private ScheduledExecutorService timer;
    private volatile Membership membership;
    private volatile long lastPollNanos;
    private volatile MixedGroupException mixedGroup;

    /**
     * Creates the inner consumer; nothing else (no NATS, no Admin client) until the first {@code subscribe}.
     *
     * @throws KafkaException when the inner consumer cannot be constructed
     */
    public PartiConsumerDelegate(ConsumerSettings settings, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
        this(settings, keyDeserializer, valueDeserializer, System::nanoTime);
    }

    PartiConsumerDelegate(ConsumerSettings settings, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer,
                          LongSupplier nanoClock) {
        this.settings = settings;
        this.clock = nanoClock;
        this.inner = new KafkaConsumer<>(settings.innerConfig, keyDeserializer, valueDeserializer);
        try {
            this.clientId = clientIdOf(inner);
            this.metrics = new PartiMetrics(clientId, this::currentManager);
            this.nextAutoCommitNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
        } catch (RuntimeException e) {
            inner.close(Duration.ZERO);
            throw new KafkaException("Failed to construct kafka consumer", e);
        }
    }

    private static String clientIdOf(KafkaConsumer<?, ?> consumer) {
        for (MetricName name : consumer.metrics().keySet()) {
            String id = name.tags().get("client-id");
            if (id != null) {
                return id;
            }
        }
        return "consumer";
    }

    private PartiManager currentManager() {
        Membership m = membership;
        return m == null || !m.isStarted() ? null : m.manager();
    }

    // ================================================================== subscription

    /** Implements {@link dev.parti.kafka.PartiConsumer#assignment}, documented there. */
    public Set<TopicPartition> assignment() {
        acquireAndEnsureOpen();
        try {
            return inner.assignment();
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscription}, documented there. */
    public Set<String> subscription() {
        acquireAndEnsureOpen();
        try {
            switch (mode) {
                case TOPICS:
                    return topics;
                case PATTERN:
                    return watcher.topics();
                default:
                    return Set.of();
            }
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        if (newListener == null) {
            throw new IllegalArgumentException("RebalanceListener cannot be null");
        }
        subscribeTopics(newTopics, newListener);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Collection<String> newTopics) {
        subscribeTopics(newTopics, NOOP);
    }

    private void subscribeTopics(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        acquireAndEnsureOpen();
        try {
            requireGroupId();
            if (newTopics == null) {
                throw new IllegalArgumentException("Topic collection to subscribe to cannot be null");
            }
            if (newTopics.isEmpty()) {
                unsubscribe();
                return;
            }
            for (String t : newTopics) {
                if (t == null || t.isBlank()) {
                    throw new IllegalArgumentException("Topic collection to subscribe to cannot contain null or empty topic");
                }
            }
            requireAssignors();
            if (mode == Mode.PATTERN || mode == Mode.MANUAL) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            ensureGroupRuntime();
            mode = Mode.TOPICS;
            topics = Set.copyOf(new TreeSet<>(newTopics));
            listener = newListener;
            watcher.subscribe(topics);
            log.info("Subscribed to topic(s): {} (Parti group {})", String.join(", ", topics), settings.groupId);
            afterSubscribe();
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Pattern pattern, ConsumerRebalanceListener newListener) {
        if (newListener == null) {
            throw new IllegalArgumentException("RebalanceListener cannot be null");
        }
        subscribePattern(pattern, newListener);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Pattern pattern) {
        subscribePattern(pattern, NOOP);
    }

    private void subscribePattern(Pattern pattern, ConsumerRebalanceListener newListener) {
        requireGroupId();
        if (pattern == null || pattern.toString().isEmpty()) {
            throw new IllegalArgumentException("Topic pattern to subscribe to cannot be " + (pattern == null ? "null" : "empty"));
        }
        acquireAndEnsureOpen();
        try {
            requireAssignors();
            if (mode == Mode.TOPICS || mode == Mode.MANUAL) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            ensureGroupRuntime();
            mode = Mode.PATTERN;
            topics = Set.of();
            listener = newListener;
            watcher.subscribe(pattern);
            log.info("Subscribed to pattern: '{}' (Parti group {})", pattern, settings.groupId);
            afterSubscribe();
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(SubscriptionPattern pattern, ConsumerRebalanceListener newListener) {
        if (newListener == null) {
            throw new IllegalArgumentException("RebalanceListener cannot be null");
        }
        subscribe(pattern);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(SubscriptionPattern pattern) {
        throw new UnsupportedOperationException("subscribe(SubscriptionPattern) needs Kafka's broker-side consumer group "
                + "protocol (group.protocol=consumer, the broker evaluates the RE2/J pattern), which PartiConsumer replaces "
                + "by Parti. Use subscribe(java.util.regex.Pattern) instead: PartiConsumer matches it against the topics "
                + "it reads every metadata.max.age.ms.");
    }

    private void afterSubscribe() {
        if (membership == null) {
            membership = newMembership(); // joins in the next poll()
        }
        timer.execute(this::refreshMetadata);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#assign}, documented there. */
    public void assign(Collection<TopicPartition> partitions) {
        acquireAndEnsureOpen();
        try {
            if (partitions == null) {
                throw new IllegalArgumentException("Topic partition collection to assign to cannot be null");
            }
            if (partitions.isEmpty()) {
                unsubscribe();
                return;
            }
            for (TopicPartition tp : partitions) {
                if (tp == null || tp.topic() == null || tp.topic().isBlank()) {
                    throw new IllegalArgumentException("Topic partitions to assign to cannot have null or empty topic");
                }
            }
            if (mode == Mode.TOPICS || mode == Mode.PATTERN) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            maybeAutoCommitAsync();
            mode = Mode.MANUAL;
            inner.assign(partitions);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#unsubscribe}, documented there. */
    public void unsubscribe() {
        acquireAndEnsureOpen();
        try {
            RuntimeException failure = null;
            if (membership != null) {
                try {
                    leaveGroup(false, GroupMembershipOperation.DEFAULT);
                } catch (RuntimeException e) {
                    failure = e;
                }
            }
            mode = Mode.NONE;
            topics = Set.of();
            listener = NOOP;
            if (watcher != null) {
                watcher.clear();
            }
            assigned.clear();
            inner.unsubscribe();
            log.info("Unsubscribed all topics or patterns and assigned partitions");
            if (failure != null) {
                throw failure;
            }
        } finally {
            release();
        }
    }

    // ================================================================== poll

    /** Implements {@link dev.parti.kafka.PartiConsumer#poll}, documented there. */
    public ConsumerRecords<K, V> poll(Duration timeout) {
        long timeoutMs = timeout.toMillis();
        if (timeoutMs < 0) {
            throw new IllegalArgumentException("Invalid negative timeout " + timeoutMs);
        }
        acquireAndEnsureOpen();
        try {
            if (mode == Mode.NONE) {
                throw new IllegalStateException("Consumer is not subscribed to any topics or assigned any partitions");
            }
            long start = clock.getAsLong();
            long budget = timeoutMs >= Long.MAX_VALUE / 2_000_000 ? Long.MAX_VALUE / 2 : TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            boolean subscribed = mode != Mode.MANUAL;
            do {
                lastPollNanos = clock.getAsLong();
                runCompletedCommitCallbacks();
                throwIfWakeup();
                Membership m = null;
                if (subscribed) {
                    MixedGroupException mixed = mixedGroup;
                    if (mixed != null) {
                        throw mixed;
                    }
                    ensureJoined();
                    RuntimeException callbackFailure = dispatchRebalance();
                    m = membership;
                    if (callbackFailure != null) {
                        throw asKafkaException(callbackFailure);
                    }
                }
                maybeAutoCommitAsync();
                long remainingMs = TimeUnit.NANOSECONDS.toMillis(Math.max(0, budget - (clock.getAsLong() - start)));
                long slice = Math.min(remainingMs, POLL_SLICE_MS);
                if (subscribed ? assigned.isEmpty() : inner.assignment().isEmpty()) {
                    awaitSignal(slice, m);
                    continue;
                }
                ConsumerRecords<K, V> records;
                inInnerPoll = true;
                try {
                    records = inner.poll(Duration.ofMillis(slice));
                } catch (WakeupException e) {
                    if (wakeupRequested.getAndSet(false)) {
                        throw e;
                    }
                    continue; // a Parti event cut the slice short, or a stale wakeup already reported
                } finally {
                    inInnerPoll = false;
                }
                if (m != null) {
                    records = onlyOwned(records, m);
                }
                if (!records.isEmpty() || !records.nextOffsets().isEmpty()) {
                    return records;
                }
            } while (clock.getAsLong() - start < budget);
            return ConsumerRecords.empty();
        } finally {
            release();
        }
    }

    private void awaitSignal(long millis, Membership m) {
        if (millis <= 0) {
            return;
        }
        synchronized (signal) {
            if (wakeupRequested.get() || m != null && (m.hasEvents() || m.isExpired())) {
                return;
            }
            try {
                signal.wait(millis);
            } catch (InterruptedException e) {
                throw new InterruptException(e);
            }
        }
    }

    private void signal() {
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    /**
     * Parti's callback thread: a rebalance event is queued. Cuts the inner poll slice short so the
     * event reaches the user at once instead of after up to {@value #POLL_SLICE_MS} ms: a revocation
     * releases sooner and an assignment starts sooner. The inner consumer's {@link WakeupException}
     * that this may leave behind is absorbed by the polling loop and {@link #blocking}.
     */
    private void onMembershipEvent() {
        signal();
        if (inInnerPoll) {
            inner.wakeup();
        }
    }

    /** Drops records of partitions this member no longer safely owns (lost or released meanwhile). */
    private ConsumerRecords<K, V> onlyOwned(ConsumerRecords<K, V> records, Membership m) {
        boolean all = true;
        for (TopicPartition tp : records.partitions()) {
            all &= m.owns(tp);
        }
        for (TopicPartition tp : records.nextOffsets().keySet()) {
            all &= m.owns(tp);
        }
        if (all) {
            return records;
        }
        Map<TopicPartition, List<ConsumerRecord<K, V>>> kept = new LinkedHashMap<>();
        for (TopicPartition tp : records.partitions()) {
            if (m.owns(tp)) {
                kept.put(tp, records.records(tp));
            }
        }
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        records.nextOffsets().forEach((tp, o) -> {
            if (m.owns(tp)) {
                next.put(tp, o);
            }
        });
        log.debug("Dropped fetched records of partitions no longer owned: {}", KafkaPartitions.minus(records.partitions(), kept.keySet()));
        return new ConsumerRecords<>(kept, next);
    }

    // ================================================================== group membership

    private void ensureGroupRuntime() {
        if (timer != null) {
            return;
        }
        Map<String, Object> adminConfig = new HashMap<>(settings.adminConfig);
        adminConfig.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId + "-parti-admin");
        admin = Admin.create(adminConfig);
        watcher = new TopicWatcher(admin, !settings.excludeInternalTopics);
        timer = Executors.newScheduledThreadPool(2, daemonThreads("parti-consumer-" + clientId + "-timer-"));
        long refresh = Math.max(1, settings.metadataMaxAgeMs);
        timer.scheduleWithFixedDelay(this::refreshMetadata, refresh, refresh, TimeUnit.MILLISECONDS);
        long watch = Math.max(10, Math.min(1_000, settings.maxPollIntervalMs / 10));
        timer.scheduleWithFixedDelay(this::watchPollInterval, watch, watch, TimeUnit.MILLISECONDS);
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    private Membership newMembership() {
        PartiConfig.Builder b = settings.parti.partiConfigBuilder(settings.groupId)
                .strategy(settings.strategy())
                .partitionSource(watcher)
                .metrics(metrics);
        String workerId = settings.workerId();
        if (workerId != null) {
            b.workerId(workerId);
        }
        PartiConfig config;
        try {
            config = b.build();
        } catch (IllegalArgumentException e) {
            throw new KafkaException("Invalid Parti settings for group " + settings.groupId + ": " + e.getMessage(), e);
        }
        return new Membership(config, workerId != null, this::onMembershipEvent, clock);
    }

    /** Polling thread: joins the Parti group if this subscription has not joined yet. */
    private void ensureJoined() {
        Membership m = membership;
        if (m == null) {
            m = newMembership();
            membership = m;
        }
        if (m.isStarted()) {
            return;
        }
        lastPollNanos = clock.getAsLong();
        try {
            m.start();
        } catch (RuntimeException e) {
            membership = null;
            throw new KafkaException("Could not join Parti group '" + settings.groupId + "' over NATS at "
                    + settings.parti.natsUrls() + ": " + e.getMessage(), e);
        }
        lastPollNanos = clock.getAsLong();
        log.info("Joined Parti group {} as worker {}", settings.groupId, m.manager().workerId());
        timer.execute(this::checkGroupMembers);
        if (!watcher.isCurrent()) {
            timer.execute(this::refreshMetadata);
        }
    }

    /**
     * Polling thread: delivers what Parti changed since the last call to the user's listener, in order,
     * and keeps the inner consumer's assignment equal to what the user was told. Returns the first
     * exception a callback threw (every change is completed anyway).
     */
    private RuntimeException dispatchRebalance() {
        if (dispatching) {
            return null; // poll() called from inside a rebalance callback
        }
        dispatching = true;
        try {
            Membership m = membership;
            if (m == null) {
                return null;
            }
            if (m.isExpired() || m.isFencedOut()) {
                boolean fencedOut = !m.isExpired();
                while (m.nextEvent() != null) {
                    // everything is lost; the queued changes no longer matter
                }
                RuntimeException failure = lose(KafkaPartitions.sorted(assigned));
                if (fencedOut) {
                    throw new FencedInstanceIdException("The static worker ID '" + m.manager().workerId() + "' ("
                            + (settings.groupInstanceId != null ? "group.instance.id '" + settings.groupInstanceId + "'"
                                    : "parti.worker.id") + ") of this consumer was taken over in Parti group '"
                            + settings.groupId + "' by a newer instance with the same ID; this consumer must be closed");
                }
                m.close(m.isStatic()); // the watchdog closed it already, or is doing so: this waits for it
                membership = null;
                log.info("Rejoining Parti group {} after exceeding max.poll.interval.ms", settings.groupId);
                ensureJoined();
                return failure;
            }
            RuntimeException first = null;
            for (RebalanceEvent e = m.nextEvent(); e != null; e = m.nextEvent()) {
                RuntimeException failure = apply(e);
                if (first == null) {
                    first = failure;
                }
            }
            return first;
        } finally {
            dispatching = false;
        }
    }

    private RuntimeException apply(RebalanceEvent event) {
        switch (event.kind) {
            case ASSIGNED: {
                Set<TopicPartition> added = KafkaPartitions.sorted(KafkaPartitions.minus(event.partitions, assigned));
                assigned.addAll(added);
                syncInner();
                log.info("Assigned partitions (Parti version {}): {}", event.version, added);
                return invoke("onPartitionsAssigned", added, () -> listener.onPartitionsAssigned(added));
            }
            case REVOKED: {
                Set<TopicPartition> mine = intersect(event.partitions, assigned);
                if (!event.claim()) {
                    return lose(mine);
                }
                RuntimeException failure = null;
                try {
                    autoCommitSync("before revoking " + mine);
                    if (!mine.isEmpty()) {
                        log.info("Revoking partitions (Parti version {}): {}", event.version, mine);
                        failure = invoke("onPartitionsRevoked", mine, () -> listener.onPartitionsRevoked(mine));
                    }
                } finally {
                    assigned.removeAll(mine);
                    syncInner();
                    event.complete();
                }
                return failure;
            }
            case LOST:
                return lose(intersect(event.partitions, assigned));
            default:
                throw new IllegalStateException("unknown event " + event);
        }
    }

    /** Calls onPartitionsLost (when non-empty) and drops the partitions. */
    private RuntimeException lose(Set<TopicPartition> lost) {
        if (lost.isEmpty()) {
            return null;
        }
        log.warn("Lost partitions (Parti group {}): {}", settings.groupId, lost);
        try {
            return invoke("onPartitionsLost", lost, () -> listener.onPartitionsLost(lost));
        } finally {
            assigned.removeAll(lost);
            syncInner();
        }
    }

    private RuntimeException invoke(String method, Set<TopicPartition> partitions, Runnable call) {
        try {
            call.run();
            return null;
        } catch (WakeupException | InterruptException e) {
            return e;
        } catch (RuntimeException e) {
            log.error("User provided listener {} failed on invocation of {} for partitions {}",
                    listener.getClass().getName(), method, partitions, e);
            return e;
        }
    }

    private static KafkaException asKafkaException(RuntimeException e) {
        return e instanceof KafkaException ? (KafkaException) e : new KafkaException("User rebalance callback throws an error", e);
    }

    private static Set<TopicPartition> intersect(Set<TopicPartition> a, Set<TopicPartition> b) {
        Set<TopicPartition> out = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : a) {
            if (b.contains(tp)) {
                out.add(tp);
            }
        }
        return out;
    }

    private void syncInner() {
        if (assigned.isEmpty()) {
            if (!inner.assignment().isEmpty()) {
                inner.unsubscribe();
            }
        } else if (!inner.assignment().equals(assigned)) {
            inner.assign(new ArrayList<>(assigned));
        }
    }

    /**
     * Polling thread: ends the membership like Kafka's leave: queued losses are reported, then
     * (when {@code commitFirst}) auto-commit, then {@code onPartitionsRevoked} for everything still
     * assigned (or {@code onPartitionsLost} when this member is no longer a safe owner), then the
     * manager closes. Throws the first callback failure after everything is done.
     */
    private void leaveGroup(boolean commitFirst, GroupMembershipOperation op) {
        Membership m = membership;
        if (m == null) {
            return;
        }
        leaving = true;
        RuntimeException first = null;
        List<RebalanceEvent> claimed = new ArrayList<>();
        try {
            if (m.isStarted()) {
                boolean lostAll = m.isExpired() || m.isFencedOut() || !m.manager().isLeaseValid();
                Set<TopicPartition> lost = new TreeSet<>(KafkaPartitions.ORDER);
                for (RebalanceEvent e = m.nextEvent(); e != null; e = m.nextEvent()) {
                    switch (e.kind) {
                        case REVOKED:
                            if (e.claim()) {
                                claimed.add(e);
                            } else {
                                lost.addAll(intersect(e.partitions, assigned));
                            }
                            break;
                        case LOST:
                            lost.addAll(intersect(e.partitions, assigned));
                            break;
                        default:
                            break; // never announced: released by the manager's close
                    }
                }
                if (lostAll) {
                    lost.addAll(assigned);
                }
                first = lose(lost);
                if (commitFirst) {
                    autoCommitSync("on close");
                }
                Set<TopicPartition> rest = KafkaPartitions.sorted(assigned);
                if (!rest.isEmpty()) {
                    log.info("Revoking partitions (leaving Parti group {}): {}", settings.groupId, rest);
                    RuntimeException failure = invoke("onPartitionsRevoked", rest, () -> listener.onPartitionsRevoked(rest));
                    if (first == null) {
                        first = failure;
                    }
                }
            }
        } finally {
            assigned.clear();
            syncInner();
            m.release();
            claimed.forEach(RebalanceEvent::complete);
            boolean remain = op == GroupMembershipOperation.REMAIN_IN_GROUP
                    || op == GroupMembershipOperation.DEFAULT && m.isStatic();
            try {
                m.close(remain);
            } catch (RuntimeException e) {
                log.warn("Closing the Parti membership of group {} failed: {}", settings.groupId, e.toString());
            }
            membership = null;
            mixedGroup = null;
            leaving = false;
        }
        if (first != null) {
            throw asKafkaException(first);
        }
    }

    // ================================================================== timer thread

    private void refreshMetadata() {
        if (closed || watcher == null) {
            return;
        }
        try {
            if (watcher.refresh(Duration.ofMillis(settings.requestTimeoutMs))) {
                log.debug("Partitions of the subscription changed: {}", watcher.partitions());
                Membership m = membership;
                if (m != null && m.isStarted()) {
                    m.manager().refreshPartitions();
                }
            }
        } catch (IllegalStateException e) {
            log.debug("Partition refresh skipped: {}", e.getMessage());
        } catch (Exception e) {
            if (closed || leaving || Thread.currentThread().isInterrupted()) {
                log.debug("Metadata refresh interrupted by close: {}", e.toString());
            } else {
                log.warn("Could not read the topics of the subscription from Kafka (kept the previous ones): {}", e.toString());
            }
        }
    }

    private void watchPollInterval() {
        Membership m = membership;
        if (m == null || !m.isStarted() || m.isExpired() || leaving || closed) {
            return;
        }
        long idle = clock.getAsLong() - lastPollNanos;
        if (idle <= TimeUnit.MILLISECONDS.toNanos(settings.maxPollIntervalMs)) {
            return;
        }
        log.warn("consumer poll timeout has expired. This means the time between subsequent calls to poll() was longer "
                + "than the configured max.poll.interval.ms ({} ms), which typically implies that the poll loop is spending "
                + "too much time processing messages. You can address this either by increasing max.poll.interval.ms or by "
                + "reducing the maximum size of batches returned in poll() with max.poll.records. This member leaves Parti "
                + "group {}{}; its next poll() reports its partitions lost and joins again.", settings.maxPollIntervalMs,
                settings.groupId, m.isStatic() ? " (keeping its static ID)" : "");
        metrics.pollIntervalExceeded();
        m.expire();
        try {
            m.close(m.isStatic());
        } catch (RuntimeException e) {
            log.warn("Leaving Parti group {} after the poll timeout failed: {}", settings.groupId, e.toString());
        }
    }

    /** Timer thread: a Kafka-managed member in our group means a mixed group (see {@link MixedGroupException}). */
    private void checkGroupMembers() {
        Membership m = membership;
        if (closed || m == null || !m.isStarted()) {
            return;
        }
        try {
            ConsumerGroupDescription d = describeGroup(Duration.ofMillis(settings.requestTimeoutMs));
            if (d != null && !d.members().isEmpty()) {
                MixedGroupException e = mixedGroupError(d, null);
                if (mixedGroup == null) {
                    log.error(e.getMessage());
                }
                mixedGroup = e;
            } else {
                if (mixedGroup != null) {
                    log.info("Consumer group {} has no Kafka-managed members any more; consuming again", settings.groupId);
                }
                mixedGroup = null;
            }
        } catch (Exception e) {
            log.debug("Could not describe consumer group {}: {}", settings.groupId, e.toString());
        }
        if (mixedGroup != null && !closed) {
            try {
                timer.schedule(this::checkGroupMembers, MIXED_RECHECK_MS, TimeUnit.MILLISECONDS);
            } catch (RuntimeException ignored) {
                // shut down meanwhile
            }
        }
    }

    private ConsumerGroupDescription describeGroup(Duration timeout) throws Exception {
        try {
            return admin.describeConsumerGroups(List.of(settings.groupId)).describedGroups().get(settings.groupId)
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return null;
            }
            throw e;
        }
    }

    private MixedGroupException mixedGroupError(ConsumerGroupDescription d, Throwable cause) {
        String g = settings.groupId;
        StringBuilder sb = new StringBuilder("Consumer group '").append(g).append("' ");
        if (d != null && !d.members().isEmpty()) {
            sb.append("has ").append(d.members().size()).append(" live member(s) managed by Kafka's group coordinator (")
                    .append(d.members().stream().map(PartiConsumerDelegate::describeMember).collect(Collectors.joining(", ")))
                    .append(")");
        } else {
            sb.append("has live members managed by Kafka's group coordinator: the broker refused an offset commit of this "
                    + "PartiConsumer (" + (cause == null ? "" : cause.getClass().getSimpleName() + ": " + cause.getMessage()) + ")");
        }
        sb.append(", while this PartiConsumer coordinates the same group through Parti. A group is managed either by Kafka or "
                + "by Parti, never by both: stop every KafkaConsumer of group '").append(g)
                .append("' before starting PartiConsumers (a rolling mix of KafkaConsumer and PartiConsumer is not supported), "
                        + "or give the PartiConsumers another group.id. Crashed members are removed by the broker after their "
                        + "session.timeout.ms. This consumer retries once the group has no Kafka-managed member left.");
        return new MixedGroupException(g, sb.toString(), cause);
    }

    private static String describeMember(MemberDescription member) {
        return member.clientId() + " on " + member.host() + member.groupInstanceId().map(id -> " instance " + id).orElse("");
    }

    // ================================================================== commits

    private boolean isSubscribed() {
        return mode == Mode.TOPICS || mode == Mode.PATTERN;
    }

    /** Null when this member may commit for {@code partitions}, else why not. */
    private CommitFailedException ownershipProblem(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return null;
        }
        Membership m = membership;
        String g = settings.groupId;
        if (m == null || !m.isStarted()) {
            return new CommitFailedException("Commit refused for " + KafkaPartitions.sorted(partitions) + ": this consumer "
                    + "has not joined Parti group '" + g + "' (call poll() after subscribe()) and owns no partitions");
        }
        if (!m.manager().isLeaseValid()) {
            return new CommitFailedException("Commit refused: this consumer is not a safe owner in Parti group '" + g
                    + "' right now (its heartbeat could not be written to NATS for longer than parti.session.timeout.ms minus "
                    + "the safety margin, or its worker ID was lost), so another member may already own " 
                    + KafkaPartitions.sorted(partitions) + ". Records processed since the last successful commit may be "
                    + "processed again by their new owner.");
        }
        Set<TopicPartition> notOwned = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : partitions) {
            if (!m.owns(tp)) {
                notOwned.add(tp);
            }
        }
        if (!notOwned.isEmpty()) {
            return new CommitFailedException("Commit refused for " + notOwned + ": not owned by this consumer in Parti group '"
                    + g + "' (revoked, lost, or never assigned to it). Their records may be processed again by their owner.");
        }
        return null;
    }

    private void requireOwned(Collection<TopicPartition> partitions) {
        CommitFailedException e = ownershipProblem(partitions);
        if (e != null) {
            throw e;
        }
    }

    private static boolean isGroupRefusal(Throwable e) {
        return e instanceof CommitFailedException || e instanceof UnknownMemberIdException
                || e instanceof IllegalGenerationException || e instanceof RebalanceInProgressException;
    }

    /** A broker refusal of a generation −1 commit in a subscribed consumer means a mixed group. */
    private RuntimeException translateCommitError(RuntimeException e, boolean describe) {
        if (!isSubscribed() || !isGroupRefusal(e)) {
            return e;
        }
        ConsumerGroupDescription d = null;
        if (describe) {
            try {
                d = describeGroup(Duration.ofMillis(Math.min(5_000, settings.requestTimeoutMs)));
            } catch (Exception ignored) {
                // the refusal alone says enough
            }
        }
        MixedGroupException mixed = mixedGroupError(d, e);
        mixedGroup = mixed;
        scheduleGroupCheck();
        return mixed;
    }

    private void scheduleGroupCheck() {
        ScheduledExecutorService t = timer;
        if (t != null && !closed) {
            try {
                t.schedule(this::checkGroupMembers, MIXED_RECHECK_MS, TimeUnit.MILLISECONDS);
            } catch (RuntimeException ignored) {
                // shut down meanwhile
            }
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync() {
        commitSync(Duration.ofMillis(settings.defaultApiTimeoutMs));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Duration timeout) {
        acquireAndEnsureOpen();
        try {
            requireGroupId();
            runCompletedCommitCallbacks();
            if (isSubscribed()) {
                requireOwned(inner.assignment());
            }
            try {
                blocking(() -> {
                    inner.commitSync(timeout);
                    return null;
                });
            } catch (RuntimeException e) {
                throw translateCommitError(e, true);
            }
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        commitSync(offsets, Duration.ofMillis(settings.defaultApiTimeoutMs));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        acquireAndEnsureOpen();
        try {
            requireGroupId();
            runCompletedCommitCallbacks();
            if (isSubscribed()) {
                requireOwned(offsets.keySet());
            }
            try {
                blocking(() -> {
                    inner.commitSync(offsets, timeout);
                    return null;
                });
            } catch (RuntimeException e) {
                throw translateCommitError(e, true);
            }
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync() {
        commitAsync((OffsetCommitCallback) null);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync(OffsetCommitCallback callback) {
        acquireAndEnsureOpen();
        try {
            requireGroupId();
            runCompletedCommitCallbacks();
            if (isSubscribed()) {
                Set<TopicPartition> parts = inner.assignment();
                CommitFailedException refused = ownershipProblem(parts);
                if (refused != null) {
                    completedCommits.add(() -> complete(callback, Map.of(), refused));
                    return;
                }
            }
            inner.commitAsync(wrap(callback));
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        acquireAndEnsureOpen();
        try {
            requireGroupId();
            runCompletedCommitCallbacks();
            if (isSubscribed()) {
                CommitFailedException refused = ownershipProblem(offsets.keySet());
                if (refused != null) {
                    Map<TopicPartition, OffsetAndMetadata> copy = Map.copyOf(offsets);
                    completedCommits.add(() -> complete(callback, copy, refused));
                    return;
                }
            }
            inner.commitAsync(offsets, wrap(callback));
        } finally {
            release();
        }
    }

    private OffsetCommitCallback wrap(OffsetCommitCallback callback) {
        return (offsets, exception) -> {
            Exception e = exception;
            if (exception instanceof RuntimeException && isSubscribed() && isGroupRefusal(exception)) {
                e = translateCommitError((RuntimeException) exception, false);
            }
            complete(callback, offsets, e);
        };
    }

    private static void complete(OffsetCommitCallback callback, Map<TopicPartition, OffsetAndMetadata> offsets, Exception e) {
        if (callback != null) {
            callback.onComplete(offsets, e);
        } else if (e != null) {
            log.error("Offset commit with offsets {} failed", offsets, e);
        }
    }

    private void runCompletedCommitCallbacks() {
        for (Runnable r = completedCommits.poll(); r != null; r = completedCommits.poll()) {
            r.run();
        }
    }

    private void maybeAutoCommitAsync() {
        if (!settings.autoCommit) {
            return;
        }
        long now = clock.getAsLong();
        if (now - nextAutoCommitNanos < 0) {
            return;
        }
        nextAutoCommitNanos = now + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
        Set<TopicPartition> parts = inner.assignment();
        if (parts.isEmpty()) {
            return;
        }
        if (isSubscribed()) {
            CommitFailedException refused = ownershipProblem(parts);
            if (refused != null) {
                log.debug("Auto-commit skipped: {}", refused.getMessage());
                return;
            }
        }
        inner.commitAsync((offsets, e) -> {
            if (e == null) {
                log.debug("Auto-committed offsets {}", offsets);
            } else if (e instanceof RuntimeException && isSubscribed() && isGroupRefusal(e)) {
                translateCommitError((RuntimeException) e, false);
                log.error("Auto-commit of offsets {} refused: {}", offsets, mixedGroup == null ? e : mixedGroup.getMessage());
            } else {
                log.warn("Asynchronous auto-commit of offsets {} failed: {}", offsets, e.getMessage());
            }
        });
    }

    /** Kafka's synchronous auto-commit before a revocation and on close: failures are logged, not thrown. */
    private void autoCommitSync(String when) {
        if (!settings.autoCommit) {
            return;
        }
        Set<TopicPartition> parts = inner.assignment();
        if (parts.isEmpty()) {
            return;
        }
        CommitFailedException refused = isSubscribed() ? ownershipProblem(parts) : null;
        if (refused != null) {
            log.warn("Synchronous auto-commit {} skipped: {}", when, refused.getMessage());
            return;
        }
        long timeoutMs = Math.max(1_000, Math.min(settings.defaultApiTimeoutMs, settings.maxPollIntervalMs));
        try {
            blocking(() -> {
                inner.commitSync(Duration.ofMillis(timeoutMs));
                return null;
            });
            nextAutoCommitNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
        } catch (WakeupException e) {
            log.debug("Synchronous auto-commit {} interrupted by wakeup()", when);
        } catch (RuntimeException e) {
            RuntimeException shown = translateCommitError(e, false);
            log.warn("Synchronous auto-commit of offsets {} failed: {}", when, shown.getMessage());
        }
    }

    // ================================================================== pass-through

    /** Implements {@link dev.parti.kafka.PartiConsumer#seek}, documented there. */
    public void seek(TopicPartition partition, long offset) {
        if (offset < 0) {
            throw new IllegalArgumentException("seek offset must not be a negative number");
        }
        acquireAndEnsureOpen();
        try {
            inner.seek(partition, offset);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seek}, documented there. */
    public void seek(TopicPartition partition, OffsetAndMetadata offsetAndMetadata) {
        if (offsetAndMetadata.offset() < 0) {
            throw new IllegalArgumentException("seek offset must not be a negative number");
        }
        acquireAndEnsureOpen();
        try {
            inner.seek(partition, offsetAndMetadata);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seekToBeginning}, documented there. */
    public void seekToBeginning(Collection<TopicPartition> partitions) {
        if (partitions == null) {
            throw new IllegalArgumentException("Partitions collection cannot be null");
        }
        acquireAndEnsureOpen();
        try {
            inner.seekToBeginning(partitions);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seekToEnd}, documented there. */
    public void seekToEnd(Collection<TopicPartition> partitions) {
        if (partitions == null) {
            throw new IllegalArgumentException("Partitions collection cannot be null");
        }
        acquireAndEnsureOpen();
        try {
            inner.seekToEnd(partitions);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#position}, documented there. */
    public long position(TopicPartition partition, Duration timeout) {
        return call(() -> inner.position(partition, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#committed}, documented there. */
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions, Duration timeout) {
        return call(() -> inner.committed(partitions, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#clientInstanceId}, documented there. */
    public Uuid clientInstanceId(Duration timeout) {
        return call(() -> inner.clientInstanceId(timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#metrics}, documented there. */
    public Map<MetricName, ? extends Metric> metrics() {
        Map<MetricName, Metric> all = new HashMap<>(inner.metrics());
        Map<MetricName, KafkaMetric> own = metrics.metrics();
        all.putAll(own);
        return java.util.Collections.unmodifiableMap(all);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#partitionsFor}, documented there. */
    public List<PartitionInfo> partitionsFor(String topic, Duration timeout) {
        return call(() -> inner.partitionsFor(topic, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#listTopics}, documented there. */
    public Map<String, List<PartitionInfo>> listTopics(Duration timeout) {
        return call(() -> inner.listTopics(timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#paused}, documented there. */
    public Set<TopicPartition> paused() {
        acquireAndEnsureOpen();
        try {
            return inner.paused();
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#pause}, documented there. */
    public void pause(Collection<TopicPartition> partitions) {
        acquireAndEnsureOpen();
        try {
            inner.pause(partitions);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#resume}, documented there. */
    public void resume(Collection<TopicPartition> partitions) {
        acquireAndEnsureOpen();
        try {
            inner.resume(partitions);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#offsetsForTimes}, documented there. */
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestamps, Duration timeout) {
        return call(() -> inner.offsetsForTimes(timestamps, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#beginningOffsets}, documented there. */
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return call(() -> inner.beginningOffsets(partitions, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#endOffsets}, documented there. */
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return call(() -> inner.endOffsets(partitions, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#currentLag}, documented there. */
    public OptionalLong currentLag(TopicPartition partition) {
        acquireAndEnsureOpen();
        try {
            return inner.currentLag(partition);
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#groupMetadata}, documented there. */
    public ConsumerGroupMetadata groupMetadata() {
        acquireAndEnsureOpen();
        try {
            return inner.groupMetadata();
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#enforceRebalance}, documented there. */
    public void enforceRebalance(String reason) {
        acquireAndEnsureOpen();
        try {
            if (settings.groupId == null) {
                throw new IllegalStateException("Tried to force a rebalance but consumer does not have a group.");
            }
            if (isSubscribed() && timer != null) {
                log.info("Rebalance requested ({}): re-reading the subscription's partitions",
                        reason == null || reason.isEmpty() ? "rebalance enforced by user" : reason);
                timer.execute(this::refreshMetadata);
            }
        } finally {
            release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#registerMetricForSubscription}, documented there. */
    public void registerMetricForSubscription(KafkaMetric metric) {
        inner.registerMetricForSubscription(metric);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#unregisterMetricFromSubscription}, documented there. */
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        inner.unregisterMetricFromSubscription(metric);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#wakeup}, documented there. */
    public void wakeup() {
        wakeupRequested.set(true);
        inner.wakeup();
        signal();
    }

    // ================================================================== close

    /** Implements {@link dev.parti.kafka.PartiConsumer#close}, documented there. */
    public void close(CloseOptions options) {
        Objects.requireNonNull(options, "options");
        Duration timeout = options.timeout().orElse(Duration.ofMillis(DEFAULT_CLOSE_TIMEOUT_MS));
        if (timeout.toMillis() < 0) {
            throw new IllegalArgumentException("The timeout cannot be negative.");
        }
        acquire();
        try {
            if (closed) {
                return;
            }
            long deadline = clock.getAsLong() + timeout.toNanos();
            RuntimeException first = null;
            try {
                runCompletedCommitCallbacks();
            } catch (RuntimeException e) {
                first = e;
            }
            try {
                if (membership != null) {
                    leaveGroup(true, options.groupMembershipOperation());
                } else if (mode == Mode.MANUAL) {
                    autoCommitSync("on close"); // like KafkaConsumer, also for a manual assignment
                }
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
            leaving = true;
            stopGroupRuntime();
            try {
                inner.close(Duration.ofNanos(Math.max(0, deadline - clock.getAsLong())));
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
            metrics.close();
            if (first != null) {
                if (first instanceof InterruptException) {
                    throw first;
                }
                throw new KafkaException("Failed to close kafka consumer", first);
            }
        } finally {
            closed = true;
            release();
        }
    }

    private void stopGroupRuntime() {
        if (timer != null) {
            timer.shutdownNow();
            try {
                timer.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
    }

    // ================================================================== helpers

    private <T> T call(Supplier<T> blockingCall) {
        acquireAndEnsureOpen();
        try {
            return blocking(blockingCall);
        } finally {
            release();
        }
    }

    /**
     * Runs a blocking call of the inner consumer: a pending {@link #wakeup()} is thrown first; a
     * {@link WakeupException} of the inner consumer that no pending wakeup explains (a leftover of a
     * wakeup already reported by this class) is absorbed and the call repeated.
     */
    private <T> T blocking(Supplier<T> blockingCall) {
        throwIfWakeup();
        while (true) {
            try {
                return blockingCall.get();
            } catch (WakeupException e) {
                if (wakeupRequested.getAndSet(false)) {
                    throw e;
                }
            }
        }
    }

    private void throwIfWakeup() {
        if (wakeupRequested.getAndSet(false)) {
            throw new WakeupException();
        }
    }

    private void requireGroupId() {
        if (settings.groupId == null) {
            throw new InvalidGroupIdException("To use the group management or offset commit APIs, you must "
                    + "provide a valid " + ConsumerConfig.GROUP_ID_CONFIG + " in the consumer configuration.");
        }
    }

    private void requireAssignors() {
        if (settings.assignorClasses.isEmpty()) {
            throw new IllegalStateException("Must configure at least one partition assigner class name to "
                    + ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG + " configuration property");
        }
    }

    private void acquireAndEnsureOpen() {
        acquire();
        if (closed) {
            release();
            throw new IllegalStateException("This consumer has already been closed.");
        }
    }

    private void acquire() {
        Thread thread = Thread.currentThread();
        long threadId = thread.getId();
        if (threadId != currentThread.get() && !currentThread.compareAndSet(NO_CURRENT_THREAD, threadId)) {
            throw new ConcurrentModificationException("PartiConsumer is not safe for multi-threaded access. currentThread(name: "
                    + thread.getName() + ", id: " + threadId + ") otherThread(id: " + currentThread.get() + ")");
        }
        refcount.incrementAndGet();
    }

    private void release() {
        if (refcount.decrementAndGet() == 0) {
            currentThread.set(NO_CURRENT_THREAD);
        }
    }

    /** {@code default.api.timeout.ms}, for the methods without a timeout argument. */
    public Duration defaultApiTimeout() {
        return Duration.ofMillis(settings.defaultApiTimeoutMs);
    }

    // ================================================================== for tests

    /** The current Parti manager, or null when not joined. */
    public PartiManager partiManager() {
        return currentManager();
    }
}
