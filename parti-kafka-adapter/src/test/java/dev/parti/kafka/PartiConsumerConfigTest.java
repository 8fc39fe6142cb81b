package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.LossPolicy;
import dev.parti.PartiConfig;
import java.io.OutputStream;
import io.nats.client.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every {@code parti.*} key: read, defaulted, validated, and mapped onto core and jnats settings. */
class PartiConsumerConfigTest {
    /** The keys this class covers; a key added to the ConfigDef without a test fails {@link #everyKeyIsCovered()}. */
    private static final Set<String> COVERED = Set.of(
            PartiConsumerConfig.NATS_URL_CONFIG,
            PartiConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG,
            PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG,
            PartiConsumerConfig.LEADER_TTL_MS_CONFIG,
            PartiConsumerConfig.DISCONNECT_EVENTS_CONFIG,
            PartiConsumerConfig.DISCONNECT_GRACE_MS_CONFIG,
            PartiConsumerConfig.WORKER_ID_TTL_MS_CONFIG,
            PartiConsumerConfig.COLD_START_WINDOW_MS_CONFIG,
            PartiConsumerConfig.PLANNED_SCALE_WINDOW_MS_CONFIG,
            PartiConsumerConfig.REBALANCE_COOLDOWN_MS_CONFIG,
            PartiConsumerConfig.STARTUP_TIMEOUT_MS_CONFIG,
            PartiConsumerConfig.LOSS_POLICY_CONFIG,
            PartiConsumerConfig.MIGRATION_CONFIG,
            PartiConsumerConfig.MIGRATION_JOIN_WAIT_MS_CONFIG,
            PartiConsumerConfig.STRATEGY_CONFIG,
            PartiConsumerConfig.BUCKET_REPLICAS_CONFIG,
            PartiConsumerConfig.WORKER_WEIGHT_CONFIG,
            PartiConsumerConfig.WORKER_ID_CONFIG,
            PartiConsumerConfig.NATS_USERNAME_CONFIG,
            PartiConsumerConfig.NATS_PASSWORD_CONFIG,
            PartiConsumerConfig.NATS_TOKEN_CONFIG,
            PartiConsumerConfig.NATS_CREDS_FILE_CONFIG,
            PartiConsumerConfig.NATS_TLS_CONFIG,
            PartiConsumerConfig.NATS_TRUSTSTORE_LOCATION_CONFIG,
            PartiConsumerConfig.NATS_TRUSTSTORE_PASSWORD_CONFIG,
            PartiConsumerConfig.NATS_KEYSTORE_LOCATION_CONFIG,
            PartiConsumerConfig.NATS_KEYSTORE_PASSWORD_CONFIG);

    private static Map<String, Object> base() {
        Map<String, Object> m = new HashMap<>();
        m.put("parti.nats.url", "nats://127.0.0.1:4222");
        m.put("bootstrap.servers", "127.0.0.1:9092"); // Kafka keys are ignored here
        return m;
    }

