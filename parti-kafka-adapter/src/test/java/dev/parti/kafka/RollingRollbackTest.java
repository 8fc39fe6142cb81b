package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.Load;
import dev.parti.kafka.MigrationCrashSupport.Member;
import dev.parti.kafka.migration.PartiToKafkaMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parti → Kafka rolling rollback ({@code parti.migration=parti-to-kafka}) on a real broker and nats-server: a group of
 * plain {@link PartiConsumer}s under load is rolled, one instance at a time, to {@code PartiConsumer}s configured to
 * roll back (the group hands itself to Kafka's coordinator once they all are), then, one at a time, to plain {@code
 * KafkaConsumer}s with {@link PartiAssignor}. Checked throughout by {@link PartiAssignorGroup}: no partition in two
 * members at once (sampled and in the ownership log), no committed offset going backwards, every record consumed
 * exactly once with commit-in-revoke, nothing lost; at the end the group has only Kafka members and Kafka assigns every
 * partition. And the rollback's window, forced: a commit through Parti that the broker refuses because another member
 * joined the Kafka group.
 */
class RollingRollbackTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(45);
    private static final int PARTITIONS = 12;

    @Test
    void twoPartiConsumersRolledBackOneByOneEndInAKafkaRunGroup() throws Exception {
        rollBack(2);
    }

    @Test
    void fourPartiConsumersRolledBackOneByOneEndInAKafkaRunGroup() throws Exception {
        rollBack(4);
    }

    private void rollBack(int members) throws Exception {
        String topic = Fixtures.unique("rollback");
        String groupId = Fixtures.unique("g-rollback");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            List<String> running = new ArrayList<>();
            for (int i = 1; i <= members; i++) {
                group.start("p-" + i, parti(group, "p-" + i, PartiConsumerConfig.MIGRATION_NONE));
                running.add("p-" + i);
            }
            group.awaitBalanced(running, WAIT);
            assertThat(kafkaMembers(group)).as("a Parti-run group has no Kafka member").isEmpty();

            if (members == 2) {
                // A deployment of the rollback setting itself rolled back before the switch: the instance closed on
                // Parti revokes (and commits) like any PartiConsumer, or its next owner would process records again.
                group.start("r-0", parti(group, "r-0", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA));
                running.add("r-0");
                group.awaitBalanced(running, WAIT);
                long revocations = group.revocations();
                group.stop("r-0");
                assertThat(group.revocations()).as("r-0's close revoked its partitions through its listener")
                        .isGreaterThan(revocations);
                running.remove("r-0");
                group.awaitBalanced(running, WAIT);
            }

            // Step 1: every instance restarted with parti.migration=parti-to-kafka (start the new one, stop the old one).
            PhaseSampler phases = new PhaseSampler(group, members);
            long switchStart = 0;
            for (int i = 1; i <= members; i++) {
                String r = "r-" + i;
                group.start(r, parti(group, r, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA));
                running.add(r);
                group.awaitBalanced(running, WAIT);
                if (i < members) {
                    assertThat(phase(group, r)).isEqualTo(PartiToKafkaMigration.Phase.PARTI);
                    assertThat(kafkaMembers(group)).as("nothing in Kafka while a member cannot roll back").isEmpty();
                } else {
                    switchStart = System.nanoTime();
                }
                group.stop("p-" + i); // the last one: every live Parti member can roll back
                running.remove("p-" + i);
                if (i < members) {
                    group.awaitBalanced(running, WAIT);
                }
            }
            await("every member is a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() ->
                    running.stream().allMatch(r -> phase(group, r) == PartiToKafkaMigration.Phase.KAFKA));
            assertThat(group.violations()).as("no partition in two members, no record consumed by a non-owner").isEmpty();
            group.awaitBalanced(running, WAIT);
            long switchEnd = System.nanoTime();
            phases.stop();
            OwnershipReport switchReport = group.ownershipReport(switchStart, switchEnd);
            phases.print();
            assertKafkaAssignsEverything(group, running);
            System.out.printf("%d members, rollback switch (last plain PartiConsumer stopped -> every member in Kafka, "
                            + "balanced): %.2f s, unavailability %.2f partition-seconds of %d partitions, longest gap %.2f s%n",
                    members, (switchEnd - switchStart) / 1e9, switchReport.unownedNanos() / 1e9, PARTITIONS,
                    switchReport.longestGapNanos() / 1e9);
            assertThat(switchReport.unownedAtEnd()).isEmpty();

            // Step 2: each rolled-back PartiConsumer replaced by a plain KafkaConsumer (start the new one, stop the old one).
            for (int i = 1; i <= members; i++) {
                String k = "k-" + i;
                long swapStart = System.nanoTime();
                group.start(k);
                running.add(k);
                group.awaitBalanced(running, WAIT);
                group.stop("r-" + i);
                running.remove("r-" + i);
                group.awaitBalanced(running, WAIT);
                long swapEnd = System.nanoTime();
                OwnershipReport swap = group.ownershipReport(swapStart, swapEnd);
                System.out.printf("%d members, swap r-%d -> k-%d: %.2f s, unavailability %.2f partition-seconds, longest gap "
                                + "%.2f s%n", members, i, i, (swapEnd - swapStart) / 1e9, swap.unownedNanos() / 1e9,
                        swap.longestGapNanos() / 1e9);
            }
            double rebalances = rebalanceTotal(group.consumer("k-1"));
            System.out.printf("%d members, Kafka rebalances seen by k-1 (joined first) while the PartiConsumers were replaced: "
                    + "%.0f (%.1f per instance)%n", members, rebalances, rebalances / members);
            assertKafkaAssignsEverything(group, running);
            assertThat(group.describe().members()).extracting(MemberDescription::clientId)
                    .allMatch(id -> id.matches(".*-k-\\d+$"));

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.violations()).isEmpty();
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
        }
    }

    /**
     * Static members (stop, then start under the same {@code group.instance.id}) at both steps: the Parti members are
     * replaced by rolling-back ones under their IDs, then, once the group is in Kafka, by plain KafkaConsumers taking
     * over the static memberships.
     */
    @Test
    void staticMembersRolledBackUnderTheirInstanceIdsEndInAKafkaRunGroup() throws Exception {
        String topic = Fixtures.unique("rollback-static");
        String groupId = Fixtures.unique("g-rbstatic");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            group.start("p-1", staticMember(parti(group, "p-1", PartiConsumerConfig.MIGRATION_NONE), "i-1"));
            group.start("p-2", staticMember(parti(group, "p-2", PartiConsumerConfig.MIGRATION_NONE), "i-2"));
            group.awaitBalanced(List.of("p-1", "p-2"), WAIT);

            group.stop("p-1");
            group.start("r-1", staticMember(parti(group, "r-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), "i-1"));
            group.awaitBalanced(List.of("p-2", "r-1"), WAIT);
            group.stop("p-2");
            group.start("r-2", staticMember(parti(group, "r-2", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), "i-2"));
            await("every member is a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() ->
                    phase(group, "r-1") == PartiToKafkaMigration.Phase.KAFKA && phase(group, "r-2") == PartiToKafkaMigration.Phase.KAFKA);
            assertThat(group.violations()).isEmpty();
            group.awaitBalanced(List.of("r-1", "r-2"), WAIT);
            assertKafkaAssignsEverything(group, List.of("r-1", "r-2"));

            long start = System.nanoTime();
            group.stop("r-1");
            group.start("k-1", staticMember(group.config("k-1", PartiAssignorGroup.PARTI), "i-1"));
            group.awaitBalanced(List.of("k-1", "r-2"), WAIT);
            group.stop("r-2");
            group.start("k-2", staticMember(group.config("k-2", PartiAssignorGroup.PARTI), "i-2"));
            group.awaitBalanced(List.of("k-1", "k-2"), WAIT);
            long end = System.nanoTime();
            OwnershipReport swaps = group.ownershipReport(start, end);
            System.out.printf("static members, both KafkaConsumers in: %.2f s, unavailability %.2f partition-seconds, longest "
                            + "gap %.2f s, Kafka rebalances seen by k-1: %.0f%n", (end - start) / 1e9,
                    swaps.unownedNanos() / 1e9, swaps.longestGapNanos() / 1e9, rebalanceTotal(group.consumer("k-1")));
            assertKafkaAssignsEverything(group, List.of("k-1", "k-2"));

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.violations()).isEmpty();
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
        }
    }

    private static Map<String, Object> staticMember(Map<String, Object> config, String instanceId) {
        config.put("group.instance.id", instanceId);
        config.remove(PartiAssignor.WORKER_ID_CONFIG);
        return config;
    }

    /** Patterns are refused while rolling back, naming the key; an empty group subscribed by topic starts on Parti. */
    @Test
    void aPatternSubscriptionIsRefusedWhileRollingBack() {
        Map<String, Object> config = Fixtures.consumerBase(KAFKA.bootstrapServers(), Fixtures.unique("g-rbpattern"));
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA);
        try (PartiConsumer<String, String> consumer = new PartiConsumer<>(config)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> consumer.subscribe(java.util.regex.Pattern.compile("t.*")))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(PartiConsumerConfig.MIGRATION_CONFIG + "=" + PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA);
            consumer.subscribe(List.of(Fixtures.unique("t")));
            assertThat(consumer.rollbackPhase()).isEqualTo(PartiToKafkaMigration.Phase.PARTI);
        }
    }

    /**
     * The rollback's window, forced: a member rolling back that has not noticed the rollback yet commits through Parti
     * (generation −1) right after another member joined the Kafka group, so the broker refuses the commit. The member
     * commits after every batch ({@code commitSync}, or {@code commitAsync} with a callback, as listener containers do)
     * and is held, once, after a batch polled through Parti and before committing it, until the Kafka group has a
     * member (a condition, not a sleep). Checked: no exception reaches the application for it (nor
     * for any commit made through Parti); once {@code commitSync} returns (or the callback runs) the member is a Kafka
     * member with a Kafka generation and the broker holds the batch's offsets, which only a commit of a Kafka generation
     * can have made once the group had a member; commits made as a Kafka member while the group rebalances may get
     * Kafka's own {@code RebalanceInProgressException}, as a {@code KafkaConsumer}'s do; no committed offset goes
     * backwards; each record processed once; no partition with two live owners; the group ends run by Kafka, every
     * partition committed at its end. Without the routing of refused commits the held commit fails with {@code
     * MixedGroupException}.
     */
    @ParameterizedTest(name = "commitAsync={0}")
    @ValueSource(booleans = {false, true})
    void aCommitThroughPartiRefusedBecauseTheKafkaGroupHasAMemberIsMadeAsAKafkaCommitWithoutAnError(boolean async,
                                                                                                   @TempDir Path dir)
            throws Exception {
        int partitions = 6;
        Load load = new Load(KAFKA.broker(), dir, "rb-route", partitions);
        Map<String, Member> members = new HashMap<>();
        try (Admin admin = Fixtures.admin(KAFKA.bootstrapServers());
             load) {
            HeldCommits held = new HeldCommits(admin, load.groupId, async);
            try {
                // p-0 cannot roll back: it holds the rollback off until it stops, and leads the Parti group (first in)
                members.put("p-0", Member.start(crashConfig(load.groupId, "p-0", PartiConsumerConfig.MIGRATION_NONE),
                        load.topic, "p-0", load.logDir, dir));
                await("p-0 leads the Parti group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> leads(members.get("p-0").parti()));
                for (String name : List.of("r-1", "r-2")) {
                    members.put(name, Member.start(crashConfig(load.groupId, name,
                            PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA),
                            load.topic, name, load.logDir, dir, held.committer(name)));
                }
                await("every member processes records through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> {
                            Map<String, List<String>> seen = MigrationCrashSupport.ledgers(dir);
                            return List.of("p-0", "r-1", "r-2").stream().allMatch(m ->
                                    seen.values().stream().anyMatch(by -> by.contains(m)));
                        });
                assertThat(kafkaMembers(admin, load.groupId)).as("no Kafka member while p-0 runs").isZero();

                held.armed.set(true);
                members.remove("p-0").stop(); // every live member can roll back now: the Parti leader starts it
                await("a commit through Parti was refused and made through Kafka").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20)).until(() -> !held.routed.isEmpty() || !held.failures.isEmpty());
                assertThat(held.failures).as("commit errors").isEmpty();
                await("every member is a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() ->
                        List.of("r-1", "r-2").stream().allMatch(m -> members.get(m).parti() != null
                                && members.get(m).parti().rollbackPhase() == PartiToKafkaMigration.Phase.KAFKA));

                load.drain(WAIT);
                members.remove("r-1").stop();
                members.remove("r-2").stop();
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            held.routed.forEach(System.out::println);
            System.out.printf("rollback commit routing (commitAsync=%s): %.2f s; commits refused by Kafka's own rebalance "
                    + "while Kafka members: %d%n", async, (System.nanoTime() - load.start) / 1e9,
                            held.rebalancing.size());
            assertThat(held.failures).as("commit errors").isEmpty();
            assertThat(held.routed).as("a held commit made while the Kafka group had a member").isNotEmpty();
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        assertThat(MigrationCrashSupport.duplicatesBeyond(dir, Set.of())).as("records processed twice").isEmpty();
        OwnershipReport report = OwnershipChecker.builder().window(load.start, System.nanoTime())
                .check(OwnershipLog.read(load.logDir));
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    /**
     * The commits of the members of {@link #aCommitThroughPartiRefusedBecauseTheKafkaGroupHasAMemberIsMadeAsAKafkaCommitWithoutAnError}:
     * one after every batch, and once {@link #armed}, each member that does not lead the Parti group holds its first
     * batch polled through Parti until the Kafka group has a member.
     */
    private static final class HeldCommits {
        final AtomicBoolean armed = new AtomicBoolean();
        final List<String> routed = new CopyOnWriteArrayList<>();
        final List<String> failures = new CopyOnWriteArrayList<>();
        final List<String> rebalancing = new CopyOnWriteArrayList<>();
        private final Set<String> held = ConcurrentHashMap.newKeySet();
        private final Admin admin;
        private final String groupId;
        private final boolean async;

        HeldCommits(Admin admin, String groupId, boolean async) {
            this.admin = admin;
            this.groupId = groupId;
            this.async = async;
        }

        MigratingMemberMain.AfterBatch committer(String name) {
            return (consumer, batch) -> {
                PartiConsumer<String, String> c = (PartiConsumer<String, String>) consumer;
                boolean hold = armed.get() && c.rollbackPhase() == PartiToKafkaMigration.Phase.PARTI && !leads(c)
                        && held.add(name);
                int kafkaMembers = 0;
                if (hold) {
                    // polled through Parti; held until the member leading Parti (it starts the rollback) is in the Kafka
                    // group, or until this one leads Parti (then this is not the case under test)
                    await(name + " held until the Kafka group has a member").atMost(WAIT)
                            .pollInterval(Duration.ofMillis(5)).until(() -> leads(c) || kafkaMembers(admin, groupId) > 0);
                    kafkaMembers = kafkaMembers(admin, groupId);
                }
                boolean routedCase = hold && kafkaMembers > 0;
                String what = name + " committing " + batch + " in " + c.rollbackPhase() + (routedCase ? ", held, with "
                        + kafkaMembers + " Kafka member(s) in the group" : "");
                PartiToKafkaMigration.Phase before = c.rollbackPhase();
                if (async) {
                    consumer.commitAsync(batch, (offsets, e) -> done(c, what, before, routedCase, batch, e));
                    return;
                }
                RuntimeException error = null;
                try {
                    consumer.commitSync(batch);
                } catch (RuntimeException e) {
                    error = e;
                }
                done(c, what, before, routedCase, batch, error);
            };
        }

        /** On the member's polling thread, when its commit of {@code batch} completed. */
        private void done(PartiConsumer<String, String> c, String what, PartiToKafkaMigration.Phase before, boolean routedCase,
                          Map<TopicPartition, OffsetAndMetadata> batch, Exception error) {
            if (error instanceof RebalanceInProgressException && before != PartiToKafkaMigration.Phase.PARTI && !routedCase) {
                rebalancing.add(what); // Kafka's own answer to a Kafka member committing while the group rebalances
                return;
            }
            if (error != null) {
                failures.add(what + " -> " + c.rollbackPhase() + ": " + error);
                return;
            }
            if (!routedCase) {
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> now = committed(admin, groupId);
            routed.add(what + "; done in " + c.rollbackPhase() + " generation " + c.groupMetadata().generationId()
                    + ", the broker holds " + now);
            if (c.rollbackPhase() != PartiToKafkaMigration.Phase.ROLLING && c.rollbackPhase() != PartiToKafkaMigration.Phase.KAFKA) {
                failures.add(what + ": done in " + c.rollbackPhase() + ", not as a Kafka member");
            }
            if (c.groupMetadata().generationId() <= 0) {
                failures.add(what + ": no Kafka generation when done");
            }
            batch.forEach((tp, o) -> {
                if (now.get(tp) == null || now.get(tp).offset() < o.offset()) {
                    failures.add(what + ": the broker holds " + now.get(tp) + " for " + tp);
                }
            });
        }
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

    /** The settings of a member run by {@link MigratingMemberMain} (as the crash tests run them). */
    private static Map<String, Object> crashConfig(String groupId, String name, String migration) {
        Map<String, Object> config = MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    /**
     * Samples the phases of the members rolling back every 2 ms: how long each one delivered nothing (JOINING: it no
     * longer consumes through Parti, and holds no Kafka assignment yet) while holding how many partitions.
     */
    private static final class PhaseSampler {
        private final Map<String, Long> joining = new java.util.concurrent.ConcurrentHashMap<>();
        private final Map<String, Long> rolling = new java.util.concurrent.ConcurrentHashMap<>();
        private final Map<String, Long> kafka = new java.util.concurrent.ConcurrentHashMap<>();
        private final Map<String, Integer> held = new java.util.concurrent.ConcurrentHashMap<>();
        private final java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        private final Thread thread;
        private final int members;

        PhaseSampler(PartiAssignorGroup group, int members) {
            this.members = members;
            thread = new Thread(() -> {
                while (running.get()) {
                    long now = System.nanoTime();
                    for (int i = 1; i <= members; i++) {
                        String r = "r-" + i;
                        PartiToKafkaMigration.Phase p = phase(group, r);
                        if (p == PartiToKafkaMigration.Phase.JOINING && joining.putIfAbsent(r, now) == null) {
                            held.put(r, group.ownership().getOrDefault(r, Set.of()).size());
                        }
                        if (p == PartiToKafkaMigration.Phase.ROLLING || p == PartiToKafkaMigration.Phase.KAFKA) {
                            rolling.putIfAbsent(r, now);
                        }
                        if (p == PartiToKafkaMigration.Phase.KAFKA) {
                            kafka.putIfAbsent(r, now);
                        }
                    }
                    try {
                        Thread.sleep(2);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "phase-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        void stop() throws InterruptedException {
            running.set(false);
            thread.join(5_000);
        }

        void print() {
            long first = joining.values().stream().mapToLong(Long::longValue).min().orElse(0);
            long last = kafka.values().stream().mapToLong(Long::longValue).max().orElse(0);
            double paused = 0;
            StringBuilder each = new StringBuilder();
            for (int i = 1; i <= members; i++) {
                String r = "r-" + i;
                Long j = joining.get(r);
                Long k = rolling.get(r);
                if (j != null && k != null) {
                    paused += held.getOrDefault(r, 0) * (k - j) / 1e9;
                    each.append(String.format(" %s %.2f s holding %d;", r, (k - j) / 1e9, held.getOrDefault(r, 0)));
                }
            }
            System.out.printf("%d members, rollback (first member stops consuming through Parti -> last one leaves Parti): "
                            + "%.2f s; delivering nothing (JOINING, sampled every 2 ms):%s %.2f partition-seconds in all%n",
                    members, (last - first) / 1e9, each, paused);
        }
    }

    /** The broker's view: exactly {@code names} are members, and together they hold every partition once. */
    private static void assertKafkaAssignsEverything(PartiAssignorGroup group, List<String> names) {
        await("Kafka assigns every partition to " + names).atMost(WAIT).pollInterval(Duration.ofMillis(100)).until(() -> {
            ConsumerGroupDescription d = group.describe();
            List<TopicPartition> assigned = new ArrayList<>();
            d.members().forEach(m -> assigned.addAll(m.assignment().topicPartitions()));
            return d.members().size() == names.size() && assigned.size() == PARTITIONS
                    && new TreeSet<>(assigned.stream().map(TopicPartition::toString).toList()).size() == PARTITIONS;
        });
        Set<String> clients = new TreeSet<>();
        group.describe().members().forEach(m -> clients.add(m.clientId()));
        assertThat(clients).hasSize(names.size());
    }

    /** The group's Kafka members (none when the broker does not know the group yet: Parti commits nothing before it must). */
    private static List<MemberDescription> kafkaMembers(PartiAssignorGroup group) {
        try {
            return List.copyOf(group.describe().members());
        } catch (IllegalStateException e) {
            if (e.getCause() != null && e.getCause().getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException) {
                return List.of();
            }
            throw e;
        }
    }

    /** {@code rebalance-total} of a plain KafkaConsumer (its metrics map may be read from any thread). */
    private static double rebalanceTotal(org.apache.kafka.clients.consumer.Consumer<String, String> consumer) {
        return consumer.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("rebalance-total") && e.getKey().group().equals("consumer-coordinator-metrics"))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue()).findFirst().orElse(Double.NaN);
    }

    private static Map<String, Object> parti(PartiAssignorGroup group, String name, String migration) {
        Map<String, Object> config = group.config(name, PartiAssignorGroup.PARTI);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        return config;
    }

    private static PartiToKafkaMigration.Phase phase(PartiAssignorGroup group, String name) {
        return group.consumer(name) instanceof PartiConsumer<String, String> c ? c.rollbackPhase() : null;
    }
}
