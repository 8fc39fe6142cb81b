package dev.parti.kafka.migration;

import dev.parti.PartiManager;
import dev.parti.kafka.MixedGroupException;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.kafka.internal.KafkaPartitions;
import dev.parti.kafka.internal.PartiConsumerDelegate;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
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
 *       by describing the group every 100 ms or by the broker refusing a commit made through Parti (see below).</li>
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
 *
 * <p><b>Commits the broker refuses.</b> A member that has not noticed the rollback yet commits through Parti with
 * generation −1, which the broker refuses once the Kafka group has a member. Such a refusal does not reach the
 * application: it starts this member's rollback at once, and the refused offsets are committed as Kafka commits of the
 * generation the bridge joins with, for the partitions Kafka gives it. {@code commitSync} waits for that assignment
 * within its timeout (then {@link org.apache.kafka.common.errors.TimeoutException}, as Kafka's would); meanwhile the
 * partitions it receives are paused and their {@code onPartitionsAssigned} waits for the next {@code poll()}, so no user
 * callback runs inside {@code commitSync}. A refused {@code commitAsync} (or auto-commit) is committed from the bridge's
 * first {@code onPartitionsAssigned}, before any later commit of this member can be made, and its callback runs after
 * that commit completed. A partition Kafka does not give this member fails the commit with {@link
 * CommitFailedException} (what a Kafka member gets for a partition it lost), after the others were committed. Offsets do
 * not go backwards: when the rollback starts, the commits still in flight through Parti are awaited first (their
 * refusals are routed before the refused commit that started it), routed commits are made in the order they were made
 * through Parti and before any commit through Kafka, and a refusal that arrives after the first Kafka assignment is not
 * replayed (its commit fails with {@link CommitFailedException}): the member may have committed newer offsets through
 * Kafka by then.
 *
 * <p><b>A pause</b> (SIGSTOP, a long GC) in phase JOINING or ROLLING, longer than the bridge's Kafka session, may have
 * ended both memberships: the broker expired the bridge and gave its partitions to another member, Parti's lease lapsed
 * and Parti gave this member's partitions to another one. Once continued, the bridge, a classic Kafka consumer, would
 * hand out the records it fetched before the pause (and those it goes on fetching) until its heartbeat learnt of the
 * expiry; and what Parti's stale assignment says this member owns would be reported to the Kafka leader. So: a gap of
 * at least its {@code session.timeout.ms} between the bridge's polls (the time between a poll's return and the next
 * poll, plus whatever a poll took beyond its timeout) means the membership may have lapsed; from
 * then the records the bridge returns are set back and its partitions paused, and a rebalance is asked for; the
 * assignment of a rebalance joined after the gap confirms the membership (the broker keeps a partition with a member
 * only if that member is still the one that owned it), and the partitions still assigned are resumed. Partitions kept
 * from Parti that Kafka had not assigned yet are reported lost at the gap unless Parti's lease is valid, and at any time
 * this member reports to the Kafka leader only what it owns through Parti while its Parti lease is valid. An
 * application that holds the polling thread between two polls for a whole session (or callbacks that run that much
 * longer than the poll's timeout) looks like a pause too, though its heartbeats went on: it costs one rebalance and a
 * poll without records, nothing else. A pause inside a poll shorter than the poll's timeout plus the session is missed.
 *
 * <p>Threads: every method but {@link #kafkaSide()} and {@link #phase()} is called on the consumer's polling thread.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class PartiToKafkaMigration<K, V> implements MigrationAssignor.SwitchSignal {
    private static final Logger log = LoggerFactory.getLogger(PartiToKafkaMigration.class);
    /** How often the Kafka group is described while on Parti, and the longest slice of a Parti poll. */
    private static final long CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** The longest slice of the bridge's poll while a {@code commitSync} waits for the bridge's first assignment. */
    private static final long COMMIT_WAIT_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final String REFUSED = "the broker refused a commit through Parti: the Kafka group has members";

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

        /**
         * Whether this member is a safe owner in Parti right now: it has joined and, under the {@code fence} loss policy,
         * its lease is valid (any thread). What it owns through Parti is reported to the Kafka leader only then.
         */
        default boolean safeOwner() {
            return true;
        }

        /** Whether this member leads a Parti group all of whose live workers roll back (any thread). */
        boolean leadsAGroupThatRollsBack();

        /** Leaves the Parti group (the listener it was subscribed with is called). */
        void leave();

        /**
         * Waits up to {@code timeout} for the asynchronous commits sent through Parti (their refusals reach {@link
         * PartiConsumerDelegate.RefusedCommits#commitAsync}), and runs the callbacks of those completed.
         */
        default void awaitSentCommits(Duration timeout) {
        }

        /** Runs the callbacks of commits through Parti that completed (routed ones included), in commit order. */
        default void runCommitCallbacks() {
        }
    }

    /** A refused asynchronous commit waiting for the bridge's first assignment. */
    private record Routed(Map<TopicPartition, OffsetAndMetadata> offsets, java.util.function.Consumer<Exception> completion) {
    }

    private final String groupId;
    private final long apiTimeoutMs;
    private final Map<String, Object> bridgeConfig;
    private final Map<String, Object> adminConfig;
    private final Deserializer<K> keyDeserializer;
    private final Deserializer<V> valueDeserializer;
    private final PartiSide<K, V> parti;
    /** The bridge's Kafka session ({@code session.timeout.ms}), nanoseconds: a longer gap between polls may have ended it. */
    private final long bridgeSessionNanos;
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
    /** The broker refused a commit through Parti: the rollback starts at the next check. */
    private boolean refused;
    /** Refused asynchronous commits, in commit order, committed at the bridge's first assignment. */
    private final ArrayDeque<Routed> routed = new ArrayDeque<>();
    /** Whether the bridge has received its first assignment (refusals arriving later are not replayed). */
    private boolean assignedOnce;
    /** Inside a {@code commitSync} waiting for the bridge's first assignment. */
    private boolean committing;
    /** Partitions paused while a {@code commitSync} waited for them; resumed at the next poll. */
    private final Set<TopicPartition> heldForCommit = new HashSet<>();
    /** The user's {@code onPartitionsAssigned} that arrived inside a {@code commitSync}, delivered at the next poll. */
    private Set<TopicPartition> deferredAssigned;
    /** A routed commit completed: the Parti side's commit callbacks are due. */
    private boolean callbacksDue;
    /** When the bridge's last poll returned (nanoTime; polling thread), 0 before the first. */
    private long lastBridgePollNanos;
    /** A gap of a whole Kafka session between two polls of the bridge, not yet confirmed by a rebalance (polling thread). */
    private boolean lapsed;
    /** While {@link #lapsed}: the bridge has sent a join since the gap was seen (Kafka's polling thread). */
    private boolean rejoinedAfterLapse;
    /** While {@link #lapsed}: the assignment of a rebalance joined after the gap arrived (Kafka's polling thread). */
    private boolean lapseConfirmed;
    /** Partitions paused by this migration while {@link #lapsed}; resumed (those still assigned) once confirmed. */
    private final Set<TopicPartition> heldForLapse = new HashSet<>();

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
        this.apiTimeoutMs = configs.apiTimeoutMs();
        this.keyDeserializer = keyDeserializer;
        this.valueDeserializer = valueDeserializer;
        this.parti = parti;
        this.bridgeConfig = configs.bridge();
        this.adminConfig = configs.admin();
        Object session = bridgeConfig.get(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
        this.bridgeSessionNanos = TimeUnit.MILLISECONDS.toNanos(session == null
                ? ((Number) ConsumerConfig.configDef().defaultValues().get(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG))
                        .longValue() : Long.parseLong(session.toString().trim()));
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
            PartiToKafkaMigration<K, V> rollback = new PartiToKafkaMigration<>(configs, keyDeserializer, valueDeserializer,
                    new PartiSide<>() {
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
                public boolean safeOwner() {
                    return delegate.safeOwner();
                }

                @Override
                public boolean leadsAGroupThatRollsBack() {
                    return delegate.leadsAGroupThatRollsBack();
                }

                @Override
                public void leave() {
                    delegate.unsubscribe();
                }

                @Override
                public void awaitSentCommits(Duration timeout) {
                    delegate.awaitSentCommits(timeout);
                }

                @Override
                public void runCommitCallbacks() {
                    delegate.runCommitCallbacks();
                }
            });
            delegate.routeRefusedCommits(rollback.refusedCommits);
            return rollback;
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
            case KAFKA: {
                ConsumerRecords<K, V> records = pollBridge(timeout); // a lapse seen while rolling may still be confirmed
                runDueCommitCallbacks(); // a routed commit may complete after the rollback did
                return records;
            }
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
            failRouted("this consumer is closing");
            if (deferredAssigned != null && listener != null) {
                Set<TopicPartition> announced = deferredAssigned;
                deferredAssigned = null;
                listener.onPartitionsAssigned(announced); // so that the revocation of close() names known partitions
            }
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
    public void switchAnnounced(int generation, int members) {
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
        claims.addAll(ownedThroughParti());
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

    /** Kafka's polling thread: a rebalance of the bridge started (its join is sent) or ended. */
    @Override
    public void rebalancing(boolean inProgress) {
        kafkaRebalancing = inProgress;
        if (inProgress && lapsed) {
            rejoinedAfterLapse = true;
        }
    }

    /** Kafka's polling thread: an assignment arrived; after a lapse, from a rebalance joined after it, it confirms the membership. */
    @Override
    public void assigned(int generation, Set<String> cannotSwitch) {
        if (lapsed && rejoinedAfterLapse) {
            lapseConfirmed = true;
        }
    }

    /** What this member owns through Parti, as far as Parti vouches for it now: nothing while its lease is not valid. */
    private Set<TopicPartition> ownedThroughParti() {
        return parti.safeOwner() ? parti.owned() : Set.of();
    }

    /**
     * The bridge's poll, handing out nothing between a gap that may have ended its Kafka membership and the rebalance
     * that confirms it (see the class comment). A gap is looked for in phases JOINING and ROLLING; one seen there is
     * followed to its confirmation in phase KAFKA too.
     */
    private ConsumerRecords<K, V> pollBridge(Duration timeout) {
        boolean rolling = phase == Phase.JOINING || phase == Phase.ROLLING;
        long start = System.nanoTime();
        ConsumerRecords<K, V> records = bridge.poll(timeout);
        long now = System.nanoTime();
        long previous = lastBridgePollNanos;
        lastBridgePollNanos = now;
        // the gap: the time since the previous poll returned, less what this poll was allowed to block for (saturated:
        // poll(Long.MAX_VALUE ms) is allowed); a pause between polls counts whole, one inside a poll beyond its timeout
        long asked = timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : timeout.toNanos();
        long gap = (start - previous) + Math.max(0, now - start - asked);
        if (rolling && !lapsed && previous != 0 && gap >= bridgeSessionNanos) {
            lapsed = true;
            rejoinedAfterLapse = false;
            lapseConfirmed = false;
            log.warn("Consumer group {}: a gap of {} ms between polls of this member's Kafka side (session {} ms): its "
                    + "Kafka membership may have lapsed; it hands out nothing until a rebalance confirms it", groupId,
                    gap / 1_000_000, bridgeSessionNanos / 1_000_000);
            if (!continuing.isEmpty() && !parti.safeOwner()) {
                Set<TopicPartition> lost = Set.copyOf(continuing);
                continuing.clear();
                next.keySet().removeAll(lost);
                log.warn("Consumer group {}: {} kept from Parti, whose lease lapsed too: reported lost", groupId, lost);
                listener.onPartitionsLost(lost);
            }
        }
        if (!lapsed) {
            return records;
        }
        if (lapseConfirmed) {
            lapsed = false;
            Set<TopicPartition> resume = new HashSet<>(heldForLapse);
            heldForLapse.clear();
            resume.retainAll(bridge.assignment());
            resume.removeAll(heldForCommit);
            bridge.resume(resume);
            log.info("Consumer group {}: a rebalance confirmed this member's Kafka membership; it consumes {} again",
                    groupId, KafkaPartitions.sorted(resume));
            return records; // fetched after the confirmation: the partitions held back were paused until now
        }
        KafkaPartitions.rewind(bridge, records);
        Set<TopicPartition> hold = new HashSet<>(bridge.assignment());
        hold.removeAll(bridge.paused());
        bridge.pause(hold);
        heldForLapse.addAll(hold);
        if (!rejoinedAfterLapse && !kafkaRebalancing) {
            bridge.enforceRebalance("a member rolling back from Parti was not polled for a whole Kafka session");
        }
        return ConsumerRecords.empty();
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
                startRollback(REFUSED);
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
        if (refused) {
            return REFUSED;
        }
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
        // the commits still in flight through Parti complete first: a refusal among them is routed before any other
        parti.awaitSentCommits(Duration.ofMillis(apiTimeoutMs));
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
        releaseHeldForCommit();
        if (!rolled && !kafkaRebalancing && phase == Phase.ROLLING) {
            Set<TopicPartition> now = new HashSet<>(continuing);
            now.addAll(ownedThroughParti());
            if (!reported.containsAll(now)) {
                bridge.enforceRebalance("a member rolling back from Parti owns more partitions through Parti");
            }
        }
        ConsumerRecords<K, V> records = pollBridge(timeout);
        runDueCommitCallbacks();
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

    /** Where the Parti side's commits refused by the broker go (installed on the delegate by {@link #ifConfigured}). */
    private final PartiConsumerDelegate.RefusedCommits refusedCommits = new PartiConsumerDelegate.RefusedCommits() {
        @Override
        public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
            commitRefusedSync(offsets, timeout);
        }

        @Override
        public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets,
                                java.util.function.Consumer<Exception> completion) {
            commitRefusedLater(offsets, completion);
        }
    };

    /**
     * Inside {@code commitSync} through Parti, refused by the broker: starts the rollback if it has not started,
     * waits for the bridge's first assignment and commits the offsets of the partitions it got.
     */
    private void commitRefusedSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (assignedOnce) {
            throw notKept(offsets.keySet(), "the refusal arrived after this member committed through Kafka");
        }
        if (phase == Phase.PARTI) {
            startRollback(REFUSED);
        }
        committing = true;
        try {
            while (phase == Phase.JOINING) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new org.apache.kafka.common.errors.TimeoutException("Timeout of " + timeout.toMillis()
                            + "ms expired before the offsets " + KafkaPartitions.sorted(offsets.keySet())
                            + " could be committed: the broker refused them through Parti (consumer group '" + groupId
                            + "' has Kafka members), and this member, rolling back to Kafka, has no Kafka assignment yet");
                }
                ConsumerRecords<K, V> records = bridge.poll(Duration.ofNanos(Math.min(left, COMMIT_WAIT_SLICE_NANOS)));
                lastBridgePollNanos = System.nanoTime(); // polled here: no gap to mistake for a pause later
                if (!records.isEmpty()) { // cannot happen: what the bridge is assigned meanwhile stays paused
                    throw new IllegalStateException("records fetched for partitions held back while committing");
                }
            }
        } finally {
            committing = false;
        }
        runDueCommitCallbacks();
        Map<TopicPartition, OffsetAndMetadata> kept = new HashMap<>(offsets);
        Set<TopicPartition> lost = new TreeSet<>(KafkaPartitions.ORDER);
        lost.addAll(offsets.keySet());
        kept.keySet().retainAll(bridge.assignment());
        lost.removeAll(kept.keySet());
        if (!kept.isEmpty()) {
            bridge.commitSync(kept, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        }
        if (!lost.isEmpty()) {
            throw notKept(lost, "Kafka assigned them to another member, or to nobody yet");
        }
    }

    /** A refused {@code commitAsync} or auto-commit through Parti: committed at the bridge's first assignment. */
    private void commitRefusedLater(Map<TopicPartition, OffsetAndMetadata> offsets,
                                    java.util.function.Consumer<Exception> completion) {
        if (assignedOnce) {
            completion.accept(notKept(offsets.keySet(), "the refusal arrived after this member committed through Kafka"));
            callbacksDue = true;
            return;
        }
        routed.add(new Routed(Map.copyOf(offsets), completion));
        refused = true; // the rollback starts at the next check, if it has not started
    }

    /** Kafka's polling thread, in the bridge's first {@code onPartitionsAssigned}: the routed asynchronous commits. */
    private void commitRouted() {
        Set<TopicPartition> assigned = bridge.assignment();
        for (Routed r = routed.poll(); r != null; r = routed.poll()) {
            Map<TopicPartition, OffsetAndMetadata> kept = new HashMap<>(r.offsets());
            kept.keySet().retainAll(assigned);
            Set<TopicPartition> lost = new TreeSet<>(KafkaPartitions.ORDER);
            lost.addAll(r.offsets().keySet());
            lost.removeAll(kept.keySet());
            CommitFailedException lostError = lost.isEmpty() ? null
                    : notKept(lost, "Kafka assigned them to another member, or to nobody yet");
            Routed done = r;
            if (kept.isEmpty()) {
                done.completion().accept(lostError);
                callbacksDue = true;
                continue;
            }
            bridge.commitAsync(kept, (committed, e) -> {
                done.completion().accept(e != null ? e : lostError);
                callbacksDue = true;
            });
        }
    }

    /** Fails the routed commits not made yet (closing). */
    private void failRouted(String why) {
        for (Routed r = routed.poll(); r != null; r = routed.poll()) {
            r.completion().accept(notKept(r.offsets().keySet(), why));
            callbacksDue = true;
        }
        runDueCommitCallbacks();
    }

    private void runDueCommitCallbacks() {
        if (callbacksDue) {
            callbacksDue = false;
            parti.runCommitCallbacks();
        }
    }

    private CommitFailedException notKept(Collection<TopicPartition> partitions, String why) {
        return new CommitFailedException("Commit refused for " + KafkaPartitions.sorted(partitions) + ": the broker "
                + "refused it through Parti (consumer group '" + groupId + "' has Kafka members, this member is rolling "
                + "back to Kafka), and it cannot be made as a Kafka commit of this member: " + why + ". Their records may "
                + "be processed again by their owner.");
    }

    /**
     * Start of a poll: the partitions paused while a {@code commitSync} waited for them are announced to the user's
     * listener (if new to it) and resumed.
     */
    private void releaseHeldForCommit() {
        if (deferredAssigned == null && heldForCommit.isEmpty()) {
            return;
        }
        Set<TopicPartition> announced = deferredAssigned;
        deferredAssigned = null;
        try {
            if (announced != null) {
                listener.onPartitionsAssigned(announced);
            }
        } catch (KafkaException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new KafkaException("User rebalance callback throws an error", e);
        } finally {
            Set<TopicPartition> resume = new HashSet<>(heldForCommit);
            heldForCommit.clear();
            resume.retainAll(bridge.assignment());
            bridge.resume(resume);
        }
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
            if (committing) { // inside commitSync: nothing reaches the user before the next poll()
                bridge.pause(partitions);
                heldForCommit.addAll(partitions);
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
            if (!assignedOnce) {
                assignedOnce = true;
                commitRouted(); // before any commit of this member through Kafka
            }
            if (committing) {
                if (deferredAssigned == null) {
                    deferredAssigned = new HashSet<>();
                }
                deferredAssigned.addAll(added);
            } else {
                listener.onPartitionsAssigned(added);
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            listener.onPartitionsLost(partitions);
        }
    };
}
