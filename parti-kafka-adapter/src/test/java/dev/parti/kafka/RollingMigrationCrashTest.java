package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import dev.parti.testkit.WorkerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A migrating instance killed with SIGKILL in the middle of the switch (after every member was told to switch,
 * before it left the Kafka group): the surviving migrating member waits until the broker expires the dead Kafka
 * member, then Parti gives it every partition. Nothing is lost; records are processed twice only where the killed
 * instance had processed them without committing; no partition has two live owners (ownership logged across both
 * JVMs).
 */
class RollingMigrationCrashTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;

    @Test
    void aMigratingInstanceKilledDuringTheSwitchLosesNothingAndTheGroupEndsOnParti(@TempDir Path dir) throws Exception {
        String topic = Fixtures.unique("migrate-crash");
        String groupId = Fixtures.unique("g-crash");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Path logDir = Files.createDirectories(dir.resolve("ownership"));
        long start = System.nanoTime();
        Map<Integer, Long> produced = new ConcurrentHashMap<>();
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = MigrationCrashSupport.producer(KAFKA.bootstrapServers(), topic, PARTITIONS, produced, producing);
        producer.start();
        Map<String, MigrationCrashSupport.Member> members = new HashMap<>();
        try (WorkerProcess child = startChild(dir, groupId, topic, logDir)) {
            members.put("k-1", MigrationCrashSupport.Member.start(config(groupId, "k-1", false), topic, "k-1", logDir, dir));
            await("the child joined the Kafka group").atMost(WAIT).until(() -> child.logTail(200).contains("PHASE KAFKA"));
            members.put("p-1", MigrationCrashSupport.Member.start(config(groupId, "p-1", true), topic, "p-1", logDir, dir));
            await("three Kafka members, stable, sharing every partition").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                    .until(() -> {
                        ConsumerGroupDescription d = describe(groupId);
                        return d.groupState() == org.apache.kafka.common.GroupState.STABLE && d.members().size() == 3
                                && d.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum() == PARTITIONS
                                && d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty());
                    });

            members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
            await("the child switches").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> child.logTail(200).contains("PHASE SWITCHING"));
            child.kill();
            try (OwnershipLog killed = OwnershipLog.inDirectory(logDir)) {
                killed.gone("c-2");
            }
            String childPhases = child.logTail(400).lines().filter(l -> l.startsWith("PHASE")).collect(Collectors.joining(", "));
            assertThat(childPhases).as("killed before leaving Kafka").doesNotContain("WAITING").doesNotContain("PARTI");

            await("p-1 runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                    .until(() -> members.get("p-1").parti() != null
                            && members.get("p-1").parti().migrationPhase() == KafkaToPartiMigration.Phase.PARTI);
            assertThat(describe(groupId).members()).isEmpty();

            producing.set(false);
            producer.join(30_000);
            await("every produced record processed").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                    .until(() -> MigrationCrashSupport.missing(dir, produced).isEmpty());
            members.remove("p-1").stop();
        } finally {
            producing.set(false);
            members.values().forEach(MigrationCrashSupport.Member::stop);
        }
        Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
        List<String> duplicates = MigrationCrashSupport.duplicatesBeyond(dir, "c-2");
        long redone = seen.values().stream().filter(by -> by.size() > 1).count();
        System.out.println("records processed again after the kill (by the killed instance, uncommitted): " + redone);
        assertThat(duplicates).as("processed twice other than the killed instance's uncommitted work").isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(start, System.nanoTime()).check(OwnershipLog.read(logDir));
        assertThat(report.overlaps()).isEmpty();
        assertThat(seen.values().stream().filter(by -> by.contains("p-1")).count()).as("p-1 processed records").isPositive();
    }

    private static WorkerProcess startChild(Path dir, String groupId, String topic, Path logDir) throws Exception {
        Path configFile = dir.resolve("c-2.properties");
        StringBuilder sb = new StringBuilder();
        config(groupId, "c-2", true).forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        Files.writeString(configFile, sb.toString());
        return WorkerProcess.builder(MigratingMemberMain.class).args(configFile.toString(), topic, "c-2",
                logDir.toString(), dir.resolve("c-2.ledger").toString()).jvmArgs("-Xmx256m").start();
    }

    private static Map<String, Object> config(String groupId, String name, boolean migrating) {
        Map<String, Object> config = new HashMap<>(Fixtures.consumerBase(KAFKA.bootstrapServers(), groupId));
        config.put("group.protocol", "classic");
        config.put("partition.assignment.strategy", PartiAssignor.class.getName());
        config.put("client.id", groupId + "-" + name);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.put("session.timeout.ms", "6000");
        config.put("heartbeat.interval.ms", "500");
        config.put("metadata.max.age.ms", "5000");
        if (migrating) {
            config.putAll(Fixtures.partiFast(NATS.url()));
            // a long cold-start window keeps the switch open long enough to kill the child inside it
            config.put("parti.cold.start.window.ms", "3000");
            config.put("parti.planned.scale.window.ms", "1000");
            config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        }
        return config;
    }

    private static ConsumerGroupDescription describe(String groupId) throws Exception {
        try (Admin admin = Fixtures.admin(KAFKA.bootstrapServers())) {
            return admin.describeConsumerGroups(List.of(groupId)).all().get().get(groupId);
        }
    }
}
