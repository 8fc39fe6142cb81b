package dev.parti.kafka;

import dev.parti.LossPolicy;
import dev.parti.PartiConfig;
import dev.parti.strategy.Strategies;
import io.nats.client.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/**
 * The Parti settings of a {@link PartiConsumer}: every {@code parti.*} key, declared once here with
 * its type, default, validator and documentation (the same {@link ConfigDef} generates the docs, see
 * {@link #configDef()}).
 *
 * <p>The keys live in the consumer's ordinary configuration map next to the Kafka settings. {@link
 * PartiConsumer} takes them out before the inner {@code KafkaConsumer} sees the map. A key that starts
 * with {@value #PREFIX} but is not declared here is a {@link ConfigException} naming it, so a typo never
 * silently falls back to a default. Rules between keys (a session at least twice the heartbeat
 * interval, a password only with a user name, ...) are checked at construction and also reported as a
 * {@link ConfigException} naming the key.
 *
 * <pre>{@code
 * props.put("parti.nats.url", "nats://nats-1:4222,nats://nats-2:4222");
 * props.put("parti.session.timeout.ms", 6000);
 * props.put("parti.coordinator.loss.policy", "fence");
 * }</pre>
 */
public final class PartiConsumerConfig extends AbstractConfig {
    /** Every Parti key starts with this prefix; all others belong to Kafka. */
    public static final String PREFIX = "parti.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_URL_CONFIG = "parti.nats.url";
    private static final String NATS_URL_DOC = "NATS server URLs, comma-separated (for example "
            + "<code>nats://nats-1:4222,nats://nats-2:4222</code>). Required. Parti keeps the group's state in "
            + "JetStream key-value buckets on these servers and opens its own connection to them.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String HEARTBEAT_INTERVAL_MS_CONFIG = "parti.heartbeat.interval.ms";
    /** Default of {@link #HEARTBEAT_INTERVAL_MS_CONFIG}. */
    public static final long DEFAULT_HEARTBEAT_INTERVAL_MS = PartiConfig.DEFAULT_HEARTBEAT_INTERVAL.toMillis();
    private static final String HEARTBEAT_INTERVAL_MS_DOC = "How often a member writes its heartbeat to NATS. "
            + "Must be at most half of " + "<code>parti.session.timeout.ms</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String SESSION_TIMEOUT_MS_CONFIG = "parti.session.timeout.ms";
    /** Default of {@link #SESSION_TIMEOUT_MS_CONFIG}. */
    public static final long DEFAULT_SESSION_TIMEOUT_MS = PartiConfig.DEFAULT_SESSION_TIMEOUT.toMillis();
    private static final String SESSION_TIMEOUT_MS_DOC = "A member whose last heartbeat is older than this is "
            + "considered dead and its partitions are reassigned. A member that cannot write a heartbeat for "
            + "this long minus a safety margin stops being a safe owner (see "
            + "<code>parti.coordinator.loss.policy</code>) and its commits are refused.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String LEADER_TTL_MS_CONFIG = "parti.leader.ttl.ms";
    /** Default of {@link #LEADER_TTL_MS_CONFIG}. */
    public static final long DEFAULT_LEADER_TTL_MS = PartiConfig.DEFAULT_LEADER_TTL.toMillis();
    private static final String LEADER_TTL_MS_DOC = "The leader's lease: when the leader dies, another member "
            + "takes over at most this long later. At least twice <code>parti.heartbeat.interval.ms</code>, and long "
            + "enough to leave a lease of one renewal round after the safety margin. When unset, 3000 or, for long "
            + "sessions, the safety margin plus two heartbeat intervals (a 15 s session gets 4500).";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String DISCONNECT_EVENTS_CONFIG = "parti.disconnect.events";
    private static final String DISCONNECT_EVENTS_DOC = "Opt-in crash detection with proof of death: the subject on "
            + "which the NATS account receives its clients' DISCONNECT events, normally "
            + "<code>$SYS.ACCOUNT.&lt;account&gt;.DISCONNECT</code> imported from the system account. A member killed "
            + "with kill -9 then loses its partitions about one safety margin after the crash instead of a session "
            + "later; a paused member or a network cut is still detected by the session. Requires the fence loss "
            + "policy; a member fences itself whenever its NATS connection drops. Each process opens one more NATS "
            + "connection, which carries nothing (its closing is the proof). Unset: off (docs/OPERATIONS.md).";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String DISCONNECT_GRACE_MS_CONFIG = "parti.disconnect.grace.ms";
    private static final String DISCONNECT_GRACE_MS_DOC = "With <code>parti.disconnect.events</code>: how long the "
            + "leader waits after a member's connection was reported closed before it reassigns the member's "
            + "partitions. Unset: the safety margin (1000 at the default timings).";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String WORKER_ID_TTL_MS_CONFIG = "parti.worker.id.ttl.ms";
    /** Default of {@link #WORKER_ID_TTL_MS_CONFIG}. */
    public static final long DEFAULT_WORKER_ID_TTL_MS = PartiConfig.DEFAULT_WORKER_ID_TTL.toMillis();
    private static final String WORKER_ID_TTL_MS_DOC = "How long a worker ID (a static "
            + "<code>group.instance.id</code> or a pooled <code>w-N</code>) outlives its last renewal. At least "
            + "<code>parti.session.timeout.ms</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String COLD_START_WINDOW_MS_CONFIG = "parti.cold.start.window.ms";
    /** Default of {@link #COLD_START_WINDOW_MS_CONFIG}. */
    public static final long DEFAULT_COLD_START_WINDOW_MS = 3_000;
    private static final String COLD_START_WINDOW_MS_DOC = "When a group starts from zero members (or restarts "
            + "as a whole), the leader waits this long for more members to join before the first assignment, so "
            + "a fleet starting together is assigned once. At least <code>parti.planned.scale.window.ms</code>. The "
            + "default, 3 s, is the broker's <code>group.initial.rebalance.delay.ms</code> default (the Parti core "
            + "library's own default is 30 s). At a rolling migration's switch the first assignment comes as soon as "
            + "every member of the Kafka group has joined Parti; the window only bounds the wait for one that does not.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String PLANNED_SCALE_WINDOW_MS_CONFIG = "parti.planned.scale.window.ms";
    /** Default of {@link #PLANNED_SCALE_WINDOW_MS_CONFIG}. */
    public static final long DEFAULT_PLANNED_SCALE_WINDOW_MS = 1_000;
    private static final String PLANNED_SCALE_WINDOW_MS_DOC = "When members join a running group, the leader "
            + "waits this long for further joins before it rebalances. A member that vanishes without leaving is "
            + "handled at once (after one heartbeat interval), not after this window. The default, 1 s, keeps a "
            + "scale-out about as prompt as Kafka's join (the Parti core library's own default is 10 s, for "
            + "workloads that prefer fewer rebalances).";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String REBALANCE_COOLDOWN_MS_CONFIG = "parti.rebalance.cooldown.ms";
    /** Default of {@link #REBALANCE_COOLDOWN_MS_CONFIG}. */
    public static final long DEFAULT_REBALANCE_COOLDOWN_MS = 1_000;
    private static final String REBALANCE_COOLDOWN_MS_DOC = "Minimum time between two planned rebalances. At most "
            + "<code>parti.planned.scale.window.ms</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String STARTUP_TIMEOUT_MS_CONFIG = "parti.startup.timeout.ms";
    /** Default of {@link #STARTUP_TIMEOUT_MS_CONFIG}. */
    public static final long DEFAULT_STARTUP_TIMEOUT_MS = PartiConfig.DEFAULT_STARTUP_TIMEOUT.toMillis();
    private static final String STARTUP_TIMEOUT_MS_DOC = "How long joining the group (started by the first "
            + "<code>poll()</code> after <code>subscribe()</code>, in the background) may wait for NATS and a worker "
            + "ID before a later <code>poll()</code> fails; <code>poll()</code> returns empty within its own timeout "
            + "meanwhile.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String LOSS_POLICY_CONFIG = "parti.coordinator.loss.policy";
    /** A value of {@link #LOSS_POLICY_CONFIG}. */
    public static final String LOSS_POLICY_FENCE = "fence";
    /** A value of {@link #LOSS_POLICY_CONFIG}. */
    public static final String LOSS_POLICY_HOLD = "hold";
    /** Default of {@link #LOSS_POLICY_CONFIG}. */
    public static final String DEFAULT_LOSS_POLICY = LOSS_POLICY_FENCE;
    private static final String LOSS_POLICY_DOC = "What a member does when it cannot reach NATS long enough that "
            + "it is no longer a safe owner. <code>fence</code>: it gives up every partition at once "
            + "(<code>onPartitionsLost</code>) before anyone else can be assigned them, and consumes nothing until "
            + "NATS answers again: never two owners. <code>hold</code>: it keeps its partitions and keeps "
            + "consuming, like a Kafka consumer cut off from its coordinator; if the rest of the group still "
            + "reaches NATS another member may be assigned the same partitions meanwhile. Under both policies "
            + "commits are refused while the lease is not valid.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String MIGRATION_CONFIG = "parti.migration";
    /** A value of {@link #MIGRATION_CONFIG}: the group is run by Parti only (the default). */
    public static final String MIGRATION_NONE = "none";
    /** A value of {@link #MIGRATION_CONFIG}: join a group still run by Kafka's coordinator and take it over. */
    public static final String MIGRATION_KAFKA_TO_PARTI = "kafka-to-parti";
    /**
     * A value of {@link #MIGRATION_CONFIG}: this consumer runs on Parti and can hand the group back to Kafka's
     * coordinator; once every live member of the Parti group has it, the members join the Kafka group keeping their
     * partitions, and plain {@code KafkaConsumer}s can replace them one at a time.
     */
    public static final String MIGRATION_PARTI_TO_KAFKA = "parti-to-kafka";
    /** Default of {@link #MIGRATION_CONFIG}. */
    public static final String DEFAULT_MIGRATION = MIGRATION_NONE;
    private static final String MIGRATION_DOC = "Rolling migration of a live group. <code>none</code>: the group "
            + "must have no member managed by Kafka's coordinator (a mixed group is refused with "
            + "MixedGroupException). <code>kafka-to-parti</code>: while the group still has Kafka-managed members "
            + "(KafkaConsumers with dev.parti.kafka.PartiAssignor), this consumer joins the Kafka group itself and "
            + "consumes as one of them; once every member is such a PartiConsumer, the group switches to Parti "
            + "in one step. <code>parti-to-kafka</code>: this consumer runs on Parti; once every live member of the Parti group "
            + "is configured so, the members join the Kafka group (classic protocol) keeping the partitions they own, "
            + "leave Parti, and plain KafkaConsumers with dev.parti.kafka.PartiAssignor can replace them one at a time. "
            + "See the migration guide, \"Rolling migration\" and \"Rolling rollback\".";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String MIGRATION_JOIN_WAIT_MS_CONFIG = "parti.migration.join.wait.ms";
    /** Default of {@link #MIGRATION_JOIN_WAIT_MS_CONFIG}: join the Kafka group at once. */
    public static final long DEFAULT_MIGRATION_JOIN_WAIT_MS = 0;
    private static final String MIGRATION_JOIN_WAIT_MS_DOC = "With <code>parti.migration=kafka-to-parti</code> and no "
            + "<code>group.instance.id</code>: how long this consumer may defer joining the Kafka group, waiting for a "
            + "rebalance of the group to join instead of starting one of its own. In a rolling deployment that starts a "
            + "new instance before it stops an old one, the new one then enters the rebalance of the old one's leave and "
            + "takes the old one's partitions there: one rebalance per instance swapped instead of two or three. In a "
            + "deployment that stops an old instance before it starts the new one, the new one enters the rebalance of the "
            + "next old instance's leave instead (one rebalance per swap too, one instance idle between two swaps). It owns "
            + "nothing meanwhile; after this long it joins anyway. 0 (the default): join at once. Set it to the longest "
            + "time your deployment takes from starting an instance to stopping the one it replaces (or, stopping first, "
            + "between two stops). Static members "
            + "(<code>group.instance.id</code>) take a stopped member's place without a rebalance and never wait.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String STRATEGY_CONFIG = PartiAssignor.STRATEGY_CONFIG;
    /** Default of {@link #STRATEGY_CONFIG}. */
    public static final String DEFAULT_STRATEGY = Strategies.defaultStrategy().name();
    private static final String STRATEGY_DOC = "The Parti assignment strategy the leader runs, by name: "
            + String.join(", ", Strategies.names()) + ". Must not be combined with an explicit "
            + "<code>partition.assignment.strategy</code>, which makes the leader run that Kafka assignor instead.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String BUCKET_REPLICAS_CONFIG = "parti.bucket.replicas";
    /** Default of {@link #BUCKET_REPLICAS_CONFIG}. */
    public static final int DEFAULT_BUCKET_REPLICAS = 1;
    private static final String BUCKET_REPLICAS_DOC = "JetStream replicas of the group's key-value buckets: 1 on a "
            + "single server, 3 on a cluster. Used when the buckets are created by the first member.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String WORKER_WEIGHT_CONFIG = PartiAssignor.WORKER_WEIGHT_CONFIG;
    /** Default of {@link #WORKER_WEIGHT_CONFIG}. */
    public static final long DEFAULT_WORKER_WEIGHT = PartiAssignor.DEFAULT_WORKER_WEIGHT;
    private static final String WORKER_WEIGHT_DOC = "Relative capacity of this member, an integer >= 1; "
            + "capacity-aware strategies give a member of weight 2 twice the partitions of a member of weight 1. "
            + "Same key and meaning as for PartiAssignor.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String WORKER_ID_CONFIG = PartiAssignor.WORKER_ID_CONFIG;
    private static final String WORKER_ID_DOC = "Stable worker ID of this member when group.instance.id is not "
            + "set (group.instance.id wins when both are). A member with a stable ID is a static member: it "
            + "gets its partitions back when it restarts within the session, and close() keeps its ID. Same key "
            + "and meaning as for PartiAssignor, so a migration from PartiAssignor keeps its IDs.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_USERNAME_CONFIG = "parti.nats.username";
    private static final String NATS_USERNAME_DOC = "User name for NATS; requires <code>parti.nats.password</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_PASSWORD_CONFIG = "parti.nats.password";
    private static final String NATS_PASSWORD_DOC = "Password for <code>parti.nats.username</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_TOKEN_CONFIG = "parti.nats.token";
    private static final String NATS_TOKEN_DOC = "Authentication token for NATS; not with a user name or a "
            + "credentials file.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_CREDS_FILE_CONFIG = "parti.nats.creds.file";
    private static final String NATS_CREDS_FILE_DOC = "Path of a NATS credentials file (JWT and NKey seed, as "
            + "written by <code>nsc</code>); not with a user name or a token. The file must exist.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_TLS_CONFIG = "parti.nats.tls";
    private static final String NATS_TLS_DOC = "Connect to NATS over TLS. With no trust store, the JVM's default "
            + "trust store verifies the server. Implied by <code>parti.nats.tls.truststore.location</code> and "
            + "<code>parti.nats.tls.keystore.location</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_TRUSTSTORE_LOCATION_CONFIG = "parti.nats.tls.truststore.location";
    private static final String NATS_TRUSTSTORE_LOCATION_DOC = "Path of a JKS/PKCS12 trust store holding the CA "
            + "that signed the NATS servers' certificates; requires <code>parti.nats.tls.truststore.password</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_TRUSTSTORE_PASSWORD_CONFIG = "parti.nats.tls.truststore.password";
    private static final String NATS_TRUSTSTORE_PASSWORD_DOC = "Password of the trust store.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_KEYSTORE_LOCATION_CONFIG = "parti.nats.tls.keystore.location";
    private static final String NATS_KEYSTORE_LOCATION_DOC = "Path of a JKS/PKCS12 key store with this client's "
            + "certificate, for servers that verify clients (mutual TLS); requires "
            + "<code>parti.nats.tls.keystore.password</code>.";

