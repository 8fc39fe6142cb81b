package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.Child;
import dev.parti.kafka.MigrationCrashSupport.Load;
import dev.parti.kafka.MigrationCrashSupport.Member;
import dev.parti.kafka.migration.PartiToKafkaMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * PartiConsumers rolling back to Kafka ({@code parti.migration=parti-to-kafka}), in child JVMs, killed with SIGKILL in
 * the middle of the rollback: the Parti leader after its Kafka side joined the Kafka group and holds a Kafka assignment
 * (the group not complete in Kafka yet), then another member while its Kafka side is joining (no Kafka assignment yet).
 * The surviving member gets the dead ones' partitions once Parti and Kafka have expired them, the rollback completes,
 * nothing is lost, records are processed twice only where a killed instance had processed them without committing, no
 * partition has two live owners (ownership logged across JVMs), no committed offset goes backwards, and the group ends
 * run by Kafka: one member holding every partition, commits at every partition's end. A member paused (SIGSTOP) while
 * rolling, past both sessions, hands out nothing of another member's once continued.
 */
class RollingRollbackCrashTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;

    @Test
    void thePartiLeaderKilledAfterItsKafkaSideJoinedAndAMemberKilledWhileJoiningLoseNothingAndTheGroupEndsOnKafka(
            @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "rollback-crash", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        long killedAt;
        long rolledAt;
        try (load;
             Child c1 = Child.start(config(load.groupId, "c-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                     load.topic, "c-1", load.logDir, dir);
             Child c2 = Child.start(config(load.groupId, "c-2", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                     load.topic, "c-2", load.logDir, dir)) {
            try {
                // the child that joins first leads the Parti group and waits 4 s (the children's cold-start window)
                // before the group's first assignment: p-0, which cannot roll back, joins meanwhile and holds it off
                Child leader = await("a child leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> c1.leadsIn("PARTI") ? c1 : c2.leadsIn("PARTI") ? c2 : null, java.util.Objects::nonNull);
                Child other = leader == c1 ? c2 : c1;
                members.put("p-0", Member.start(config(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE),
                        load.topic, "p-0", load.logDir, dir));
                members.put("r-1", Member.start(config(load.groupId, "r-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                        load.topic, "r-1", load.logDir, dir));
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("c-1", "c-2", "r-1", "p-0").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                assertThat(leader.leadsIn("PARTI")).as(leader.name + " still leads the Parti group").isTrue();
                assertThat(other.phases()).containsExactly("PARTI");

                members.remove("p-0").stop(); // every live member can roll back now: the leader starts it
                await(leader.name + "'s Kafka side holds a Kafka assignment").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                        .until(() -> Set.of("ROLLING", "KAFKA").contains(leader.phase()));
                leader.kill(load.logDir);
                killedAt = System.nanoTime();
                assertThat(leader.phases()).as(leader.name + " killed after its Kafka side joined, the group not complete "
                        + "in Kafka").contains("ROLLING").doesNotContain("KAFKA");

                await(other.name + " rolls back").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                        .until(() -> !other.phase().equals("PARTI"));
                other.kill(load.logDir); // its join waits for the broker to expire the leader's Kafka side
                assertThat(other.phases()).as(other.name + " killed before the rollback completed").doesNotContain("KAFKA");

                await("r-1 is a Kafka member holding every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> rollbackPhase(members.get("r-1")) == PartiToKafkaMigration.Phase.KAFKA
                                && kafkaAssigned(load.groupId) == PARTITIONS
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId)
                                        .members().size() == 1
                                && MigrationCrashSupport.holdsAll(load.logDir, "r-1", load.topic, PARTITIONS));
                rolledAt = System.nanoTime();

                load.drain(WAIT);
                members.remove("r-1").stop();
                System.out.println("rollback crash: " + leader.name + " (Parti leader) phases " + leader.phases() + ", "
                        + other.name + " phases " + other.phases());
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
        long redone = seen.values().stream().filter(by -> by.size() > 1).count();
        System.out.printf("rollback crash: the killed instances' partitions consumed through Kafka %.2f s after the first kill "
                + "(Kafka session 3 s, Parti session 2 s); records processed again (the killed instances' uncommitted "
                + "work): %d%n", (rolledAt - killedAt) / 1e9, redone);
        List<String> duplicates = MigrationCrashSupport.duplicatesBeyond(dir, Set.of("c-1", "c-2"));
        if (!duplicates.isEmpty()) { // where the first one stands in each ledger that holds it twice
            String record = duplicates.get(0).substring(0, duplicates.get(0).indexOf(" by "));
            for (String m : new java.util.TreeSet<>(seen.get(record))) {
                System.out.println("duplicate " + record + ": " + MigrationCrashSupport.whereInLedger(dir, m, record));
            }
        }
        assertThat(duplicates).as("processed twice other than the killed instances' uncommitted work").isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(load.start, System.nanoTime())
                .check(OwnershipLog.read(load.logDir));
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    /**
     * The nats-server killed (SIGKILL) as soon as the first member starts the rollback (the Parti leader, joining the
     * Kafka group), restarted with its store 3 s later (longer than Parti's 2 s session): the members that have not
     * noticed the rollback lose their Parti lease meanwhile. Nothing is lost, records are processed twice only where a
     * member lost partitions ({@code onPartitionsLost}: nothing could be committed), no partition has two live owners,
     * no committed offset goes backwards, and the group ends run by Kafka once NATS is back.
     */
    @Test
    void natsKilledWhenTheRollbackStartsLosesNothingAndTheGroupEndsOnKafkaOnceItIsBack(@TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "rollback-nats", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        long downAt;
        long upAt;
        AtomicLong onKafkaAt = new AtomicLong();
        try (NatsServer nats = NatsServer.start(); load) {
            try {
                members.put("p-0", Member.start(natsConfig(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE,
                        nats.url()), load.topic, "p-0", load.logDir, dir));
                for (String name : List.of("r-1", "r-2")) {
                    members.put(name, Member.start(natsConfig(load.groupId, name,
                            PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA, nats.url()), load.topic, name, load.logDir, dir));
                }
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("p-0", "r-1", "r-2").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                members.remove("p-0").stop(); // every live member can roll back now: the Parti leader starts it
                await("a member starts the rollback").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                        .until(() -> rollbackPhase(members.get("r-1")) != PartiToKafkaMigration.Phase.PARTI
                                || rollbackPhase(members.get("r-2")) != PartiToKafkaMigration.Phase.PARTI);
                nats.kill();
                downAt = System.nanoTime();
                System.out.println("rollback with NATS down: killed with r-1 " + rollbackPhase(members.get("r-1")) + ", r-2 "
                        + rollbackPhase(members.get("r-2")));
                // the rollback itself needs no NATS once started: it may complete during the outage
                Callable<Boolean> rolledBack = () -> {
                    boolean done = rollbackPhase(members.get("r-1")) == PartiToKafkaMigration.Phase.KAFKA
                            && rollbackPhase(members.get("r-2")) == PartiToKafkaMigration.Phase.KAFKA
                            && kafkaAssigned(load.groupId) == PARTITIONS;
                    if (done) {
                        onKafkaAt.compareAndSet(0, System.nanoTime());
                    }
                    return done;
                };
                long down = downAt;
                await("3 s without NATS").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
                    rolledBack.call(); // notes when the rollback completed, if it does during the outage
                    return System.nanoTime() - down >= TimeUnit.SECONDS.toNanos(3);
                });
                nats.restart();
                upAt = System.nanoTime();
                await("both are Kafka members and Kafka assigns every partition").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50)).until(rolledBack);

                load.drain(WAIT);
                members.remove("r-1").stop();
                // r-2 commits when it stops; the broker refuses that commit while the group rebalances after r-1's
                // leave (a full run failed so: r-2's partitions not committed at their end), so it stops once that is over
                await("r-2 alone in the Kafka group holding every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> kafkaAssigned(load.groupId) == PARTITIONS
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members().size() == 1
                                && MigrationCrashSupport.holdsAll(load.logDir, "r-2", load.topic, PARTITIONS));
                members.remove("r-2").stop();
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("rollback with NATS down: down %.2f s; every member in Kafka and every partition assigned in Kafka "
                + "%.2f s after the kill (%s); test %.2f s%n", (upAt - downAt) / 1e9, (onKafkaAt.get() - downAt) / 1e9,
                onKafkaAt.get() < upAt ? "while NATS was down" : "after NATS was back",
                        (System.nanoTime() - load.start) / 1e9);
        assertThat(MigrationCrashSupport.duplicatesBeyond(dir, Set.of())).as("processed twice other than after a loss")
                .isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(load.start, System.nanoTime())
                .check(OwnershipLog.read(load.logDir));
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    /**
     * The Parti leader c-1, rolling back in a child JVM, paused with SIGSTOP in phase ROLLING (its Kafka side holds
     * the partitions it reported and has handed out records of them; the group is not complete in Kafka because r-1,
     * held on its polling thread, has not noticed the rollback), for longer than both its Kafka session (3 s) and its
     * Parti session (2 s). Meanwhile r-1 goes on: it rolls back, Parti and Kafka expire c-1, and r-1 completes the
     * rollback holding every partition in Kafka and consumes them. Then c-1 continues (SIGCONT) with the records its
     * Kafka side, a classic Kafka consumer, fetched before the pause (and goes on fetching until its heartbeat learns of
     * the expiry), its old Kafka generation and a stale Parti assignment: it must hand out none of the records of
     * partitions r-1 owned meanwhile (see {@link
     * MigrationCrashSupport#assertLedgersAndOwnershipAfterAPause}). A pause is not a death: nothing marks it gone. Both
     * end as Kafka members with every partition assigned; then r-1 stops and c-1, paused before, consumes everything
     * that is left alone (the member does not stay paused). Nothing is lost, commits never go backwards.
     */
    @Test
    void theLeaderPausedWhileRollingHandsOutNothingFetchedBeforeOnceContinuedAndTheGroupEndsOnKafka(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "rollback-pause", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        java.util.concurrent.atomic.AtomicBoolean holdR1 = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean r1Held = new java.util.concurrent.atomic.AtomicBoolean();
        long pausedAt;
        long resumedAt;
        List<String> pausedPhases;
        try (load;
             Child c1 = Child.start(config(load.groupId, "c-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                     load.topic, "c-1", load.logDir, dir)) {
            try {
                // c-1 joins first, so it leads the Parti group (its cold-start window lets the others join meanwhile)
                await("c-1 leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> c1.leadsIn("PARTI"));
                members.put("p-0", Member.start(config(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE),
                        load.topic, "p-0", load.logDir, dir));
                // r-1 stops on its polling thread after a batch while holdR1 is set: it does not notice the rollback
                members.put("r-1", Member.start(config(load.groupId, "r-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                        load.topic, "r-1", load.logDir, dir, (consumer, batch) -> {
                            if (holdR1.get()) {
                                r1Held.set(true);
                                await("r-1 released").atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(10))
                                        .until(() -> !holdR1.get());
                                r1Held.set(false);
                            }
                        }));
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("c-1", "r-1", "p-0").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                assertThat(c1.leadsIn("PARTI")).as("c-1 still leads the Parti group").isTrue();
                holdR1.set(true);
                await("r-1 held on its polling thread").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                        .until(r1Held::get);

                members.remove("p-0").stop(); // every live member can roll back now: c-1, the leader, starts it
                await("c-1's Kafka side holds a Kafka assignment and has handed out records of it").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> c1.phase().equals("ROLLING")
                                && MigrationCrashSupport.processedAfter(dir, "c-1", "# PHASE ROLLING") > 16);
                c1.suspend();
                pausedAt = System.nanoTime();
                assertThat(c1.phases()).as("c-1 paused while rolling, the group not complete in Kafka")
                        .contains("ROLLING").doesNotContain("KAFKA");
                assertThat(rollbackPhase(members.get("r-1"))).as("r-1 has not noticed the rollback")
                        .isEqualTo(PartiToKafkaMigration.Phase.PARTI);
                holdR1.set(false);

                await("r-1 completes the rollback alone, holding every partition in Kafka").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> rollbackPhase(members.get("r-1")) == PartiToKafkaMigration.Phase.KAFKA
                                && kafkaAssigned(load.groupId) == PARTITIONS
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId)
                                        .members().size() == 1
                                && MigrationCrashSupport.holdsEvery(load.logDir, "r-1", load.topic, PARTITIONS));
                long r1Lines = MigrationCrashSupport.processedBy(dir, "r-1");
                await("r-1 processes records").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.processedBy(dir, "r-1") > r1Lines + 40);

                resumedAt = System.nanoTime();
                c1.resume();
                await("c-1 back as a Kafka member, every partition assigned in Kafka, each held once").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> c1.phase().equals("KAFKA")
                                && rollbackPhase(members.get("r-1")) == PartiToKafkaMigration.Phase.KAFKA
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId)
                                        .members().size() == 2
                                && kafkaAssigned(load.groupId) == PARTITIONS
                                && MigrationCrashSupport.holders(load.logDir).values().stream()
                                        .filter(h -> h.size() == 1).count() == PARTITIONS);
                pausedPhases = c1.phases();

                members.remove("r-1").stop(); // c-1, paused in the middle of the rollback, now consumes everything
                await("c-1 holds every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.holdsAll(load.logDir, "c-1", load.topic, PARTITIONS));
                long c1Lines = MigrationCrashSupport.processedBy(dir, "c-1");
                await("c-1 processes records alone").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.processedBy(dir, "c-1") > c1Lines + 40);
                load.drain(WAIT);
                c1.stop(load.logDir);
            } finally {
                holdR1.set(false);
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("rollback pause: c-1 paused %.2f s while rolling (Kafka session 3 s, Parti session 2 s); "
                + "phases %s%n", (resumedAt - pausedAt) / 1e9, pausedPhases);
        MigrationCrashSupport.assertLedgersAndOwnershipAfterAPause(dir, load.logDir, load.start, "c-1", pausedAt,
                resumedAt);
    }

    /**
     * The other side of the pause check: a member in phase ROLLING whose application holds its polling thread for
     * longer than the Kafka session (4 s of processing one batch; 3 s session) while its Kafka heartbeats go on, so its
     * membership never lapsed. The gap looks like a pause: the records of its next poll are set back and its partitions
     * paused until a rebalance confirms the membership; then it must consume them again, in phase ROLLING still (a-2, held,
     * keeps the group from completing in Kafka), and once a-2 goes on the group ends on Kafka with nothing lost, nothing
     * processed twice and commits never backwards.
     */
    @Test
    void aRollingMemberSlowerThanItsKafkaSessionButAliveConsumesAgainOnceARebalanceConfirmsIt(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "rollback-slow", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        java.util.concurrent.atomic.AtomicBoolean holdA2 = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean a2Held = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean slowOnce = new java.util.concurrent.atomic.AtomicBoolean();
        AtomicLong slowEndedAt = new AtomicLong();
        AtomicLong processedWhenSlowEnded = new AtomicLong();
        try (load) {
            try {
                members.put("a-1", Member.start(config(load.groupId, "a-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                        load.topic, "a-1", load.logDir, dir, (consumer, batch) -> {
                            if (slowOnce.getAndSet(false)) {
                                // the application processes this batch for longer than the Kafka session (what is
                                // tested is the time spent, so this waits for time itself)
                                await("a-1's slow batch").pollDelay(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(5))
                                        .until(() -> true);
                                try {
                                    processedWhenSlowEnded.set(MigrationCrashSupport.processedBy(dir, "a-1"));
                                } catch (Exception e) {
                                    throw new IllegalStateException(e);
                                }
                                slowEndedAt.set(System.nanoTime());
                            }
                        }));
                await("a-1 leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> members.get("a-1").parti() != null && members.get("a-1").parti().partiManager() != null
                                && members.get("a-1").parti().partiManager().isLeader());
                members.put("p-0", Member.start(config(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE),
                        load.topic, "p-0", load.logDir, dir));
                members.put("a-2", Member.start(config(load.groupId, "a-2", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                        load.topic, "a-2", load.logDir, dir, (consumer, batch) -> {
                            if (holdA2.get()) {
                                a2Held.set(true);
                                await("a-2 released").atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(10))
                                        .until(() -> !holdA2.get());
                                a2Held.set(false);
                            }
                        }));
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("a-1", "a-2", "p-0").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                holdA2.set(true);
                await("a-2 held on its polling thread").atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(a2Held::get);

                members.remove("p-0").stop(); // every live member can roll back now: a-1, the leader, starts it
                await("a-1's Kafka side holds a Kafka assignment and has handed out records of it").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> rollbackPhase(members.get("a-1")) == PartiToKafkaMigration.Phase.ROLLING
                                && MigrationCrashSupport.processedAfter(dir, "a-1", "# PHASE ROLLING") > 16);
                slowOnce.set(true);
                await("a-1 processed a batch for 4 s").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> slowEndedAt.get() != 0);
                await("a-1 consumes again after its slow batch, still rolling").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.processedBy(dir, "a-1") > processedWhenSlowEnded.get() + 40);
                assertThat(rollbackPhase(members.get("a-1"))).as("a-1 still rolling (a-2 held)")
                        .isEqualTo(PartiToKafkaMigration.Phase.ROLLING);
                holdA2.set(false);

                await("both Kafka members, every partition assigned in Kafka").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> rollbackPhase(members.get("a-1")) == PartiToKafkaMigration.Phase.KAFKA
                                && rollbackPhase(members.get("a-2")) == PartiToKafkaMigration.Phase.KAFKA
                                && kafkaAssigned(load.groupId) == PARTITIONS);
                load.drain(WAIT);
                members.remove("a-1").stop();
                members.remove("a-2").stop();
            } finally {
                holdA2.set(false);
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of());
    }

    private static Map<String, Object> natsConfig(String groupId, String name, String migration, String natsUrl) {
        Map<String, Object> config = MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
        config.putAll(Fixtures.partiFast(natsUrl));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    private static PartiToKafkaMigration.Phase rollbackPhase(Member m) {
        PartiConsumer<String, String> p = m == null ? null : m.parti();
        return p == null ? null : p.rollbackPhase();
    }

    private static Map<String, Object> config(String groupId, String name, String migration) {
        Map<String, Object> config = MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        // a child JVM starting on a busy machine can stall longer than partiFast's 1 s leader lease: the child must keep
        // leading; and the leader's cold-start window leaves time for the members started after it to join
        config.put("parti.leader.ttl.ms", "3000");
        config.put("parti.cold.start.window.ms", "4000");
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    private static int kafkaAssigned(String groupId) throws Exception {
        ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(), groupId);
        return d.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum();
    }
}
