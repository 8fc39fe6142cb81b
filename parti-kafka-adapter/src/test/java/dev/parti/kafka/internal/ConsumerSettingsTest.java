package dev.parti.kafka.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.kafka.KafkaAssignorStrategy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/** How the user's map is split between Parti, the inner consumer and the metadata Admin client. */
class ConsumerSettingsTest {
    private static Map<String, Object> base() {
        Map<String, Object> m = new HashMap<>();
        m.put("bootstrap.servers", "127.0.0.1:9092");
        m.put("group.id", "orders");
        m.put("key.deserializer", StringDeserializer.class.getName());
        m.put("value.deserializer", StringDeserializer.class.getName());
        m.put("parti.nats.url", "nats://127.0.0.1:4222");
        return m;
    }

    private static ConsumerSettings settings(Map<String, Object> m) {
        return new ConsumerSettings(m, null, null);
    }

    @Test
    void innerConsumerSeesNoPartiKeysAndNeverJoinsAGroup() {
        Map<String, Object> m = base();
        m.put("group.instance.id", "host-1");
        m.put("partition.assignment.strategy", RangeAssignor.class.getName());
        m.put("enable.auto.commit", "true");
        m.put("parti.session.timeout.ms", "6000");
        ConsumerSettings s = settings(m);
        assertThat(s.innerConfig.keySet()).noneMatch(k -> k.startsWith("parti."));
        assertThat(s.innerConfig).containsEntry("enable.auto.commit", false)
                .containsEntry("group.protocol", "classic")
                .containsEntry("group.id", "orders")
                .doesNotContainKey("group.instance.id")
                .doesNotContainKey("partition.assignment.strategy");
        assertThat(s.autoCommit).isTrue();
        assertThat(s.groupInstanceId).isEqualTo("host-1");
        assertThat(s.workerId()).isEqualTo("host-1");
    }

    @Test
    void aStaticMembersSessionTimeoutBecomesPartisUnlessPartisIsSet() {
        Map<String, Object> m = base();
        m.put("session.timeout.ms", 9000);
        assertThat(settings(m).parti.getLong("parti.session.timeout.ms")).as("dynamic member: Parti's default").isEqualTo(6000);
        m.put("group.instance.id", "host-1");
        assertThat(settings(m).parti.getLong("parti.session.timeout.ms")).isEqualTo(9000);
        m.put("session.timeout.ms", 45000);
        assertThat(settings(m).parti.getLong("parti.session.timeout.ms")).isEqualTo(45000);
        assertThat(settings(m).parti.getLong("parti.worker.id.ttl.ms")).isEqualTo(90000);
        assertThat(settings(m).parti.partiConfigBuilder("g").partitionSource(dev.parti.PartitionSource.of(java.util.List.of())).build().leaderTtl()).as("core-derived: 7.5 s margin + 2 x 1 s heartbeat")
                .isEqualTo(java.time.Duration.ofMillis(9500));
        m.put("parti.session.timeout.ms", 4000);
        assertThat(settings(m).parti.getLong("parti.session.timeout.ms")).isEqualTo(4000);
        m.remove("parti.session.timeout.ms");
        m.put("session.timeout.ms", 1500);
        m.put("parti.heartbeat.interval.ms", 1000);
        assertThatThrownBy(() -> settings(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("session.timeout.ms").hasMessageContaining("1500");
    }

    @Test
    void partiWorkerIdMakesAStaticMemberUnlessGroupInstanceIdIsSet() {
        assertThat(settings(base()).workerId()).isNull();
        Map<String, Object> m = base();
        m.put("parti.worker.id", "node.7");
        assertThat(settings(m).workerId()).isEqualTo("node_2E7");
        m.put("group.instance.id", "host-1");
        assertThat(settings(m).workerId()).isEqualTo("host-1");
    }

    @Test
    void groupProtocolConsumerIsReplacedByClassic() {
        Map<String, Object> m = base();
        m.put("group.protocol", "consumer");
        m.put("group.remote.assignor", "uniform");
        ConsumerSettings s = settings(m);
        assertThat(s.innerConfig).containsEntry("group.protocol", "classic").doesNotContainKey("group.remote.assignor");
    }

    @Test
    void autoCommitFollowsKafka() {
        assertThat(settings(base()).autoCommit).isTrue(); // Kafka's default with a group.id
        Map<String, Object> off = base();
        off.put("enable.auto.commit", false);
        assertThat(settings(off).autoCommit).isFalse();
        Map<String, Object> noGroup = base();
        noGroup.remove("group.id");
        assertThat(settings(noGroup).autoCommit).isFalse();
        Map<String, Object> interval = base();
        interval.put("auto.commit.interval.ms", "250");
        assertThat(settings(interval).autoCommitIntervalMs).isEqualTo(250);
    }

    @Test
    void aLowDefaultApiTimeoutThatKafkaConsumerAcceptsStillMakesAValidAdminConfig() {
        Map<String, Object> m = base();
        m.put("default.api.timeout.ms", "5000");
        ConsumerSettings s = settings(m);
        assertThat(s.adminConfig).containsEntry("request.timeout.ms", 5000);
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(s.adminConfig)) {
            assertThat(admin).isNotNull(); // creating it validates the combination; no broker is contacted
        }
    }

    @Test
    void adminClientGetsConnectionSettingsOnly() {
        Map<String, Object> m = base();
        m.put("security.protocol", "PLAINTEXT");
        m.put("client.id", "mine");
        ConsumerSettings s = settings(m);
        assertThat(s.adminConfig).containsEntry("bootstrap.servers", "127.0.0.1:9092")
                .containsEntry("security.protocol", "PLAINTEXT")
                .doesNotContainKeys("group.id", "key.deserializer", "client.id", "parti.nats.url");
    }

    @Test
    void theGroupDescribingAdminFallsBackToTheClassicDescribeAfterTenMillisecondsNotAfterTheConsumersBackoff() {
        assertThat(settings(base()).adminConfig).containsEntry("retry.backoff.ms", 10L);
        Map<String, Object> slow = base();
        slow.put("retry.backoff.ms", "500");
        assertThat(settings(slow).adminConfig).containsEntry("retry.backoff.ms", 10L);
        Map<String, Object> fast = base();
        fast.put("retry.backoff.ms", "2");
        assertThat(settings(fast).adminConfig).containsEntry("retry.backoff.ms", 2L);
        Map<String, Object> lowMax = base();
        lowMax.put("retry.backoff.max.ms", 4);
        ConsumerSettings s = settings(lowMax);
        assertThat(s.adminConfig).containsEntry("retry.backoff.ms", 4L).containsEntry("retry.backoff.max.ms", 4);
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(s.adminConfig)) {
            assertThat(admin).isNotNull(); // a valid Admin config; no broker is contacted
        }
    }

