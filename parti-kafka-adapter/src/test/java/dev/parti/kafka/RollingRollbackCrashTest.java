package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.migration.PartiToKafkaMigration;
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
 * A PartiConsumer rolling back to Kafka ({@code parti.migration=parti-to-kafka}), in a child JVM, killed with SIGKILL
 * in the middle of the rollback (after it stopped delivering through Parti, before the group was complete in Kafka):
 * the surviving member gets the dead one's partitions once Parti or Kafka expires it, the rollback completes, nothing is
 * lost, records are processed twice only where the killed instance had processed them without committing, and no
 * partition has two live owners (ownership logged across both JVMs).
 */
class RollingRollbackCrashTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;

    @Test
    void anInstanceKilledDuringTheRollbackLosesNothingAndTheGroupEndsOnKafka(@TempDir Path dir) throws Exception {
        String topic = Fixtures.unique("rollback-crash");
        String groupId = Fixtures.unique("g-rbcrash");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Path logDir = Files.createDirectories(dir.resolve("ownership"));
        long start = System.nanoTime();
        Map<Integer, Long> produced = new ConcurrentHashMap<>();
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = MigrationCrashSupport.producer(KAFKA.bootstrapServers(), topic, PARTITIONS, produced, producing);
        producer.start();
        Map<String, MigrationCrashSupport.Member> members = new HashMap<>();
        long killedAt;
        long rolledAt;
        try (WorkerProcess child = startChild(dir, groupId, topic, logDir)) {
            members.put("r-1", MigrationCrashSupport.Member.start(config(groupId, "r-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                    topic, "r-1", logDir, dir));
            // a member that cannot roll back holds the rollback off until it stops
            members.put("p-0", MigrationCrashSupport.Member.start(config(groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE),
                    topic, "p-0", logDir, dir));
            await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                    .until(() -> {
                        Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                        return List.of("c-2", "r-1", "p-0").stream().allMatch(m ->
                                seen.values().stream().anyMatch(by -> by.contains(m)));
                    });
            assertThat(child.logTail(400)).contains("PHASE PARTI").doesNotContain("PHASE JOINING");

            members.remove("p-0").stop(); // every live member can roll back now
            await("the child rolls back").atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> {
                String tail = child.logTail(400);
                return tail.contains("PHASE JOINING") || tail.contains("PHASE ROLLING") || tail.contains("PHASE KAFKA");
            });
            child.kill();
            killedAt = System.nanoTime();
            try (OwnershipLog killed = OwnershipLog.inDirectory(logDir)) {
                killed.gone("c-2");
            }
            String childPhases = child.logTail(400).lines().filter(l -> l.startsWith("PHASE")).collect(Collectors.joining(", "));
            assertThat(childPhases).as("killed in the middle of the rollback").doesNotContain("KAFKA");

            await("r-1 is a Kafka member holding every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                    .until(() -> members.get("r-1").parti().rollbackPhase() == PartiToKafkaMigration.Phase.KAFKA
                            && kafkaAssigned(groupId) == PARTITIONS && describe(groupId).members().size() == 1);
            rolledAt = System.nanoTime();

            producing.set(false);
            producer.join(30_000);
            await("every produced record processed").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                    .until(() -> MigrationCrashSupport.missing(dir, produced).isEmpty());
            members.remove("r-1").stop();
        } finally {
            producing.set(false);
            members.values().forEach(MigrationCrashSupport.Member::stop);
        }
        Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
        long redone = seen.values().stream().filter(by -> by.size() > 1).count();
        System.out.printf("rollback crash: the killed instance's partitions consumed through Kafka %.2f s after the kill; "
                + "records processed again (the killed instance's uncommitted work): %d%n", (rolledAt - killedAt) / 1e9, redone);
        List<String> duplicates = MigrationCrashSupport.duplicatesBeyond(dir, "c-2");
        if (!duplicates.isEmpty()) { // where the first one stands in each ledger that holds it twice
            String record = duplicates.get(0).substring(0, duplicates.get(0).indexOf(" by "));
            for (String m : new java.util.TreeSet<>(seen.get(record))) {
                System.out.println("duplicate " + record + ": " + MigrationCrashSupport.whereInLedger(dir, m, record));
            }
        }
        assertThat(duplicates).as("processed twice other than the killed instance's uncommitted work").isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(start, System.nanoTime()).check(OwnershipLog.read(logDir));
        assertThat(report.overlaps()).isEmpty();
    }

    private static WorkerProcess startChild(Path dir, String groupId, String topic, Path logDir) throws Exception {
        Path configFile = dir.resolve("c-2.properties");
        StringBuilder sb = new StringBuilder();
        config(groupId, "c-2", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA).forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        Files.writeString(configFile, sb.toString());
        return WorkerProcess.builder(MigratingMemberMain.class).args(configFile.toString(), topic, "c-2",
                logDir.toString(), dir.resolve("c-2.ledger").toString()).jvmArgs("-Xmx256m").start();
    }

    private static Map<String, Object> config(String groupId, String name, String migration) {
        Map<String, Object> config = new HashMap<>(Fixtures.consumerBase(KAFKA.bootstrapServers(), groupId));
        config.put("group.protocol", "classic");
        config.put("partition.assignment.strategy", PartiAssignor.class.getName());
        config.put("client.id", groupId + "-" + name);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.put("session.timeout.ms", "6000");
        config.put("heartbeat.interval.ms", "500");
        config.put("metadata.max.age.ms", "5000");
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    private static ConsumerGroupDescription describe(String groupId) throws Exception {
        try (Admin admin = Fixtures.admin(KAFKA.bootstrapServers())) {
            return admin.describeConsumerGroups(List.of(groupId)).all().get().get(groupId);
        }
    }

    private static int kafkaAssigned(String groupId) throws Exception {
        return describe(groupId).members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum();
    }
}
