package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.Child;
import dev.parti.kafka.MigrationCrashSupport.Load;
import dev.parti.kafka.MigrationCrashSupport.Member;
import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.NatsServerExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Faults in the middle of the Kafka → Parti rolling migration ({@code parti.migration=kafka-to-parti}), on a real broker
 * and nats-server, under a steady load: migrating members in child JVMs killed with SIGKILL (one after its Kafka side
 * joined the group, before the switch; the Parti group's leader during the switch, before it left Kafka), that leader
 * paused with SIGSTOP past both sessions and continued instead, and the
 * nats-server killed when the switch begins and restarted a few seconds later; a member killed after it left Kafka, while
 * it waits for the Kafka group to empty (phase WAITING); and a race rather than a fault: a migrating member that joins
 * the Kafka group after the others switched to Parti. Each time: nothing is lost, records are
 * processed twice only where a killed instance had processed them without committing (or a member was fenced), no
 * partition has two live owners (ownership logged per instance across JVMs), no committed offset goes backwards, and
 * the group ends run by Parti: the Kafka group empty, every partition owned through Parti, committed at its end.
 */
class RollingMigrationCrashTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;

    /**
     * A plain {@code KafkaConsumer} k-1 and three migrating {@code PartiConsumer}s in child JVMs. c-3 is killed while it
     * is a Kafka member (its bridge holds partitions, before the switch): the broker expires it and the group goes on in
     * Kafka. Then k-1 stops, every member is told to switch, and the child that leads the Parti group is killed while
     * switching (it joined Parti and leads it, it has not left Kafka): the other one takes over Parti's leadership, gets
     * every partition from Parti and consumes them once the broker has expired the dead member.
     */
    @Test
    void aMemberKilledInKafkaAndThePartiLeaderKilledDuringTheSwitchLoseNothingAndTheGroupEndsOnParti(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-crash", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        List<Child> children = new ArrayList<>();
        Child leader;
        Child survivor;
        long killedAt;
        long onPartiAt;
        try (load) {
            try {
                withK1AndMigratingChildren(load, dir, members, children, "c-1", "c-2", "c-3");
                Child c3 = children.get(2);

                c3.kill(load.logDir); // its bridge holds Kafka partitions; the switch has not been announced
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT); // the broker expired it: k-1, c-1, c-2 share every partition
                assertThat(c3.phases()).as("c-3 killed as a Kafka member").containsExactly("KAFKA");

                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                leader = leadingTheSwitch(children.subList(0, 2));
                leader.kill(load.logDir);
                killedAt = System.nanoTime();
                assertThat(leader.phases()).as(leader.name + " killed while switching, before it left Kafka")
                        .containsExactly("KAFKA", "SWITCHING");
                survivor = children.get(0) == leader ? children.get(1) : children.get(0);

                awaitOnPartiHoldingAll(survivor, load, WAIT);
                onPartiAt = System.nanoTime();
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();

                load.drain(WAIT);
                survivor.stop(load.logDir); // SIGTERM: it commits what it processed, through Parti (generation -1)
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
                children.forEach(Child::close);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("migration crash: the Parti leader %s killed while switching; %s consumed every partition through "
                + "Parti %.2f s later (Kafka session 3 s, Parti session 2 s)%n", leader.name, survivor.name,
                (onPartiAt - killedAt) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of("c-3", leader.name));
        assertThat(MigrationCrashSupport.ledgers(dir).values().stream().filter(by -> by.contains(survivor.name)).count())
                .as(survivor.name + " processed records").isPositive();
    }

    /**
     * A dynamic member killed while switching, with a Kafka session far longer than Parti's (30 s against 2 s): its Kafka
     * membership would keep the Kafka group from emptying, and every partition waiting, for those 30 s. It published its
     * Kafka member ID in its Parti heartbeat; once that heartbeat has not changed for a Parti session, the other member
     * removes it from the Kafka group and consumes every partition through Parti, well before the broker would have
     * expired it. Nothing is lost, no partition has two live owners.
     */
    @Test
    void aDynamicMemberKilledWhileSwitchingIsRemovedFromTheKafkaGroupOnceItsPartiLeaseEndedNotAfterItsKafkaSession(
            @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-evict", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        List<Child> children = new ArrayList<>();
        Child killed;
        Child survivor;
        long killedAt;
        long onPartiAt;
        try (load) {
            try {
                withK1AndMigratingChildren(load, dir, members, children, Map.of("session.timeout.ms", "30000",
                        "heartbeat.interval.ms", "1000"), "c-1", "c-2");
                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                killed = leadingTheSwitch(children);
                killed.kill(load.logDir);
                killedAt = System.nanoTime();
                assertThat(killed.phases()).as(killed.name + " killed while switching, before it left Kafka")
                        .containsExactly("KAFKA", "SWITCHING");
                survivor = children.get(0) == killed ? children.get(1) : children.get(0);

                // well within the killed member's 30 s Kafka session: it can only have been removed
                awaitOnPartiHoldingAll(survivor, load, Duration.ofSeconds(20));
                onPartiAt = System.nanoTime();
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();

                load.drain(WAIT);
                survivor.stop(load.logDir);
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
                children.forEach(Child::close);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("migration crash: %s killed while switching (Kafka session 30 s, Parti session 2 s); %s consumed "
                + "every partition through Parti %.2f s later%n", killed.name, survivor.name, (onPartiAt - killedAt) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of(killed.name));
    }

    /**
     * A plain {@code KafkaConsumer} k-1 and two migrating {@code PartiConsumer}s in child JVMs; k-1 stops, and the child
     * that leads the Parti group while switching (it joined Parti, it has not left Kafka) is paused with SIGSTOP, not
     * killed, for longer than both sessions (Kafka 3 s, Parti 2 s): the broker expires it, the other child takes Parti's
     * leadership and every partition once the paused one's Parti session is over. Then it continues (SIGCONT) with its
     * fetched records and its old Kafka and Parti memberships: its Kafka side, a classic Kafka consumer, would hand out the
     * records it fetched before the pause until its heartbeat learnt that the broker expired it, but its Parti lease
     * lapsed, so it hands out none of them (see {@link MigrationCrashSupport#assertLedgersAndOwnershipAfterAPause}). It
     * rejoins through Parti; the group ends on Parti, shared by both. A pause is not a death: nothing marks the paused
     * instance gone. Its Kafka side leaves at once, reporting its partitions lost (the broker expired it, its commits
     * would be refused), whether or not its heartbeat has learnt of that yet. With a planned-scale window as short as the rebalance cooldown (100 ms), Parti gives the continued member partitions as soon as it is back,
     * often before its Kafka side has learnt of its expiry and left the Kafka group: it hands them out only once it has.
     * With a Kafka session of 30 s the broker does not expire the paused member in time: the other child removes it from
     * the Kafka group once its Parti heartbeat is a Parti session old (it published its Kafka member ID there), and must
     * run through Parti within 20 s; the continued member then finds itself removed and reports its partitions lost.
     */
    @ParameterizedTest(name = "parti.planned.scale.window.ms={0}, session.timeout.ms={1}")
    @CsvSource({"1000, 3000", "100, 3000", "1000, 30000"})
    void thePartiLeaderPausedDuringTheSwitchHandsOutNothingFetchedBeforeOnceContinuedAndTheGroupEndsOnParti(
            int plannedScaleWindowMs, int kafkaSessionMs, @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-pause-" + plannedScaleWindowMs + "-" + kafkaSessionMs, PARTITIONS);
        // beyond the 30 s session only a removal empties the Kafka group in time
        Duration onPartiWithin = kafkaSessionMs > 20_000 ? Duration.ofSeconds(20) : WAIT;
        Map<String, Member> members = new HashMap<>();
        List<Child> children = new ArrayList<>();
        Child paused;
        Child other;
        long pausedAt;
        long resumedAt;
        List<String> pausedPhases;
        try (load) {
            try {
                withK1AndMigratingChildren(load, dir, members, children,
                        Map.of("parti.planned.scale.window.ms", Integer.toString(plannedScaleWindowMs),
                                "session.timeout.ms", Integer.toString(kafkaSessionMs),
                                "heartbeat.interval.ms", Integer.toString(Math.min(1000, kafkaSessionMs / 6))), "c-1", "c-2");

                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                paused = leadingTheSwitch(children);
                paused.suspend();
                pausedAt = System.nanoTime();
                assertThat(paused.phases()).as(paused.name + " paused while switching, before it left Kafka")
                        .containsExactly("KAFKA", "SWITCHING");
                other = children.get(0) == paused ? children.get(1) : children.get(0);
                Child survivor = other;

                await(survivor.name + " runs through Parti holding every partition, the Kafka group empty")
                        .atMost(onPartiWithin).pollInterval(Duration.ofMillis(50))
                        .until(() -> survivor.phase().equals("PARTI")
                                && MigrationCrashSupport.holdsEvery(load.logDir, survivor.name, load.topic, PARTITIONS)
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members().isEmpty());
                int survivorLines = survivor.ledgerLines(dir);
                await(survivor.name + " processes records").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> survivor.ledgerLines(dir) > survivorLines + 2);

                resumedAt = System.nanoTime();
                paused.resume();
                Child back = paused;
                try {
                    await(back.name + " back in the group: the partitions shared by both through Parti").atMost(WAIT)
                            .pollInterval(Duration.ofMillis(50))
                            .until(() -> back.phase().equals("PARTI") && survivor.phase().equals("PARTI")
                                    && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS,
                                            Set.of(back.name, survivor.name)));
                } catch (org.awaitility.core.ConditionTimeoutException e) {
                    throw new AssertionError(e.getMessage() + "; phases " + back.name + " " + back.phases() + ", "
                            + survivor.name + " " + survivor.phases() + "; holders " + MigrationCrashSupport.holders(load.logDir)
                            + "; alive " + back.name + " " + back.process.isAlive() + ", " + survivor.name + " "
                            + survivor.process.isAlive(), e);
                }
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();
                assertThat(back.ledger(dir))
                        .as(back.name + " reports its Kafka partitions lost, not revoked: the broker expired it while paused")
                        .anyMatch(line -> line.startsWith("# LOST "));
                pausedPhases = back.phases();

                load.drain(WAIT);
                survivor.stop(load.logDir);
                back.stop(load.logDir);
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
                children.forEach(Child::close);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("migration pause: %s paused %.2f s while leading the switch; phases %s%n", paused.name,
                (resumedAt - pausedAt) / 1e9, pausedPhases);
        MigrationCrashSupport.assertLedgersAndOwnershipAfterAPause(dir, load.logDir, load.start, paused.name, pausedAt,
                resumedAt);
        assertThat(MigrationCrashSupport.ledgers(dir).values().stream().filter(by -> by.contains(other.name)).count())
                .as(other.name + " processed records").isPositive();
    }

    /**
     * The nats-server killed (SIGKILL) as soon as a member switches (every member was told to switch, none has
     * Parti's first assignment yet), or already before the last {@code KafkaConsumer} stops (then the group's leader
     * cannot read Parti's state when every member can switch, and acts as if Parti ran: each member keeps what it owns
     * in Kafka, the stopped member's partitions wait for Parti), restarted 3 s later with its store: the members keep
     * consuming as Kafka members while NATS is away (their join, with a 1.5 s {@code parti.startup.timeout.ms}, fails
     * and is tried again), join Parti once it is back, and the group ends on Parti.
     */
    @ParameterizedTest(name = "NATS down before the last KafkaConsumer stops: {0}")
    @ValueSource(booleans = {false, true})
    void natsKilledWhenTheSwitchBeginsLosesNothingAndTheGroupEndsOnPartiOnceItIsBack(boolean beforeTheLastStop,
                                                                                    @TempDir Path dir) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, beforeTheLastStop ? "migrate-nats-first" : "migrate-nats", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        long downAt = 0;
        long upAt;
        long onPartiAt;
        try (NatsServer nats = NatsServer.start(); load) {
            try {
                members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1, PARTITIONS, WAIT);
                for (String name : List.of("p-1", "p-2")) {
                    Map<String, Object> config = migrating(load.groupId, name, nats.url());
                    // shorter than the outage: the join started at the switch fails, and is tried again at later polls
                    config.put("parti.startup.timeout.ms", "1500");
                    members.put(name, Member.start(config, load.topic, name, load.logDir, dir));
                }
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);

                if (beforeTheLastStop) {
                    nats.kill();
                    downAt = System.nanoTime();
                }
                members.remove("k-1").stop(); // every member is told to switch
                await("a member switches").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                        .until(() -> MigrationCrashSupport.phase(members, "p-1") == KafkaToPartiMigration.Phase.SWITCHING
                                || MigrationCrashSupport.phase(members, "p-2") == KafkaToPartiMigration.Phase.SWITCHING);
                if (!beforeTheLastStop) {
                    nats.kill();
                    downAt = System.nanoTime();
                }
                int before = MigrationCrashSupport.ledgers(dir).size();
                // the outage lasts 3 s; meanwhile both still consume as Kafka members, none has left the Kafka group
                await("3 s without NATS, both members consuming through Kafka").atMost(WAIT)
                        .pollDelay(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(100))
                        .until(() -> MigrationCrashSupport.ledgers(dir).size() > before + 100);
                assertThat(List.of(MigrationCrashSupport.phase(members, "p-1"), MigrationCrashSupport.phase(members, "p-2"))).as("still Kafka members without NATS")
                        .allMatch(p -> p == KafkaToPartiMigration.Phase.KAFKA || p == KafkaToPartiMigration.Phase.SWITCHING);
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).hasSize(2);
                nats.restart();
                upAt = System.nanoTime();

                await("both run through Parti and share every partition, the Kafka group empty").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.phase(members, "p-1") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.phase(members, "p-2") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS, Set.of("p-1", "p-2")));
                onPartiAt = System.nanoTime();
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();

                load.drain(WAIT);
                members.remove("p-1").stop();
                members.remove("p-2").stop();
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("migration with NATS down %s: down %.2f s; on Parti %.2f s after NATS was back%n",
                beforeTheLastStop ? "before the last KafkaConsumer stopped" : "at the switch", (upAt - downAt) / 1e9,
                (onPartiAt - upAt) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of());
    }

    /**
     * A migrating static member ({@code group.instance.id}, also its Parti worker ID) in a child JVM killed with SIGKILL
     * in phase WAITING: it has left the Kafka group (a static member too leaves explicitly at the switch; its listener
     * revoked, and committed, its Kafka partitions) and waits for the group to empty before Parti's assignment is
     * delivered, so it owns nothing. The other member is held, while it is still a Kafka member switching (after a batch,
     * on its polling thread: a condition, not a sleep), until the child is in WAITING, so the kill lands there every time.
     * Parti then expires the child (its session) and the survivor takes every partition once it has left Kafka too.
     * Nothing was uncommitted in the killed instance, so no record may be processed twice.
     */
    @Test
    void aStaticMemberKilledAfterItLeftKafkaWhileWaitingForTheGroupToEmptyLosesNothingAndTheGroupEndsOnParti(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-waiting", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        AtomicBoolean armed = new AtomicBoolean();
        AtomicLong killedAt = new AtomicLong();
        long onPartiAt;
        AtomicReference<Child> child = new AtomicReference<>();
        try (load) {
            try {
                members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
                await("k-1 in the Kafka group").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> {
                    ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId);
                    return d != null && !d.members().isEmpty();
                });
                // both find a Kafka member at their subscribe(): they join the Kafka group
                Child c1 = Child.start(MigrationCrashSupport.staticMember(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "c-1", NATS.url())), "i-1"),
                        load.topic, "c-1", load.logDir, dir);
                child.set(c1);
                MigratingMemberMain.AfterBatch holdWhileSwitching = (consumer, batch) -> {
                    PartiConsumer<String, String> c = (PartiConsumer<String, String>) consumer;
                    if (armed.get() && c.migrationPhase() == KafkaToPartiMigration.Phase.SWITCHING && killedAt.get() == 0) {
                        // m-2 is still in the Kafka group: c-1, once it left, waits for it (phase WAITING)
                        await("c-1 left Kafka and waits for the group to empty").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                                .until(() -> c1.phase().equals("WAITING"));
                        c1.kill(load.logDir);
                        killedAt.set(System.nanoTime());
                    }
                };
                members.put("m-2", Member.start(MigrationCrashSupport.staticMember(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "m-2", NATS.url())),
                        "i-2"), load.topic, "m-2", load.logDir, dir, holdWhileSwitching));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 3, PARTITIONS, WAIT);
                System.out.printf("waiting kill: %s at %.2f s%n", "group of 3", (System.nanoTime() - load.start) / 1e9);
                assertThat(c1.phase()).isEqualTo("KAFKA");
                assertThat(MigrationCrashSupport.phase(members, "m-2")).isEqualTo(KafkaToPartiMigration.Phase.KAFKA);

                armed.set(true);
                members.remove("k-1").stop(); // the last plain KafkaConsumer: every member is told to switch
                System.out.printf("waiting kill: %s at %.2f s%n", "k-1 stopped", (System.nanoTime() - load.start) / 1e9);
                await("c-1 killed in WAITING").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> killedAt.get() > 0);
                System.out.printf("waiting kill: %s at %.2f s%n", "killed", (System.nanoTime() - load.start) / 1e9);
                assertThat(c1.phases()).as("c-1 killed after it left Kafka").containsExactly("KAFKA", "SWITCHING", "WAITING");

                await("m-2 runs through Parti holding every partition, the Kafka group empty").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.phase(members, "m-2") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.holdsAll(load.logDir, "m-2", load.topic, PARTITIONS));
                onPartiAt = System.nanoTime();
                System.out.printf("waiting kill: %s at %.2f s%n", "on Parti", (System.nanoTime() - load.start) / 1e9);
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();
                assertThat(members.get("m-2").parti().partiManager().workerId()).as("the static member's Parti worker ID")
                        .isEqualTo("i-2");

                load.drain(WAIT);
                System.out.printf("waiting kill: %s at %.2f s%n", "all processed",
                        (System.nanoTime() - load.start) / 1e9);
                members.remove("m-2").stop();
                System.out.printf("waiting kill: %s at %.2f s%n", "stopped", (System.nanoTime() - load.start) / 1e9);
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
                if (child.get() != null) {
                    child.get().close();
                }
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("migration crash: c-1 killed in WAITING; m-2 consumed every partition through Parti %.2f s later "
                + "(Parti session 2 s); test %.2f s%n", (onPartiAt - killedAt.get()) / 1e9,
                        (System.nanoTime() - load.start) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of()); // c-1 had committed everything it processed
    }

    /**
     * A migrating member started during the switch: p-2 sees k-1 and p-1 in the Kafka group at its {@code subscribe()},
     * so it joins the Kafka group; it is held between that decision and its join (its first {@code poll()}: a condition,
     * not a sleep) until k-1 has stopped, p-1 has switched, left the Kafka group and consumes every partition through
     * Parti. p-2 then joins an empty Kafka group and leads it, every member able to switch: without a look at Parti it
     * would take every partition in Kafka while p-1 holds them through Parti. It must get nothing in Kafka, join Parti and
     * share the partitions with p-1 there: no partition with two live owners, each record processed once, no committed
     * offset going backwards.
     */
    @Test
    void aMigratingMemberJoiningTheKafkaGroupAfterTheOthersSwitchedGetsNothingThereAndJoinsParti(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "migrate-late", PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (load) {
            try {
                members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
                // k-1 in the group first: p-1 must find a Kafka member at its subscribe() (an empty group sends it to
                // Parti directly, and the group never has two members)
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1, PARTITIONS, WAIT);
                members.put("p-1", Member.start(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "p-1", NATS.url())), load.topic,
                        "p-1", load.logDir, dir));
                MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 2, PARTITIONS, WAIT);
                members.put("p-2", Member.start(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "p-2", NATS.url())), load.topic,
                        "p-2", load.logDir, dir, null, () -> {
                            try {
                                assertThat(release.await(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)).isTrue();
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }));
                await("p-2 decided to join the Kafka group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> MigrationCrashSupport.phase(members, "p-2") == KafkaToPartiMigration.Phase.KAFKA);

                members.remove("k-1").stop(); // p-1, alone in the Kafka group, switches
                await("p-1 consumes every partition through Parti, the Kafka group empty").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> MigrationCrashSupport.phase(members, "p-1") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.holdsAll(load.logDir, "p-1", load.topic, PARTITIONS)
                                && MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId)
                                        .members().isEmpty());
                long releasedAt = System.nanoTime();
                release.countDown(); // p-2 joins the empty Kafka group now

                await("p-1 and p-2 share every partition through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.phase(members, "p-2") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS, Set.of("p-1", "p-2")));
                System.out.printf("late migrating member: on Parti beside p-1 %.2f s after its Kafka join was released%n",
                        (System.nanoTime() - releasedAt) / 1e9);
                assertThat(MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId).members()).isEmpty();

                load.drain(WAIT);
                members.remove("p-1").stop();
                members.remove("p-2").stop();
            } finally {
                release.countDown();
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("late migrating member: test %.2f s%n", (System.nanoTime() - load.start) / 1e9);
        // nobody was killed: no record may be processed twice
        MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of());
    }

    /**
     * The moments such a late member spends in the Kafka group: the broker refuses the generation −1 commits of the
     * members on Parti meanwhile. A {@code commitSync} refused then is made once the Kafka group is empty again, within
     * its timeout. p-1 runs on Parti; a classic member joins the group (subscribed to another topic, so it holds none of
     * p-1's partitions) and stays until p-1's {@code commitSync} of a batch has been refused and waits (seen in its
     * polling thread's stack: a condition, not a sleep); then it leaves. The commit returns without an error and the
     * broker holds the batch's offsets; each record processed once, no committed offset going backwards.
     */
    @Test
    void aCommitRefusedWhileAMemberPassesThroughTheKafkaGroupIsMadeOnceTheGroupIsEmpty(@TempDir Path dir) throws Exception {
        String other = Fixtures.unique("migrate-other");
        KAFKA.broker().createTopic(other, 1);
        AtomicBoolean armed = new AtomicBoolean();
        AtomicReference<Map<TopicPartition, OffsetAndMetadata>> committed = new AtomicReference<>();
        MigratingMemberMain.AfterBatch commitOnce = (consumer, batch) -> {
            if (armed.getAndSet(false)) {
                consumer.commitSync(batch, Duration.ofSeconds(30)); // refused first: the intruder is in the group
                committed.set(batch);
            }
        };
        withP1OnPartiAndAClassicMember(dir, "migrate-refused", commitOnce, other, true, (load, p1, intruder) -> {
            armed.set(true);
            await("p-1's commitSync refused, waiting for the Kafka group to empty").atMost(WAIT)
                    .pollInterval(Duration.ofMillis(10)).until(() -> {
                        assertThat(p1.failure.get()).as("p-1's failure").isNull();
                        return java.util.Arrays.stream(p1.thread.getStackTrace())
                                .anyMatch(f -> f.getMethodName().equals("committedOnceTheKafkaGroupIsEmpty"));
                    });
            assertThat(committed.get()).isNull();
        }, load -> {
            await("p-1's commit made").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> committed.get() != null);
            assertCommittedAtLeast(load, committed.get());
        });
    }

    /**
     * The same moments with a {@code commitAsync}, and a member that owns nothing in Kafka, as a late migrating member
     * does: p-1 runs on Parti; a classic member joins the group subscribed to a topic that does not exist (so it is
     * given nothing) and stays while p-1 makes one {@code commitAsync} of a batch and goes on polling. The refused
     * commit is sent again once the member has left, and its callback then reports success; meanwhile {@code poll()}
     * throws nothing and p-1 goes on consuming (a member passing through owning nothing is no mixed group). Each record
     * processed once, no committed offset going backwards.
     */
    @Test
    void aCommitAsyncRefusedWhileAMemberOwningNothingPassesThroughIsMadeOnceItLeftAndPollGoesOn(@TempDir Path dir)
            throws Exception {
        AtomicBoolean armed = new AtomicBoolean();
        AtomicInteger batchesSince = new AtomicInteger(-1);
        AtomicReference<Map<TopicPartition, OffsetAndMetadata>> sent = new AtomicReference<>();
        AtomicReference<Object> outcome = new AtomicReference<>();
        MigratingMemberMain.AfterBatch commitAsyncOnce = (consumer, batch) -> {
            if (armed.getAndSet(false)) {
                sent.set(batch);
                consumer.commitAsync(batch, (offsets, e) -> outcome.set(e != null ? e : offsets));
                batchesSince.set(0);
            } else if (batchesSince.get() >= 0) {
                batchesSince.incrementAndGet();
            }
        };
        withP1OnPartiAndAClassicMember(dir, "migrate-refused-async", commitAsyncOnce, Fixtures.unique("no-such-topic"),
                true, (load, p1, passing) -> {
                    assertThat(passing.assignment()).as("the classic member's assignment").isEmpty();
                    armed.set(true);
                    await("p-1 goes on consuming, its commit not yet made").atMost(WAIT)
                            .pollInterval(Duration.ofMillis(10)).until(() -> {
                                passing.poll(Duration.ZERO);
                                assertThat(p1.failure.get()).as("p-1's failure").isNull();
                                assertThat(outcome.get()).as("the commit's outcome while the member is in the group").isNull();
                                return batchesSince.get() >= 5;
                            });
                }, load -> {
                    await("p-1's commit made").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                            .until(() -> outcome.get() != null);
                    assertThat(outcome.get()).as("the callback's outcome").isEqualTo(sent.get());
                    assertCommittedAtLeast(load, sent.get());
                });
    }

    /**
     * What the previous test allows is no cover for a real mixed group: after the switch a plain {@code KafkaConsumer}
     * joins the Kafka group subscribed to the same topic and takes its partitions there. p-1's refused {@code
     * commitAsync} fails with the {@link MixedGroupException}, and so does its next {@code poll()}, as for any
     * {@code PartiConsumer} in a mixed group.
     */
    @Test
    void aClassicMemberTakingPartitionsAfterTheSwitchMakesAMixedGroupForAMigratedConsumer(@TempDir Path dir)
            throws Exception {
        AtomicBoolean armed = new AtomicBoolean();
        AtomicReference<Object> outcome = new AtomicReference<>();
        MigratingMemberMain.AfterBatch commitAsyncOnce = (consumer, batch) -> {
            if (armed.getAndSet(false)) {
                consumer.commitAsync(batch, (offsets, e) -> outcome.set(e != null ? e : offsets));
            }
        };
        AtomicReference<Throwable> pollFailure = new AtomicReference<>();
        withP1OnPartiAndAClassicMember(dir, "migrate-mixed-after", commitAsyncOnce, null, false, (load, p1, plain) -> {
            armed.set(true);
            await("p-1's commit and poll fail: a mixed group").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                    .until(() -> {
                        plain.poll(Duration.ZERO);
                        return p1.failure.get() != null && outcome.get() != null;
                    });
            pollFailure.set(p1.failure.get());
        }, null);
        assertThat(outcome.get()).as("the commit's outcome").isInstanceOf(MixedGroupException.class);
        assertThat(pollFailure.get()).as("p-1's poll()").isInstanceOf(MixedGroupException.class);
        assertThat(((MixedGroupException) pollFailure.get()).isMigrationWait()).isFalse();
    }

    /** What a test does while p-1 runs on Parti and a classic member is in the Kafka group. */
    private interface WithClassicMember {
        void run(Load load, Member p1, KafkaConsumer<String, String> classic) throws Exception;
    }

    /** What a test checks once the classic member has left. */
    private interface AfterItLeft {
        void run(Load load) throws Exception;
    }

    /**
     * The frame of the three tests above: p-1 (running {@code afterBatch}) consumes every partition of a fresh topic
     * through Parti; a classic consumer of the group, subscribed to {@code classicTopic} (the load's topic when null),
     * joins the Kafka group and {@code during} runs; the classic member leaves and {@code after} runs (when not null).
     * Then, {@code whenClean}: everything is consumed, p-1 stops, no committed offset went backwards, each record was
     * processed once and no partition had two live owners.
     */
    private static void withP1OnPartiAndAClassicMember(Path dir, String name, MigratingMemberMain.AfterBatch afterBatch,
                                                       String classicTopic, boolean whenClean, WithClassicMember during,
                                                       AfterItLeft after) throws Exception {
        Load load = new Load(KAFKA.broker(), dir, name, PARTITIONS);
        Map<String, Member> members = new HashMap<>();
        try (load) {
            try {
                members.put("p-1", Member.start(MigrationCrashSupport.fastSwitch(migrating(load.groupId, "p-1", NATS.url())), load.topic,
                        "p-1", load.logDir, dir, afterBatch));
                await("p-1 consumes every partition through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> MigrationCrashSupport.phase(members, "p-1") == KafkaToPartiMigration.Phase.PARTI
                                && MigrationCrashSupport.holdsAll(load.logDir, "p-1", load.topic, PARTITIONS));
                Map<String, Object> config = Fixtures.consumerBase(KAFKA.bootstrapServers(), load.groupId);
                config.put("group.protocol", "classic");
                config.put("session.timeout.ms", "6000");
                config.put("allow.auto.create.topics", "false");
                try (KafkaConsumer<String, String> classic = new KafkaConsumer<>(config)) {
                    classic.subscribe(List.of(classicTopic == null ? load.topic : classicTopic));
                    await("a classic member in the group").atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> {
                        classic.poll(Duration.ofMillis(50));
                        ConsumerGroupDescription d = MigrationCrashSupport.describe(KAFKA.bootstrapServers(), load.groupId);
                        return d != null && d.groupState() == GroupState.STABLE && d.members().size() == 1
                                && (classicTopic != null || classic.assignment().size() == PARTITIONS);
                    });
                    during.run(load, members.get("p-1"), classic);
                } // the classic member leaves the group
                if (after != null) {
                    after.run(load);
                }
                if (whenClean) {
                    assertThat(MigrationCrashSupport.phase(members, "p-1")).isEqualTo(KafkaToPartiMigration.Phase.PARTI);
                    load.drain(WAIT);
                    members.remove("p-1").stop();
                }
            } finally {
                load.stopProducing();
                members.values().forEach(Member::stopAfterFailure);
            }
            if (whenClean) {
                load.assertCommitsNeverBackwardsAndAtEveryEnd();
            }
        }
        System.out.printf("%s: test %.2f s%n", name, (System.nanoTime() - load.start) / 1e9);
        if (whenClean) {
            MigrationCrashSupport.assertLedgersAndOwnership(dir, load.logDir, load.start, Set.of());
        }
    }

    /** The broker holds at least {@code offsets} for the load's group. */
    private static void assertCommittedAtLeast(Load load, Map<TopicPartition, OffsetAndMetadata> offsets) throws Exception {
        Map<TopicPartition, Long> atBroker = MigrationCrashSupport.committedOffsets(KAFKA.bootstrapServers(), load.groupId);
        offsets.forEach((tp, om) -> assertThat(atBroker.get(tp)).as("committed " + tp).isGreaterThanOrEqualTo(om.offset()));
    }

    /**
     * The start of the fault tests: a plain {@code KafkaConsumer} k-1 in this JVM, then the migrating {@code
     * PartiConsumer}s {@code names} in child JVMs, until all of them share every partition in the Kafka group.
     */
    private static void withK1AndMigratingChildren(Load load, Path dir, Map<String, Member> members, List<Child> children,
                                                   String... names) throws Exception {
        withK1AndMigratingChildren(load, dir, members, children, Map.of(), names);
    }

    /** As above, the children configured with {@code overrides} on top of {@link #migrating}. */
    private static void withK1AndMigratingChildren(Load load, Path dir, Map<String, Member> members, List<Child> children,
                                                   Map<String, String> overrides, String... names) throws Exception {
        members.put("k-1", Member.start(kafka(load.groupId, "k-1"), load.topic, "k-1", load.logDir, dir));
        MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1, PARTITIONS, WAIT);
        for (String name : names) {
            Map<String, Object> config = migrating(load.groupId, name, NATS.url());
            config.putAll(overrides);
            children.add(Child.start(config, load.topic, name, load.logDir, dir));
        }
        MigrationCrashSupport.awaitKafkaGroup(KAFKA.bootstrapServers(), load.groupId, 1 + names.length, PARTITIONS, WAIT);
        await("every child is a Kafka member").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                .until(() -> children.stream().allMatch(c -> c.phase().equals("KAFKA")));
    }

    /** The child among {@code candidates} that leads the Parti group while switching (waited for). */
    private static Child leadingTheSwitch(List<Child> candidates) {
        return await("a child leads the Parti group while switching").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                .until(() -> candidates.stream().filter(c -> c.leadsIn("SWITCHING")).findFirst(), Optional::isPresent)
                .orElseThrow();
    }

    /** Waits, at most {@code within}, until child {@code c} runs through Parti holding every partition. */
    private static void awaitOnPartiHoldingAll(Child c, Load load, Duration within) {
        await(c.name + " runs through Parti holding every partition").atMost(within).pollInterval(Duration.ofMillis(50))
                .until(() -> c.phase().equals("PARTI")
                        && MigrationCrashSupport.holdsAll(load.logDir, c.name, load.topic, PARTITIONS));
    }

    private static Map<String, Object> kafka(String groupId, String name) {
        return MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
    }

    private static Map<String, Object> migrating(String groupId, String name, String natsUrl) {
        Map<String, Object> config = kafka(groupId, name);
        config.putAll(Fixtures.partiFast(natsUrl));
        // a long cold-start window keeps the switch open (no Parti assignment yet) long enough to fault it deterministically
        config.put("parti.cold.start.window.ms", "3000");
        config.put("parti.planned.scale.window.ms", "1000");
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        return config;
    }
}
