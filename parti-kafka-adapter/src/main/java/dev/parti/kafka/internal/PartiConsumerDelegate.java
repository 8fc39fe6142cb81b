package dev.parti.kafka.internal;

import dev.parti.PartiManager;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.ConcurrentModificationException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
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
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidGroupIdException;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The implementation behind {@link dev.parti.kafka.PartiConsumer}: a real {@link KafkaConsumer}
 * driven with {@code assign()}, a Parti membership that decides what it is assigned, and the glue
 * that makes the pair behave like a subscribed {@code KafkaConsumer}. It is the facade over the
 * roles, split as kafka-clients splits its consumer:
 * <ul>
 *   <li>{@link SubscriptionState}: what is subscribed and what the user was told it is assigned;</li>
 *   <li>{@link RebalanceDriver}: the Parti membership and the user's rebalance callbacks;</li>
 *   <li>{@link CommitGate}: commits, auto-commit, ordered commit callbacks;</li>
 *   <li>{@link Poller}: the poll loop;</li>
 *   <li>{@link GroupRuntime} (with {@link TopicWatcher} and {@link MixedGroupGuard}): metadata and
 *   group inspection on the runtime's timer threads.</li>
 * </ul>
 *
 * <p>Threads: the user's polling thread calls every public method (guarded like {@code
 * KafkaConsumer} by {@link ConsumerThread}: a second thread gets a {@link
 * ConcurrentModificationException}); user callbacks run there only. Parti's callback thread runs
 * {@link Membership}'s listener; the runtime's two timer threads run metadata refreshes, group
 * inspection and the {@code max.poll.interval.ms} watchdog.
 */
public final class PartiConsumerDelegate<K, V> {
    private static final Logger log = LoggerFactory.getLogger(PartiConsumerDelegate.class);

    static final long DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
    private static final String MUTUALLY_EXCLUSIVE = "Subscription to topics, partitions and pattern are mutually exclusive";

    private final ConsumerSettings settings;
    private final KafkaConsumer<K, V> inner;
    private final PartiMetrics metrics;
    private final String clientId;
    private final LongSupplier clock;
    private final ConsumerThread thread = new ConsumerThread();
    private final SubscriptionState subscription = new SubscriptionState();
    private final CommitGate commits;
    private final RebalanceDriver driver;
    private final Poller<K, V> poller;
    private final Interceptors<K, V> interceptors;
    // created at the first subscribe and kept until close
    private volatile GroupRuntime runtime;
    private volatile MixedGroupGuard guard;
    /** The worker metadata key under which a switching member publishes its Kafka member ID ({@link #migrationBridgeMember}). */
    public static final String BRIDGE_MEMBER_METADATA = "kafka.bridge.member";
    /**
     * The worker metadata key under which a switching member publishes the partitions its Kafka side owns ({@link
     * #migrationSwitching}), as {@code topic:n,n,...;topic:n,...}.
     */
    public static final String BRIDGE_OWNED_METADATA = "kafka.bridge.owned";
    /**
     * The worker metadata key under which a switching member publishes the Kafka generation of the switch ({@link
     * #migrationSwitching}): {@code generation}, or {@code generation:members} from the member that announced the
     * switch to {@code members} members. Parti's leader assigns once that many members of the generation have joined,
     * without waiting out its cold-start window (see {@link SubscriptionStrategy#coldStartComplete}).
     */
    public static final String SWITCH_METADATA = "kafka.switch";

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
            Supplier<GroupRuntime> rt = () -> runtime;
            Supplier<MixedGroupGuard> g = () -> guard;
            RebalanceDriver[] d = new RebalanceDriver[1];
            this.metrics = new PartiMetrics(clientId, settings.innerConfig, inner.metrics(), () -> d[0] == null ? null : d[0].manager(),
                    () -> d[0] == null ? 0 : d[0].assignedCount());
            this.interceptors = new Interceptors<>(settings, clientId);
            this.commits = new CommitGate(settings, inner, thread, subscription, () -> d[0].membership(), g, interceptors, clock);
            @SuppressWarnings("unchecked")
            Poller<K, V>[] p = new Poller[1];
            d[0] = new RebalanceDriver(settings, inner, subscription, commits, metrics, clock, rt, g, () -> p[0].onMembershipEvent(), clientId);
            this.driver = d[0];
            p[0] = new Poller<>(inner, thread, subscription, driver, commits, g, rt, interceptors, settings, clock);
            this.poller = p[0];
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

