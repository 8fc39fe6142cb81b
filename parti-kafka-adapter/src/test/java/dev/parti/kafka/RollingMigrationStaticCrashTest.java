package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.Child;
import dev.parti.kafka.MigrationCrashSupport.Load;
import dev.parti.kafka.MigrationCrashSupport.Member;
import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.kafka.migration.PartiToKafkaMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Static members ({@code group.instance.id}, also their Parti worker IDs) of the rolling migration killed with SIGKILL in
 * a child JVM and restarted under the same {@code group.instance.id}, on a real broker and nats-server under a steady
 * load: in the Kafka → Parti direction ({@code parti.migration=kafka-to-parti}) one killed while it is a Kafka member
 * and one killed while switching (after the switch was announced, before it left Kafka), and one in the Parti → Kafka
 * rollback ({@code parti.migration=parti-to-kafka}) killed while its Kafka side holds a Kafka assignment. The restart is
 * a child JVM started beforehand and held until the kill (warmed up, touching nothing of the group), so that it joins
 * within the sessions on a busy machine too. Each time: nothing is lost, records are processed twice only where the
 * killed instance had processed them without committing, no partition has two live owners (ownership logged per
 * instance, the restarted instance being a new owner), no committed offset goes backwards, nobody but the restarted
 * instance gets the killed one's partitions before its Kafka membership is over (taken over or expired), and the group
 * ends as it should.
 */
class RollingMigrationStaticCrashTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;
    /** The killed member's Kafka session: its restart (a JVM started beforehand, held) must join before it ends. */
    private static final int STATIC_SESSION_MS = 10_000;
    /**
     * Every member's Parti session in the rollback test (one heartbeat TTL per group): i-1's restart joins Parti within
     * it, takes the worker ID over and waits for it to end before acquiring; Parti keeps the ID's partitions meanwhile.
     */
    private static final int PARTI_SESSION_MS = 4_000;

    /**
     * A plain {@code KafkaConsumer} k-1 (so no switch yet), a migrating static member m-2 (i-2) in this JVM and one, c-1
     * (i-1), in a child JVM, killed with SIGKILL while it is a Kafka member whose bridge holds partitions and has
     * processed records it has not committed (commit-in-revoke: nothing revoked it since). A fresh child JVM, c-1b
     * (started beforehand, released at the kill), starts under {@code group.instance.id} i-1 before the broker expires
     * c-1: it finds Kafka members at its {@code subscribe()}, joins the Kafka group, takes over i-1's static membership
     * and gets exactly c-1's partitions (nobody else held them in between), from the last committed offsets. Then k-1
     * stops, the group switches, and c-1b and m-2 end on Parti sharing every partition, the Kafka group empty. A leader
     * that also gave the restarted member's partitions to m-2 (a bug planted once in {@code PartiAssignor}) fails it:
     * the Kafka group no longer shares every partition exactly once.
     */
    @Test
    void aStaticMemberKilledAsAKafkaMemberAndRestartedUnderItsInstanceIdLosesNothingAndTheGroupEndsOnParti(
            @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-static-crash", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        Child c1 = null;
        Child c1b = null;
        long killedAt;
        long takenOverAt;
        long onPartiAt;
        try (load) {
            try {
                members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1, PARTITIONS, WAIT);
                c1 = Child.start(migratingAsI1(load.groupId, "c-1"), load.topic, "c-1", load.logDir, dir);
                // c-1's restart, held until the kill: a JVM up with its classes loaded, so it joins within the session
                c1b = Child.startHeld(migratingAsI1(load.groupId, "c-1b"), load.topic, "c-1b", load.logDir, dir);
                members.put("m-2", Member.start(MigrationCrashSupport.staticMember(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "m-2")), "i-2"),
                        load.topic, "m-2", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);
                Child first = c1;
                await("c-1 a Kafka member holding partitions").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> first.phase().equals("KAFKA") && !MigrationCrashSupport.heldBy(load.logDir, "c-1")
                                .isEmpty());
                // commit-in-revoke: what c-1 processes from here on is uncommitted until a revocation that never comes
                long before = MigrationCrashSupport.processedBy(dir, "c-1");
                await("c-1 processed records it has not committed").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> MigrationCrashSupport.processedBy(dir, "c-1") >= before + 40);
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);
                c1b.awaitHeld(WAIT);
                Set<String> heldAtKill = MigrationCrashSupport.heldBy(load.logDir, "c-1");
                String memberIdAtKill = staticMemberId(load.groupId, "i-1");
                assertThat(heldAtKill).as("c-1's partitions").isNotEmpty();
                c1.kill(load.logDir);
                killedAt = System.nanoTime();
                assertThat(c1.phases()).as("c-1 killed as a Kafka member, before any switch").containsExactly("KAFKA");
                assertThat(MigrationCrashSupport.phase(members, "m-2")).isEqualTo(KafkaToPartiMigration.Phase.KAFKA);

                c1b.release();
                Child second = c1b;
                await("c-1b subscribed").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> !second.phase().isEmpty());
                System.out.printf("static migration crash: c-1b in phase %s %.2f s after the kill%n", second.phase(),
                        (System.nanoTime() - killedAt) / 1e9);
                await("c-1b took i-1's static membership over, holding c-1's partitions").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> MigrationCrashSupport.heldBy(load.logDir, "c-1b").equals(heldAtKill));
                takenOverAt = System.nanoTime();
                assertThat(second.phase()).as("c-1b joined the Kafka group").isEqualTo("KAFKA");
                assertThat(acquiredBetween(load.logDir, killedAt, takenOverAt, heldAtKill))
                        .as("c-1's partitions acquired between the kill and c-1b's takeover (the broker did not expire "
                                + "i-1: no rebalance gave them to another member)").containsOnly("c-1b");
                String memberIdNow = staticMemberId(load.groupId, "i-1");
                assertThat(memberIdNow).as("i-1's member ID, a new one for c-1b").isNotNull().isNotEqualTo(memberIdAtKill);
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);

                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                await("c-1b and m-2 run through Parti and share every partition, the Kafka group empty").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> second.phase().equals("PARTI")
                                && MigrationCrashSupport.phase(members, "m-2") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS, Set.of("c-1b", "m-2")));
                onPartiAt = System.nanoTime();
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();
                assertThat(c1b.phases()).as("c-1b's phases").startsWith("KAFKA").endsWith("PARTI")
                        .doesNotContain("NEW");

                load.drain(WAIT);
                members.remove("m-2").stop();
                c1b.stop(load.logDir); // SIGTERM: it commits what it processed, through Parti (generation -1)
            } finally {
                MigrationCrashSupport.stopAfterTest(load, members, c1, c1b);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        long redone = MigrationCrashSupport.ledgers(dir).values().stream()
                .filter(by -> by.contains("c-1") && by.contains("c-1b")).count();
        System.out.printf("static migration crash: c-1 killed as a Kafka member; c-1b held its partitions %.2f s later "
                + "(Kafka session %d ms), reprocessed %d records c-1 had not committed; the group on Parti %.2f s after "
                + "the takeover; test %.2f s%n", (takenOverAt - killedAt) / 1e9, STATIC_SESSION_MS, redone,
                (onPartiAt - takenOverAt) / 1e9, (System.nanoTime() - load.start) / 1e9);
        assertThat(redone).as("records c-1 processed uncommitted, processed again by c-1b").isPositive();
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of("c-1"));
    }

    /**
     * A plain {@code KafkaConsumer} k-1, a migrating static member m-2 (i-2) in this JVM and one, c-1 (i-1), in a child
     * JVM, both with a 3 s cold-start window that keeps the switch open. k-1 stops, the switch is announced, both join
     * Parti (their heartbeats are in Parti's bucket), and c-1 is killed with SIGKILL while switching: its bridge is still
     * a Kafka member holding partitions and has processed records it has not committed (commit-in-revoke: nothing
     * revoked them since the switch). A fresh child JVM, c-1b (started beforehand, released at the kill), starts under
     * {@code group.instance.id} i-1: Parti runs at its {@code subscribe()}, but the Kafka group still has c-1's static
     * membership, which the broker would keep (and every partition waiting for the Kafka group to empty) for its whole
     * {@code session.timeout.ms} (10 s). So c-1b joins the Kafka group under i-1: the broker fences c-1's membership
     * (i-1 gets c-1b's member ID) and hands c-1b c-1's assignment, flagged for the switch; c-1b consumes it from the last
     * committed offsets, switches as c-1 would have, and leaves once Parti assigned it. Nobody acquires a partition
     * while c-1's membership lasts; the group ends on Parti, c-1b and m-2 sharing every partition; what c-1 processed
     * uncommitted is processed again, nothing else is. Without the takeover (c-1b joining Parti directly, as before
     * this test) it fails: i-1's membership is never seen under another member ID, it expires after the session.
     */
    @Test
    void aStaticMemberKilledWhileSwitchingAndRestartedUnderItsInstanceIdLosesNothingAndTheGroupEndsOnParti(
            @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-static-switch-crash", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        Child c1 = null;
        Child c1b = null;
        Set<String> everyPartition = new TreeSet<>();
        for (int p = 0; p < PARTITIONS; p++) {
            everyPartition.add(load.topic + "-" + p);
        }
        long killedAt;
        long expiredAt;
        long consumedAgainAt;
        long onPartiAt;
        try (load) {
            try {
                members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1, PARTITIONS, WAIT);
                c1 = Child.start(switchingSlowlyAsI1(load.groupId, "c-1"), load.topic, "c-1", load.logDir, dir);
                // c-1's restart, held until the kill: a JVM up with its classes loaded, so it starts at once
                c1b = Child.startHeld(switchingSlowlyAsI1(load.groupId, "c-1b"), load.topic, "c-1b", load.logDir, dir);
                members.put("m-2", Member.start(MigrationCrashSupport.staticMember(switchingSlowly(migrating(load.groupId,
                        "m-2")), "i-2"), load.topic, "m-2", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);
                Child first = c1;
                await("c-1 a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> first.phase().equals("KAFKA"));
                c1b.awaitHeld(WAIT);

                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                await("c-1 switching: in Parti, its bridge holding partitions and processing records it does not commit")
                        .atMost(WAIT).pollInterval(Duration.ofMillis(10))
                        .until(() -> first.phase().equals("SWITCHING")
                                && partiWorkers(load.groupId).containsAll(Set.of("i-1", "i-2"))
                                && !MigrationCrashSupport.heldBy(load.logDir, "c-1").isEmpty()
                                && processedSince(dir, "c-1", "# PHASE SWITCHING") >= 40);
                Set<String> heldAtKill = MigrationCrashSupport.heldBy(load.logDir, "c-1");
                Map<Integer, Long> endsAtKill = Map.copyOf(load.produced);
                c1.kill(load.logDir);
                killedAt = System.nanoTime();
                assertThat(c1.phases()).as("c-1 killed while switching").containsExactly("KAFKA", "SWITCHING");
                String memberIdAtKill = staticMemberId(load.groupId, "i-1");
                assertThat(memberIdAtKill).as("i-1 still in the Kafka group after the kill: c-1 had not left it")
                        .isNotNull();

                c1b.release();
                Child second = c1b;
                await("c-1b subscribed").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> !second.phase().isEmpty());
                System.out.printf("static switch crash: c-1b in phase %s %.2f s after the kill%n", second.phase(),
                        (System.nanoTime() - killedAt) / 1e9);
                // c-1b finds i-1 still in the Kafka group and joins under it: the broker fences c-1's membership (i-1
                // gets c-1b's member ID) instead of keeping it for its session; the start of the last describe that
                // still showed c-1's member ID
                AtomicLong c1SeenAt = new AtomicLong(killedAt);
                AtomicBoolean takenOver = new AtomicBoolean();
                await("i-1's Kafka membership taken over, then the Kafka group empty").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20)).until(() -> {
                            long asked = System.nanoTime();
                            ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(),
                                    load.groupId);
                            String i1 = d == null ? null : d.members().stream()
                                    .filter(m -> m.groupInstanceId().filter("i-1"::equals).isPresent())
                                    .map(MemberDescription::consumerId).findFirst().orElse(null);
                            if (memberIdAtKill.equals(i1)) {
                                c1SeenAt.set(asked);
                            } else if (i1 != null) {
                                takenOver.set(true);
                            }
                            return d == null || d.members().isEmpty();
                        });
                expiredAt = System.nanoTime();
                assertThat(acquiredBetween(load.logDir, killedAt, c1SeenAt.get(), everyPartition))
                        .as("partitions acquired after the kill while c-1's Kafka membership lasted").isEmpty();
                await("every partition consumed past its end at the kill").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> consumedPast(dir, endsAtKill, Set.of("c-1b", "m-2")));
                consumedAgainAt = System.nanoTime();
                await("c-1b and m-2 run through Parti and share every partition").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> second.phase().equals("PARTI")
                                && MigrationCrashSupport.phase(members, "m-2") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS, Set.of("c-1b", "m-2")));
                onPartiAt = System.nanoTime();
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();
                // Parti may have assigned already (its cold start ends once every member that switched joined), and
                // then c-1b joins under i-1, switches and leaves within its first poll: the describes every 20 ms and
                // the phase it logs after each poll may both miss its Kafka membership, its own log does not
                List<String> c1bLog = java.nio.file.Files.readAllLines(c1b.process.logFile());
                boolean syncedAsI1 = c1bLog.stream().anyMatch(l -> l.contains("instanceId=i-1")
                        && l.contains("Successfully synced group"));
                boolean leftKafka = c1bLog.stream().anyMatch(l -> l.contains("leaving the Kafka group"));
                System.out.printf("static switch crash: c-1b seen under i-1 by a describe %s, synced as i-1 in its log %s%n",
                        takenOver.get(), syncedAsI1);
                assertThat(takenOver.get() || syncedAsI1).as("i-1's Kafka membership taken over by c-1b (seen under its "
                        + "member ID, or c-1b's log: synced as i-1), not left to expire").isTrue();
                assertThat(leftKafka).as("c-1b left the Kafka group (a Kafka member under i-1 first)").isTrue();
                assertThat(Duration.ofNanos(expiredAt - killedAt)).as("the Kafka group empty before c-1's session ended")
                        .isLessThan(Duration.ofMillis(STATIC_SESSION_MS));
                List<String> phases = c1b.phases();
                assertThat(phases).as("c-1b's phases").endsWith("PARTI").doesNotHaveDuplicates()
                        .doesNotContain("KAFKA_CONSUMER");
                assertThat(heldAtKill).as("c-1's partitions at the kill").isNotEmpty();
                // the core waits out the displaced instance's session only when it reported owning Parti partitions
                System.out.printf("static switch crash: c-1b waited out c-1's Parti session at its takeover of i-1: %s%n",
                        java.nio.file.Files.readString(c1b.process.logFile()).contains("took over ID i-1"));

                load.drain(WAIT);
                members.remove("m-2").stop();
                c1b.stop(load.logDir); // SIGTERM: it commits what it processed, through Parti (generation -1)
            } finally {
                MigrationCrashSupport.stopAfterTest(load, members, c1, c1b);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        long redone = MigrationCrashSupport.ledgers(dir).values().stream()
                .filter(by -> by.contains("c-1") && by.size() > 1).count();
        System.out.printf("static switch crash: c-1 killed while switching; c-1b took its Kafka membership over and "
                + "the Kafka group was empty %.2f s later (Kafka session %d ms), every partition consumed again %.2f s after the kill, shared on Parti by "
                + "c-1b and m-2 %.2f s after it; reprocessed %d records c-1 had not committed; test %.2f s%n",
                (expiredAt - killedAt) / 1e9, STATIC_SESSION_MS, (consumedAgainAt - killedAt) / 1e9,
                (onPartiAt - killedAt) / 1e9, redone, (System.nanoTime() - load.start) / 1e9);
        assertThat(redone).as("records c-1 processed uncommitted, processed again").isPositive();
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of("c-1"));
    }

    /**
     * c-1 (a child JVM, {@code group.instance.id} i-1) leads the Parti group; r-2 (i-2, this JVM) rolls back too, p-0
     * (this JVM, {@code parti.migration=none}) holds the rollback off. p-0 stops: c-1 starts the rollback, its Kafka side
     * joins the Kafka group and holds a Kafka assignment (phase ROLLING), and is killed there. r-2 is held meanwhile,
     * after a batch on its polling thread (a condition, not a sleep), so that the group cannot be complete in Kafka at
     * the kill. A fresh child JVM, c-1b (started beforehand, released at the kill), starts under i-1 within both
     * sessions: it takes i-1 over in Parti (acquiring nothing for one Parti session: the core's takeover wait) and in
     * Kafka, then reports i-1's partitions to the Kafka leader. The rollback completes with c-1b holding exactly c-1's
     * partitions (nobody else acquired them after the kill) and r-2 the rest, both Kafka members. A member that does not
     * report what Parti hands it after it joined Kafka (a bug planted once in {@code PartiToKafkaMigration}) fails it:
     * the rollback never completes. Without the takeover wait it passes: a predecessor killed with SIGKILL owns nothing
     * any more; the core's static-takeover tests cover a live one.
     */
    @Test
    void aStaticMemberKilledWhileRollingBackAndRestartedUnderItsInstanceIdLosesNothingAndTheGroupEndsOnKafka(
            @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "rollback-static-crash", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        AtomicBoolean armed = new AtomicBoolean();
        AtomicLong killedAt = new AtomicLong();
        Child c1 = null;
        Child c1b = null;
        long restartedAt;
        long rolledAt;
        try (load) {
            try {
                c1 = Child.start(rollingBackAsI1(load.groupId, "c-1"), load.topic, "c-1", load.logDir, dir);
                Child first = c1;
                // c-1's restart, held until the kill: a JVM up with its classes loaded, so it joins within the sessions
                c1b = Child.startHeld(rollingBackAsI1(load.groupId, "c-1b"), load.topic, "c-1b", load.logDir, dir);
                Child second = c1b;
                AtomicReference<Set<String>> heldAtKill = new AtomicReference<>();
                await("c-1 leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> first.leadsIn("PARTI"));
                // within c-1's cold-start window: the group's first assignment counts p-0, which cannot roll back
                Map<String, Object> plain = rollingBack(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE);
                plain.remove(PartiAssignor.WORKER_ID_CONFIG); // a pooled ID: its close leaves the group at once
                members.put("p-0", Member.start(plain, load.topic, "p-0", load.logDir, dir));
                MigratingMemberMain.AfterBatch holdUntilTheKill = (consumer, batch) -> {
                    if (armed.get() && killedAt.get() == 0) {
                        await("c-1 rolling back, holding a Kafka assignment").atMost(WAIT)
                                .pollInterval(Duration.ofMillis(5)).until(() -> first.phase().equals("ROLLING"));
                        heldAtKill.set(MigrationCrashSupport.heldBy(load.logDir, "c-1"));
                        first.kill(load.logDir);
                        killedAt.set(System.nanoTime());
                        try {
                            second.release();
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    }
                };
                members.put("r-2", Member.start(MigrationCrashSupport.staticMember(rollingBack(load.groupId, "r-2",
                        PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), "i-2"), load.topic, "r-2", load.logDir, dir,
                        holdUntilTheKill));
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("c-1", "r-2", "p-0").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                assertThat(c1.leadsIn("PARTI")).as("c-1 still leads the Parti group").isTrue();
                c1b.awaitHeld(WAIT);

                armed.set(true); // r-2's next batch holds it until c-1 is killed
                members.remove("p-0").stop(); // every live member can roll back now: c-1, the Parti leader, starts it
                await("c-1 killed while rolling back").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                        .until(() -> killedAt.get() > 0);
                assertThat(c1.phases()).as("c-1 killed holding a Kafka assignment, the group not complete in Kafka")
                        .containsExactly("PARTI", "JOINING", "ROLLING");

                assertThat(heldAtKill.get()).as("c-1's partitions at the kill").isNotEmpty();
                restartedAt = System.nanoTime();
                await("c-1b and r-2 are Kafka members sharing every partition").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> second.phase().equals("KAFKA")
                                && rollbackPhase(members.get("r-2")) == PartiToKafkaMigration.Phase.KAFKA
                                && kafkaAssigned(load.groupId) == PARTITIONS
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId)
                                        .members().size() == 2
                                && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS, Set.of("c-1b", "r-2")));
                rolledAt = System.nanoTime();
                assertThat(MigrationCrashSupport.heldBy(load.logDir, "c-1b")).as("c-1b took i-1's partitions over")
                        .isEqualTo(heldAtKill.get());
                assertThat(acquiredBetween(load.logDir, killedAt.get(), rolledAt, heldAtKill.get()))
                        .as("c-1's partitions acquired after the kill: only by c-1b (Parti kept them for i-1)")
                        .containsOnly("c-1b");
                // the child prints its phase after each poll, so a JOINING shorter than one poll goes unseen (once in a
                // full run); the order, and that nothing else happened, are what count
                assertThat(c1b.phases()).as("c-1b's phases").isSubsetOf("PARTI", "JOINING", "ROLLING", "KAFKA")
                        .containsSubsequence("PARTI", "ROLLING", "KAFKA").doesNotHaveDuplicates();
                assertThat(java.nio.file.Files.readString(c1b.process.logFile())).as("c-1b's Parti side took i-1 over "
                        + "from c-1 and waited for c-1's session").contains("took over ID i-1 from another live instance");

                load.drain(WAIT);
                members.remove("r-2").stop();
                c1b.stop(load.logDir); // SIGTERM: it commits what it processed and closes its consumer
            } finally {
                MigrationCrashSupport.stopAfterTest(load, members, c1, c1b);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        long redone = MigrationCrashSupport.ledgers(dir).values().stream().filter(by -> by.size() > 1).count();
        System.out.printf("static rollback crash: c-1 killed while rolling back; the group on Kafka %.2f s after c-1b "
                + "started (%.2f s after the kill; Kafka session %d ms, Parti session %d ms); records processed again: %d; "
                + "test %.2f s%n", (rolledAt - restartedAt) / 1e9, (rolledAt - killedAt.get()) / 1e9, STATIC_SESSION_MS,
                PARTI_SESSION_MS, redone, (System.nanoTime() - load.start) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of("c-1"));
    }

    /** The instances that acquired one of {@code partitions} between {@code from} and {@code to} (nanoTime). */
    private static Set<String> acquiredBetween(Path logDir, long from, long to, Set<String> partitions) {
        Set<String> by = new TreeSet<>();
        for (OwnershipEvent e : OwnershipLog.read(logDir)) {
            if (e.kind() == OwnershipEvent.Kind.ACQUIRED && e.nanos() >= from && e.nanos() <= to
                    && partitions.contains(e.partition())) {
                by.add(e.instance());
            }
        }
        return by;
    }
    /** The worker IDs with a heartbeat in the Parti group {@code groupId} now (read from its heartbeat bucket). */
    private static Set<String> partiWorkers(String groupId) throws Exception {
        String bucket = new dev.parti.internal.BucketNames(groupId).name(dev.parti.internal.KvGateway.Bucket.HEARTBEATS);
        try (io.nats.client.Connection nc = io.nats.client.Nats.connect(NATS.url())) {
            if (!nc.jetStreamManagement().getStreamNames().contains("KV_" + bucket)) {
                return Set.of(); // the group has not run on Parti yet
            }
            return new TreeSet<>(nc.keyValue(bucket).keys());
        }
    }

    /** How many records {@code member}'s ledger holds after its first line {@code marker}; 0 before that line. */
    private static long processedSince(Path dir, String member, String marker) throws Exception {
        Path f = dir.resolve(member + ".ledger");
        if (!java.nio.file.Files.exists(f)) {
            return 0;
        }
        List<String> lines = java.nio.file.Files.readAllLines(f);
        int at = lines.indexOf(marker);
        return at < 0 ? 0 : lines.subList(at + 1, lines.size()).stream()
                .filter(l -> !l.isBlank() && !l.startsWith("#")).count();
    }

    /** Whether {@code by} processed, on every partition of {@code ends}, a record at or past its end offset there. */
    private static boolean consumedPast(Path dir, Map<Integer, Long> ends, Set<String> by) throws Exception {
        Map<Integer, Long> highest = new HashMap<>();
        MigrationCrashSupport.ledgers(dir).forEach((record, members) -> {
            if (members.stream().anyMatch(by::contains)) {
                String[] po = record.split(" ");
                highest.merge(Integer.parseInt(po[0]), Long.parseLong(po[1]), Math::max);
            }
        });
        return ends.entrySet().stream().allMatch(e -> highest.getOrDefault(e.getKey(), -1L) >= e.getValue());
    }

    /** The member ID the broker holds for static member {@code instanceId}, or null. */
    private static String staticMemberId(String groupId, String instanceId) throws Exception {
        ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(), groupId);
        return d == null ? null : d.members().stream().filter(m -> m.groupInstanceId().filter(instanceId::equals).isPresent())
                .map(MemberDescription::consumerId).findFirst().orElse(null);
    }

    private static PartiToKafkaMigration.Phase rollbackPhase(Member m) {
        PartiConsumer<String, String> p = m == null ? null : m.parti();
        return p == null ? null : p.rollbackPhase();
    }

    private static int kafkaAssigned(String groupId) throws Exception {
        ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(), groupId);
        return d == null ? 0 : d.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum();
    }

    /** The settings of each rolling-back instance run under {@code group.instance.id} i-1 (the killed one, its restart). */
    private static Map<String, Object> rollingBackAsI1(String groupId, String name) {
        Map<String, Object> config = MigrationCrashSupport.staticMember(rollingBack(groupId, name, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                "i-1");
        config.put("session.timeout.ms", Integer.toString(STATIC_SESSION_MS));
        return config;
    }

    /** A member of the rollback test, {@code parti.migration=migration}. */
    private static Map<String, Object> rollingBack(String groupId, String name, String migration) {
        Map<String, Object> config = kafka(groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        // a child JVM starting on a busy machine can stall longer than partiFast's 1 s leader lease: c-1 must keep
        // leading; and its cold-start window leaves time for the members started after it to join
        config.put("parti.leader.ttl.ms", "3000");
        config.put("parti.cold.start.window.ms", "3000");
        config.put("parti.session.timeout.ms", Integer.toString(PARTI_SESSION_MS));
        config.put("parti.worker.id.ttl.ms", Integer.toString(2 * PARTI_SESSION_MS));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    /** The settings of each migrating instance run under {@code group.instance.id} i-1 (the killed one, its restart). */
    private static Map<String, Object> migratingAsI1(String groupId, String name) {
        Map<String, Object> config = MigrationCrashSupport.staticMember(MigrationCrashSupport.fastSwitch(migrating(groupId, name)), "i-1");
        config.put("session.timeout.ms", Integer.toString(STATIC_SESSION_MS));
        return config;
    }

    /**
     * The settings of each instance of the switch-crash test run under {@code group.instance.id} i-1 (the killed one, its
     * restart): {@link #switchingSlowly}, and a 10 s Kafka session.
     */
    private static Map<String, Object> switchingSlowlyAsI1(String groupId, String name) {
        Map<String, Object> config = MigrationCrashSupport.staticMember(switchingSlowly(migrating(groupId, name)), "i-1");
        config.put("session.timeout.ms", Integer.toString(STATIC_SESSION_MS));
        return config;
    }

    /** {@code config} with a 3 s cold-start window: the switch stays open (no Parti assignment yet) long enough to fault it. */
    private static Map<String, Object> switchingSlowly(Map<String, Object> config) {
        config.put("parti.cold.start.window.ms", "3000");
        config.put("parti.planned.scale.window.ms", "1000");
        return config;
    }

    private static Map<String, Object> kafka(String groupId, String name) {
        return MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
    }

    private static Map<String, Object> migrating(String groupId, String name) {
        Map<String, Object> config = kafka(groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        return config;
    }
}
