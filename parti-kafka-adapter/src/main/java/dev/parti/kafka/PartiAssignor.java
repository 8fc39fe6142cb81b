package dev.parti.kafka;

import dev.parti.AssignmentStrategy;
import dev.parti.kafka.PartiAssignorCodec.AssignmentData;
import dev.parti.kafka.PartiAssignorCodec.MemberData;
import dev.parti.kafka.PartiAssignorPlanner.Member;
import dev.parti.kafka.PartiAssignorPlanner.Plan;
import dev.parti.kafka.migration.MigrationAssignor;
import dev.parti.strategy.Strategies;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Configurable;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka consumer-group assignor that runs a Parti {@linkplain AssignmentStrategy strategy} over stable
 * worker IDs, inside Kafka's <em>classic</em> group protocol. Step one of a migration to Parti: no NATS,
 * no code change, only configuration.
 *
 * <h2>Enabling it</h2>
 * <pre>{@code
 * partition.assignment.strategy=dev.parti.kafka.PartiAssignor
 * group.protocol=classic                 # the default of kafka-clients 4.x; see below
 * group.instance.id=orders-worker-3      # or parti.worker.id=orders-worker-3
 * parti.strategy=sticky-balanced         # optional
 * }</pre>
 * Its protocol name is {@value #NAME}. It may share a preference list with other assignors, for example
 * {@code dev.parti.kafka.PartiAssignor,org.apache.kafka.clients.consumer.CooperativeStickyAssignor}: Kafka
 * then uses {@value #NAME} once every member of the group lists it, and the other assignor until then (or
 * again as soon as one member no longer lists it), which is how a group switches to it, and back, with
 * rolling restarts. The guide {@code parti-kafka-adapter/PARTI_ASSIGNOR.md} walks through both.
 *
 * <h2>Configuration</h2>
 * Kafka instantiates the assignor and calls {@link #configure(Map)} with the consumer's configuration, so
 * the keys below go into the same map as the consumer's own (the consumer logs them as unused, it does not
 * reject them).
 * <table>
 *   <caption>Keys read</caption>
 *   <tr><th>key</th><th>meaning</th></tr>
 *   <tr><td>{@code group.instance.id}</td><td>Kafka's static member ID; when set, it is the stable
 *       worker ID</td></tr>
 *   <tr><td>{@value #WORKER_ID_CONFIG}</td><td>the stable worker ID when {@code group.instance.id} is
 *       not set (for dynamic members); non-empty</td></tr>
 *   <tr><td>{@value #WORKER_WEIGHT_CONFIG}</td><td>relative capacity of this member, an integer ≥ 1
 *       (default {@value #DEFAULT_WORKER_WEIGHT}); strategies that honour capacity give it
 *       proportionally more partitions</td></tr>
 *   <tr><td>{@value #STRATEGY_CONFIG}</td><td>one of {@link Strategies#names()} (default
 *       {@code sticky-balanced}); all members should name the same one, the leader's is used</td></tr>
 * </table>
 * Without either ID a worker ID is generated once per process, with the consumer's {@code client.id} to
 * tell a process's consumers apart; such a member does not get its partitions back after its process
 * restarts. An unknown strategy or a weight that is not an integer ≥ 1 is a {@link ConfigException}
 * naming the key (Kafka wraps it in the {@code KafkaException} thrown by the consumer's constructor).
 * Other {@code parti.*} keys are not read here and are logged as ignored.
 *
 * <h2>What it does</h2>
 * <ul>
 *   <li>Each member's subscription user data carries its stable worker ID and weight, and what it
 *       remembers from its last assignment (see below). Two members claiming one ID (a misconfiguration)
 *       do not break the group: the one that used it last keeps it, the other becomes
 *       {@code ID#memberId}, and the leader logs a warning.</li>
 *   <li>The group leader runs the configured strategy over the stable IDs, the subscribed topics'
 *       partitions and the previous ownership (Kafka's owned partitions under the cooperative protocol,
 *       the remembered assignment under the eager one). With the default {@code sticky-balanced} strategy
 *       partition counts differ by at most one and a joining member takes only its share from the
 *       others.</li>
 *   <li><b>Restart stickiness.</b> While a worker is away its partitions are lent to the others and the
 *       group remembers whose they are: each assignment carries the member's loans and a memo of one
 *       other member's partitions. When a worker with the same stable ID joins again, it gets its own
 *       partitions back, even after its process restarted and even when it left the group in between.
 *       (A static member that returns within {@code session.timeout.ms} does not even cause a rebalance:
 *       Kafka hands it its previous assignment.) The memory is lost only when a worker and the member
 *       keeping its memo are away at the same time, or the whole group is.</li>
 *   <li>Members subscribing to different topics are supported: the strategy runs once per set of members
 *       sharing a topic, so balance holds within each such set.</li>
 *   <li><b>For a rolling migration to Parti.</b> The leader appends the Kafka member IDs of the group's
 *       members that cannot switch to Parti (its own and every other plain member's), after the fields
 *       above, to the assignment of every static member: a {@code PartiConsumer} started later under that
 *       {@code group.instance.id} learns from it that the group cannot switch while one of them is in it, and
 *       spares the rebalance it would otherwise ask for ({@link MigrationAssignor#listingThePlainLeader}).
 *       Readers of this assignor, older releases included, ignore what follows its fields.</li>
 * </ul>
 *
 * <h2>Rebalance protocols</h2>
 * Supports {@link RebalanceProtocol#COOPERATIVE COOPERATIVE} and {@link RebalanceProtocol#EAGER EAGER};
 * Kafka picks cooperative unless another assignor in the preference list supports eager only (for
 * example {@code RangeAssignor}). <b>The cooperative rule:</b> a partition that a member owns is never
 * handed straight to another member. It is left unassigned for one round, its owner revokes it (and may
 * commit in {@code onPartitionsRevoked}), and Kafka's follow-up rebalance gives it to its new owner, as
 * Kafka's own validation of cooperative assignors requires. The rule is applied whatever the protocol, so a
 * group mixing eager and cooperative members during a rolling upgrade is safe too.
 *
 * <h2>{@code group.protocol=consumer}</h2>
 * Client-side assignors exist only in the classic protocol. With {@code group.protocol=consumer}
 * (KIP-848) the broker computes assignments and kafka-clients refuses
 * {@code partition.assignment.strategy} altogether: the consumer's constructor fails with a
 * {@code ConfigException}. Use this assignor with {@code group.protocol=classic}.
 *
 * <h2>Limits</h2>
 * The user data grows with the partitions: a member's subscription carries its target and a memo of one
 * other member's, its assignment the memo again, four bytes per partition each. For 200 members and
 * 10 000 partitions that is about 143 kB of user data and about 235 kB for the group's whole metadata
 * (Kafka's own owned and assigned partition lists included), well below the 1 MB Kafka's default settings
 * allow for a message. The leader's {@link #assign} takes at most a few hundred milliseconds there; both are
 * measured by {@code PartiAssignorScaleTest}. Thread-safety: Kafka calls one instance from its consumer's
 * threads; state is published through volatile fields.
 */
public final class PartiAssignor implements ConsumerPartitionAssignor, Configurable {
    /** The protocol name Kafka sees. */
    public static final String NAME = "parti";

    /** The stable worker ID of a member without {@code group.instance.id}. */
    public static final String WORKER_ID_CONFIG = "parti.worker.id";
    private static final String WORKER_ID_DOC = "Stable worker ID of this member when group.instance.id is not set; "
            + "a member that keeps its ID gets its partitions back after a restart. Non-empty.";

    /** The member's relative capacity. */
    public static final String WORKER_WEIGHT_CONFIG = "parti.worker.weight";
    /** Default of {@link #WORKER_WEIGHT_CONFIG}. */
    public static final long DEFAULT_WORKER_WEIGHT = 1L;
    private static final String WORKER_WEIGHT_DOC = "Relative capacity of this member, an integer >= 1; "
            + "strategies that honour capacity give it proportionally more partitions.";

    /** The Parti strategy the leader runs. */
    public static final String STRATEGY_CONFIG = "parti.strategy";
    private static final String STRATEGY_DOC = "Name of the Parti assignment strategy the group leader runs.";

    /** The keys this assignor reads (besides Kafka's {@code group.instance.id}). */
    static final ConfigDef CONFIG = new ConfigDef()
            .define(WORKER_ID_CONFIG, Type.STRING, null, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    WORKER_ID_DOC)
            .define(WORKER_WEIGHT_CONFIG, Type.LONG, DEFAULT_WORKER_WEIGHT, ConfigDef.Range.atLeast(1),
                    Importance.MEDIUM, WORKER_WEIGHT_DOC)
            .define(STRATEGY_CONFIG, Type.STRING, Strategies.defaultStrategy().name(),
                    ConfigDef.ValidString.in(Strategies.names().toArray(new String[0])), Importance.MEDIUM,
                    STRATEGY_DOC);

    private static final Logger LOG = LoggerFactory.getLogger(PartiAssignor.class);
    private static final String PROCESS_TOKEN = ProcessHandle.current().pid() + "-"
            + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffL);
    private static final AtomicLong INSTANCES = new AtomicLong();

    private volatile Settings settings;
    private volatile Memory memory = Memory.NONE;

    /** Created by Kafka from {@code partition.assignment.strategy}; {@link #configure(Map)} follows. */
    public PartiAssignor() {
        this.settings = new Settings(generatedId(null), DEFAULT_WORKER_WEIGHT, Strategies.defaultStrategy());
    }

    /**
     * Reads {@code group.instance.id} and the {@code parti.*} keys listed in the class comment.
     *
     * @throws ConfigException for an unknown strategy, a weight that is not an integer ≥ 1, or an empty
     *                         worker ID; the message names the key
     */
    @Override
    public void configure(Map<String, ?> configs) {
        Map<String, Object> parsed = CONFIG.parse(configs);
        String instanceId = stringOrNull(configs.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG));
        String configuredId = (String) parsed.get(WORKER_ID_CONFIG);
        String workerId;
        if (instanceId != null) {
            if (configuredId != null && !configuredId.equals(instanceId)) {
                LOG.warn("{}={} differs from {}={}; the stable worker ID is the group.instance.id",
                        WORKER_ID_CONFIG, configuredId, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instanceId);
            }
            workerId = instanceId;
        } else if (configuredId != null) {
            workerId = configuredId;
        } else {
            workerId = generatedId(stringOrNull(configs.get(ConsumerConfig.CLIENT_ID_CONFIG)));
            LOG.info("no {} or {} set: generated worker ID {}; this member will not get its partitions back "
                    + "after its process restarts", ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, WORKER_ID_CONFIG,
                    workerId);
        }
        Set<String> ignored = new TreeSet<>();
        for (Object key : configs.keySet()) {
            String k = String.valueOf(key);
            if (k.startsWith("parti.") && !CONFIG.names().contains(k)) {
                ignored.add(k);
            }
        }
        if (!ignored.isEmpty()) {
            LOG.warn("PartiAssignor does not read {} (it reads {})", ignored, new TreeSet<>(CONFIG.names()));
        }
        AssignmentStrategy strategy = Strategies.byName((String) parsed.get(STRATEGY_CONFIG));
        this.settings = new Settings(workerId, (Long) parsed.get(WORKER_WEIGHT_CONFIG), strategy);
    }

    /** {@value #NAME}. */
    @Override
    public String name() {
        return NAME;
    }

    /** Eager and cooperative. */
    @Override
    public List<RebalanceProtocol> supportedProtocols() {
        return List.of(RebalanceProtocol.EAGER, RebalanceProtocol.COOPERATIVE);
    }

    /** The stable worker ID this member announces. */
    public String workerId() {
        return settings.workerId();
    }

    /** The weight (capacity) this member announces. */
    public long weight() {
        return settings.weight();
    }

    /** The strategy this member runs when it is the group leader. */
    public AssignmentStrategy strategy() {
        return settings.strategy();
    }

    /** The stable worker ID, the weight and what this member remembers of its last assignment. */
    @Override
    public ByteBuffer subscriptionUserData(Set<String> topics) {
        Settings s = settings;
        Memory mem = memory;
        return PartiAssignorCodec.encode(new MemberData(s.workerId(), s.weight(), mem.effectiveId(),
                mem.generation(), mem.holdings(), mem.buddyId(), mem.memo()));
    }

    /**
     * Runs on the group leader: the configured strategy over the members' stable IDs, the subscribed
     * topics' partitions and the previous ownership, then the cooperative rule (see the class comment).
     */
    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription groupSubscription) {
        Map<String, Subscription> subscriptions = groupSubscription.groupSubscription();
        Set<String> topics = new TreeSet<>();
        List<Member> members = new ArrayList<>(subscriptions.size());
        for (Map.Entry<String, Subscription> e : subscriptions.entrySet()) {
            Subscription sub = e.getValue();
            topics.addAll(sub.topics());
            members.add(new Member(e.getKey(), sub.groupInstanceId(), sub.topics(), sub.ownedPartitions(),
                    sub.generationId().orElse(-1), memberData(e.getKey(), sub.userData())));
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        Set<String> missing = new TreeSet<>();
        for (String topic : topics) {
            Integer count = metadata.partitionCountForTopic(topic);
            if (count == null) {
                missing.add(topic);
            } else {
                counts.put(topic, count);
            }
        }
        if (!missing.isEmpty()) {
            LOG.warn("no metadata for subscribed topics {}; their partitions are not assigned", missing);
        }
        AssignmentStrategy strategy = settings.strategy();
        Plan plan = PartiAssignorPlanner.plan(strategy, counts, members);
        PartiAssignorPlanner.Stats stats = plan.stats();
        if (!stats.duplicateIds().isEmpty()) {
            LOG.warn("several members claim the worker IDs {}; set group.instance.id or {} uniquely per member. "
                    + "Worker IDs used: {}", stats.duplicateIds(), WORKER_ID_CONFIG, plan.workerIds());
        }
        LOG.info("assigned {} partitions to {} members with {} in {} ms: {} moved, {} withheld until released, "
                        + "{} kept for absent workers", stats.partitions(), stats.members(), strategy.name(),
                String.format("%.1f", stats.nanos() / 1e6), stats.moved(), stats.withheld(), stats.loaned());
        // a migrating member replacing a static one reads from its assignment that this leader cannot switch
        return MigrationAssignor.listingThePlainLeader(new GroupAssignment(plan.assignments()), subscriptions,
                ownMemberId(members, settings.workerId()));
    }

    /**
     * The Kafka member ID of the one member announcing {@code workerId} (the leader's own, from its subscription);
     * null when none or several do (a duplicate ID: then the leader cannot tell which one it is).
     */
    static String ownMemberId(List<Member> members, String workerId) {
        String found = null;
        for (Member m : members) {
            if (m.data() != null && workerId.equals(m.data().workerId())) {
                if (found != null) {
                    return null;
                }
                found = m.memberId();
            }
        }
        return found;
    }

    /** Remembers the assignment (with what the leader withheld, lent and memoed) for the next subscription. */
    @Override
    public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
        int generation = metadata != null ? metadata.generationId() : -1;
        AssignmentData data = null;
        if (assignment.userData() != null && assignment.userData().hasRemaining()) {
            try {
                data = PartiAssignorCodec.decodeAssignment(assignment.userData());
            } catch (PartiAssignorCodec.MalformedException e) {
                LOG.warn("ignoring assignment user data: {}", e.getMessage());
            }
        }
        Set<TopicPartition> target = new HashSet<>(assignment.partitions());
        Map<String, List<TopicPartition>> loans = Map.of();
        String effectiveId = settings.workerId();
        String buddyId = null;
        Map<String, List<TopicPartition>> memo = Map.of();
        if (data != null) {
            target.addAll(data.withheld());
            loans = data.loans();
            effectiveId = data.effectiveId();
            buddyId = data.buddyId();
            memo = data.memo();
        }
        Set<TopicPartition> lent = new HashSet<>();
        loans.values().forEach(lent::addAll);
        List<TopicPartition> own = new ArrayList<>();
        for (TopicPartition tp : target) {
            if (!lent.contains(tp)) {
                own.add(tp);
            }
        }
        Map<String, List<TopicPartition>> holdings = new TreeMap<>(PartiAssignorPlanner.holdings(own, loans));
        this.memory = new Memory(effectiveId, generation, holdings, buddyId, memo);
    }

    @Override
    public String toString() {
        Settings s = settings;
        return "PartiAssignor[" + s.workerId() + ", weight " + s.weight() + ", " + s.strategy().name() + "]";
    }

    private static MemberData memberData(String memberId, ByteBuffer userData) {
        if (userData == null || !userData.hasRemaining()) {
            LOG.warn("member {} sent no PartiAssignor user data; using its group.instance.id or member ID", memberId);
            return null;
        }
        try {
            return PartiAssignorCodec.decodeMember(userData);
        } catch (PartiAssignorCodec.MalformedException e) {
            LOG.warn("member {}: {}; using its group.instance.id or member ID", memberId, e.getMessage());
            return null;
        }
    }

    private static String stringOrNull(Object value) {
        if (value == null) {
            return null;
        }
        String s = value.toString().trim();
        return s.isEmpty() ? null : s;
    }

    private static String generatedId(String clientId) {
        return "parti-" + PROCESS_TOKEN + "-" + (clientId != null ? clientId : "a" + INSTANCES.incrementAndGet());
    }

    private record Settings(String workerId, long weight, AssignmentStrategy strategy) {
    }

    /** What the last assignment said; echoed in the next subscription. */
    private record Memory(String effectiveId, int generation, Map<String, List<TopicPartition>> holdings,
                          String buddyId, Map<String, List<TopicPartition>> memo) {
        static final Memory NONE = new Memory(null, -1, Map.of(), null, Map.of());
    }
}