    /** The key {@value}; see the definition in {@link #configDef()}. */
    public static final String NATS_KEYSTORE_PASSWORD_CONFIG = "parti.nats.tls.keystore.password";
    private static final String NATS_KEYSTORE_PASSWORD_DOC = "Password of the key store (and of its key).";

    private static final ConfigDef CONFIG = new ConfigDef()
            .define(NATS_URL_CONFIG, Type.LIST, ConfigDef.NO_DEFAULT_VALUE, new UrlList(),
                    Importance.HIGH, NATS_URL_DOC)
            .define(HEARTBEAT_INTERVAL_MS_CONFIG, Type.LONG, DEFAULT_HEARTBEAT_INTERVAL_MS, ConfigDef.Range.atLeast(1),
                    Importance.MEDIUM, HEARTBEAT_INTERVAL_MS_DOC)
            .define(SESSION_TIMEOUT_MS_CONFIG, Type.LONG, DEFAULT_SESSION_TIMEOUT_MS, ConfigDef.Range.atLeast(2),
                    Importance.HIGH, SESSION_TIMEOUT_MS_DOC)
            .define(LEADER_TTL_MS_CONFIG, Type.LONG, DEFAULT_LEADER_TTL_MS, ConfigDef.Range.atLeast(2),
                    Importance.LOW, LEADER_TTL_MS_DOC)
            .define(DISCONNECT_EVENTS_CONFIG, Type.STRING, null, new ConfigDef.NonEmptyStringWithoutControlChars(),
                    Importance.LOW, DISCONNECT_EVENTS_DOC)
            .define(DISCONNECT_GRACE_MS_CONFIG, Type.LONG, null, (name, value) -> {
                if (value != null && (Long) value < 1) {
                    throw new ConfigException(name, value, "Value must be at least 1 (or unset: the safety margin)");
                }
            }, Importance.LOW,
                    DISCONNECT_GRACE_MS_DOC)
            .define(WORKER_ID_TTL_MS_CONFIG, Type.LONG, DEFAULT_WORKER_ID_TTL_MS, ConfigDef.Range.atLeast(2),
                    Importance.LOW, WORKER_ID_TTL_MS_DOC)
            .define(COLD_START_WINDOW_MS_CONFIG, Type.LONG, DEFAULT_COLD_START_WINDOW_MS, ConfigDef.Range.atLeast(0),
                    Importance.MEDIUM, COLD_START_WINDOW_MS_DOC)
            .define(PLANNED_SCALE_WINDOW_MS_CONFIG, Type.LONG, DEFAULT_PLANNED_SCALE_WINDOW_MS,
                    ConfigDef.Range.atLeast(0), Importance.MEDIUM, PLANNED_SCALE_WINDOW_MS_DOC)
            .define(REBALANCE_COOLDOWN_MS_CONFIG, Type.LONG, DEFAULT_REBALANCE_COOLDOWN_MS, ConfigDef.Range.atLeast(0),
                    Importance.LOW, REBALANCE_COOLDOWN_MS_DOC)
            .define(STARTUP_TIMEOUT_MS_CONFIG, Type.LONG, DEFAULT_STARTUP_TIMEOUT_MS, ConfigDef.Range.atLeast(1),
                    Importance.LOW, STARTUP_TIMEOUT_MS_DOC)
            .define(LOSS_POLICY_CONFIG, Type.STRING, DEFAULT_LOSS_POLICY,
                    ConfigDef.ValidString.in(LOSS_POLICY_FENCE, LOSS_POLICY_HOLD), Importance.HIGH, LOSS_POLICY_DOC)
            .define(MIGRATION_CONFIG, Type.STRING, DEFAULT_MIGRATION,
                    ConfigDef.ValidString.in(MIGRATION_NONE, MIGRATION_KAFKA_TO_PARTI, MIGRATION_PARTI_TO_KAFKA), Importance.MEDIUM, MIGRATION_DOC)
            .define(MIGRATION_JOIN_WAIT_MS_CONFIG, Type.LONG, DEFAULT_MIGRATION_JOIN_WAIT_MS, ConfigDef.Range.atLeast(0),
                    Importance.LOW, MIGRATION_JOIN_WAIT_MS_DOC)
            .define(STRATEGY_CONFIG, Type.STRING, DEFAULT_STRATEGY,
                    ConfigDef.ValidString.in(Strategies.names().toArray(new String[0])), Importance.MEDIUM, STRATEGY_DOC)
            .define(BUCKET_REPLICAS_CONFIG, Type.INT, DEFAULT_BUCKET_REPLICAS, ConfigDef.Range.between(1, 5),
                    Importance.MEDIUM, BUCKET_REPLICAS_DOC)
            .define(WORKER_WEIGHT_CONFIG, Type.LONG, DEFAULT_WORKER_WEIGHT, ConfigDef.Range.atLeast(1),
                    Importance.LOW, WORKER_WEIGHT_DOC)
            .define(WORKER_ID_CONFIG, Type.STRING, null, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    WORKER_ID_DOC)
            .define(NATS_USERNAME_CONFIG, Type.STRING, null, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    NATS_USERNAME_DOC)
            .define(NATS_PASSWORD_CONFIG, Type.PASSWORD, null, Importance.MEDIUM, NATS_PASSWORD_DOC)
            .define(NATS_TOKEN_CONFIG, Type.PASSWORD, null, Importance.MEDIUM, NATS_TOKEN_DOC)
            .define(NATS_CREDS_FILE_CONFIG, Type.STRING, null, new ReadableFile(), Importance.MEDIUM,
                    NATS_CREDS_FILE_DOC)
            .define(NATS_TLS_CONFIG, Type.BOOLEAN, false, Importance.MEDIUM, NATS_TLS_DOC)
            .define(NATS_TRUSTSTORE_LOCATION_CONFIG, Type.STRING, null, new ReadableFile(),
                    Importance.MEDIUM, NATS_TRUSTSTORE_LOCATION_DOC)
            .define(NATS_TRUSTSTORE_PASSWORD_CONFIG, Type.PASSWORD, null, Importance.MEDIUM,
                    NATS_TRUSTSTORE_PASSWORD_DOC)
            .define(NATS_KEYSTORE_LOCATION_CONFIG, Type.STRING, null, new ReadableFile(),
                    Importance.MEDIUM, NATS_KEYSTORE_LOCATION_DOC)
            .define(NATS_KEYSTORE_PASSWORD_CONFIG, Type.PASSWORD, null, Importance.MEDIUM,
                    NATS_KEYSTORE_PASSWORD_DOC);

