package dev.parti.kafka.migration;

import dev.parti.kafka.PartiAssignor;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.kafka.internal.GroupDescribingAdmin;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigException;

/**
 * What both directions of a migration derive from a {@code PartiConsumer}'s configuration: the Kafka group, the
 * configuration of the classic {@code KafkaConsumer} that takes part in that group (the bridge: the user's Kafka
 * keys and PartiAssignor's, the classic protocol and {@link MigrationAssignor} with {@code signal}, followed on the way
 * to Parti by the user's own assignors), and an
 * {@code Admin} configuration to describe the group.
 */
record BridgeConfigs(String groupId, Map<String, Object> bridge, Map<String, Object> admin, long apiTimeoutMs) {

    /** Whether {@code parti.migration} in {@code configs} (validated already) is {@code value}. */
    static boolean configured(Map<String, ?> configs, String value) {
        Object mode = configs.get(PartiConsumerConfig.MIGRATION_CONFIG);
        return mode != null && value.equals(mode.toString().trim());
    }

    /**
     * @param migration       the value of {@code parti.migration} (for the error)
     * @param whyGroupNeeded  what the group is needed for (for the error)
     * @throws ConfigException without {@code group.id}
     */
    static BridgeConfigs of(Map<String, ?> userConfigs, MigrationAssignor.SwitchSignal signal, String migration,
                            String whyGroupNeeded) {
        Object group = userConfigs.get(ConsumerConfig.GROUP_ID_CONFIG);
        if (group == null || group.toString().isBlank()) {
            throw new ConfigException(PartiConsumerConfig.MIGRATION_CONFIG, migration, whyGroupNeeded);
        }
        Map<String, Object> bridge = new HashMap<>();
        Map<String, Object> admin = new HashMap<>();
        userConfigs.forEach((k, v) -> {
            if (!PartiConsumerConfig.isPartiKey(k) || k.equals(PartiAssignor.WORKER_ID_CONFIG)
                    || k.equals(PartiAssignor.WORKER_WEIGHT_CONFIG) || k.equals(PartiAssignor.STRATEGY_CONFIG)) {
                bridge.put(k, v);
            }
            if (AdminClientConfig.configNames().contains(k) && !k.equals(AdminClientConfig.CLIENT_ID_CONFIG)) {
                admin.put(k, v);
            }
        });
        bridge.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        bridge.remove(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG);
        List<Object> assignors = new java.util.ArrayList<>(List.of(MigrationAssignor.class));
        if (PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI.equals(migration)) {
            // the old fleet's assignors too (the user keeps its settings): a classic group runs a protocol that every
            // member offers, so the bridge joins a group of any assignor, and the group turns to MigrationAssignor's
            // once only migrating members are left. Not on the way back: there every member must speak Parti's.
            assignors.addAll(kafkaAssignors(userConfigs.get(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG)));
        }
        bridge.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignors);
        bridge.put(MigrationAssignor.SIGNAL_CONFIG, signal);
        Object clientId = userConfigs.get(ConsumerConfig.CLIENT_ID_CONFIG);
        if (clientId != null && !clientId.toString().isBlank()) {
            bridge.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-kafka-group");
        }
        Object apiTimeout = userConfigs.get(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        long apiTimeoutMs = apiTimeout == null ? 60_000L : Long.parseLong(apiTimeout.toString().trim());
        return new BridgeConfigs(group.toString(), bridge, GroupDescribingAdmin.withFastFallback(admin), apiTimeoutMs);
    }

    /** Kafka's default for the classic protocol, which an old fleet without the setting runs. */
    private static final List<Object> KAFKA_DEFAULT_ASSIGNORS = List.of(
            org.apache.kafka.clients.consumer.RangeAssignor.class,
            org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class);

    /**
     * The assignors of {@code partition.assignment.strategy} (a list, or a comma-separated string, of classes or class
     * names; Kafka's default when unset) other than {@link PartiAssignor}, whose protocol {@link MigrationAssignor}
     * already speaks.
     */
    static List<Object> kafkaAssignors(Object configured) {
        List<?> all;
        if (configured == null) {
            all = KAFKA_DEFAULT_ASSIGNORS;
        } else if (configured instanceof List<?> l) {
            all = l;
        } else {
            all = java.util.Arrays.stream(configured.toString().split(",")).map(String::trim).filter(n -> !n.isEmpty())
                    .toList();
        }
        List<Object> out = new java.util.ArrayList<>();
        for (Object a : all) {
            String name = a instanceof Class<?> c ? c.getName() : String.valueOf(a).trim();
            if (!name.equals(PartiAssignor.class.getName()) && !name.equals(MigrationAssignor.class.getName())) {
                out.add(a instanceof Class<?> ? a : name);
            }
        }
        return out;
    }
}