    // ================================================================== subscription

    /** Implements {@link dev.parti.kafka.PartiConsumer#assignment}, documented there. */
    public Set<TopicPartition> assignment() {
        return guarded(() -> inner.assignment());
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscription}, documented there. */
    public Set<String> subscription() {
        thread.acquireAndEnsureOpen();
        try {
            switch (subscription.mode()) {
                case TOPICS:
                    return subscription.topics();
                case PATTERN:
                case RE2J_PATTERN:
                    return runtime.watcher().topics();
                default:
                    return Set.of();
            }
        } finally {
            thread.release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        subscribeTopics(newTopics, SubscriptionState.requireListener(newListener));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Collection<String> newTopics) {
        subscribeTopics(newTopics, SubscriptionState.NOOP);
    }

    private void subscribeTopics(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        thread.acquireAndEnsureOpen();
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
            if (subscription.mode() != SubscriptionState.Mode.NONE && subscription.mode() != SubscriptionState.Mode.TOPICS) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            ensureGroupRuntime();
            Set<String> topics = Set.copyOf(new TreeSet<>(newTopics));
            Set<TopicPartition> before = Set.copyOf(subscription.leaving());
            driver.subscriptionChanged(subscription.subscribe(topics, newListener), before);
            driver.publishSubscription(subscription.metadataValue());
            runtime.watcher().subscribe(topics);
            log.info("Subscribed to topic(s): {} (Parti group {})", String.join(", ", topics), settings.groupId);
            afterSubscribe();
        } finally {
            thread.release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Pattern pattern, ConsumerRebalanceListener newListener) {
        subscribePattern(() -> SubscriptionState.TopicPattern.of(pattern), SubscriptionState.requireListener(newListener));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(Pattern pattern) {
        subscribePattern(() -> SubscriptionState.TopicPattern.of(pattern), SubscriptionState.NOOP);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(SubscriptionPattern pattern, ConsumerRebalanceListener newListener) {
        subscribePattern(() -> SubscriptionState.TopicPattern.of(pattern), SubscriptionState.requireListener(newListener));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#subscribe}, documented there. */
    public void subscribe(SubscriptionPattern pattern) {
        subscribePattern(() -> SubscriptionState.TopicPattern.of(pattern), SubscriptionState.NOOP);
    }

    private void subscribePattern(Supplier<SubscriptionState.TopicPattern> validated, ConsumerRebalanceListener newListener) {
        requireGroupId();
        SubscriptionState.TopicPattern pattern = validated.get();
        thread.acquireAndEnsureOpen();
        try {
            requireAssignors();
            if (subscription.mode() != SubscriptionState.Mode.NONE && subscription.mode() != pattern.mode()) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            ensureGroupRuntime();
            Set<TopicPartition> before = Set.copyOf(subscription.leaving());
            driver.subscriptionChanged(subscription.subscribe(pattern, newListener), before);
            driver.publishSubscription(subscription.metadataValue());
            runtime.watcher().subscribe(pattern.key(), pattern.matcher());
            log.info("Subscribed to {} (Parti group {})", pattern.description(), settings.groupId);
            afterSubscribe();
        } finally {
            thread.release();
        }
    }

    private void ensureGroupRuntime() {
        if (runtime == null) {
            runtime = new GroupRuntime(settings, clientId, driver::manager, driver::watchPollInterval);
            guard = new MixedGroupGuard(settings, runtime, driver::isJoined);
        }
    }

    private void afterSubscribe() {
        driver.prepare(); // joins in the next poll()
        runtime.refreshSoon();
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#assign}, documented there. */
    public void assign(Collection<TopicPartition> partitions) {
        thread.acquireAndEnsureOpen();
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
            if (subscription.isSubscribed()) {
                throw new IllegalStateException(MUTUALLY_EXCLUSIVE);
            }
            commits.maybeAutoCommitAsync();
            subscription.assignManually();
            inner.assign(partitions);
        } finally {
            thread.release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#unsubscribe}, documented there. */
    public void unsubscribe() {
        thread.acquireAndEnsureOpen();
        try {
            RuntimeException failure = null;
            try {
                driver.leave(false, GroupMembershipOperation.DEFAULT,
                        clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.defaultApiTimeoutMs));
            } catch (RuntimeException e) {
                failure = e;
            }
            subscription.clear();
            if (runtime != null) {
                runtime.watcher().clear();
            }
            inner.unsubscribe();
            log.info("Unsubscribed all topics or patterns and assigned partitions");
            if (failure != null) {
                throw failure;
            }
        } finally {
            thread.release();
        }
    }

    // ================================================================== poll and commits

    /** Implements {@link dev.parti.kafka.PartiConsumer#poll}, documented there. */
    public ConsumerRecords<K, V> poll(Duration timeout) {
        long timeoutMs = timeout.toMillis();
        if (timeoutMs < 0) {
            throw new IllegalArgumentException("Invalid negative timeout " + timeoutMs);
        }
        thread.acquireAndEnsureOpen();
        try {
            return poller.poll(timeoutMs);
        } finally {
            thread.release();
        }
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync() {
        commitSync(Duration.ofMillis(settings.defaultApiTimeoutMs));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Duration timeout) {
        run(() -> commits.commitSync(null, timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        commitSync(offsets, Duration.ofMillis(settings.defaultApiTimeoutMs));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitSync}, documented there. */
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        run(() -> commits.commitSync(Objects.requireNonNull(offsets, "offsets"), timeout));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync() {
        commitAsync((OffsetCommitCallback) null);
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync(OffsetCommitCallback callback) {
        run(() -> commits.commitAsync(null, callback));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#commitAsync}, documented there. */
    public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        run(() -> commits.commitAsync(Objects.requireNonNull(offsets, "offsets"), callback));
    }

    private void run(Runnable action) {
        thread.acquireAndEnsureOpen();
        try {
            action.run();
        } finally {
            thread.release();
        }
    }

    // ================================================================== pass-through

    /** Implements {@link dev.parti.kafka.PartiConsumer#seek}, documented there. */
    public void seek(TopicPartition partition, long offset) {
        if (offset < 0) {
            throw new IllegalArgumentException("seek offset must not be a negative number");
        }
        run(() -> inner.seek(partition, offset));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seek}, documented there. */
    public void seek(TopicPartition partition, OffsetAndMetadata offsetAndMetadata) {
        if (offsetAndMetadata.offset() < 0) {
            throw new IllegalArgumentException("seek offset must not be a negative number");
        }
        run(() -> inner.seek(partition, offsetAndMetadata));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seekToBeginning}, documented there. */
    public void seekToBeginning(Collection<TopicPartition> partitions) {
        if (partitions == null) {
            throw new IllegalArgumentException("Partitions collection cannot be null");
        }
        run(() -> inner.seekToBeginning(partitions));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#seekToEnd}, documented there. */
    public void seekToEnd(Collection<TopicPartition> partitions) {
        if (partitions == null) {
            throw new IllegalArgumentException("Partitions collection cannot be null");
        }
        run(() -> inner.seekToEnd(partitions));
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
        return guarded(() -> {
            Set<TopicPartition> paused = new HashSet<>(inner.paused());
            paused.removeAll(subscription.leaving()); // paused by this consumer until their revocation, not by the user
            return Collections.unmodifiableSet(paused);
        });
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#pause}, documented there. */
    public void pause(Collection<TopicPartition> partitions) {
        run(() -> inner.pause(partitions));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#resume}, documented there. */
    public void resume(Collection<TopicPartition> partitions) {
        run(() -> inner.resume(KafkaPartitions.minus(partitions, subscription.leaving()))); // those stay paused
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
        return guarded(() -> inner.currentLag(partition));
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#groupMetadata}, documented there. */
    public ConsumerGroupMetadata groupMetadata() {
        return guarded(() -> {
            ConsumerGroupMetadata m = inner.groupMetadata(); // the inner consumer never sees group.instance.id
            return settings.groupInstanceId == null ? m
                    : new ConsumerGroupMetadata(m.groupId(), m.generationId(), m.memberId(), Optional.of(settings.groupInstanceId));
        });
    }

    /** Implements {@link dev.parti.kafka.PartiConsumer#enforceRebalance}, documented there. */
    public void enforceRebalance(String reason) {
        thread.acquireAndEnsureOpen();
        try {
            if (settings.groupId == null) {
                throw new IllegalStateException("Tried to force a rebalance but consumer does not have a group.");
            }
            if (subscription.isSubscribed() && runtime != null) {
                String why = reason == null || reason.isEmpty() ? "rebalance enforced by user" : reason;
                runtime.refreshSoon();
                dev.parti.PartiManager m = driver.manager();
                if (m != null) {
                    log.info("Rebalance of group {} requested ({})", settings.groupId, why);
                    try {
                        m.requestRebalance(); // group-wide: the leader publishes a new version, every member's listener hears it
                    } catch (IllegalStateException closing) {
                        log.debug("Rebalance not requested: the membership is ending ({})", closing.getMessage());
                    }
                } else {
                    log.info("Rebalance requested ({}) while joining: the join is the rebalance", why);
                }
            }
        } finally {
            thread.release();
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
        thread.requestWakeup();
        inner.wakeup();
    }

    // ================================================================== close

    /** Implements {@link dev.parti.kafka.PartiConsumer#close}, documented there. */
    public void close(CloseOptions options) {
        Objects.requireNonNull(options, "options");
        Duration timeout = options.timeout().orElse(Duration.ofMillis(DEFAULT_CLOSE_TIMEOUT_MS));
        if (timeout.toMillis() < 0) {
            throw new IllegalArgumentException("The timeout cannot be negative.");
        }
        thread.acquire();
        try {
            if (thread.isClosed()) {
                return;
            }
            long t0 = clock.getAsLong();
            long deadline = t0 + timeout.toNanos();
            RuntimeException first = null;
            try {
                commits.runCompletedCallbacks();
            } catch (RuntimeException e) {
                first = e;
            }
            try {
                if (driver.membership() != null) {
                    driver.leave(true, options.groupMembershipOperation(), deadline);
                } else if (subscription.mode() == SubscriptionState.Mode.MANUAL) {
                    commits.autoCommitSync("on close"); // like KafkaConsumer, also for a manual assignment
                }
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
            driver.closing();
            long tLeft = clock.getAsLong();
            if (runtime != null) {
                runtime.stop(Duration.ofNanos(Math.max(0, Math.min(TimeUnit.SECONDS.toNanos(5), deadline - clock.getAsLong()))));
            }
            long tRuntime = clock.getAsLong();
            try {
                inner.close(Duration.ofNanos(Math.max(0, deadline - clock.getAsLong())));
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
            if (log.isDebugEnabled()) {
                long tEnd = clock.getAsLong();
                log.debug("Consumer {} closed in {} µs: Parti membership {} µs, shared runtime {} µs, inner consumer {} µs",
                        clientId, (tEnd - t0) / 1000, (tLeft - t0) / 1000, (tRuntime - tLeft) / 1000, (tEnd - tRuntime) / 1000);
            }
            metrics.close();
            interceptors.close();
            if (first != null) {
                if (first instanceof InterruptException) {
                    throw first;
                }
                throw new KafkaException("Failed to close kafka consumer", first);
            }
        } finally {
            thread.markClosed();
            thread.release();
        }
    }

    // ================================================================== helpers

    private <T> T guarded(Supplier<T> action) {
        thread.acquireAndEnsureOpen();
        try {
            return action.get();
        } finally {
            thread.release();
        }
    }

    private <T> T call(Supplier<T> blockingCall) {
        thread.acquireAndEnsureOpen();
        try {
            return thread.blocking(blockingCall);
        } finally {
            thread.release();
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

    /** {@code default.api.timeout.ms}, for the methods without a timeout argument. */
    public Duration defaultApiTimeout() {
        return Duration.ofMillis(settings.defaultApiTimeoutMs);
    }

    /**
     * Any thread: whether this member leads its Parti group and every live worker of the leader's last rebalance
     * publishes {@code parti.migration=parti-to-kafka} (the rolling rollback, {@code dev.parti.kafka.migration}).
     */
    public boolean leadsAGroupThatRollsBack() {
        return driver.leadsAGroupThatRollsBack();
    }

    /**
     * Where the commits of this consumer go when the broker refuses them because the Kafka group has members, instead
     * of failing with a {@link dev.parti.kafka.MixedGroupException}: the rolling rollback ({@code
     * parti.migration=parti-to-kafka}) makes them Kafka commits. Both methods are called on the polling thread.
     */
    public interface RefusedCommits {
        /**
         * Inside {@code commitSync}: commits {@code offsets} otherwise within {@code timeout}, or throws what the
         * caller's {@code commitSync} throws.
         */
        void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout);

        /**
         * Inside a call of this consumer (the refusal of a {@code commitAsync} or an auto-commit arrived): commits
         * {@code offsets} otherwise, later, and then calls {@code completion} on the polling thread with null or the
         * error. Until then the callbacks of the commits made after it wait ({@link #runCommitCallbacks()}).
         */
        void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, java.util.function.Consumer<Exception> completion);
    }

    /** Routes the broker's refusals of this consumer's commits to {@code router} (see {@link RefusedCommits}). */
    public void routeRefusedCommits(RefusedCommits router) {
        commits.routeRefusedCommits(Objects.requireNonNull(router, "router"));
    }

    /**
     * Polling thread: waits up to {@code timeout} until the asynchronous commits sent so far have completed (their
     * refusals routed), then runs the callbacks of those completed, in commit order.
     */
    public void awaitSentCommits(Duration timeout) {
        run(() -> {
            commits.awaitSentCommits(timeout);
            commits.runCompletedCallbacks();
        });
    }

    /** Polling thread: runs the callbacks of completed commits, in commit order (for routed commits that completed). */
    public void runCommitCallbacks() {
        run(commits::runCompletedCallbacks);
    }

    /** The validated Parti settings of this consumer (any thread). */
    public dev.parti.kafka.PartiConsumerConfig partiConfig() {
        return settings.parti;
    }

    /**
     * A rolling migration is switching (polling thread, before the Parti side subscribes). This member publishes in its
     * Parti heartbeat the partitions its Kafka side owns ({@link #BRIDGE_OWNED_METADATA}), which the Parti leader's first
     * assignment keeps with it (see {@link SubscriptionStrategy}), and, unless {@code memberId} is null, its Kafka side's
     * member ID ({@link #BRIDGE_MEMBER_METADATA}), so that once this member has stopped (killed, say) and its Parti lease
     * has surely ended, the other members may remove that Kafka membership (see {@link MixedGroupGuard}); and the
     * switch's Kafka generation, with the number of members it was announced to when this member announced it
     * ({@link #SWITCH_METADATA}; {@code members} 0 otherwise, a {@code generation} below 0 publishes nothing).
     */
    public void migrationSwitching(String memberId, Set<TopicPartition> owned, int generation, int members) {
        driver.publishSwitching(memberId, owned, SubscriptionStrategy.encodeSwitch(generation, members));
    }

    /**
     * A rolling migration's test of the Kafka members still in the group: true when all of them belong to switching
     * members that have stopped, so the mixed-group guard may remove them; null when there is none (any thread, once
     * subscribed).
     */
    public void migrationStoppedBridges(java.util.function.Predicate<java.util.Collection<String>> stopped) {
        MixedGroupGuard g = guard;
        if (g != null) {
            g.removeWhenStopped(stopped);
        }
    }

    /**
     * A rolling migration's Kafka side has left the Kafka group (polling thread): the mixed-group guard checks the group
     * often from now until it is empty, since this member's partitions wait for that.
     */
    public void migrationLeftKafkaGroup() {
        MixedGroupGuard g = guard;
        if (g != null) {
            g.kafkaGroupLeft();
        }
    }

    /**
     * Whether this member is a safe owner in Parti right now: it has joined and, under the {@code fence} loss policy,
     * its lease is valid (under {@code hold}, once joined). Any thread.
     */
    public boolean safeOwner() {
        PartiManager m = driver.manager();
        return m != null && (settings.parti.lossPolicy() != dev.parti.LossPolicy.FENCE || m.isLeaseValid());
    }

    /** The current Parti manager, or null when not joined (for tests). */
    public PartiManager partiManager() {
        return driver.manager();
    }
}