    private static Map<String, Object> with(Object... kv) {
        Map<String, Object> m = base();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static PartiConfig core(Map<String, Object> m) {
        return new PartiConsumerConfig(m).partiConfigBuilder("g").partitionSource(List::of).build();
    }

    private static void rejects(Map<String, Object> m, String key) {
        assertThatThrownBy(() -> new PartiConsumerConfig(m)).isInstanceOf(ConfigException.class).hasMessageContaining(key);
    }

    @Test
    void keysSharedWithPartiAssignorAreSpelledTheSame() {
        assertThat(PartiConsumerConfig.STRATEGY_CONFIG).isEqualTo(PartiAssignor.STRATEGY_CONFIG);
        assertThat(PartiConsumerConfig.WORKER_ID_CONFIG).isEqualTo(PartiAssignor.WORKER_ID_CONFIG);
        assertThat(PartiConsumerConfig.WORKER_WEIGHT_CONFIG).isEqualTo(PartiAssignor.WORKER_WEIGHT_CONFIG);
    }

    @Test
    void everyKeyIsCovered() {
        assertThat(PartiConsumerConfig.configNames()).containsExactlyInAnyOrderElementsOf(COVERED);
        ConfigDef def = PartiConsumerConfig.configDef();
        for (String name : def.names()) {
            assertThat(name).startsWith(PartiConsumerConfig.PREFIX);
            assertThat(def.configKeys().get(name).documentation).as(name).isNotBlank();
        }
        assertThat(def.toHtml()).contains(PartiConsumerConfig.NATS_URL_CONFIG);
    }

    @Test
    void theSessionLeaseIsTheSessionLessTheCoresSafetyMargin() {
        for (String session : List.of("3000", "6000", "30000")) {
            Map<String, Object> m = with("parti.session.timeout.ms", session);
            PartiConfig core = core(m);
            assertThat(new PartiConsumerConfig(m).sessionLease()).as("session " + session)
                    .isEqualTo(core.sessionTimeout().minus(core.safetyMargin()))
                    .isLessThan(java.time.Duration.ofMillis(Long.parseLong(session)));
        }
    }

    @Test
    void natsUrlIsRequiredAndSplitOnCommas() {
        Map<String, Object> none = base();
        none.remove("parti.nats.url");
        rejects(none, "parti.nats.url");
        assertThat(new PartiConsumerConfig(with("parti.nats.url", "nats://a:1, nats://b:2")).natsUrls())
                .containsExactly("nats://a:1", "nats://b:2");
        assertThat(new PartiConsumerConfig(with("parti.nats.url", List.of("nats://a:1"))).natsUrls()).containsExactly("nats://a:1");
        assertThat(core(with("parti.nats.url", "nats://a:1,nats://b:2")).natsUrl()).isEqualTo("nats://a:1,nats://b:2");
        rejects(with("parti.nats.url", ""), "parti.nats.url");
        rejects(with("parti.nats.url", "nats://a:1,,nats://b:2"), "parti.nats.url");
    }

    @Test
    void migrationIsNoneByDefaultAndOnlyKnownModesAreAccepted() {
        assertThat(new PartiConsumerConfig(base()).migratesFromKafka()).isFalse();
        assertThat(new PartiConsumerConfig(with("parti.migration", "none")).migratesFromKafka()).isFalse();
        assertThat(new PartiConsumerConfig(with("parti.migration", "kafka-to-parti")).migratesFromKafka()).isTrue();
        assertThat(new PartiConsumerConfig(with("parti.migration", "kafka-to-parti")).rollsBackToKafka()).isFalse();
        assertThat(new PartiConsumerConfig(with("parti.migration", "parti-to-kafka")).rollsBackToKafka()).isTrue();
        assertThat(new PartiConsumerConfig(with("parti.migration", "parti-to-kafka")).migratesFromKafka()).isFalse();
        rejects(with("parti.migration", "kafka-to-kafka"), "parti.migration");
        rejects(with("parti.migration", ""), "parti.migration");
    }

    @Test
    void unknownPartiKeyIsRejectedByName() {
        rejects(with("parti.sesion.timeout.ms", "3000"), "parti.sesion.timeout.ms");
        rejects(with("parti.", "x"), "parti.");
    }

    @Test
    void defaultsAreTheCoreDefaultsExceptKafkaLikeWindows() {
        PartiConsumerConfig c = new PartiConsumerConfig(base());
        PartiConfig p = core(base());
        assertThat(p.heartbeatInterval()).isEqualTo(PartiConfig.DEFAULT_HEARTBEAT_INTERVAL);
        assertThat(p.sessionTimeout()).isEqualTo(PartiConfig.DEFAULT_SESSION_TIMEOUT);
        assertThat(p.leaderTtl()).isEqualTo(PartiConfig.DEFAULT_LEADER_TTL);
        assertThat(p.workerIdTtl()).isEqualTo(PartiConfig.DEFAULT_WORKER_ID_TTL);
        // windows as prompt as Kafka's: the broker's 3 s initial delay, joins handled within about a second
        assertThat(p.coldStartWindow()).isEqualTo(Duration.ofSeconds(3));
        assertThat(p.plannedScaleWindow()).isEqualTo(Duration.ofSeconds(1));
        assertThat(p.rebalanceCooldown()).isEqualTo(Duration.ofSeconds(1));
        assertThat(p.startupTimeout()).isEqualTo(PartiConfig.DEFAULT_STARTUP_TIMEOUT);
        assertThat(p.lossPolicy()).isEqualTo(LossPolicy.FENCE);
        assertThat(p.strategy().name()).isEqualTo(PartiConsumerConfig.DEFAULT_STRATEGY);
        assertThat(p.bucketReplicas()).isEqualTo(1);
        assertThat(p.capacity()).isEqualTo(1);
        assertThat(c.natsOptions().getUsername()).isNull();
        assertThat(c.natsOptions().getToken()).isNull();
        assertThat(c.natsOptions().getSslContext()).isNull();
        assertThat(c.isSet(PartiConsumerConfig.STRATEGY_CONFIG)).isFalse();
    }

    @Test
    void aLongSessionWithoutALeaderTtlGetsTheCoresDerivedLeaderTtl() {
        // a 15 s session with the default 3 s leader TTL leaves no leader lease: the core derives a longer one
        PartiConfig p = core(with("parti.session.timeout.ms", "15000"));
        assertThat(p.sessionTimeout()).isEqualTo(Duration.ofSeconds(15));
        assertThat(p.leaderTtl()).isEqualTo(Duration.ofMillis(4500));
        rejects(with("parti.session.timeout.ms", "15000", "parti.leader.ttl.ms", "3000"), "parti.leader.ttl.ms");
    }

    @Test
    void everyTimingAndNumberIsMappedOntoTheCore() {
        PartiConfig p = core(with(
                "parti.heartbeat.interval.ms", "150",
                "parti.session.timeout.ms", 1500L,
                "parti.leader.ttl.ms", "700",
                "parti.worker.id.ttl.ms", "4000",
                "parti.cold.start.window.ms", "900",
                "parti.planned.scale.window.ms", "400",
                "parti.rebalance.cooldown.ms", "300",
                "parti.startup.timeout.ms", "2500",
                "parti.coordinator.loss.policy", "hold",
                "parti.strategy", "round-robin",
                "parti.bucket.replicas", "3",
                "parti.worker.weight", "4",
                "parti.worker.id", "host-1"));
        assertThat(p.heartbeatInterval()).isEqualTo(Duration.ofMillis(150));
        assertThat(p.sessionTimeout()).isEqualTo(Duration.ofMillis(1500));
        assertThat(p.leaderTtl()).isEqualTo(Duration.ofMillis(700));
        assertThat(p.workerIdTtl()).isEqualTo(Duration.ofMillis(4000));
        assertThat(p.coldStartWindow()).isEqualTo(Duration.ofMillis(900));
        assertThat(p.plannedScaleWindow()).isEqualTo(Duration.ofMillis(400));
        assertThat(p.rebalanceCooldown()).isEqualTo(Duration.ofMillis(300));
        assertThat(p.startupTimeout()).isEqualTo(Duration.ofMillis(2500));
        assertThat(p.lossPolicy()).isEqualTo(LossPolicy.HOLD);
        assertThat(p.strategy().name()).isEqualTo("round-robin");
        assertThat(p.bucketReplicas()).isEqualTo(3);
        assertThat(p.capacity()).isEqualTo(4);
        assertThat(new PartiConsumerConfig(with("parti.coordinator.loss.policy", "fence")).lossPolicy()).isEqualTo(LossPolicy.FENCE);
        assertThat(new PartiConsumerConfig(with("parti.worker.id", "host-1")).getString("parti.worker.id")).isEqualTo("host-1");
    }

    @Test
    void disconnectEventsAreOffByDefaultAndPassedToTheCore() {
        assertThat(core(base()).disconnectEvents()).isNull();
        PartiConfig p = core(with("parti.disconnect.events", "$SYS.ACCOUNT.APP.DISCONNECT", "parti.disconnect.grace.ms", "400"));
        assertThat(p.disconnectEvents()).isEqualTo("$SYS.ACCOUNT.APP.DISCONNECT");
        assertThat(p.disconnectGrace()).isEqualTo(Duration.ofMillis(400));
        rejects(with("parti.disconnect.events", ""), "parti.disconnect.events");
        rejects(with("parti.disconnect.events", "a..b"), "parti.disconnect.events");
        rejects(with("parti.disconnect.events", "a.b", "parti.coordinator.loss.policy", "hold"), "parti.disconnect.events");
        rejects(with("parti.disconnect.grace.ms", "0"), "parti.disconnect.grace.ms");
    }

    @Test
    void valuesOutOfRangeOrOfTheWrongTypeAreRejectedByKey() {
        rejects(with("parti.heartbeat.interval.ms", "0"), "parti.heartbeat.interval.ms");
        rejects(with("parti.heartbeat.interval.ms", "soon"), "parti.heartbeat.interval.ms");
        rejects(with("parti.session.timeout.ms", "-1"), "parti.session.timeout.ms");
        rejects(with("parti.leader.ttl.ms", "1"), "parti.leader.ttl.ms");
        rejects(with("parti.worker.id.ttl.ms", "1"), "parti.worker.id.ttl.ms");
        rejects(with("parti.cold.start.window.ms", "-5"), "parti.cold.start.window.ms");
        rejects(with("parti.planned.scale.window.ms", "-5"), "parti.planned.scale.window.ms");
        rejects(with("parti.rebalance.cooldown.ms", "-5"), "parti.rebalance.cooldown.ms");
        rejects(with("parti.startup.timeout.ms", "0"), "parti.startup.timeout.ms");
        rejects(with("parti.coordinator.loss.policy", "maybe"), "parti.coordinator.loss.policy");
        rejects(with("parti.coordinator.loss.policy", "FENCE"), "parti.coordinator.loss.policy");
        rejects(with("parti.strategy", "fastest"), "parti.strategy");
        rejects(with("parti.bucket.replicas", "6"), "parti.bucket.replicas");
        rejects(with("parti.bucket.replicas", "0"), "parti.bucket.replicas");
        rejects(with("parti.worker.weight", "0"), "parti.worker.weight");
        rejects(with("parti.worker.id", ""), "parti.worker.id");
        rejects(with("parti.nats.tls", "sometimes"), "parti.nats.tls");
        rejects(with("parti.nats.username", ""), "parti.nats.username");
    }

    @Test
    void rulesBetweenTimingsAreReportedByKey() {
        rejects(with("parti.heartbeat.interval.ms", "1000", "parti.session.timeout.ms", "1500"), "parti.session.timeout.ms");
        rejects(with("parti.heartbeat.interval.ms", "1000", "parti.leader.ttl.ms", "1500"), "parti.leader.ttl.ms");
        rejects(with("parti.worker.id.ttl.ms", "5000"), "parti.worker.id.ttl.ms"); // < the 6 s session
        rejects(with("parti.cold.start.window.ms", "100"), "parti.cold.start.window.ms"); // < the 1 s planned window
        rejects(with("parti.planned.scale.window.ms", "500"), "parti.rebalance.cooldown.ms"); // 1 s cooldown > 500 ms
    }

    @Test
    void userAndPasswordGoTogether() {
        PartiConsumerConfig c = new PartiConsumerConfig(with("parti.nats.username", "alice", "parti.nats.password", "s3cret"));
        assertThat(c.natsOptions().getUsername()).isEqualTo("alice");
        assertThat(new String(c.natsOptions().getPasswordChars())).isEqualTo("s3cret");
        rejects(with("parti.nats.username", "alice"), "parti.nats.password");
        rejects(with("parti.nats.password", "s3cret"), "parti.nats.username");
        assertThatThrownBy(() -> new PartiConsumerConfig(with("parti.nats.password", "s3cret")))
                .hasMessageNotContaining("s3cret");
    }

    @Test
    void tokenExcludesUserAndCredentials(@TempDir Path dir) throws Exception {
        PartiConsumerConfig c = new PartiConsumerConfig(with("parti.nats.token", "t0k3n"));
        assertThat(c.natsOptions().getToken()).isEqualTo("t0k3n");
        rejects(with("parti.nats.token", "t0k3n", "parti.nats.username", "alice", "parti.nats.password", "x"), "parti.nats.token");
        Path creds = Files.writeString(dir.resolve("user.creds"), "-----BEGIN NATS USER JWT-----\n");
        rejects(with("parti.nats.token", "t0k3n", "parti.nats.creds.file", creds.toString()), "parti.nats.creds.file");
        assertThatThrownBy(() -> new PartiConsumerConfig(with("parti.nats.token", "t0k3n", "parti.nats.creds.file", creds.toString())))
                .hasMessageNotContaining("t0k3n");
    }

    @Test
    void credentialsFileMustExist(@TempDir Path dir) throws Exception {
        rejects(with("parti.nats.creds.file", dir.resolve("missing.creds").toString()), "parti.nats.creds.file");
        Path creds = Files.writeString(dir.resolve("user.creds"), "-----BEGIN NATS USER JWT-----\n");
        PartiConsumerConfig c = new PartiConsumerConfig(with("parti.nats.creds.file", creds.toString()));
        assertThat(c.natsOptions().getAuthHandler()).isNotNull();
        rejects(with("parti.nats.creds.file", creds.toString(), "parti.nats.username", "a", "parti.nats.password", "b"),
                "parti.nats.creds.file");
    }

    @Test
    void tlsWithTheDefaultTrustOrGivenStores(@TempDir Path dir) throws Exception {
        assertThat(new PartiConsumerConfig(with("parti.nats.tls", "true")).natsOptions().getSslContext()).isNotNull();
        assertThat(new PartiConsumerConfig(with("parti.nats.tls", false)).natsOptions().getSslContext()).isNull();

        Path trust = emptyStore(dir.resolve("trust.p12"), "changeit");
        Path keys = emptyStore(dir.resolve("keys.p12"), "keypass");
        PartiConsumerConfig c = new PartiConsumerConfig(with(
                "parti.nats.tls.truststore.location", trust.toString(), "parti.nats.tls.truststore.password", "changeit",
                "parti.nats.tls.keystore.location", keys.toString(), "parti.nats.tls.keystore.password", "keypass"));
        assertThat(c.natsOptions().getSslContext()).isNotNull();
        assertThat(c.natsOptions().isTLSRequired()).isTrue();

        rejects(with("parti.nats.tls.truststore.location", trust.toString()), "parti.nats.tls.truststore.password");
        rejects(with("parti.nats.tls.truststore.password", "changeit"), "parti.nats.tls.truststore.location");
        rejects(with("parti.nats.tls.keystore.location", keys.toString()), "parti.nats.tls.keystore.password");
        rejects(with("parti.nats.tls.keystore.password", "keypass"), "parti.nats.tls.keystore.location");
        rejects(with("parti.nats.tls.truststore.location", dir.resolve("none.p12").toString(),
                "parti.nats.tls.truststore.password", "changeit"), "parti.nats.tls.truststore.location");
        rejects(with("parti.nats.tls", "false", "parti.nats.tls.truststore.location", trust.toString(),
                "parti.nats.tls.truststore.password", "changeit"), "parti.nats.tls");
        rejects(with("parti.nats.tls.truststore.location", trust.toString(),
                "parti.nats.tls.truststore.password", "wrong"), "parti.nats.tls.truststore.location");
    }

    /**
     * Issue 21: a creds file or a trust store becomes an auth handler or SSL context that connection sharing compares
     * by identity; consumers configured alike must get the very same objects, or each opens its own connection.
     */
    @Test
    void consumersConfiguredAlikeGetTheSameNatsOptionsAndAChangedFileGetsNewOnes(@TempDir Path dir) throws Exception {
        Path creds = Files.writeString(dir.resolve("user.creds"), "-----BEGIN NATS USER JWT-----\n");
        Map<String, Object> m = with("parti.nats.creds.file", creds.toString());
        Options first = new PartiConsumerConfig(m).natsOptions();
        assertThat(new PartiConsumerConfig(with("parti.nats.creds.file", creds.toString(), "group.id", "other")).natsOptions())
                .isSameAs(first);
        Path trust = emptyStore(dir.resolve("trust.p12"), "changeit");
        Map<String, Object> t = with("parti.nats.tls.truststore.location", trust.toString(),
                "parti.nats.tls.truststore.password", "changeit");
        Options tls = new PartiConsumerConfig(t).natsOptions();
        assertThat(new PartiConsumerConfig(t).natsOptions()).isSameAs(tls);
        assertThat(tls).isNotSameAs(first);
        // a rotated credentials file (other contents) is read again: new options, not the old handler
        Files.writeString(creds, "-----BEGIN NATS USER JWT-----\nrotated\n");
        assertThat(new PartiConsumerConfig(m).natsOptions()).isNotSameAs(first);
    }

    private static Path emptyStore(Path file, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, password.toCharArray());
        try (OutputStream out = Files.newOutputStream(file)) {
            ks.store(out, password.toCharArray());
        }
        return file;
    }
}