    /** Core field name (in PartiConfig's messages) → the key that sets it. */
    private static final Map<String, String> CORE_FIELDS = Map.ofEntries(
            Map.entry("heartbeatInterval", HEARTBEAT_INTERVAL_MS_CONFIG),
            Map.entry("sessionTimeout", SESSION_TIMEOUT_MS_CONFIG),
            Map.entry("leaderTtl", LEADER_TTL_MS_CONFIG),
            Map.entry("workerIdTtl", WORKER_ID_TTL_MS_CONFIG),
            Map.entry("disconnectEvents", DISCONNECT_EVENTS_CONFIG),
            Map.entry("disconnectGrace", DISCONNECT_GRACE_MS_CONFIG),
            Map.entry("coldStartWindow", COLD_START_WINDOW_MS_CONFIG),
            Map.entry("plannedScaleWindow", PLANNED_SCALE_WINDOW_MS_CONFIG),
            Map.entry("rebalanceCooldown", REBALANCE_COOLDOWN_MS_CONFIG),
            Map.entry("startupTimeout", STARTUP_TIMEOUT_MS_CONFIG),
            Map.entry("bucketReplicas", BUCKET_REPLICAS_CONFIG),
            Map.entry("capacity", WORKER_WEIGHT_CONFIG),
            Map.entry("safetyMargin", SESSION_TIMEOUT_MS_CONFIG),
            Map.entry("natsUrl", NATS_URL_CONFIG),
            Map.entry("natsUrl/connection", NATS_URL_CONFIG));

