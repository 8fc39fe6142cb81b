package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.CommitWatcher;
import dev.parti.kafka.MigrationCrashSupport.Member;
import dev.parti.kafka.migration.PartiToKafkaMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rolling rollback's window, forced: a member rolling back ({@code parti.migration=parti-to-kafka}) that has not
 * noticed the rollback commits through Parti (generation −1) right after another member joined the Kafka group, so the
 * broker refuses the commit. The member is held, after a batch polled through Parti and before committing it, until the
 * Kafka group has a member (a condition, not a sleep). Checked: no exception reaches the caller of {@code commitSync};
 * the member is a Kafka member when {@code commitSync} returns (its generation is Kafka's) and the broker holds the
 * batch's offsets, which only a commit of a Kafka generation can have made once the group had members; no other
 * exception than Kafka's own {@code RebalanceInProgressException} for a commit made as a Kafka member while the group
 * rebalances (a {@code KafkaConsumer} gets it there too), and none for a commit made through Parti; no committed
 * offset goes backwards; each record processed once; no partition with two live owners; the group ends run by Kafka.
 */
class RollbackCommitRoutingTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(45);
    private static final int PARTITIONS = 6;

    @Test
    void aCommitThroughPartiRefusedBecauseTheKafkaGroupHasAMemberIsMadeAsAKafkaCommitWithoutAnError(@TempDir Path dir)
            throws Exception {
        String topic = Fixtures.unique("rb-route");
        String groupId = Fixtures.unique("g-rbroute");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Path logDir = Files.createDirectories(dir.resolve("ownership"));
        long start = System.nanoTime();
        Map<Integer, Long> produced = new ConcurrentHashMap<>();
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = MigrationCrashSupport.producer(KAFKA.bootstrapServers(), topic, PARTITIONS, produced, producing);
        AtomicBoolean armed = new AtomicBoolean();
        Set<String> held = ConcurrentHashMap.newKeySet();
        List<String> routed = new CopyOnWriteArrayList<>();
        List<String> failures = new CopyOnWriteArrayList<>();
        Map<String, Member> members = new HashMap<>();
        try (Admin admin = Fixtures.admin(KAFKA.bootstrapServers());
             CommitWatcher commits = new CommitWatcher(KAFKA.bootstrapServers(), groupId)) {
            producer.start();
            try {
                // p-0 cannot roll back: it holds the rollback off until it stops, and leads the Parti group (first in)
                members.put("p-0", Member.start(config(groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE), topic, "p-0",
                        logDir, dir));
                await("p-0 leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> leads(members.get("p-0").parti()));
                for (String name : List.of("r-1", "r-2")) {
                    MigratingMemberMain.AfterBatch commitEachBatch = (consumer, batch) -> {
                        PartiConsumer<String, String> c = (PartiConsumer<String, String>) consumer;
                        boolean hold = armed.get() && c.rollbackPhase() == PartiToKafkaMigration.Phase.PARTI && !leads(c)
                                && held.add(name);
                        int kafkaMembers = 0;
                        if (hold) {
                            // the batch was polled through Parti; hold until the member that leads Parti (and starts the
                            // rollback) is in the Kafka group, or until this one leads Parti itself (then it is not the case)
                            await(name + " held until the Kafka group has a member").atMost(WAIT)
                                    .pollInterval(Duration.ofMillis(5)).until(() -> leads(c) || kafkaMembers(admin, groupId) > 0);
                            kafkaMembers = kafkaMembers(admin, groupId);
                        }
                        PartiToKafkaMigration.Phase before = c.rollbackPhase();
                        try {
                            consumer.commitSync(batch);
                        } catch (org.apache.kafka.common.errors.RebalanceInProgressException e) {
                            // a Kafka member committing while the group rebalances (a member joined): Kafka's own error,
                            // what a KafkaConsumer gets there too; never the answer to a commit made through Parti
                            if (hold || before == PartiToKafkaMigration.Phase.PARTI) {
                                failures.add(name + " (" + before + " -> " + c.rollbackPhase() + "): " + e);
                            }
                            return;
                        } catch (RuntimeException e) {
                            failures.add(name + " (" + before + " -> " + c.rollbackPhase() + "): " + e);
                            return;
                        }
                        if (hold && kafkaMembers > 0) {
                            Map<TopicPartition, OffsetAndMetadata> now = committed(admin, groupId);
                            routed.add(name + " committed " + batch + " through Parti with " + kafkaMembers
                                    + " Kafka member(s) in the group; after commitSync: " + c.rollbackPhase() + " generation "
                                    + c.groupMetadata().generationId() + ", the broker holds " + now);
                            assertThat(c.rollbackPhase()).as(name + " is a Kafka member when commitSync returns")
                                    .isIn(PartiToKafkaMigration.Phase.ROLLING, PartiToKafkaMigration.Phase.KAFKA);
                            assertThat(c.groupMetadata().generationId()).as(name + "'s Kafka generation").isPositive();
                            batch.forEach((tp, o) -> assertThat(now.get(tp)).as("committed " + tp).isNotNull()
                                    .extracting(OffsetAndMetadata::offset).asInstanceOf(
                                            org.assertj.core.api.InstanceOfAssertFactories.LONG).isGreaterThanOrEqualTo(o.offset()));
                        }
                    };
                    members.put(name, Member.start(config(groupId, name, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), topic,
                            name, logDir, dir, commitEachBatch));
                }
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("p-0", "r-1", "r-2").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                assertThat(kafkaMembers(admin, groupId)).as("no Kafka member while p-0 runs").isZero();

                armed.set(true);
                members.remove("p-0").stop(); // every live member can roll back now: the Parti leader starts it
                await("a commit through Parti was refused and made through Kafka").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20)).until(() -> !routed.isEmpty() || !failures.isEmpty());
                assertThat(failures).as("exceptions from commitSync").isEmpty();
                await("every member is a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() ->
                        List.of("r-1", "r-2").stream().allMatch(m -> members.get(m).parti() != null
                                && members.get(m).parti().rollbackPhase() == PartiToKafkaMigration.Phase.KAFKA));

                producing.set(false);
                producer.join(30_000);
                await("every produced record processed").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                        .until(() -> MigrationCrashSupport.missing(dir, produced).isEmpty());
                members.remove("r-1").stop();
                members.remove("r-2").stop();
            } finally {
                producing.set(false);
                members.values().forEach(Member::stopAfterFailure);
            }
            routed.forEach(System.out::println);
            assertThat(failures).as("exceptions from commitSync").isEmpty();
            assertThat(routed).as("a held commit made while the Kafka group had a member").isNotEmpty();
            commits.close();
            assertThat(commits.backwards()).as("committed offsets that went backwards").isEmpty();
            Map<TopicPartition, Long> ends = new HashMap<>();
            produced.forEach((p, end) -> ends.put(new TopicPartition(topic, p), end));
            assertThat(commits.committed()).as("the group's commits at the end of every partition").isEqualTo(ends);
        }
        assertThat(MigrationCrashSupport.duplicatesBeyond(dir, Set.of())).as("records processed twice").isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(start, System.nanoTime()).check(OwnershipLog.read(logDir));
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    private static boolean leads(PartiConsumer<String, String> c) {
        return c != null && c.partiManager() != null && c.partiManager().isLeader();
    }

    /** The Kafka group's members (0 while the broker does not know the group). */
    private static int kafkaMembers(Admin admin, String groupId) {
        try {
            return admin.describeConsumerGroups(List.of(groupId)).all().get(10, TimeUnit.SECONDS).get(groupId).members().size();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return 0;
            }
            throw new IllegalStateException(e);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> committed(Admin admin, String groupId) {
        try {
            return admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> config(String groupId, String name, String migration) {
        Map<String, Object> config = MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }
}