    @Test
    void theInnerConsumerRetriesAfterTenMillisecondsUnlessTheUserSetsABackoff() {
        assertThat(settings(base()).innerConfig).containsEntry("retry.backoff.ms", 10L);
        Map<String, Object> own = base();
        own.put("retry.backoff.ms", "250");
        assertThat(settings(own).innerConfig).containsEntry("retry.backoff.ms", "250");
        Map<String, Object> lowMax = base();
        lowMax.put("retry.backoff.max.ms", "5");
        assertThat(settings(lowMax).innerConfig).containsEntry("retry.backoff.ms", 5L);
    }

    @Test
    void explicitKafkaAssignorRunsOnTheLeader() {
        Map<String, Object> m = base();
        m.put("partition.assignment.strategy", List.of(RangeAssignor.class, CooperativeStickyAssignor.class));
        assertThat(settings(m).strategy()).isInstanceOf(KafkaAssignorStrategy.class)
                .extracting(st -> st.name()).isEqualTo("kafka:range");
        assertThat(settings(base()).strategy().name()).isEqualTo("sticky-balanced");
        Map<String, Object> parti = base();
        parti.put("parti.strategy", "round-robin");
        assertThat(settings(parti).strategy().name()).isEqualTo("round-robin");
    }

    @Test
    void partiStrategyAndKafkaAssignorAreExclusive() {
        Map<String, Object> m = base();
        m.put("partition.assignment.strategy", RangeAssignor.class.getName());
        m.put("parti.strategy", "round-robin");
        assertThatThrownBy(() -> settings(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("parti.strategy").hasMessageContaining("partition.assignment.strategy");
    }

    @Test
    void partiAssignorFromMigrationStepOneMeansPartiStrategy() {
        Map<String, Object> m = base();
        m.put("partition.assignment.strategy", ConsumerSettings.PARTI_ASSIGNOR_CLASS);
        m.put("parti.strategy", "round-robin");
        assertThat(settings(m).strategy().name()).isEqualTo("round-robin");
    }

    @Test
    void kafkaSettingsAreValidatedLikeKafkaConsumer() {
        Map<String, Object> m = base();
        m.put("max.poll.interval.ms", "soon");
        assertThatThrownBy(() -> settings(m)).isInstanceOf(ConfigException.class).hasMessageContaining("max.poll.interval.ms");
        Map<String, Object> blank = base();
        blank.put("group.instance.id", " ");
        assertThatThrownBy(() -> settings(blank)).isInstanceOf(ConfigException.class).hasMessageContaining("group.instance.id");
    }

    @Test
    void propertiesWithNonStringKeysAreRefused() {
        Properties p = new Properties();
        p.put(42, "x");
        assertThatThrownBy(() -> ConsumerSettings.toMap(p)).isInstanceOf(ConfigException.class);
        Properties ok = new Properties();
        ok.put("group.id", "g");
        assertThat(ConsumerSettings.toMap(ok)).containsEntry("group.id", "g");
    }

    @Test
    void staticInstanceIdsBecomeValidWorkerIdsWithoutCollisions() {
        assertThat(WorkerIds.fromInstanceId("consumer-1")).isEqualTo("consumer-1");
        assertThat(WorkerIds.fromInstanceId("host.example.com-1")).isEqualTo("host_2Eexample_2Ecom-1");
        assertThat(WorkerIds.fromInstanceId("a_2E")).isEqualTo("a_5F2E");
        assertThat(WorkerIds.fromInstanceId("a.")).isEqualTo("a_2E");
        assertThat(WorkerIds.fromInstanceId("ü")).isEqualTo("_C3_BC");
        assertThat(WorkerIds.fromInstanceId("a b*>")).matches("[A-Za-z0-9_-]+");
    }
}