    private final Options natsOptions;
    /** The member's session lease the core derives from these settings ({@code session − safety margin}). */
    private final Duration sessionLease;

    /**
     * Parses and validates the Parti settings found in {@code configs}; keys without the
     * {@value #PREFIX} prefix are ignored (they are Kafka's).
     *
     * @throws ConfigException for a missing {@value #NATS_URL_CONFIG}, an unknown {@code parti.*} key, a
     *         value of the wrong type or out of range, or a broken rule between keys; the message names the key
     */
    public PartiConsumerConfig(Map<String, ?> configs) {
        super(CONFIG, partiEntries(configs), false);
        this.natsOptions = buildNatsOptions();
        this.sessionLease = checkTimings();
    }

    /**
     * How long a member may own after its last successful heartbeat, as the core derives it from these settings:
     * {@code parti.session.timeout.ms} minus the core's safety margin.
     */
    public Duration sessionLease() {
        return sessionLease;
    }

    /** A copy of the definition of every Parti key (for documentation generators and tools). */
    public static ConfigDef configDef() {
        return new ConfigDef(CONFIG);
    }

    /** The names of all Parti keys. */
    public static Set<String> configNames() {
        return Collections.unmodifiableSet(new TreeSet<>(CONFIG.names()));
    }

    /** Whether {@code key} belongs to Parti (starts with {@value #PREFIX}), declared or not. */
    public static boolean isPartiKey(Object key) {
        return key instanceof String && ((String) key).startsWith(PREFIX);
    }

