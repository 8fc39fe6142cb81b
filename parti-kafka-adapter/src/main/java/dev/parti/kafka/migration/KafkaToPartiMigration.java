package dev.parti.kafka.migration;

import dev.parti.PartiManager;
import dev.parti.kafka.MixedGroupException;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.kafka.internal.Causes;
import dev.parti.kafka.internal.KafkaPartitions;
import dev.parti.kafka.internal.NoOpRebalanceListener;
import dev.parti.kafka.internal.PartiConsumerDelegate;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka → Parti rolling migration of one {@code PartiConsumer} ({@code parti.migration=kafka-to-parti}).
 * Not an API: {@code PartiConsumer} creates one and routes its calls through it; the migration guide
 * ("Rolling migration") describes the behaviour for users.
 *
 * <p>Phases, each entered on the polling thread:
 * <ol>
 *   <li><b>KAFKA</b>: at the first {@code subscribe}, Parti's state is read ({@link PartiPresence}): when the Parti
 *       group has a live worker (one that renews its heartbeat, when the Kafka group has members: keys left by workers
 *       that stopped less than a session ago do not count), the switch has begun, and the phase is WAITING at once, unless the Kafka group still
 *       has a member under this consumer's {@code group.instance.id} (an earlier instance killed while switching): the
 *       broker would keep that membership, and every partition waiting, for its whole session, so this member joins
 *       under it as below (the broker fences the earlier one and hands this one its assignment, flagged for the
 *       switch) and switches from there. Otherwise the Kafka
 *       group is described; if it has Kafka-managed members,
 *       a classic {@link KafkaConsumer} (the <em>bridge</em>) joins it with {@link MigrationAssignor} and the
 *       user's listener, and every call goes to the bridge: this member consumes and commits as a Kafka member.
 *       With {@code parti.migration.join.wait.ms} a dynamic member defers the bridge's join (its first poll) until the
 *       group prepares a rebalance, which it enters instead of starting one (a surge deployment's leave, typically, or in
 *       a stop-then-start deployment the next stop's), or
 *       until that wait is over; {@code poll()} returns nothing meanwhile.
 *       If the group has no member, the phase is WAITING at once (the Parti side confirms the group is empty).</li>
 *   <li><b>SWITCHING</b>: an assignment flagged by {@link MigrationAssignor} (every member of the group is a
 *       migrating {@code PartiConsumer}) arrived. The Parti side subscribes and joins the Parti group in the
 *       background; it delivers nothing yet. The bridge keeps consuming. As soon as the Parti side has applied
 *       an assignment, and the bridge is not inside a Kafka rebalance (Kafka would report its partitions lost
 *       instead of revoked), the bridge leaves the Kafka group: {@code close} with {@code LEAVE_GROUP} calls the
 *       user's {@code onPartitionsRevoked} (where the user commits, through the bridge, generation and all). A bridge
 *       that owns nothing in Kafka leaves at once: after the announcement it can never be given anything there.
 *       Once the Parti side has joined, its lease bounds the bridge too: when it may have lapsed (NATS unreachable, or
 *       the process paused), Parti may give this member's partitions to another member, so the bridge hands out
 *       nothing more (see {@link #pollBridgeWhileSwitching}) and leaves the Kafka group at once. A bridge whose
 *       membership the broker expired meanwhile reports its partitions lost, not revoked (see {@link
 *       #leaveKafkaGroup}). Because the bridge is so bounded (under {@code parti.coordinator.loss.policy=fence}), the
 *       member publishes the bridge's Kafka member ID in its Parti heartbeat, and once its Parti side has joined it
 *       watches the others' ({@link BridgeWatch}): when every member still in the Kafka group is the bridge of a member
 *       whose heartbeat stopped changing a Parti session ago (killed while switching, say), the mixed-group guard
 *       removes them from the Kafka group instead of waiting out their {@code session.timeout.ms}.</li>
 *   <li><b>WAITING</b>: until the broker shows no Kafka-managed member left (the broker accepts the Parti
 *       side's generation −1 commits only then), {@code poll()} returns nothing and a commit of "everything
 *       consumed" has nothing to commit. No partition is owned by this member meanwhile.</li>
 *   <li><b>PARTI</b>: everything goes to the Parti side, as with {@code parti.migration=none}.</li>
 * </ol>
 * <p><b>Started during the switch.</b> A member may see a Kafka member at its {@code subscribe()} and join the Kafka
 * group after the last one left it (every other member already switched). Then it leads a group of members that can
 * all switch, and {@link MigrationAssignor} would hand it every partition while the Parti members hold them; so the
 * leader reads Parti's state first ({@link #partiMayRun()}) and, when Parti runs (or cannot be read), assigns nothing
 * new and announces the switch: this member gets nothing, leaves at once and joins Parti. The order makes this
 * independent of timing: a Parti worker's heartbeat exists before it checks that the Kafka group is empty, and the
 * leader reads the heartbeats after this member is in the Kafka group, so one of the two always sees the other.
 * <p><b>Static members.</b> A migrating member started under a stopped member's {@code group.instance.id} gets that
 * member's assignment from the broker without a rebalance, so the group's leader never reads its "can switch". It asks
 * for one rebalance (cooperative, nothing moves) only when that can lead to the switch. A migrating leader appends to
 * the assignments of the migrating and the static plain members the Kafka member IDs of the plain members ({@link
 * MigrationAssignor#PENDING}); a plain {@code PartiAssignor} leader lists every plain member, itself included, in the
 * assignments of the static members, its own included ({@link MigrationAssignor#listingThePlainLeader}); the broker
 * hands such an assignment unchanged to the next member started under that instance ID. At its first assignment this member describes the Kafka group (once, after
 * its join) and skips the rebalance when a listed member other than itself is still in the group; otherwise, or when
 * the assignment lists no one (the group was led by a {@code KafkaConsumer} on another assignor or an older {@code
 * PartiAssignor}) or the group cannot be described within {@code
 * default.api.timeout.ms}, it asks. It never asks once its first assignment announces the switch (it joined during a rebalance whose leader
 * read it). Liveness: a listed member still present has not been replaced since the leader saw
 * it unable to switch (a member started under its instance ID gets a new member ID), so the group cannot switch yet;
 * when it is replaced, its replacement receives the same list and describes after its own join. Of two replacements
 * at the single group coordinator the later one sees the earlier (each describe follows its own join), so the
 * replacement of the last listed member sees none of them and asks. A member that leaves for good (or whose session
 * expires) triggers a rebalance anyway, and every rebalance hands out fresh lists.
 * Threads: every method but {@link #kafkaSide()} is called on the consumer's polling thread (the user's).
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class KafkaToPartiMigration<K, V> implements MigrationAssignor.SwitchSignal {
    private static final Logger log = LoggerFactory.getLogger(KafkaToPartiMigration.class);
    private static final long WAIT_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    /** How often the Kafka group is described while this member defers its join (parti.migration.join.wait.ms). */
    private static final long JOIN_WATCH_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** The phases described in the class comment. */
    public enum Phase { NEW, KAFKA, SWITCHING, WAITING, PARTI, CLOSED }

    /** The Parti side of the consumer, driven by the migration. */
    public interface PartiSide<K, V> {
        /** Subscribes the Parti side (it joins the Parti group from its next poll). */
        void subscribe(Collection<String> topics, ConsumerRebalanceListener listener);

        /** Polls the Parti side; throws a {@link MixedGroupException} with {@code isMigrationWait()} while Kafka members remain. */
        ConsumerRecords<K, V> poll(Duration timeout);

        /** The Parti assignment version this member applied, 0 before the first (or when not joined). */
        long assignmentVersion();

        /**
         * Called just before the Parti side subscribes to switch. The Parti side publishes in its heartbeat the
         * partitions its Kafka side owns ({@code owned}), so that Parti's first assignment keeps each partition with the
         * member that owns it in Kafka; and, when this member's Kafka side is bounded by its Parti lease, {@code
         * bridgeMemberId} (the Kafka side's member ID), so that the other members may remove that Kafka membership once
         * this member stopped and its lease has surely ended; and the Kafka generation of the switch, with the number of
         * members it was announced to when this member's Kafka side announced it ({@code members} &gt; 0, else 0), so that
         * Parti's leader assigns as soon as that many members of the generation have joined.
         */
        default void switching(String bridgeMemberId, Set<TopicPartition> owned, int generation, int members) {
        }

        /**
         * Once the Parti side has joined: a watch of the switching members' heartbeats ({@link BridgeWatch}) through
         * which the Parti side removes the Kafka members of stopped ones, to close when the switch is over; null when
         * there is nothing to watch for (the Kafka sides are not bounded by Parti leases).
         *
         * @throws Exception when the watch cannot be opened now (the caller tries again later)
         */
        default AutoCloseable watchStoppedBridges() throws Exception {
            return null;
        }

        /** Whether the Parti side has joined its group (its buckets exist). */
        default boolean joined() {
            return false;
        }

        /** This member's Kafka side has left the Kafka group: the Parti side may check often that the group is empty. */
        default void leftKafkaGroup() {
        }

        /**
         * Whether the Parti group has a live worker now, read without joining it.
         *
         * @throws KafkaException when Parti's state cannot be read (NATS unreachable, say)
         */
        boolean groupRuns();

        /**
         * Whether a worker of the Parti group renews its heartbeat within one and a half heartbeat intervals (a watch of
         * the heartbeat bucket), as opposed to keys left by workers that stopped less than a session ago.
         *
         * @throws KafkaException when Parti's state cannot be read
         */
        default boolean workersRenewHeartbeats() {
            return true;
        }

        /**
         * {@link #groupRuns}; when it does not, the assignment its workers left when it last ran on Parti is retired, so
         * that the switch about to be announced starts Parti cold (see {@code LeftoverAssignment}).
         */
        default boolean groupRunsElseRetireItsLeftoverAssignment() {
            return groupRuns();
        }

        /**
         * Whether this member is a safe owner in Parti right now: it has joined and, under the {@code fence} loss policy,
         * its lease is valid (always true under {@code hold} once joined); false before it has joined.
         */
        boolean safeOwner();

        /**
         * How long this member's Parti lease lasts after its last heartbeat ({@code session − safety margin}), in
         * nanoseconds; 0 under the {@code hold} loss policy (then a lapse never stops the bridge).
         */
        long leaseNanos();

        /**
         * Sets each partition of {@code records} (returned by {@link #poll} and not handed out) back to the first of
         * its records, so that the next poll returns them again.
         */
        void rewind(ConsumerRecords<K, V> records);
    }

    private final String groupId;
    private final Map<String, Object> bridgeConfig;
    private final Map<String, Object> adminConfig;
    private final long apiTimeoutMs;
    private final Deserializer<K> keyDeserializer;
    private final Deserializer<V> valueDeserializer;
    private final PartiSide<K, V> parti;
    private volatile Phase phase = Phase.NEW;
    private volatile KafkaConsumer<K, V> bridge;
    private List<String> topics;
    private ConsumerRebalanceListener listener;
    private int switchGeneration = -1;
    /** How many members this member announced the switch to, when it led the Kafka group then; else 0 (polling thread). */
    private int switchAnnouncedTo;
    private boolean kafkaRebalancing;
    private final boolean staticMember;
    /** {@code group.instance.id}, null for a dynamic member. */
    private final String instanceId;
    /** {@code parti.migration.join.wait.ms}, nanoseconds; 0: the bridge joins the Kafka group at once. */
    private final long joinWaitNanos;
    /** KAFKA: the bridge has not joined yet, waiting for a rebalance of the group to enter (polling thread). */
    private boolean joinDeferred;
    /** While {@link #joinDeferred}: when it joins anyway (nanoTime). */
    private long joinDeadlineNanos;
    /**
     * Describes the Kafka group: at the first subscription, while the join is deferred, after a static join and at the
     * leave. One client for all of them, created at the first description and closed once the member consumes through
     * Parti or closes (polling thread): each description with a fresh client paid its connection, metadata and
     * coordinator lookup again (26 to 76 ms after a static join in the migration tests' logs, 9 to 24 ms since).
     */
    private Admin groupAdmin;
    /** While {@link #joinDeferred}: the description under way, or null. */
    private KafkaFuture<ConsumerGroupDescription> joinWatchPending;
    /** While {@link #joinDeferred}: when the next description may be asked for (nanoTime). */
    private long nextJoinWatchNanos;
    /** While {@link #joinDeferred}: the group's Kafka member IDs at its first description, null before. */
    private Set<String> joinWatchMembers;
    private boolean readyAnnounced;
    /** The members the last assignment listed as unable to switch (polling thread), null when it listed none. */
    private Set<String> cannotSwitch;
    /** When the bridge's last {@code poll} returned (nanoTime; polling thread), 0 before the first. */
    private long lastBridgePollNanos;
    /** SWITCHING: the Parti side was seen a safe owner once (polling thread). */
    private boolean partiSeenSafe;
    /** SWITCHING: the Parti side's lease lapsed, so the bridge hands out nothing more (polling thread; see the class comment). */
    private boolean partiLapsed;
    /** SWITCHING and WAITING: the watch of the switching members' heartbeats ({@link PartiSide#switching}), or null. */
    private AutoCloseable bridgeWatch;
    /** When to try to open {@link #bridgeWatch} again after a failure (nanoTime). */
    private long nextBridgeWatchNanos;
    /** When this member's Kafka side began to leave the Kafka group (nanoTime; polling thread), 0 before. */
    private long leavingKafkaNanos;

    /**
     * @param userConfigs       the consumer's whole configuration (Kafka and {@code parti.*} keys), already validated
     * @param keyDeserializer   the key deserializer instance, or null for {@code key.deserializer}
     * @param valueDeserializer the value deserializer instance, or null for {@code value.deserializer}
     * @param parti             the Parti side
     * @throws ConfigException without {@code group.id}
     */
    public KafkaToPartiMigration(Map<String, ?> userConfigs, Deserializer<K> keyDeserializer,
                                 Deserializer<V> valueDeserializer, PartiSide<K, V> parti) {
        BridgeConfigs configs = BridgeConfigs.of(userConfigs, this, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI,
                "a migrating consumer needs the group.id of the Kafka group it takes over");
        this.groupId = configs.groupId();
        this.keyDeserializer = keyDeserializer;
        this.valueDeserializer = valueDeserializer;
        this.parti = parti;
        this.bridgeConfig = configs.bridge();
        Object instanceId = userConfigs.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        this.staticMember = instanceId != null && !instanceId.toString().isBlank();
        this.instanceId = staticMember ? instanceId.toString() : null;
        Object joinWait = userConfigs.get(PartiConsumerConfig.MIGRATION_JOIN_WAIT_MS_CONFIG);
        this.joinWaitNanos = joinWait == null ? 0 : TimeUnit.MILLISECONDS.toNanos((Long) ConfigDef.parseType(
                PartiConsumerConfig.MIGRATION_JOIN_WAIT_MS_CONFIG, joinWait, ConfigDef.Type.LONG));
        this.adminConfig = configs.admin();
        this.apiTimeoutMs = configs.apiTimeoutMs();
    }

    /**
     * The migration of a {@code PartiConsumer} whose Parti side is {@code delegate}, or null unless {@code
     * parti.migration=kafka-to-parti} (the configuration was validated by the delegate already). Closes the delegate
     * when it fails.
     *
     * @throws ConfigException without {@code group.id}
     */
    public static <K, V> KafkaToPartiMigration<K, V> ifConfigured(Map<String, ?> configs, Deserializer<K> keyDeserializer,
                                                                  Deserializer<V> valueDeserializer,
                                                                  PartiConsumerDelegate<K, V> delegate) {
        if (!BridgeConfigs.configured(configs, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI)) {
            return null;
        }
        try {
            PartiPresence presence = new PartiPresence(String.valueOf(configs.get(ConsumerConfig.GROUP_ID_CONFIG)),
                    delegate.partiConfig());
            boolean fence = delegate.partiConfig().lossPolicy() == dev.parti.LossPolicy.FENCE;
            long lease = delegate.partiConfig().sessionLease().toNanos();
            return new KafkaToPartiMigration<>(configs, keyDeserializer, valueDeserializer, new PartiSide<>() {
                @Override
                public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
                    delegate.subscribe(topics, listener);
                }

                @Override
                public ConsumerRecords<K, V> poll(Duration timeout) {
                    return delegate.poll(timeout);
                }

                @Override
                public long assignmentVersion() {
                    PartiManager m = delegate.partiManager();
                    return m == null ? 0 : m.assignmentVersion();
                }

                @Override
                public boolean groupRuns() {
                    return !presence.liveWorkers().isEmpty();
                }

                @Override
                public boolean workersRenewHeartbeats() {
                    return presence.workersRenewHeartbeats();
                }

                @Override
                public boolean groupRunsElseRetireItsLeftoverAssignment() {
                    return !presence.liveWorkersRetiringALeftoverAssignment().isEmpty();
                }

                @Override
                public void leftKafkaGroup() {
                    delegate.migrationLeftKafkaGroup();
                }

                @Override
                public void switching(String bridgeMemberId, Set<TopicPartition> owned, int generation, int members) {
                    // without fence the Kafka side is not bounded by the Parti lease: nobody may remove it early
                    delegate.migrationSwitching(fence ? bridgeMemberId : null, owned, generation, members);
                }

                @Override
                public AutoCloseable watchStoppedBridges() throws Exception {
                    if (!fence) {
                        return null;
                    }
                    BridgeWatch watch = presence.watchBridges();
                    delegate.migrationStoppedBridges(watch::allStopped);
                    return () -> {
                        delegate.migrationStoppedBridges(null);
                        watch.close();
                    };
                }

                @Override
                public boolean joined() {
                    return delegate.partiManager() != null;
                }

                @Override
                public boolean safeOwner() {
                    return delegate.safeOwner();
                }

                @Override
                public long leaseNanos() {
                    return fence ? lease : 0;
                }

                @Override
                public void rewind(ConsumerRecords<K, V> records) {
                    KafkaPartitions.rewind(delegate.assignment(), records, delegate::seek);
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

    /** The Kafka consumer that currently serves this member's calls (phases KAFKA and SWITCHING), else null. Any thread. */
    public Consumer<K, V> kafkaSide() {
        Phase p = phase;
        return p == Phase.KAFKA || p == Phase.SWITCHING ? bridge : null;
    }

    /**
     * KAFKA, the join deferred ({@code parti.migration.join.wait.ms}): waits within {@code timeout} for a reason to join
     * the Kafka group now, describing it every 50 ms without blocking on a description. Returns true once the group is
     * seen preparing a rebalance (a member left or joined: joining now enters that rebalance instead of starting one),
     * seen without members, seen without a member it had at the first description (that member's rebalance ended
     * between two descriptions), or the wait is over; false when {@code timeout} passed first. Polling thread; a {@code
     * wakeup()} meanwhile takes effect at the bridge's first poll.
     */
    private boolean awaitRebalanceToJoin(Duration timeout) {
        long start = System.nanoTime();
        long timeoutNanos = timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : timeout.toNanos();
        while (true) {
            String reason = joinReason();
            if (reason != null) {
                log.info("Consumer group {}: joining the Kafka group now: {}", groupId, reason);
                joinDeferred = false;
                closeJoinWatch();
                return true;
            }
            long left = timeoutNanos - (System.nanoTime() - start);
            if (left <= 0) {
                return false;
            }
            LockSupport.parkNanos(Math.min(left, WAIT_SLICE_NANOS));
            if (Thread.interrupted()) {
                throw new InterruptException(new InterruptedException());
            }
        }
    }

    /** Why the bridge joins now (see {@link #awaitRebalanceToJoin}), or null to wait on. */
    private String joinReason() {
        long now = System.nanoTime();
        if (now - joinDeadlineNanos >= 0) {
            return "no rebalance within parti.migration.join.wait.ms";
        }
        if (joinWatchPending == null) {
            if (now - nextJoinWatchNanos < 0) {
                return null;
            }
            nextJoinWatchNanos = now + JOIN_WATCH_NANOS;
            joinWatchPending = groupAdmin().describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId);
        }
        if (!joinWatchPending.isDone()) {
            return null;
        }
        KafkaFuture<ConsumerGroupDescription> done = joinWatchPending;
        joinWatchPending = null;
        ConsumerGroupDescription d;
        try {
            d = done.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return "the group has no member";
            }
            log.debug("Consumer group {}: describing it while the join waits failed: {}", groupId, e.getCause().toString());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        }
        if (d.groupState() == GroupState.PREPARING_REBALANCE) {
            return "the group is preparing a rebalance, which this member enters";
        }
        if (d.members().isEmpty()) {
            return "the group has no member";
        }
        Set<String> members = d.members().stream().map(MemberDescription::consumerId)
                .collect(java.util.stream.Collectors.toSet());
        if (joinWatchMembers == null) {
            joinWatchMembers = members;
        } else if (!members.containsAll(joinWatchMembers)) {
            // a member left and its rebalance ended between two descriptions: waiting on would only delay this one
            return "a member left the group and its rebalance is over";
        }
        return null;
    }

    /** Ends the group watch of a deferred join, if any (polling thread, or {@link #close}). */
    private void closeJoinWatch() {
        joinWatchPending = null;
    }

    /** The {@link #groupAdmin}, created now if needed (polling thread). */
    private Admin groupAdmin() {
        Admin a = groupAdmin;
        if (a == null) {
            a = Admin.create(adminConfig);
            groupAdmin = a;
        }
        return a;
    }

    /** Closes the {@link #groupAdmin}, if any, without waiting for a description under way (polling thread, or {@link #close}). */
    private void closeGroupAdmin() {
        Admin a = groupAdmin;
        groupAdmin = null;
        if (a != null) {
            a.close(Duration.ZERO);
        }
    }

    /** Whether {@code d} lists a member under {@code instanceId} (false for a dynamic member: null). */
    static boolean holdsStaticMembership(ConsumerGroupDescription d, String instanceId) {
        return instanceId != null && d.members().stream().anyMatch(m -> m.groupInstanceId().filter(instanceId::equals)
                .isPresent());
    }

    /** Whether this member waits for the last Kafka-managed members to leave (it owns nothing meanwhile). */
    public boolean waiting() {
        return phase == Phase.WAITING;
    }

    /**
     * A topic subscription. Returns true when the Kafka side took it, false when the caller must give it to
     * the Parti side (phase PARTI or WAITING).
     *
     * @throws KafkaException when the group cannot be described at the first subscription
     */
    public boolean subscribe(Collection<String> newTopics, ConsumerRebalanceListener newListener) {
        Phase p = phase;
        if (p == Phase.NEW) {
            // both reads at once: each is a fresh connection (NATS, Kafka Admin) and a few round trips
            long start = System.nanoTime();
            PresenceRead presence = new PresenceRead();
            ConsumerGroupDescription d = null;
            KafkaException describeFailure = null;
            try {
                d = describe();
            } catch (WakeupException | InterruptException e) {
                throw e; // the presence thread ends alone
            } catch (KafkaException e) {
                describeFailure = e; // thrown unless Parti runs already (then the Kafka group does not matter)
            }
            long describedNanos = System.nanoTime() - start;
            boolean runs = presence.await();
            log.info("Consumer group {}: Parti's state and the Kafka group read in {} ms (Kafka group {} ms, Parti {} ms)",
                    groupId, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                    TimeUnit.NANOSECONDS.toMillis(describedNanos), TimeUnit.NANOSECONDS.toMillis(presence.nanos));
            boolean ownMembershipLeft = d != null && holdsStaticMembership(d, instanceId);
            if (runs && !ownMembershipLeft && d != null && !d.members().isEmpty() && !heartbeatsRenewed()) {
                // the keys of workers that stopped less than a session ago (a group rolled back to Kafka and migrated
                // again at once): joining Parti would leave this member idle until the last KafkaConsumer is gone. The
                // Kafka group's leader reads Parti's state again before it announces a switch, so a worker taken for
                // stopped here (paused, say) still keeps the group from assigning in Kafka what Parti may own.
                log.info("Consumer group {}: the Parti group's heartbeats are not renewed (workers that stopped less than "
                        + "a session ago); deciding from the Kafka group", groupId);
                runs = false;
            }
            if (runs && !ownMembershipLeft) {
                log.info("Consumer group {} runs on Parti already: joining Parti directly", groupId);
                phase = Phase.WAITING; // delivers once the Kafka group is empty (members still switching leave it)
                return false;
            }
            if (runs) {
                // An earlier instance under this group.instance.id (killed while switching, say) is still a member: the
                // broker would keep it, and every partition waiting for the Kafka group to empty, for its whole
                // session.timeout.ms. Joining under it fences it at once; this member then switches as it would have.
                log.info("Consumer group {} runs on Parti already, but the Kafka group still has a member under this "
                        + "consumer's group.instance.id {} (an earlier instance that did not leave): joining the Kafka group "
                        + "under it, then switching to Parti", groupId, instanceId);
            }
            if (describeFailure != null) {
                throw describeFailure;
            }
            if (d == null || d.members().isEmpty()) {
                log.info("Consumer group {} has no member managed by Kafka's coordinator: joining Parti directly", groupId);
                phase = Phase.WAITING; // the Parti side delivers once its own check has seen the group empty too
                return false;
            }
            log.info("Consumer group {} has {} member(s) managed by Kafka's coordinator: joining the Kafka group until "
                    + "every member can switch to Parti", groupId, d.members().size());
            bridge = new KafkaConsumer<>(bridgeConfig, keyDeserializer, valueDeserializer);
            if (joinWaitNanos > 0 && !staticMember) {
                joinDeferred = true;
                joinDeadlineNanos = System.nanoTime() + joinWaitNanos;
                log.info("Consumer group {}: joining the Kafka group with its next rebalance (a member leaving, say), "
                        + "or in {} ms (parti.migration.join.wait.ms)", groupId, TimeUnit.NANOSECONDS.toMillis(joinWaitNanos));
            }
            phase = Phase.KAFKA;
            p = Phase.KAFKA;
        }
        if (p == Phase.KAFKA || p == Phase.SWITCHING) {
            topics = List.copyOf(newTopics);
            listener = newListener;
            bridge.subscribe(topics, listener);
            if (p == Phase.SWITCHING) {
                parti.subscribe(topics, listener);
            }
            return true;
        }
        return false;
    }

    /** {@code poll(timeout)} in the phases before PARTI; in PARTI the Parti side's poll. */
    public ConsumerRecords<K, V> poll(Duration timeout) {
        switch (phase) {
            case KAFKA: {
                if (joinDeferred && !awaitRebalanceToJoin(timeout)) {
                    return ConsumerRecords.empty();
                }
                ConsumerRecords<K, V> records = bridge.poll(timeout);
                lastBridgePollNanos = System.nanoTime();
                if (staticMember && !readyAnnounced && bridge.groupMetadata().generationId() > 0) {
                    // A static member taking over a static member's ID gets its assignment without a rebalance, so
                    // the leader never read "can switch": one rebalance (cooperative, nothing moves) tells it, unless
                    // a member that cannot switch is still in the group (see the class comment).
                    readyAnnounced = true;
                    String waitingFor = switchGeneration >= 0 ? null : stillUnableToSwitch(bridge.groupMetadata().memberId());
                    if (switchGeneration >= 0) {
                        log.debug("Consumer group {}: joined as a static member in the switch's rebalance", groupId);
                    } else if (waitingFor == null) {
                        bridge.enforceRebalance("a migrating PartiConsumer joined as a static member and can switch to Parti");
                    } else {
                        log.info("Consumer group {}: joined as a static member; member {} cannot switch to Parti yet, "
                                + "so no rebalance is asked for (the replacement of the last such member asks)", groupId,
                                waitingFor);
                    }
                }
                if (switchGeneration >= 0) {
                    log.info("Consumer group {}: every member can switch (generation {}); joining Parti", groupId,
                            switchGeneration);
                    phase = Phase.SWITCHING;
                    parti.switching(bridge.groupMetadata().memberId(), bridge.assignment(), switchGeneration,
                            switchAnnouncedTo);
                    parti.subscribe(topics, listener);
                    if (records.isEmpty() && mayLeaveKafka()) {
                        leaveKafkaGroup(Duration.ofMillis(apiTimeoutMs));
                        phase = Phase.WAITING;
                        return records;
                    }
                    driveParti();
                }
                return records;
            }
            case SWITCHING:
                driveParti();
                watchStoppedBridges();
                if (mayLeaveKafka()) {
                    leaveKafkaGroup(Duration.ofMillis(apiTimeoutMs));
                    phase = Phase.WAITING;
                    return awaitParti(timeout);
                }
                return pollBridgeWhileSwitching(timeout);
            case WAITING:
                watchStoppedBridges();
                return awaitParti(timeout);
            case PARTI:
                return parti.poll(timeout);
            case CLOSED:
                throw new IllegalStateException("This consumer has already been closed.");
            default:
                throw new IllegalStateException("Consumer is not subscribed to any topics or assigned any partitions");
        }
    }

    /**
     * Closes the bridge if it is still open, with the caller's options (so a static member may stay in the Kafka
     * group until its session expires); the user's listener gets the revocation.
     */
    public void close(CloseOptions options) {
        KafkaConsumer<K, V> b = bridge;
        closeJoinWatch();
        try {
            if (b != null) {
                b.close(options);
            }
        } finally {
            bridge = null;
            phase = Phase.CLOSED;
            closeBridgeWatch();
            closeGroupAdmin();
        }
    }

    /**
     * SWITCHING and WAITING: opens the watch of the switching members' heartbeats once the Parti side has joined (its
     * buckets exist); a failed attempt is tried again a second later.
     */
    private void watchStoppedBridges() {
        long now = System.nanoTime();
        if (bridgeWatch != null || now - nextBridgeWatchNanos < 0 || !parti.joined()) {
            return;
        }
        try {
            bridgeWatch = parti.watchStoppedBridges(); // null at once, no I/O, when there is nothing to watch for
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        } catch (Exception e) {
            nextBridgeWatchNanos = now + TimeUnit.SECONDS.toNanos(1);
            log.warn("Consumer group {}: cannot watch the Parti heartbeats of switching members ({}); trying again in 1 s. "
                    + "Meanwhile a member killed while switching keeps the Kafka group from emptying until its "
                    + "session.timeout.ms", groupId, e.toString());
        }
    }

    private void closeBridgeWatch() {
        AutoCloseable w = bridgeWatch;
        bridgeWatch = null;
        if (w != null) {
            try {
                w.close();
            } catch (Exception e) {
                log.debug("Consumer group {}: closing the bridge watch failed: {}", groupId, e.toString());
            }
        }
    }

    /**
     * Kafka's polling thread (inside the bridge's poll): the assignment of {@code generation} says switch; {@code
     * members} &gt; 0 when this member announced it to that many members (it led the Kafka group).
     */
    @Override
    public void switchAnnounced(int generation, int members) {
        if (switchGeneration < 0) {
            switchGeneration = Math.max(0, generation);
            switchAnnouncedTo = Math.max(0, members);
        }
    }

    /** Kafka's polling thread: an assignment arrived, listing the members that cannot switch (or null). */
    @Override
    public void assigned(int generation, Set<String> membersThatCannotSwitch) {
        cannotSwitch = membersThatCannotSwitch;
    }

    /**
     * A static member's first assignment: a member that the last assignment listed as unable to switch and that is
     * still in the Kafka group (described now, after this member's join), other than {@code ownMemberId}; null when
     * there is none, when the assignment listed no one, or when the group cannot be described: then the caller asks for
     * the rebalance. Polling thread; one describe, bounded by {@code default.api.timeout.ms}.
     */
    String stillUnableToSwitch(String ownMemberId) {
        Set<String> listed = cannotSwitch;
        if (listed == null || listed.isEmpty()) {
            return null;
        }
        long start = System.nanoTime();
        ConsumerGroupDescription d;
        try {
            d = describe();
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            log.warn("Consumer group {}: {}; asking for a rebalance", groupId, e.getMessage());
            return null;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        String present = d == null ? null : firstStillPresent(listed,
                d.members().stream().map(MemberDescription::consumerId).toList(), ownMemberId);
        log.info("Consumer group {}: described in {} ms after a static join; {}", groupId, ms,
                present == null ? "every member listed as unable to switch has been replaced" : present + " is still there");
        return present;
    }

    /** The first of {@code listed} in {@code members}, other than {@code self}; null when none. */
    static String firstStillPresent(Set<String> listed, Collection<String> members, String self) {
        for (String m : members) {
            if (listed.contains(m) && !m.equals(self)) {
                return m;
            }
        }
        return null;
    }

    /**
     * SWITCHING: the bridge's poll, handing out nothing once this member's Parti lease may have lapsed. Parti's new
     * leader may then have given this member's partitions to another member, which consumes them as soon as the Kafka
     * group is empty; a paused process continuing finds records it fetched before the pause in the bridge, which as a
     * classic Kafka consumer would hand them out until its heartbeat learnt that the broker expired it. A lapse is either
     * the lease seen invalid after it was seen valid, or a gap since the bridge's previous poll of at least the lease
     * (a pause, even one the Parti side has already recovered from). From then on the records the bridge returns are set
     * back to their first offset and its partitions paused: they are fetched again by whoever owns them next (this
     * member too, through Parti), and the member leaves the Kafka group as usual once Parti has assigned it.
     */
    private ConsumerRecords<K, V> pollBridgeWhileSwitching(Duration timeout) {
        ConsumerRecords<K, V> records = bridge.poll(timeout);
        long now = System.nanoTime();
        long previous = lastBridgePollNanos;
        lastBridgePollNanos = now;
        if (!partiLapsed) {
            boolean safe = parti.safeOwner();
            String lapse = lapse(parti.leaseNanos(), partiSeenSafe && !safe, previous, now);
            partiSeenSafe |= safe;
            if (lapse != null) {
                partiLapsed = true;
                log.warn("Consumer group {}: this member's Parti lease may have lapsed while switching ({}); its Kafka "
                        + "side hands out nothing more and it leaves the Kafka group once Parti has assigned it", groupId,
                        lapse);
            }
        }
        if (!partiLapsed) {
            return records;
        }
        KafkaPartitions.rewind(bridge, records);
        bridge.pause(bridge.assignment());
        return ConsumerRecords.empty();
    }

    /**
     * Why this member's Parti lease may have lapsed by the bridge poll that returned at {@code nowNanos}, or null when
     * it cannot have: the lease seen invalid after it was seen valid, or at least a lease since the previous poll
     * returned ({@code previousPollNanos}, 0 before the first), which a paused process shows even once its Parti side
     * has recovered. Never under a {@code leaseNanos} of 0 (the {@code hold} loss policy).
     */
    static String lapse(long leaseNanos, boolean invalidAfterValid, long previousPollNanos, long nowNanos) {
        if (leaseNanos <= 0) {
            return null;
        }
        if (invalidAfterValid) {
            return "no longer valid";
        }
        long gap = nowNanos - previousPollNanos;
        return previousPollNanos != 0 && gap >= leaseNanos ? gap / 1_000_000 + " ms since the last poll" : null;
    }

    /** Kafka's polling thread: a rebalance of the bridge started or ended (see {@link MigrationAssignor.SwitchSignal}). */
    @Override
    public void rebalancing(boolean inProgress) {
        kafkaRebalancing = inProgress;
    }

    /**
     * SWITCHING: whether the bridge may leave the Kafka group now. Not inside a Kafka rebalance (Kafka would report its
     * partitions lost, not revoked); and either Parti has given this member its first assignment, or the bridge owns
     * nothing in Kafka: once the switch is announced a member never gets more in Kafka than it owns, so one that owns
     * nothing (it joined the Kafka group after Parti started to run, say) has nothing to wait for; or its Parti lease
     * lapsed: the bridge hands out nothing more, and staying would only keep the Kafka group from being empty, which
     * every switched member waits for.
     */
    private boolean mayLeaveKafka() {
        return !kafkaRebalancing && (partiLapsed || parti.assignmentVersion() > 0 || bridge.assignment().isEmpty());
    }

    /**
     * First {@code subscribe}: {@link #partiRuns()} on a thread of its own while the polling thread describes the Kafka
     * group. The thread ends by itself within Parti's read timeout (at most 5 s); {@link #await} waits for it, and an
     * interrupted wait leaves it to end alone.
     */
    private final class PresenceRead {
        private volatile boolean runs;
        private volatile RuntimeException failure;
        /** How long the read took (for the log). */
        private volatile long nanos;
        private final Thread thread;

        PresenceRead() {
            long start = System.nanoTime();
            thread = new Thread(() -> {
                try {
                    runs = partiRuns();
                } catch (RuntimeException e) {
                    failure = e;
                } finally {
                    nanos = System.nanoTime() - start;
                }
            }, "parti-migration-presence-" + groupId);
            thread.setDaemon(true);
            thread.start();
        }

        boolean await() {
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptException(e);
            }
            if (failure != null) {
                throw failure;
            }
            return runs;
        }
    }

    /**
     * First {@code subscribe}, when the Parti group has heartbeats and the Kafka group members: whether a Parti worker
     * renews its heartbeat; true, as before this check, when that cannot be read.
     */
    private boolean heartbeatsRenewed() {
        return readParti(parti::workersRenewHeartbeats, true, "taking the Parti group for running");
    }

    /** First {@code subscribe}: whether the Parti group runs; false, after a warning, when that cannot be read. */
    private boolean partiRuns() {
        return readParti(parti::groupRuns, false, "deciding from the Kafka group alone");
    }

    /** {@code read}'s answer; {@code ifUnreadable}, after a warning that ends with {@code assumed}, when NATS cannot be read. */
    private boolean readParti(java.util.function.BooleanSupplier read, boolean ifUnreadable, String assumed) {
        try {
            return read.getAsBoolean();
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            log.warn("Consumer group {}: {}; {}", groupId, e.getMessage(), assumed);
            return ifUnreadable;
        }
    }

    /**
     * Kafka's polling thread, in the Kafka group leader's assignment when every member can switch: whether the Parti
     * group may run already (true when that cannot be read: the members then keep what they own and switch).
     */
    @Override
    public boolean partiMayRun() {
        try {
            // the switch is announced when Parti does not run: what its workers left when it last ran is retired first
            boolean runs = parti.groupRunsElseRetireItsLeftoverAssignment();
            if (runs) {
                log.info("Consumer group {}: Parti runs already; nothing more is assigned in the Kafka group", groupId);
            }
            return runs;
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            log.warn("Consumer group {}: {}; assigning nothing more in the Kafka group, as if Parti ran", groupId,
                    e.getMessage());
            return true;
        }
    }

    /**
     * Joins Parti in the background. The Parti side delivers nothing while Kafka members remain, which includes this
     * member's own bridge, with one exception: a member paused past its Kafka session (SIGSTOP, a long GC) whose bridge
     * the broker expired. Its Parti side may see the Kafka group without members before the bridge learns of the expiry
     * and rejoins, and then deliver records while this member is still switching. Those are set back, not handed out:
     * the member hands out Parti's records only once its bridge has left the Kafka group (it may, as Parti has assigned
     * it), so never while its bridge could still hand out records of its own.
     */
    private void driveParti() {
        try {
            ConsumerRecords<K, V> records = parti.poll(Duration.ZERO);
            if (!records.isEmpty()) {
                log.info("Consumer group {}: Parti delivered records of {} while this member is still in the Kafka group "
                        + "(its Kafka membership expired); they are fetched again once it has left", groupId,
                        records.partitions());
                parti.rewind(records);
            }
        } catch (MixedGroupException e) {
            if (!e.isMigrationWait()) {
                throw e;
            }
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            // e.g. NATS unreachable: this member keeps consuming as a Kafka member, and the join is retried next poll
            log.warn("Consumer group {}: joining Parti failed ({}); still consuming as a Kafka member, retrying", groupId,
                    e.toString());
        }
    }

    /**
     * Leaves the Kafka group: {@code close} with {@code LEAVE_GROUP}, which calls the user's {@code onPartitionsRevoked}
     * (where the user commits). After a lapse ({@link #partiLapsed}: the process paused, say) the broker may have
     * expired this member while its bridge has not learnt it yet (its heartbeat answer still on the way) and would call
     * {@code onPartitionsRevoked}, whose commit the broker refuses ({@code CommitFailedException}). So then the group is
     * described first: when this member is no longer in it, the user's listener gets {@code onPartitionsLost} instead,
     * as a classic Kafka consumer that learnt of its expiry would call it (what it processed since its last commit is
     * processed again by the next owner). Should the broker expire it between the description and the commit, the
     * refused commit is logged and the listener gets {@code onPartitionsLost} after its failed {@code
     * onPartitionsRevoked}; this member never fails its {@code poll()} for a leave of its own.
     */
    private void leaveKafkaGroup(Duration timeout) {
        KafkaConsumer<K, V> b = bridge;
        if (b == null) {
            return;
        }
        leavingKafkaNanos = System.nanoTime();
        Set<TopicPartition> owned = Set.copyOf(b.assignment());
        CloseOptions leave = CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(timeout);
        if (partiLapsed && !owned.isEmpty() && expiredInKafka(b.groupMetadata().memberId())) {
            log.warn("Consumer group {}: this member's Kafka membership ended while it was switching (paused, say: the "
                    + "broker expired it, or another member removed it once its Parti lease had ended); {} lost, not revoked",
                    groupId, owned);
            // the bridge would call onPartitionsRevoked at its close: it gets a listener that does nothing instead
            b.subscribe(topics, NoOpRebalanceListener.INSTANCE);
            try {
                listener.onPartitionsLost(owned); // while the bridge still serves the user's calls, as inside its poll
            } finally {
                closeBridge(b, leave);
            }
            return;
        }
        log.info("Consumer group {}: leaving the Kafka group (revoking {})", groupId, owned);
        try {
            closeBridge(b, leave);
            log.info("Consumer group {}: left the Kafka group in {} ms (revocation, leave, close)", groupId,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - leavingKafkaNanos));
        } catch (KafkaException e) {
            if (!Causes.causedBy(e, CommitFailedException.class)) {
                throw e;
            }
            log.warn("Consumer group {}: a commit in onPartitionsRevoked was refused while leaving the Kafka group ({}): "
                    + "the broker expired this member meanwhile; {} lost", groupId, e.toString(), owned);
            listener.onPartitionsLost(owned);
        }
    }

    /** Closes the bridge to leave the Kafka group; the Parti side then checks often that the group is empty. */
    private void closeBridge(KafkaConsumer<K, V> b, CloseOptions options) {
        try {
            b.close(options);
        } finally {
            bridge = null;
            parti.leftKafkaGroup();
        }
    }

    /**
     * Whether the Kafka group no longer has the member {@code memberId} (the bridge's): described now. False when the
     * group cannot be described (then the bridge leaves as usual, revoking).
     */
    private boolean expiredInKafka(String memberId) {
        try {
            ConsumerGroupDescription d = describe();
            return d == null || d.members().stream().noneMatch(m -> m.consumerId().equals(memberId));
        } catch (WakeupException | InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            log.warn("Consumer group {}: {}; leaving the Kafka group as usual", groupId, e.getMessage());
            return false;
        }
    }

    /** WAITING: polls the Parti side until it stops reporting the wait, or until {@code timeout}. */
    private ConsumerRecords<K, V> awaitParti(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                long left = Math.max(0, deadline - System.nanoTime());
                ConsumerRecords<K, V> records = parti.poll(Duration.ofNanos(left));
                if (phase == Phase.WAITING) {
                    if (leavingKafkaNanos == 0) { // it never was a Kafka member (it joined after the switch)
                        log.info("Consumer group {}: no Kafka-managed member left; consuming through Parti", groupId);
                    } else {
                        log.info("Consumer group {}: no Kafka-managed member left; consuming through Parti ({} ms after "
                                + "this member began to leave the Kafka group)", groupId,
                                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - leavingKafkaNanos));
                    }
                    phase = Phase.PARTI;
                    closeBridgeWatch();
                    closeGroupAdmin();
                }
                return records;
            } catch (MixedGroupException e) {
                if (!e.isMigrationWait()) {
                    throw e;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return ConsumerRecords.empty();
            }
            LockSupport.parkNanos(Math.min(left, WAIT_SLICE_NANOS));
            if (Thread.interrupted()) {
                throw new InterruptException(new InterruptedException());
            }
        }
    }

    private ConsumerGroupDescription describe() {
        try {
            return groupAdmin().describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId)
                    .get(apiTimeoutMs, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return null;
            }
            throw new KafkaException("Cannot describe consumer group " + groupId + " to start the migration", e.getCause());
        } catch (TimeoutException e) {
            throw new org.apache.kafka.common.errors.TimeoutException("Describing consumer group " + groupId
                    + " to start the migration took longer than " + apiTimeoutMs + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        }
    }
}
