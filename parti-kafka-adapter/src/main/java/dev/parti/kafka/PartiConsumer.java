package dev.parti.kafka;

import dev.parti.PartiManager;
import dev.parti.kafka.internal.ConsumerSettings;
import dev.parti.kafka.internal.NoOpRebalanceListener;
import dev.parti.kafka.internal.PartiConsumerDelegate;
import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.kafka.migration.PartiToKafkaMigration;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * A drop-in {@link Consumer} whose group membership and partition assignment are coordinated by Parti
 * over NATS JetStream instead of Kafka's group coordinator. Replace {@code new KafkaConsumer<>(props)}
 * by {@code new PartiConsumer<>(props)}, add {@code parti.nats.url}, and keep everything else: topic
 * and pattern subscriptions, {@link ConsumerRebalanceListener}s, offsets committed to Kafka under the
 * same {@code group.id} (so {@code kafka-consumer-groups --describe}, lag exporters and a rollback to
 * {@code KafkaConsumer} keep working), auto-commit, static membership.
 *
 * <pre>{@code
 * Properties props = new Properties();
 * props.put("bootstrap.servers", "kafka:9092");
 * props.put("group.id", "orders");
 * props.put("key.deserializer", StringDeserializer.class.getName());
 * props.put("value.deserializer", StringDeserializer.class.getName());
 * props.put("parti.nats.url", "nats://nats:4222");
 * try (Consumer<String, String> consumer = new PartiConsumer<>(props)) {
 *     consumer.subscribe(List.of("orders"), listener);
 *     while (running) {
 *         for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) { ... }
 *         consumer.commitSync();
 *     }
 * }
 * }</pre>
 *
 * <h2>How it works</h2>
 * A real {@link KafkaConsumer} (the "inner" consumer) fetches and commits, driven with
 * {@code assign()}; it never joins a Kafka group and commits with generation −1. A Parti worker starts
 * joining the Parti group named by {@code group.id} in the first {@link #poll(Duration)} after a
 * subscribe, in the background (its worker ID is {@code group.instance.id} when set), and the Parti
 * leader assigns the partitions of the subscribed topics, which it reads from Kafka every {@code
 * metadata.max.age.ms}, and every {@code retry.backoff.ms} (growing to {@code retry.backoff.max.ms})
 * while a subscribed topic does not exist yet (so topics created later, topics created or deleted under
 * a pattern, and added partitions are picked up like in Kafka). Members of one group may subscribe to
 * different topics, as in Kafka: each publishes its subscription (topics or pattern) to the Parti leader,
 * which reads the partitions of every member's topics and assigns each member only partitions of its own
 * topics (the strategy runs once per set of members sharing a topic; an explicit Kafka assignor sees each
 * member's real topics); a change of subscription rebalances the group.
 * Configuration: see {@link PartiConsumerConfig} for the {@code parti.*} keys.
 *
 * <h2>Rebalance callbacks</h2>
 * Like {@code KafkaConsumer} with the cooperative protocol, and with the same guarantees:
 * <ul>
 *   <li><b>Thread:</b> every {@link ConsumerRebalanceListener} method runs on the thread calling
 *   {@link #poll(Duration)} (or {@link #close()}, {@link #unsubscribe()}), inside that call, never
 *   concurrently with itself.</li>
 *   <li><b>What each receives:</b> {@code onPartitionsRevoked} only the partitions taken away (only
 *   when there are some), {@code onPartitionsAssigned} only the partitions added (also when none are, once
 *   per Parti assignment version), {@code onPartitionsLost} the partitions this member can no longer
 *   prove it owns: its lease expired ({@code parti.coordinator.loss.policy=fence}), its worker ID was
 *   lost, or {@code max.poll.interval.ms} was exceeded. Commits inside {@code onPartitionsLost} fail.</li>
 *   <li><b>Order across members:</b> a partition is assigned to its new owner only after the old owner's
 *   {@code onPartitionsRevoked} has returned (Parti's two-phase handoff), so committing inside
 *   {@code onPartitionsRevoked} hands the exact position over; or after the old owner's session expired.</li>
 *   <li><b>Exceptions:</b> an exception thrown by a callback comes out of {@code poll()} (a
 *   {@code KafkaException} as it is, anything else wrapped in a {@code KafkaException}); the assignment
 *   change completes anyway, and the other changes queued in the same poll are delivered too.</li>
 * </ul>
 *
 * <h2>Commits</h2>
 * A commit for a partition that this member does not safely own right now (not assigned to it, or
 * its Parti lease is not valid because NATS was unreachable for about a session timeout) fails with
 * {@link CommitFailedException} before anything is sent. A group that still has live members managed by
 * Kafka (old {@code KafkaConsumer}s) makes {@code poll()} and commits fail with {@link MixedGroupException},
 * unless {@code parti.migration=kafka-to-parti}: then this consumer joins that Kafka group as one of its members
 * and the group switches to Parti once every member is such a {@code PartiConsumer} (the migration guide's
 * "Rolling migration"; topic-list subscriptions only). With {@code parti.migration=parti-to-kafka} the reverse:
 * this consumer runs on Parti, and once every live member of the Parti group is configured so, the members join the
 * Kafka group keeping their partitions and leave Parti, so that plain {@code KafkaConsumer}s can replace them one at a
 * time (the guide's "Rolling rollback"). Such a consumer never throws {@link MixedGroupException} for a commit: a commit
 * the broker refuses because the Kafka group has members starts its rollback, and is made as a Kafka commit once its
 * Kafka assignment arrives ({@code commitSync} waits for it within its timeout; a partition Kafka does not give it fails
 * with {@link CommitFailedException}).
 * Interceptors ({@code interceptor.classes}) run here, not in the inner consumer: {@code onConsume} sees
 * exactly the records {@code poll()} returns, {@code onCommit} the commits made (including auto-commits).
 *
 * <h2>Where it differs from {@code KafkaConsumer}</h2>
 * <ul>
 *   <li>Commits of a subscribed consumer are checked against Parti's ownership (see above); Kafka's
 *   classic protocol accepts a commit for any partition from a member of the current generation.</li>
 *   <li>{@code onPartitionsLost} also fires when this member's Parti lease goes stale under
 *   {@code parti.coordinator.loss.policy=fence} (NATS unreachable, or the process paused past its session):
 *   from the instant the lease runs out {@code poll()} returns no record, not even one fetched before, although
 *   the lease watchdog may not have reported the loss yet (after a SIGSTOP or a long GC the polling thread can run
 *   first); a {@code KafkaConsumer} may return such records until its heartbeat learns it was expired. Records held
 *   back are fetched again if the partition stays this member's.</li>
 *   <li>{@link #groupMetadata()} carries generation −1 and member ID {@code ""}.</li>
 *   <li>Metrics are exported from two registries, the inner consumer's and Parti's ({@code
 *   parti-consumer-metrics} and {@code consumer-coordinator-metrics} filled from Parti's rebalances, under JMX
 *   prefix {@code kafka.consumer}): each {@code metric.reporters} class is instantiated for both, and sees the
 *   rebalance metrics twice, the inner consumer's staying empty. JMX shows Parti's (tested by {@code
 *   ConsumerContract#metricReportersAndJmxSeeTheRebalanceMetrics}).</li>
 *   <li>The inner consumer always uses {@code group.protocol=classic} in {@code assign()} mode: with
 *   {@code group.protocol=consumer} settings are validated as Kafka validates them, but no broker-side
 *   group is joined.</li>
 * </ul>
 *
 * <h2>Threads and resources</h2>
 * Not thread-safe, like {@code KafkaConsumer}: use one instance from one thread (a second thread gets a
 * {@code ConcurrentModificationException}); only {@link #wakeup()} may be called from any thread. Besides
 * the inner consumer, a subscribed instance runs Parti's threads ({@code parti-<group>-*}), a Kafka
 * {@code Admin} client, two timer threads ({@code parti-consumer-<client>-timer-N}), and while it joins
 * or leaves the Parti group a thread {@code parti-consumer-<client>-join} or {@code -leave}; while it migrates
 * from a Kafka-run group ({@code parti.migration=kafka-to-parti}), at its first {@code subscribe()} a thread
 * {@code parti-migration-presence-<group>} that reads Parti's state (one short NATS connection, ended before
 * {@code subscribe()} returns, or within that read's timeout of at most 5 s when {@code subscribe()} was interrupted;
 * when it finds Parti heartbeats and Kafka-managed members both, {@code subscribe()} also watches the heartbeats on one
 * more short connection for up to 1.5 heartbeat intervals, to tell running workers from stopped ones' keys),
 * and a second {@code KafkaConsumer} (client ID {@code <client.id>-kafka-group}) in that group, closed at the switch; with {@code parti.migration=parti-to-kafka}, an {@code Admin} client describing the Kafka group
 * while on Parti and, from the rollback on, a second {@code KafkaConsumer} ({@code <client.id>-kafka-group}) that
 * serves every call; {@link #close()} stops all of them. When NATS does not answer, the leave (or a join still under way) is
 * abandoned at the close timeout and its thread ends shortly after by itself: a join gives up at its
 * next retry, a KV call in flight is interrupted, and no leave is written (the session expires); tested
 * to end within a second of {@code close(1s)} returning.
 *
 * @param <K> key type
 * @param <V> value type
 */
public class PartiConsumer<K, V> implements Consumer<K, V> {
    private final PartiConsumerDelegate<K, V> delegate;
    /** The rolling migration from a Kafka-run group ({@code parti.migration=kafka-to-parti}), else null. */
    private final KafkaToPartiMigration<K, V> migration;
    /** The rolling rollback to a Kafka-run group ({@code parti.migration=parti-to-kafka}), else null. */
    private final PartiToKafkaMigration<K, V> rollback;

    /**
     * A consumer configured by {@code configs}: Kafka consumer settings plus the {@code parti.*} settings
     * of {@link PartiConsumerConfig}; the deserializers come from {@code key.deserializer} and
     * {@code value.deserializer}.
     *
     * @throws ConfigException for a missing or invalid setting (including an unknown {@code parti.*}
     *         key), naming the key
     * @throws org.apache.kafka.common.KafkaException when the inner consumer cannot be created
     */
    public PartiConsumer(Map<String, Object> configs) {
        this(configs, null, null);
    }

    /**
     * Like {@link #PartiConsumer(Map)}, from {@link Properties}.
     *
     * @throws ConfigException for a non-string key or a missing or invalid setting
     */
    public PartiConsumer(Properties properties) {
        this(properties, null, null);
    }

    /**
     * Like {@link #PartiConsumer(Map)} with deserializer instances (used as they are: their
     * {@code configure} is not called), which take precedence over the deserializer settings.
     *
     * @param keyDeserializer   the key deserializer, or null to use {@code key.deserializer}
     * @param valueDeserializer the value deserializer, or null to use {@code value.deserializer}
     */
    public PartiConsumer(Map<String, Object> configs, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
        this.delegate = new PartiConsumerDelegate<>(new ConsumerSettings(configs, keyDeserializer, valueDeserializer),
                keyDeserializer, valueDeserializer);
        this.migration = KafkaToPartiMigration.ifConfigured(configs, keyDeserializer, valueDeserializer, delegate);
        this.rollback = PartiToKafkaMigration.ifConfigured(configs, keyDeserializer, valueDeserializer, delegate);
    }

    private void refusePatternWhileMigrating() {
        if (migration != null || rollback != null) {
            throw new IllegalStateException(PartiConsumerConfig.MIGRATION_CONFIG + "="
                    + (migration != null ? PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI : PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA)
                    + " supports topic-list subscriptions only; subscribe to a list of topics, or migrate with "
                    + PartiConsumerConfig.MIGRATION_CONFIG + "=" + PartiConsumerConfig.MIGRATION_NONE + " (stop-the-fleet)");
        }
    }

    /** The Kafka consumer serving calls while this member is still in a Kafka-run group (migration), else null. */
    private Consumer<K, V> kafkaSide() {
        if (rollback != null) {
            return rollback.kafkaSide();
        }
        return migration == null ? null : migration.kafkaSide();
    }

    /** Like {@link #PartiConsumer(Map, Deserializer, Deserializer)}, from {@link Properties}. */
    public PartiConsumer(Properties properties, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
        this(ConsumerSettings.toMap(properties), keyDeserializer, valueDeserializer);
    }

    /**
     * The partitions currently assigned to this consumer: for a subscription, those announced to the
     * listener through {@code onPartitionsAssigned} and not yet revoked or lost; for {@link #assign},
     * those given.
     */
    @Override
    public Set<TopicPartition> assignment() {
        Consumer<K, V> k = kafkaSide();
        if (k != null && rollback != null) {
            return rollback.assignment();
        }
        if (k != null) {
            return k.assignment();
        }
        return delegate.assignment();
    }

    /**
     * The subscribed topics: the topic list, or for a pattern the existing topics it matched at the last
     * metadata refresh; empty when not subscribed (also under {@link #assign}). Tracked by this class,
     * since the inner consumer only knows its assignment.
     */
    @Override
    public Set<String> subscription() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.subscription();
        }
        return delegate.subscription();
    }

    /**
     * Subscribes to {@code topics}, replacing any previous topic subscription and listener. The Parti
     * group (named by {@code group.id}) is joined from the next {@link #poll(Duration)}; partitions arrive
     * through {@code listener} inside {@code poll()}. An empty collection is {@link #unsubscribe()}. When
     * this replaces a subscription, records of partitions the new one no longer covers are never returned
     * again (what was fetched for them is dropped at once); the next {@code poll()} auto-commits (when
     * enabled) and then revokes them with {@code onPartitionsRevoked}, as {@code KafkaConsumer} does.
     *
     * @throws IllegalArgumentException when topics is null, contains a null or blank topic, or listener is null
     * @throws IllegalStateException after {@link #assign} or a pattern subscription (unsubscribe first)
     * @throws org.apache.kafka.common.errors.InvalidGroupIdException without {@code group.id}
     */
    @Override
    public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
        if (rollback != null && topics != null && !topics.isEmpty() && listener != null) {
            rollback.subscribe(topics, listener);
            return;
        }
        if (migration != null && topics != null && !topics.isEmpty() && listener != null
                && migration.subscribe(topics, listener)) {
            return;
        }
        delegate.subscribe(topics, listener);
    }

    /** {@link #subscribe(Collection, ConsumerRebalanceListener)} with a listener that does nothing. */
    @Override
    public void subscribe(Collection<String> topics) {
        if (rollback != null && topics != null && !topics.isEmpty()) {
            rollback.subscribe(topics, NoOpRebalanceListener.INSTANCE);
            return;
        }
        if (migration != null && topics != null && !topics.isEmpty()
                && migration.subscribe(topics, NoOpRebalanceListener.INSTANCE)) {
            return;
        }
        delegate.subscribe(topics);
    }

    /**
     * Subscribes to every topic whose whole name matches {@code pattern} (internal topics excluded unless
     * {@code exclude.internal.topics=false}). Matching is redone every {@code metadata.max.age.ms}:
     * partitions of topics created later are assigned, those of deleted topics revoked.
     *
     * @throws IllegalArgumentException when pattern is null or empty, or listener is null
     * @throws IllegalStateException after {@link #assign} or a topic subscription
     */
    @Override
    public void subscribe(Pattern pattern, ConsumerRebalanceListener listener) {
        refusePatternWhileMigrating();
        delegate.subscribe(pattern, listener);
    }

    /** {@link #subscribe(Pattern, ConsumerRebalanceListener)} with a listener that does nothing. */
    @Override
    public void subscribe(Pattern pattern) {
        refusePatternWhileMigrating();
        delegate.subscribe(pattern);
    }

    /**
     * Subscribes to every topic whose whole name matches {@code pattern}, in RE2/J syntax as Kafka's
     * broker evaluates it in the {@code consumer} group protocol (KIP-848); here Parti evaluates it against
     * the topics it reads every {@code metadata.max.age.ms}. Otherwise like {@link #subscribe(Pattern,
     * ConsumerRebalanceListener)}.
     *
     * @throws IllegalArgumentException when pattern is null or empty, or callback is null
     * @throws org.apache.kafka.common.errors.InvalidRegularExpression when the pattern is not valid RE2/J
     *         (KafkaConsumer learns it from the broker, in {@code poll()})
     * @throws IllegalStateException after {@link #assign}, a topic or a {@code java.util.regex} pattern subscription
     */
    @Override
    public void subscribe(SubscriptionPattern pattern, ConsumerRebalanceListener callback) {
        refusePatternWhileMigrating();
        delegate.subscribe(pattern, callback);
    }

    /** {@link #subscribe(SubscriptionPattern, ConsumerRebalanceListener)} with a listener that does nothing. */
    @Override
    public void subscribe(SubscriptionPattern pattern) {
        refusePatternWhileMigrating();
        delegate.subscribe(pattern);
    }

    /**
     * Leaves the subscription: {@code onPartitionsRevoked} for the assigned partitions (no
     * auto-commit, like {@code KafkaConsumer}), then this member leaves the Parti group (a static member
     * keeps its ID until it expires) and the assignment is cleared. Also clears a manual assignment.
     *
     * @throws org.apache.kafka.common.KafkaException when the listener threw (after everything is done)
     */
    @Override
    public void unsubscribe() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.unsubscribe();
            return;
        }
        delegate.unsubscribe();
    }

    /**
     * Manual assignment, as in {@code KafkaConsumer}: no Parti group is involved and commits are not
     * checked against any ownership. An empty collection is {@link #unsubscribe()}.
     *
     * @throws IllegalArgumentException when partitions is null or has a null or blank topic
     * @throws IllegalStateException while subscribed
     */
    @Override
    public void assign(Collection<TopicPartition> partitions) {
        delegate.assign(partitions);
    }

    /**
     * Fetches records of the assigned partitions. For a subscription it starts joining the Parti group if
     * needed, in the background: until this member has a worker ID and an assignment, poll returns empty
     * within its timeout (as {@code KafkaConsumer} does while it finds its coordinator), and {@link
     * #wakeup()} ends the wait. Then it runs the rebalance callbacks for what changed since the last poll,
     * runs the auto-commit when due, and fetches. Records of a partition this member lost while they were
     * fetched are dropped. A member that did not call {@code poll()} for
     * {@code max.poll.interval.ms} has left the group meanwhile: this call reports its partitions lost and
     * joins again.
     *
     * @throws IllegalStateException when neither subscribed nor assigned, or closed
     * @throws IllegalArgumentException for a negative timeout
     * @throws org.apache.kafka.common.KafkaException when a rebalance callback threw, or joining the Parti
     *         group failed (NATS unreachable for {@code parti.startup.timeout.ms}; the next poll tries again)
     * @throws org.apache.kafka.common.errors.InvalidTopicException for an invalid subscribed topic name
     * @throws org.apache.kafka.common.errors.TopicAuthorizationException when a subscribed topic may not be read
     * @throws MixedGroupException while the group has Kafka-managed members
     * @throws org.apache.kafka.common.errors.FencedInstanceIdException when a newer instance with the same
     *         {@code group.instance.id} took over (close this one)
     * @throws org.apache.kafka.common.errors.WakeupException after {@link #wakeup()}
     */
    @Override
    public ConsumerRecords<K, V> poll(Duration timeout) {
        if (rollback != null && rollback.phase() != PartiToKafkaMigration.Phase.NEW) {
            return rollback.poll(timeout);
        }
        if (migration != null && migration.phase() != KafkaToPartiMigration.Phase.NEW) {
            return migration.poll(timeout);
        }
        return delegate.poll(timeout);
    }

    /**
     * Commits the positions of all assigned partitions, synchronously, with {@code default.api.timeout.ms}.
     *
     * @throws CommitFailedException when this member does not safely own all assigned partitions
     * @throws MixedGroupException when the broker refuses because Kafka-managed members are live in the group
     */
    @Override
    public void commitSync() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitSync();
            return;
        }
        delegate.commitSync();
    }

    /** Like {@link #commitSync()} with a timeout. */
    @Override
    public void commitSync(Duration timeout) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitSync(timeout);
            return;
        }
        delegate.commitSync(timeout);
    }

    /**
     * Commits {@code offsets} synchronously.
     *
     * @throws CommitFailedException when one of the partitions is not safely owned by this member (a
     *         subscribed consumer only; nothing is sent then)
     * @throws MixedGroupException when the broker refuses because Kafka-managed members are live in the group
     */
    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitSync(offsets);
            return;
        }
        delegate.commitSync(offsets);
    }

    /** Like {@link #commitSync(Map)} with a timeout. */
    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitSync(offsets, timeout);
            return;
        }
        delegate.commitSync(offsets, timeout);
    }

    /** Commits the positions of all assigned partitions asynchronously; failures are logged. */
    @Override
    public void commitAsync() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitAsync();
            return;
        }
        delegate.commitAsync();
    }

    /**
     * Commits the positions of all assigned partitions asynchronously. {@code callback} runs on the
     * polling thread during a later {@code poll()}, commit or {@code close()}; a refused commit (see
     * {@link #commitSync()}) reaches it with a {@link CommitFailedException} without anything being sent.
     * Callbacks run in the order the commits were made, refused ones included. With {@code
     * parti.migration=kafka-to-parti}, a commit the broker refuses while a member passes through the Kafka group owning
     * nothing there (a migrating consumer started during the switch) is sent again once it has left, within {@code
     * default.api.timeout.ms}, and the callback reports that outcome.
     */
    @Override
    public void commitAsync(OffsetCommitCallback callback) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitAsync(callback);
            return;
        }
        if (migration != null && migration.waiting()) {
            if (callback != null) {
                callback.onComplete(Map.of(), null);
            }
            return; // owns nothing while it waits: nothing consumed to commit
        }
        delegate.commitAsync(callback);
    }

    /** Like {@link #commitAsync(OffsetCommitCallback)} for the given offsets. */
    @Override
    public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.commitAsync(offsets, callback);
            return;
        }
        delegate.commitAsync(offsets, callback);
    }

    /** Sets the fetch position of an assigned partition. @throws IllegalStateException when not assigned */
    @Override
    public void seek(TopicPartition partition, long offset) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.seek(partition, offset);
            return;
        }
        delegate.seek(partition, offset);
    }

    /** Sets the fetch position of an assigned partition, with its leader epoch. */
    @Override
    public void seek(TopicPartition partition, OffsetAndMetadata offsetAndMetadata) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.seek(partition, offsetAndMetadata);
            return;
        }
        delegate.seek(partition, offsetAndMetadata);
    }

    /** Moves to the first offset of the partitions (all assigned ones when empty), lazily. */
    @Override
    public void seekToBeginning(Collection<TopicPartition> partitions) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.seekToBeginning(partitions);
            return;
        }
        delegate.seekToBeginning(partitions);
    }

    /** Moves to the end of the partitions (all assigned ones when empty), lazily. */
    @Override
    public void seekToEnd(Collection<TopicPartition> partitions) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.seekToEnd(partitions);
            return;
        }
        delegate.seekToEnd(partitions);
    }

    /**
     * The offset of the next record to fetch from an assigned partition, looked up (committed offset or
     * {@code auto.offset.reset}) if needed, within {@code default.api.timeout.ms}.
     */
    @Override
    public long position(TopicPartition partition) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.position(partition);
        }
        return delegate.position(partition, delegate.defaultApiTimeout());
    }

    /** Like {@link #position(TopicPartition)} with a timeout. */
    @Override
    public long position(TopicPartition partition, Duration timeout) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.position(partition, timeout);
        }
        return delegate.position(partition, timeout);
    }

    /** The offsets committed in Kafka under {@code group.id}, whoever committed them. */
    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.committed(partitions);
        }
        return delegate.committed(partitions, delegate.defaultApiTimeout());
    }

    /** Like {@link #committed(Set)} with a timeout. */
    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions, Duration timeout) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.committed(partitions, timeout);
        }
        return delegate.committed(partitions, timeout);
    }

    /** The inner consumer's client instance ID (needs {@code enable.metrics.push}). */
    @Override
    public Uuid clientInstanceId(Duration timeout) {
        return delegate.clientInstanceId(timeout);
    }

    /**
     * The inner consumer's metrics plus Parti's own in the group {@code parti-consumer-metrics}: assignment
     * version, assigned partitions, lease validity, leadership, state, and counters of applied assignments,
     * stale leases, failed NATS operations and exceeded poll intervals. The rebalance metrics of {@code
     * consumer-coordinator-metrics} ({@code rebalance-latency-avg/max/total}, {@code rebalance-total},
     * {@code rebalance-rate-per-hour}, {@code failed-rebalance-total}, {@code last-rebalance-seconds-ago},
     * {@code assigned-partitions}, {@code partition-assigned/revoked/lost-latency-avg/max}) are filled from
     * Parti's rebalances, so tools that read this map, such as Micrometer's {@code KafkaClientMetrics}, see
     * them as for a {@code KafkaConsumer}. JMX and {@code metric.reporters} see only the inner consumer's
     * registry, where those stay empty.
     */
    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        return delegate.metrics();
    }

    /** The partitions of {@code topic}, from Kafka. */
    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return delegate.partitionsFor(topic, delegate.defaultApiTimeout());
    }

    /** Like {@link #partitionsFor(String)} with a timeout. */
    @Override
    public List<PartitionInfo> partitionsFor(String topic, Duration timeout) {
        return delegate.partitionsFor(topic, timeout);
    }

    /** All topics the user may describe, from Kafka. */
    @Override
    public Map<String, List<PartitionInfo>> listTopics() {
        return delegate.listTopics(delegate.defaultApiTimeout());
    }

    /** Like {@link #listTopics()} with a timeout. */
    @Override
    public Map<String, List<PartitionInfo>> listTopics(Duration timeout) {
        return delegate.listTopics(timeout);
    }

    /** The paused partitions (a partition leaving the assignment is no longer paused). */
    @Override
    public Set<TopicPartition> paused() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.paused();
        }
        return delegate.paused();
    }

    /** Stops fetching from assigned partitions until {@link #resume}; the assignment is unchanged. */
    @Override
    public void pause(Collection<TopicPartition> partitions) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.pause(partitions);
            return;
        }
        delegate.pause(partitions);
    }

    /** Fetches from paused partitions again. */
    @Override
    public void resume(Collection<TopicPartition> partitions) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.resume(partitions);
            return;
        }
        delegate.resume(partitions);
    }

    /** The earliest offsets whose timestamps are at least the given ones. */
    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestampsToSearch) {
        return delegate.offsetsForTimes(timestampsToSearch, delegate.defaultApiTimeout());
    }

    /** Like {@link #offsetsForTimes(Map)} with a timeout. */
    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestampsToSearch, Duration timeout) {
        return delegate.offsetsForTimes(timestampsToSearch, timeout);
    }

    /** The first offsets of the partitions. */
    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions) {
        return delegate.beginningOffsets(partitions, delegate.defaultApiTimeout());
    }

    /** Like {@link #beginningOffsets(Collection)} with a timeout. */
    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return delegate.beginningOffsets(partitions, timeout);
    }

    /** The end offsets of the partitions (high watermark, or last stable offset under read_committed). */
    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions) {
        return delegate.endOffsets(partitions, delegate.defaultApiTimeout());
    }

    /** Like {@link #endOffsets(Collection)} with a timeout. */
    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return delegate.endOffsets(partitions, timeout);
    }

    /** The lag of an assigned partition as last seen by a fetch, empty when not known yet. */
    @Override
    public OptionalLong currentLag(TopicPartition topicPartition) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.currentLag(topicPartition);
        }
        return delegate.currentLag(topicPartition);
    }

    /**
     * The group metadata: {@code group.id}, generation −1, member ID {@code ""} and the {@code
     * group.instance.id} when set, because the inner consumer is not a member of a Kafka group (that is
     * what Kafka accepts for offsets committed within a transaction by a consumer outside its group
     * protocol). It does not carry Parti's assignment version, so a transactional producer is not fenced
     * by Kafka against a zombie of this group; rely on Parti's lease (commits refused when not valid).
     *
     * @throws org.apache.kafka.common.errors.InvalidGroupIdException without {@code group.id}
     */
    @Override
    public ConsumerGroupMetadata groupMetadata() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            return k.groupMetadata();
        }
        return delegate.groupMetadata();
    }

    /**
     * Asks for a rebalance of the whole group, from any member, as {@code KafkaConsumer} does: this
     * member's next Parti heartbeat (written at once) carries the request, the Parti leader runs the
     * strategy again and publishes a new assignment, and every member's {@code onPartitionsAssigned} is
     * called in its next {@code poll()} (with the partitions it gained, possibly none), after {@code
     * onPartitionsRevoked} for partitions that move (tested by {@code
     * ConsumerContract#enforceRebalanceFromAnyMemberRebalancesTheWholeGroup}). The partitions of the
     * subscription are also read from Kafka again at once. Returns at once; no effect when not
     * subscribed; while the first join is under way, that join is the rebalance.
     *
     * @throws IllegalStateException without {@code group.id}
     */
    @Override
    public void enforceRebalance() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.enforceRebalance();
            return;
        }
        delegate.enforceRebalance(null);
    }

    /** Like {@link #enforceRebalance()}; {@code reason} is logged. */
    @Override
    public void enforceRebalance(String reason) {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.enforceRebalance(reason);
            return;
        }
        delegate.enforceRebalance(reason);
    }

    /** Closes with a timeout of 30 s, like {@link #close(CloseOptions)} with default options. */
    @Override
    public void close() {
        close(CloseOptions.timeout(Duration.ofMillis(30_000)));
    }

    /** Closes like {@link #close(CloseOptions)} with default options and this timeout. */
    @Override
    public void close(Duration timeout) {
        close(CloseOptions.timeout(timeout));
    }

    /**
     * Closes the consumer: auto-commit (when enabled), {@code onPartitionsRevoked} for the assigned
     * partitions (or {@code onPartitionsLost} when this member is no longer a safe owner), then the Parti
     * membership ends and every thread and connection is closed. Membership: {@code LEAVE_GROUP} leaves at
     * once (the group rebalances now); {@code REMAIN_IN_GROUP} keeps the worker ID and heartbeat until
     * they expire, so nothing moves before {@code parti.session.timeout.ms} and a restart with the same
     * {@code group.instance.id} gets the same partitions back; {@code DEFAULT} is remain for a static
     * member ({@code group.instance.id} set) and leave otherwise, as in {@code KafkaConsumer}.
     * Idempotent. Returns within the timeout (rebalance callbacks excepted, as in {@code KafkaConsumer}):
     * when NATS does not answer in time, Parti's leave is abandoned and this member's session expires
     * instead, as {@code KafkaConsumer} abandons its {@code LeaveGroup}.
     *
     * @throws org.apache.kafka.common.KafkaException when a rebalance callback threw (after everything is closed)
     * @throws IllegalArgumentException for a negative timeout
     */
    @Override
    public void close(CloseOptions option) {
        if (rollback != null) {
            try {
                rollback.close(option);
            } catch (RuntimeException e) {
                delegate.close(option);
                throw e;
            }
        }
        if (migration != null) {
            try {
                migration.close(option);
            } catch (RuntimeException e) {
                delegate.close(option);
                throw e;
            }
        }
        delegate.close(option);
    }

    /**
     * Makes a {@code poll()} blocked in another thread throw {@link org.apache.kafka.common.errors.WakeupException},
     * or the next blocking call of this consumer when none is in progress. Thread-safe.
     */
    @Override
    public void wakeup() {
        Consumer<K, V> k = kafkaSide();
        if (k != null) {
            k.wakeup();
            return;
        }
        delegate.wakeup();
    }

    /** Registers a metric for client telemetry (delegated to the inner consumer). */
    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
        delegate.registerMetricForSubscription(metric);
    }

    /** Unregisters a metric from client telemetry (delegated to the inner consumer). */
    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        delegate.unregisterMetricFromSubscription(metric);
    }

    /** The Parti manager of the current membership, or null when not subscribed or not joined yet (for tests and tools). */
    /** The phase of the rolling migration, or null without {@code parti.migration=kafka-to-parti} (for tests). */
    KafkaToPartiMigration.Phase migrationPhase() {
        return migration == null ? null : migration.phase();
    }

    /** The phase of the rolling rollback, or null without {@code parti.migration=parti-to-kafka} (for tests). */
    PartiToKafkaMigration.Phase rollbackPhase() {
        return rollback == null ? null : rollback.phase();
    }

    PartiManager partiManager() {
        return delegate.partiManager();
    }
}