    /**
     * The {@code parti.*} entries of {@code configs}.
     *
     * @throws ConfigException naming a {@code parti.*} key that is not declared
     */
    static Map<String, Object> partiEntries(Map<String, ?> configs) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, ?> e : configs.entrySet()) {
            if (isPartiKey(e.getKey())) {
                if (!CONFIG.names().contains(e.getKey())) {
                    throw new ConfigException(e.getKey(), e.getValue() instanceof Password ? Password.HIDDEN : e.getValue(),
                            "Unknown Parti setting; the valid ones are " + configNames());
                }
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }

    /** The NATS server URLs, never empty. */
    public List<String> natsUrls() {
        return getList(NATS_URL_CONFIG);
    }

    /** Whether {@value #MIGRATION_CONFIG} is {@value #MIGRATION_KAFKA_TO_PARTI}. */
    public boolean migratesFromKafka() {
        return MIGRATION_KAFKA_TO_PARTI.equals(getString(MIGRATION_CONFIG));
    }

    /** Whether {@value #MIGRATION_CONFIG} is {@value #MIGRATION_PARTI_TO_KAFKA}. */
    public boolean rollsBackToKafka() {
        return MIGRATION_PARTI_TO_KAFKA.equals(getString(MIGRATION_CONFIG));
    }

    /** The loss policy chosen by {@value #LOSS_POLICY_CONFIG}. */
    public LossPolicy lossPolicy() {
        return LossPolicy.valueOf(getString(LOSS_POLICY_CONFIG).toUpperCase(Locale.ROOT));
    }

    /**
     * The jnats connection options from the credential and TLS keys (servers are set from {@link
     * #natsUrls()} when Parti connects).
     */
    public Options natsOptions() {
        return natsOptions;
    }

    /**
     * A core {@link PartiConfig} builder for the group {@code group} with every setting of this object
     * applied: NATS URLs and options, timings, loss policy, bucket replicas, worker weight and the strategy
     * named by {@value #STRATEGY_CONFIG}. The caller adds the partition source (and may replace the
     * strategy or add a static worker ID).
     */
    public PartiConfig.Builder partiConfigBuilder(String group) {
        PartiConfig.Builder builder = PartiConfig.builder(group)
                .natsUrl(String.join(",", natsUrls()))
                .natsOptions(natsOptions)
                .heartbeatInterval(Duration.ofMillis(getLong(HEARTBEAT_INTERVAL_MS_CONFIG)))
                .sessionTimeout(Duration.ofMillis(getLong(SESSION_TIMEOUT_MS_CONFIG)))
                .workerIdTtl(Duration.ofMillis(getLong(WORKER_ID_TTL_MS_CONFIG)))
                .coldStartWindow(Duration.ofMillis(getLong(COLD_START_WINDOW_MS_CONFIG)))
                .plannedScaleWindow(Duration.ofMillis(getLong(PLANNED_SCALE_WINDOW_MS_CONFIG)))
                .rebalanceCooldown(Duration.ofMillis(getLong(REBALANCE_COOLDOWN_MS_CONFIG)))
                .startupTimeout(Duration.ofMillis(getLong(STARTUP_TIMEOUT_MS_CONFIG)))
                .lossPolicy(lossPolicy())
                .bucketReplicas(getInt(BUCKET_REPLICAS_CONFIG))
                .capacity(getLong(WORKER_WEIGHT_CONFIG))
                .strategy(Strategies.byName(getString(STRATEGY_CONFIG)));
        // unset, the core derives the leader TTL from the safety margin, so a long session still elects a leader
        if (isSet(LEADER_TTL_MS_CONFIG)) {
            builder.leaderTtl(Duration.ofMillis(getLong(LEADER_TTL_MS_CONFIG)));
        }
        if (getString(DISCONNECT_EVENTS_CONFIG) != null) {
            builder.disconnectEvents(getString(DISCONNECT_EVENTS_CONFIG));
        }
        if (getLong(DISCONNECT_GRACE_MS_CONFIG) != null) {
            builder.disconnectGrace(Duration.ofMillis(getLong(DISCONNECT_GRACE_MS_CONFIG)));
        }
        return builder;
    }

    /** Whether the user set {@code key} explicitly (rather than relying on its default). */
    public boolean isSet(String key) {
        return originals().containsKey(key);
    }

    // ------------------------------------------------------------------ validation

    /** Validator of {@value #NATS_URL_CONFIG}: a non-empty list of URLs without blanks. */
    private static final class UrlList implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            if (!(value instanceof List) || ((List<?>) value).isEmpty()) {
                throw new ConfigException(name, value, "At least one NATS server URL is required");
            }
            for (Object url : (List<?>) value) {
                if (url == null || url.toString().isBlank()) {
                    throw new ConfigException(name, value, "NATS server URLs must not be blank");
                }
                if (url.toString().chars().anyMatch(Character::isWhitespace)) {
                    throw new ConfigException(name, value, "A NATS server URL must not contain spaces: '" + url + "'");
                }
            }
        }

        @Override
        public String toString() {
            return "non-empty list of NATS URLs";
        }
    }

    /** Validator of the file keys: null, or the path of a readable file. */
    private static final class ReadableFile implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            if (value == null) {
                return;
            }
            String path = value.toString();
            if (path.isBlank()) {
                throw new ConfigException(name, value, "must not be blank");
            }
            if (!Files.isReadable(Path.of(path))) {
                throw new ConfigException(name, value, "No readable file at this path");
            }
        }

        @Override
        public String toString() {
            return "path of a readable file";
        }
    }

    private Options buildNatsOptions() {
        String user = getString(NATS_USERNAME_CONFIG);
        Password password = getPassword(NATS_PASSWORD_CONFIG);
        Password token = getPassword(NATS_TOKEN_CONFIG);
        String creds = getString(NATS_CREDS_FILE_CONFIG);
        boolean tls = getBoolean(NATS_TLS_CONFIG);
        String truststore = getString(NATS_TRUSTSTORE_LOCATION_CONFIG);
        Password truststorePassword = getPassword(NATS_TRUSTSTORE_PASSWORD_CONFIG);
        String keystore = getString(NATS_KEYSTORE_LOCATION_CONFIG);
        Password keystorePassword = getPassword(NATS_KEYSTORE_PASSWORD_CONFIG);

        if (user != null && password == null) {
            throw new ConfigException(NATS_PASSWORD_CONFIG, null, "Required with " + NATS_USERNAME_CONFIG);
        }
        if (password != null && user == null) {
            throw new ConfigException(NATS_USERNAME_CONFIG, null, "Required with " + NATS_PASSWORD_CONFIG);
        }
        if (token != null && user != null) {
            throw new ConfigException(NATS_TOKEN_CONFIG, Password.HIDDEN,
                    "Set either " + NATS_TOKEN_CONFIG + " or " + NATS_USERNAME_CONFIG + ", not both");
        }
        if (creds != null && (token != null || user != null)) {
            throw new ConfigException(NATS_CREDS_FILE_CONFIG, creds, "Set either " + NATS_CREDS_FILE_CONFIG
                    + " or " + (token != null ? NATS_TOKEN_CONFIG : NATS_USERNAME_CONFIG) + ", not both");
        }
        if (truststorePassword != null && truststore == null) {
            throw new ConfigException(NATS_TRUSTSTORE_LOCATION_CONFIG, null, "Required with " + NATS_TRUSTSTORE_PASSWORD_CONFIG);
        }
        if (truststore != null && truststorePassword == null) {
            throw new ConfigException(NATS_TRUSTSTORE_PASSWORD_CONFIG, null, "Required with " + NATS_TRUSTSTORE_LOCATION_CONFIG);
        }
        if (keystorePassword != null && keystore == null) {
            throw new ConfigException(NATS_KEYSTORE_LOCATION_CONFIG, null, "Required with " + NATS_KEYSTORE_PASSWORD_CONFIG);
        }
        if (keystore != null && keystorePassword == null) {
            throw new ConfigException(NATS_KEYSTORE_PASSWORD_CONFIG, null, "Required with " + NATS_KEYSTORE_LOCATION_CONFIG);
        }
        if (isSet(NATS_TLS_CONFIG) && !tls && (truststore != null || keystore != null)) {
            throw new ConfigException(NATS_TLS_CONFIG, false, "A trust store or key store is set, which needs TLS");
        }

        // Consumers of one JVM configured alike get the very same Options: a credentials file or a trust/key store
        // becomes an auth handler or SSL context object, compared by identity when connections are shared
        // (SharedNats), so building them per consumer would give every consumer its own connection.
        List<Object> key = java.util.Arrays.asList(user, password == null ? null : password.value(),
                token == null ? null : token.value(), fileStamp(creds), tls, fileStamp(truststore),
                truststorePassword == null ? null : truststorePassword.value(), fileStamp(keystore),
                keystorePassword == null ? null : keystorePassword.value());
        Options interned = INTERNED_OPTIONS.get(key);
        if (interned != null) {
            return interned;
        }
        Options built = newNatsOptions(user, password, token, creds, tls, truststore, truststorePassword, keystore,
                keystorePassword);
        Options raced = INTERNED_OPTIONS.putIfAbsent(key, built);
        return raced != null ? raced : built;
    }

    /** Options built from the same NATS security settings, per JVM; a rotated file (other size or time) is a new entry. */
    private static final java.util.concurrent.ConcurrentMap<List<Object>, Options> INTERNED_OPTIONS =
            new java.util.concurrent.ConcurrentHashMap<>();

    private static List<Object> fileStamp(String path) {
        if (path == null) {
            return null;
        }
        try {
            Path p = Path.of(path).toAbsolutePath().normalize();
            return List.of(p.toString(), Files.size(p), Files.getLastModifiedTime(p).toMillis());
        } catch (java.io.IOException e) {
            return List.of(path); // validated as readable above; a file gone since simply is not interned by stamp
        }
    }

    private static Options newNatsOptions(String user, Password password, Password token, String creds, boolean tls,
                                          String truststore, Password truststorePassword, String keystore,
                                          Password keystorePassword) {
        Options.Builder b = new Options.Builder();
        if (user != null) {
            b.userInfo(user.toCharArray(), password.value().toCharArray());
        }
        if (token != null) {
            b.token(token.value().toCharArray());
        }
        if (creds != null) {
            b.credentialPath(creds);
        }
        try {
            if (truststore != null || keystore != null) {
                if (truststore != null) {
                    b.truststorePath(truststore).truststorePassword(truststorePassword.value().toCharArray());
                }
                if (keystore != null) {
                    b.keystorePath(keystore).keystorePassword(keystorePassword.value().toCharArray());
                }
            } else if (tls) {
                b.secure();
            }
            return b.build();
        } catch (NoSuchAlgorithmException | RuntimeException e) {
            String key = keystore != null ? NATS_KEYSTORE_LOCATION_CONFIG
                    : truststore != null ? NATS_TRUSTSTORE_LOCATION_CONFIG : NATS_TLS_CONFIG;
            throw new ConfigException(key, keystore != null ? keystore : truststore,
                    "Could not set up NATS TLS/authentication: " + e.getMessage());
        }
    }

    /**
     * Applies the core's own rules (one source of truth) and reports a broken one by its key; returns the session lease
     * of the core configuration they give.
     */
    private Duration checkTimings() {
        try {
            PartiConfig core = partiConfigBuilder("validation").partitionSource(List::of).build();
            return core.sessionTimeout().minus(core.safetyMargin());
        } catch (IllegalArgumentException e) {
            String msg = e.getMessage() == null ? "" : e.getMessage();
            String rest = msg.startsWith("Invalid Parti config: ") ? msg.substring("Invalid Parti config: ".length()) : msg;
            int space = rest.indexOf(' ');
            String field = space < 0 ? rest : rest.substring(0, space);
            String key = CORE_FIELDS.get(field);
            if (key == null) {
                throw new ConfigException("Invalid Parti settings: " + msg);
            }
            String rule = space < 0 ? msg : rest.substring(space + 1);
            throw new ConfigException(key, originals().getOrDefault(key, values().get(key)), rule + " (" + field + ")");
        }
    }
}
