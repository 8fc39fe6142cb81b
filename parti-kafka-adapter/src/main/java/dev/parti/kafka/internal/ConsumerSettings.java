package dev.parti.kafka.internal;

import dev.parti.AssignmentStrategy;
import dev.parti.kafka.KafkaAssignorStrategy;
import dev.parti.kafka.PartiConsumerConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Everything a {@link PartiConsumerDelegate} derives from the user's configuration map: the Parti
 * settings ({@link PartiConsumerConfig}), the Kafka settings parsed exactly as {@code KafkaConsumer}
 * parses them, and the maps given to the inner consumer and to the metadata {@code Admin} client.
 *
 * <p>The inner consumer's map is the user's map without the {@code parti.*} keys and with:
 * {@code enable.auto.commit=false} (auto-commit is emulated), {@code group.protocol=classic} and no
 * {@code group.remote.assignor} (the inner consumer never joins a group, it only commits with
 * generation -1), and neither {@code group.instance.id} (it becomes Parti's static worker ID) nor
 * {@code partition.assignment.strategy} (the assignor runs on Parti's leader instead), nor {@code
 * interceptor.classes} (the interceptors run on what {@code PartiConsumer} returns and commits).
 */
public final class ConsumerSettings {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ConsumerSettings.class);
    /** Class name of the migration step-one assignor; configured there, it means "use Parti's strategy". */
    static final String PARTI_ASSIGNOR_CLASS = "dev.parti.kafka.PartiAssignor";
    /** The inner consumer's {@code retry.backoff.ms} when the user sets none (Kafka's default is 100 ms). */
    static final long INNER_RETRY_BACKOFF_MS = 10;

    final PartiConsumerConfig parti;
    final ConsumerConfig kafka;
    final Map<String, Object> innerConfig;
    final Map<String, Object> adminConfig;
    final String groupId;
    final String groupInstanceId;
    final boolean autoCommit;
    final long autoCommitIntervalMs;
    final long maxPollIntervalMs;
    final long metadataMaxAgeMs;
    final long defaultApiTimeoutMs;
    final long requestTimeoutMs;
    final long retryBackoffMs;
    final long retryBackoffMaxMs;
    final boolean allowAutoCreateTopics;
    final boolean excludeInternalTopics;
    final List<?> assignorClasses;
    final boolean kafkaAssignorExplicit;

    /**
     * @throws ConfigException for a bad Parti or Kafka setting, naming the key
     */
    public ConsumerSettings(Map<String, ?> userConfigs, Deserializer<?> keyDeserializer, Deserializer<?> valueDeserializer) {
        for (Object key : userConfigs.keySet()) {
            if (!(key instanceof String)) {
                throw new ConfigException("Key must be a string.");
            }
        }
        this.parti = partiConfig(userConfigs);
        Map<String, Object> kafkaOnly = new HashMap<>();
        userConfigs.forEach((k, v) -> {
            if (!PartiConsumerConfig.isPartiKey(k)) {
                kafkaOnly.put(k, v);
            }
        });
        this.kafka = new QuietConsumerConfig(ConsumerConfig.appendDeserializerToConfig(new HashMap<>(kafkaOnly),
                keyDeserializer, valueDeserializer));
        this.groupId = kafka.getString(ConsumerConfig.GROUP_ID_CONFIG);
        this.groupInstanceId = kafka.getString(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        this.autoCommit = groupId != null && kafka.getBoolean(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
        this.autoCommitIntervalMs = kafka.getInt(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG);
        this.maxPollIntervalMs = kafka.getInt(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG);
        this.metadataMaxAgeMs = kafka.getLong(ConsumerConfig.METADATA_MAX_AGE_CONFIG);
        this.defaultApiTimeoutMs = kafka.getInt(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        this.requestTimeoutMs = kafka.getInt(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG);
        this.retryBackoffMs = kafka.getLong(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG);
        this.retryBackoffMaxMs = Math.max(retryBackoffMs, kafka.getLong(ConsumerConfig.RETRY_BACKOFF_MAX_MS_CONFIG));
        this.allowAutoCreateTopics = kafka.getBoolean(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG);
        this.excludeInternalTopics = kafka.getBoolean(ConsumerConfig.EXCLUDE_INTERNAL_TOPICS_CONFIG);
        this.assignorClasses = kafka.getList(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
        boolean explicit = kafkaOnly.containsKey(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG)
                && !assignorClasses.isEmpty() && !PARTI_ASSIGNOR_CLASS.equals(className(assignorClasses.get(0)));
        this.kafkaAssignorExplicit = explicit;
        if (explicit && parti.isSet(PartiConsumerConfig.STRATEGY_CONFIG)) {
            throw new ConfigException(PartiConsumerConfig.STRATEGY_CONFIG, parti.getString(PartiConsumerConfig.STRATEGY_CONFIG),
                    "Set either " + PartiConsumerConfig.STRATEGY_CONFIG + " or "
                            + ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG + " (" + assignorClasses + "), not both");
        }
        if (groupInstanceId != null && groupInstanceId.isBlank()) {
            throw new ConfigException(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, groupInstanceId, "must not be blank");
        }
        String configuredId = parti.getString(PartiConsumerConfig.WORKER_ID_CONFIG);
        if (groupInstanceId != null && configuredId != null && !configuredId.equals(groupInstanceId)) {
            LOG.warn("{}={} differs from {}={}; the worker ID is the group.instance.id", PartiConsumerConfig.WORKER_ID_CONFIG,
                    configuredId, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, groupInstanceId);
        }

        Map<String, Object> inner = new HashMap<>(kafkaOnly);
        inner.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        inner.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        inner.remove(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG);
        inner.remove(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        inner.remove(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
        inner.remove(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG); // run by PartiConsumer on what poll() returns
        if (!kafkaOnly.containsKey(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG)) {
            // The inner consumer starts cold at every first assignment, with requests in flight from its warm-up: its
            // coordinator lookup and its metadata update for the assigned topic then wait out this backoff once (100 ms
            // by default, most of a returning member's first fetch). Further retries grow to retry.backoff.max.ms.
            inner.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, (long) Math.min(INNER_RETRY_BACKOFF_MS,
                    millis(kafkaOnly.get(ConsumerConfig.RETRY_BACKOFF_MAX_MS_CONFIG), INNER_RETRY_BACKOFF_MS)));
        }
        if (groupId == null) {
            inner.remove(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG);
        }
        this.innerConfig = inner;

        Map<String, Object> admin = new HashMap<>();
        for (String name : AdminClientConfig.configNames()) {
            if (kafkaOnly.containsKey(name)) {
                admin.put(name, kafkaOnly.get(name));
            }
        }
        admin.remove(CommonClientConfigs.CLIENT_ID_CONFIG);
        // A consumer may lower default.api.timeout.ms below the 30 s request timeout; an Admin refuses that
        // combination, so the Admin's request timeout follows the API timeout down.
        Object apiTimeout = admin.get(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        if (apiTimeout != null) {
            long api = Long.parseLong(String.valueOf(apiTimeout).trim());
            Object requestTimeout = admin.get(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG);
            long request = requestTimeout == null ? 30_000L : Long.parseLong(String.valueOf(requestTimeout).trim());
            if (request > api) {
                admin.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(Integer.MAX_VALUE, api));
            }
        }
        this.adminConfig = GroupDescribingAdmin.withFastFallback(admin);
    }

    /**
     * The Parti settings. A static member ({@code group.instance.id} set) that sets Kafka's {@code
     * session.timeout.ms} but not {@code parti.session.timeout.ms} gets that session timeout, as it would
     * from Kafka's coordinator. The worker-ID TTL, when not set, grows to twice a session longer than its
     * default (it must outlive the session); the leader TTL, when not set, is derived by the core from the
     * safety margin (so a Kafka-typical 45 s session still elects a leader). A value Parti refuses is
     * reported under {@code session.timeout.ms}.
     */
    private static PartiConsumerConfig partiConfig(Map<String, ?> userConfigs) {
        Object session = userConfigs.get(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
        if (session == null || userConfigs.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG) == null
                || userConfigs.containsKey(PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG)) {
            return new PartiConsumerConfig(userConfigs);
        }
        Map<String, Object> withSession = new HashMap<>(userConfigs);
        withSession.put(PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, session);
        try {
            long ms = Long.parseLong(String.valueOf(session).trim());
            if (!userConfigs.containsKey(PartiConsumerConfig.WORKER_ID_TTL_MS_CONFIG)) {
                withSession.put(PartiConsumerConfig.WORKER_ID_TTL_MS_CONFIG,
                        Math.max(PartiConsumerConfig.DEFAULT_WORKER_ID_TTL_MS, ms * 2));
            }
        } catch (NumberFormatException e) {
            // reported below by the session key
        }
        try {
            return new PartiConsumerConfig(withSession);
        } catch (ConfigException e) {
            if (e.getMessage() != null && e.getMessage().contains(PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG)) {
                throw new ConfigException(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, session, "a static member's "
                        + ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG + " becomes " + PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG
                        + " (unless that is set), and Parti refuses it: " + e.getMessage());
            }
            throw e;
        }
    }

    /** {@link Properties} as a map, refusing non-string keys like {@code KafkaConsumer} does. */
    public static Map<String, Object> toMap(Properties properties) {
        Map<String, Object> map = new HashMap<>();
        for (Map.Entry<Object, Object> e : properties.entrySet()) {
            if (!(e.getKey() instanceof String)) {
                throw new ConfigException(e.getKey().toString(), e.getValue(), "Key must be a string.");
            }
            map.put((String) e.getKey(), e.getValue());
        }
        return map;
    }

    /**
     * The strategy Parti's leader runs: the first Kafka assignor of an explicit {@code
     * partition.assignment.strategy} (a fresh, configured instance), else the one named by {@code parti.strategy}.
     */
    AssignmentStrategy strategy() {
        if (kafkaAssignorExplicit) {
            List<String> names = assignorClasses.stream().map(ConsumerSettings::className).toList();
            List<ConsumerPartitionAssignor> assignors =
                    ConsumerPartitionAssignor.getAssignorInstances(names.subList(0, 1), kafka.originals());
            return new KafkaAssignorStrategy(assignors.get(0));
        }
        return dev.parti.strategy.Strategies.byName(parti.getString(PartiConsumerConfig.STRATEGY_CONFIG));
    }

    /**
     * The Parti worker ID of a static member: from {@code group.instance.id}, else from {@code
     * parti.worker.id}; null for a dynamic member (which claims a pooled {@code w-N}).
     */
    String workerId() {
        String id = groupInstanceId != null ? groupInstanceId : parti.getString(PartiConsumerConfig.WORKER_ID_CONFIG);
        return id == null ? null : WorkerIds.fromInstanceId(id);
    }

    private static String className(Object o) {
        return o instanceof Class ? ((Class<?>) o).getName() : String.valueOf(o).trim();
    }

    /** A millisecond setting as the user gave it (a number or its text); {@code absent} when unset or not a number. */
    static long millis(Object value, long absent) {
        if (value == null) {
            return absent;
        }
        try {
            return Long.parseLong(String.valueOf(value).trim());
        } catch (NumberFormatException e) {
            return absent; // the consumer's own config validation names the bad value
        }
    }

    /** {@link ConsumerConfig} without the INFO dump of every value (the inner consumer logs it once). */
    private static final class QuietConsumerConfig extends ConsumerConfig {
        QuietConsumerConfig(Map<String, Object> props) {
            super(props, false);
        }
    }
}
