package dev.parti.kafka.migration;

import dev.parti.PartiManager;
import dev.parti.kafka.MixedGroupException;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.kafka.internal.KafkaPartitions;
import dev.parti.kafka.internal.PartiConsumerDelegate;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Parti → Kafka rolling rollback of one {@code PartiConsumer} ({@code parti.migration=parti-to-kafka}). Not an
 * API: {@code PartiConsumer} creates one and routes its calls through it; the migration guide ("Rolling rollback")
 * describes the behaviour for users.
 *
 * <p>Phases, each entered on the polling thread:
 * <ol>
 *   <li><b>PARTI</b>: the consumer runs on Parti as with {@code parti.migration=none}, and publishes {@code
 *       parti.migration=parti-to-kafka} in its worker metadata. It remembers, per partition, the offset after the
 *       last record {@code poll()} returned. Between polls of the Parti side (at most 100 ms apart) it checks whether
 *       the rollback starts: this member leads the Parti group and every live worker of its last, completed
 *       rebalance publishes {@code parti-to-kafka}; or the Kafka group has a member (another member started it), seen
 *       by describing the group every 100 ms or by the broker refusing a commit made through Parti.</li>
 *   <li><b>JOINING</b>: the Parti side is no longer polled, so it delivers nothing, commits nothing and acknowledges
 *       no revocation (Parti cannot hand this member's partitions to anyone while its session lives). A classic
 *       {@link KafkaConsumer} (the <em>bridge</em>) joins the Kafka group with {@link MigrationAssignor}, reporting
 *       in its subscription the partitions this member owns through Parti; the Kafka leader gives each member exactly
 *       what it reports (see {@link MigrationAssignor#rollbackAssignment}). {@code poll()} returns nothing until
 *       the bridge holds an assignment. The user's listener is not called for the partitions it keeps.</li>
 *   <li><b>ROLLING</b>: the bridge holds a Kafka assignment and serves every call; a partition kept from Parti
 *       continues at the offset after the last record returned (no commit was needed), a partition new to this
 *       member reaches {@code onPartitionsAssigned} and starts at its committed offset. Commits are Kafka commits of
 *       the bridge's generation. When Parti hands this member more partitions (a member died before joining Kafka),
 *       the bridge asks for a rebalance to report them.</li>
 *   <li><b>KAFKA</b>: an assignment flagged {@link MigrationAssignor#ROLLED} arrived (every partition is assigned
 *       in Kafka): this member leaves the Parti group (its listener is not called) and is a plain Kafka member with
 *       {@code PartiAssignor} from then on; a plain {@code KafkaConsumer} can replace it.</li>
 * </ol>
 * Threads: every method but {@link #kafkaSide()} and {@link #phase()} is called on the consumer's polling thread.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class PartiToKafkaMigration<K, V> implements MigrationAssignor.SwitchSignal {
    private static final Logger log = LoggerFactory.getLogger(PartiToKafkaMigration.class);
    /** How often the Kafka group is described while on Parti, and the longest slice of a Parti poll. */
    private static final long CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /** The phases described in the class comment. */
    public enum Phase { NEW, PARTI, JOINING, ROLLING, KAFKA, CLOSED }

    /** The Parti side of the consumer, driven by the rollback. */
    public interface PartiSide<K, V> {
        /** Subscribes the Parti side. */
        void subscribe(Collection<String> topics, ConsumerRebalanceListener listener);

        /** Polls the Parti side. */
        ConsumerRecords<K, V> poll(Duration timeout);

        /** The partitions the user holds through the Parti side (announced and not revoked). */
        Set<TopicPartition> assignment();

        /** The partitions this member owns in Parti's applied assignment now (any thread); empty when not joined. */
        Set<TopicPartition> owned();

        /** Whether this member leads a Parti group all of whose live workers roll back (any thread). */
        boolean leadsAGroupThatRollsBack();

        /** Leaves the Parti group (the listener it was subscribed with is called). */
        void leave();
    }

    private final String groupId;
    private final Map<String, Object> bridgeConfig;
    private final Map<String, Object> adminConfig;
    private final Deserializer<K> keyDeserializer;
    private final Deserializer<V> valueDeserializer;
    private final PartiSide<K, V> parti;
    private volatile Phase phase = Phase.NEW;
    private volatile KafkaConsumer<K, V> bridge;
    private List<String> topics;
    private ConsumerRebalanceListener listener;
    /** Offset after the last record returned from the Parti side, per partition the user holds. */
    private final Map<TopicPartition, Long> next = new HashMap<>();
    /** Partitions the user held through Parti when the rollback started and the bridge has not been assigned yet. */
    private final Set<TopicPartition> continuing = ConcurrentHashMap.newKeySet();
    /** What the bridge reported at its last join. */
    private volatile Set<TopicPartition> reported = Set.of();
    private volatile boolean rolled;
    /** Set when the rollback starts: the Parti side's callbacks no longer reach the user (polling thread). */
    private boolean partiSilenced;
    private boolean kafkaRebalancing;
    private Admin admin;
    private KafkaFuture<ConsumerGroupDescription> describing;
    private long nextDescribeNanos;

    /**
     * @param userConfigs       the consumer's whole configuration (Kafka and {@code parti.*} keys), already validated
     * @param keyDeserializer   the key deserializer instance, or null for {@code key.deserializer}
     * @param valueDeserializer the value deserializer instance, or null for {@code value.deserializer}
     * @param parti             the Parti side
     * @throws ConfigException without {@code group.id}
     */
    public PartiToKafkaMigration(Map<String, ?> userConfigs, Deserializer<K> keyDeserializer,
                                 Deserializer<V> valueDeserializer, PartiSide<K, V> parti) {
        BridgeConfigs configs = BridgeConfigs.of(userConfigs, this, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA,
                "a consumer rolling back needs the group.id of the Kafka group it hands the partitions to");
        this.groupId = configs.groupId();
        this.keyDeserializer = keyDeserializer;
        this.valueDeserializer = valueDeserializer;
        this.parti = parti;
        this.bridgeConfig = configs.bridge();
        this.adminConfig = configs.admin();
    }

    /**
     * The rollback of a {@code PartiConsumer} whose Parti side is {@code delegate}, or null unless {@code
     * parti.migration=parti-to-kafka} (the configuration was validated by the delegate already). Closes the delegate
     * when it fails.
     *
     * @throws ConfigException without {@code group.id}
     */
    public static <K, V> PartiToKafkaMigration<K, V> ifConfigured(Map<String, ?> configs, Deserializer<K> keyDeserializer,
                                                                  Deserializer<V> valueDeserializer,
                                                                  PartiConsumerDelegate<K, V> delegate) {
        if (!BridgeConfigs.configured(configs, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA)) {
            return null;
        }
        try {
            return new PartiToKafkaMigration<>(configs, keyDeserializer, valueDeserializer, new PartiSide<>() {
                @Override
                public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
                    delegate.subscribe(topics, listener);
                }

                @Override
                public ConsumerRecords<K, V> poll(Duration timeout) {
                    return delegate.poll(timeout);
                }

                @Override
                public Set<TopicPartition> assignment() {
                    return delegate.assignment();
                }

                @Override
                public Set<TopicPartition> owned() {
                    PartiManager m = delegate.partiManager();
                    return m == null ? Set.of() : KafkaPartitions.toTopicPartitions(m.currentAssignment());
                }

                @Override
                public boolean leadsAGroupThatRollsBack() {
                    return delegate.leadsAGroupThatRollsBack();
                }

                @Override
                public void leave() {
                    delegate.unsubscribe();
                }
            });
        } catch (RuntimeException e) {
            delegate.close(CloseOptions.timeout(Duration.ZERO));
            throw e;
        }
    }

    /** The current phase (any thread). */
    public Phase phase() {
        return phase;
    }

    /** The Kafka consumer that serves this member's calls (phases JOINING, ROLLING and KAFKA), else null. Any thread. */
    public Consumer<K, V> kafkaSide() {
        Phase p = phase;
        return p == Phase.JOINING || p == Phase.ROLLING || p == Phase.KAFKA ? bridge : null;
    }

    /** The partitions the user holds: the bridge's, plus those kept from Parti that Kafka has not assigned yet. */
    public Set<TopicPartition> assignment() {
        KafkaConsumer<K, V> b = bridge;
        Set<TopicPartition> out = new HashSet<>(continuing);
        if (b != null) {
            out.addAll(b.assignment());
        }
        return out;
    }

    /** A topic subscription: to the Parti side before the rollback started, to the bridge after. */
    public void subscribe(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        topics = List.copyOf(newTopics);
        listener = newListener;
        switch (phase) {
            case NEW:
            case PARTI:
                phase = Phase.PARTI;
                parti.subscribe(topics, partiListener);
                break;
            case CLOSED:
                throw new IllegalStateException("This consumer has already been closed.");
            default:
                bridge.subscribe(topics, bridgeListener);
        }
    }

    /** {@code poll(timeout)} of the current phase. */
    public ConsumerRecords<K, V> poll(Duration timeout) {
        switch (phase) {
            case PARTI:
                return pollParti(timeout);
            case JOINING:
            case ROLLING:
                return pollRolling(timeout);
            case KAFKA:
                return bridge.poll(timeout);
            case CLOSED:
                throw new IllegalStateException("This consumer has already been closed.");
            default:
                throw new IllegalStateException("Consumer is not subscribed to any topics or assigned any partitions");
        }
    }

    /**
     * Closes the bridge if there is one, with the caller's options (the user's listener gets its revocation and may
     * commit through it). Partitions kept from Parti that Kafka had not assigned yet are reported lost: nothing is
     * committed for them (a commit could land below the next owner's).
     */
    public void close(CloseOptions options) {
        KafkaConsumer<K, V> b = bridge;
        try {
            if (!continuing.isEmpty() && listener != null) {
                Set<TopicPartition> lost = Set.copyOf(continuing);
                continuing.clear();
                listener.onPartitionsLost(lost);
            }
            if (b != null) {
                b.close(options);
            }
        } finally {
            bridge = null;
            phase = Phase.CLOSED;
            if (admin != null) {
                admin.close(Duration.ZERO);
                admin = null;
            }
        }
    }

    /** Never called for a member rolling back: a rollback assignment carries no switch flag. */
    @Override
    public void switchAnnounced(int generation) {
        log.warn("Consumer group {}: a member rolling back to Kafka was told to switch to Parti (generation {}): ignored",
                groupId, generation);
    }

    @Override
    public boolean rollsBack() {
        return true;
    }

    /** Kafka's polling thread, when the bridge joins: what it reports owning through Parti. */
    @Override
    public Set<TopicPartition> rollbackClaims() {
        if (rolled) {
            return null;
        }
        Set<TopicPartition> claims = new HashSet<>(continuing);
        claims.addAll(parti.owned());
        reported = Set.copyOf(claims);
        return claims;
    }

    /** Kafka's polling thread: the assignment says every partition is assigned in Kafka. */
    @Override
    public void rolledBack(int generation) {
        if (!rolled) {
            log.info("Consumer group {}: every partition is assigned in Kafka (generation {}): the rollback is complete",
                    groupId, generation);
        }
        rolled = true;
    }

    /** Kafka's polling thread: a rebalance of the bridge started or ended. */
    @Override
    public void rebalancing(boolean inProgress) {
        kafkaRebalancing = inProgress;
    }

    /** PARTI: polls the Parti side in slices of at most 100 ms, checking between them whether the rollback starts. */
    private ConsumerRecords<K, V> pollParti(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String why = rollbackStarts();
            if (why != null) {
                startRollback(why);
                return pollRolling(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            }
            long left = Math.max(0, deadline - System.nanoTime());
            ConsumerRecords<K, V> records;
            try {
                records = parti.poll(Duration.ofNanos(Math.min(left, CHECK_NANOS)));
            } catch (MixedGroupException e) {
                // the broker refused a generation -1 commit: the Kafka group has members, the rollback has begun
                startRollback("the broker refused a commit through Parti: the Kafka group has members");
                return pollRolling(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            }
            if (!records.isEmpty()) {
                for (TopicPartition tp : records.partitions()) {
                    List<ConsumerRecord<K, V>> list = records.records(tp);
                    next.put(tp, list.get(list.size() - 1).offset() + 1);
                }
                return records;
            }
            if (deadline - System.nanoTime() <= 0) {
                return records;
            }
        }
    }

    /** Why the rollback starts now, or null. */
    private String rollbackStarts() {
        if (parti.leadsAGroupThatRollsBack()) {
            return "this member leads the Parti group and every live member of it is configured with "
                    + PartiConsumerConfig.MIGRATION_CONFIG + "=" + PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA;
        }
        if (describing != null && describing.isDone()) {
            KafkaFuture<ConsumerGroupDescription> f = describing;
            describing = null;
            try {
                ConsumerGroupDescription d = f.get();
                if (!d.members().isEmpty()) {
                    return "the Kafka group has " + d.members().size() + " member(s)";
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof GroupIdNotFoundException)) {
                    log.debug("Could not describe consumer group {}: {}", groupId, e.getCause().toString());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new org.apache.kafka.common.errors.InterruptException(e);
            }
        }
        long now = System.nanoTime();
        if (describing == null && now - nextDescribeNanos >= 0) {
            if (admin == null) {
                admin = Admin.create(adminConfig);
            }
            describing = admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId);
            nextDescribeNanos = now + CHECK_NANOS;
        }
        return null;
    }

    private void startRollback(String why) {
        partiSilenced = true;
        continuing.addAll(parti.assignment());
        next.keySet().retainAll(continuing);
        log.info("Consumer group {}: rolling back to Kafka ({}); joining the Kafka group keeping {}", groupId, why,
                continuing);
        bridge = new KafkaConsumer<>(bridgeConfig, keyDeserializer, valueDeserializer);
        bridge.subscribe(topics, bridgeListener);
        phase = Phase.JOINING;
    }

    /** JOINING and ROLLING: the bridge's poll; reports new Parti partitions; leaves Parti once the rollback is complete. */
    private ConsumerRecords<K, V> pollRolling(Duration timeout) {
        if (!rolled && !kafkaRebalancing && phase == Phase.ROLLING) {
            Set<TopicPartition> now = new HashSet<>(continuing);
            now.addAll(parti.owned());
            if (!reported.containsAll(now)) {
                bridge.enforceRebalance("a member rolling back from Parti owns more partitions through Parti");
            }
        }
        ConsumerRecords<K, V> records = bridge.poll(timeout);
        if (rolled && phase != Phase.KAFKA) {
            if (!continuing.isEmpty()) {
                Set<TopicPartition> lost = Set.copyOf(continuing);
                continuing.clear();
                log.warn("Consumer group {}: {} kept from Parti went to other members in Kafka: reported lost", groupId, lost);
                listener.onPartitionsLost(lost);
            }
            phase = Phase.KAFKA;
            log.info("Consumer group {}: leaving the Parti group; this member is a plain Kafka member now", groupId);
            parti.leave();
            if (admin != null) {
                admin.close(Duration.ZERO);
                admin = null;
            }
        }
        return records;
    }

    /**
     * The listener the Parti side is subscribed with: the user's until the rollback starts (including the revocation
     * of a member closed while still on Parti), silent from then on.
     */
    private final ConsumerRebalanceListener partiListener = new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partiSilenced) {
                next.keySet().removeAll(partitions);
                listener.onPartitionsRevoked(partitions);
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partiSilenced) {
                listener.onPartitionsAssigned(partitions);
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (!partiSilenced) {
                next.keySet().removeAll(partitions);
                listener.onPartitionsLost(partitions);
            }
        }
    };

    /**
     * The listener the bridge is subscribed with: partitions kept from Parti continue where the user stopped, without
     * a call; the rest is the user's listener.
     */
    private final ConsumerRebalanceListener bridgeListener = new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            listener.onPartitionsRevoked(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (phase == Phase.JOINING) {
                phase = Phase.ROLLING;
            }
            Set<TopicPartition> added = new HashSet<>();
            for (TopicPartition tp : partitions) {
                if (continuing.remove(tp)) {
                    Long offset = next.remove(tp);
                    if (offset != null) {
                        bridge.seek(tp, offset);
                    }
                } else {
                    added.add(tp);
                }
            }
            listener.onPartitionsAssigned(added);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            listener.onPartitionsLost(partitions);
        }
    };
}
