package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.internal.KafkaPartitions;
import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kafka → Parti rolling migration ({@code parti.migration=kafka-to-parti}) on a real broker and nats-server:
 * plain {@code KafkaConsumer}s with {@link PartiAssignor} consume under load and are replaced one at a time by
 * migrating {@link PartiConsumer}s, until the group is run by Parti. Checked throughout by {@link
 * PartiAssignorGroup}: no partition in two members at once (sampled and in the ownership log), no committed offset
 * going backwards, every record consumed exactly once with commit-in-revoke, nothing lost.
 */
class RollingMigrationTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(45);
    /** A Parti cold-start window no test waits out: the switch ends it once every member is there. */
    private static final Duration COLD_START_WAITED_FOR_NOBODY = WAIT.multipliedBy(4);
    private static final int PARTITIONS = 12;
    /** A Parti session longer than the steps between a worker's stop and the next member's subscribe() take. */
    private static final Duration LINGERING_SESSION = Duration.ofSeconds(10);

    /**
     * Surge order (start the PartiConsumer, then stop a KafkaConsumer): the last stop triggers the switch. Six members,
     * more than the four: up to seven in the Kafka group during a swap, six leaving it at the switch.
     */
    @Test
    void kafkaConsumersReplacedOneByOneEndInAPartiRunGroup() throws Exception {
        rollOver(6);
    }

    /** The same with four members, as the issue asks. */
    @Test
    void fourKafkaConsumersReplacedOneByOneEndInAPartiRunGroup() throws Exception {
        rollOver(4);
    }

    /**
     * A group that ran on Parti before (migrated, rolled back, migrated again; here two PartiConsumers ran it, then
     * KafkaConsumers took over once their heartbeats had expired): Parti's last assignment is still in its bucket,
     * placing every partition with two members whose worker IDs the migrating ones reuse. The Kafka leader that
     * announces the switch retires it (no Parti worker is live), so Parti's first assignment still keeps each
     * partition where it is in Kafka, as in a first migration (14 partitions moved at the switch before).
     */
    @Test
    void aGroupThatRanOnPartiBeforeStillKeepsEachPartitionWhereItIsInKafkaAtTheSwitch() throws Exception {
        rollOver(4, true);
    }

    /**
     * A group rolled back to Kafka and migrated again at once: the Parti worker of its last run stopped less than a
     * session ago, so its heartbeat key is still in the bucket when the first migrating member subscribes, while a
     * KafkaConsumer runs the group. The member must see that no worker renews a heartbeat and join the Kafka group; it
     * used to take the key for a running Parti group, join Parti directly and stay idle until the last KafkaConsumer
     * was gone.
     */
    @Test
    void aMemberMigratingWhileAStoppedPartiWorkersHeartbeatLingersJoinsTheKafkaGroup() throws Exception {
        String topic = Fixtures.unique("migrate-linger");
        String groupId = Fixtures.unique("g-linger");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            Map<String, Object> before = lingering(migrating(group, "p-0"));
            before.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_NONE);
            group.start("p-0", before);
            group.awaitBalanced(List.of("p-0"), WAIT);
            group.stop("p-0");
            long stoppedAt = System.nanoTime();
            assertThat(heartbeatKeys(groupId)).as("the stopped worker's heartbeat key stays for its session").contains("p-0");

            group.start("k-1");
            group.awaitBalanced(List.of("k-1"), WAIT);
            group.start("p-1", lingering(migrating(group, "p-1")));
            await("p-1 decided at its subscribe()").atMost(WAIT).pollInterval(Duration.ofMillis(10)).until(() -> {
                KafkaToPartiMigration.Phase phase = phase(group, "p-1");
                return phase != null && phase != KafkaToPartiMigration.Phase.NEW;
            });
            assertThat(Duration.ofNanos(System.nanoTime() - stoppedAt)).as("p-1 decided while p-0's key was in the bucket")
                    .isLessThan(LINGERING_SESSION);
            assertThat(phase(group, "p-1")).as("p-1 joined the Kafka group").isEqualTo(KafkaToPartiMigration.Phase.KAFKA);
            group.awaitBalanced(List.of("k-1", "p-1"), WAIT); // p-1 consumes its share as a Kafka member

            awaitNoLiveWorker(groupId); // the switch then starts Parti cold
            group.stop("k-1");
            await("p-1 runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                    .until(() -> phase(group, "p-1") == KafkaToPartiMigration.Phase.PARTI);
            group.awaitBalanced(List.of("p-1"), WAIT);
            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /** {@code config} with a Parti session of {@link #LINGERING_SESSION}: a stopped worker's heartbeat key stays that long. */
    private static Map<String, Object> lingering(Map<String, Object> config) {
        config.put("parti.session.timeout.ms", LINGERING_SESSION.toMillis());
        config.put("parti.worker.id.ttl.ms", LINGERING_SESSION.multipliedBy(2).toMillis());
        config.put("parti.leader.ttl.ms", 2500); // above the default safety margin, session / 6
        return config;
    }

    /** The keys of the Parti group's heartbeat bucket: one per worker whose session has not expired. */
    private static List<String> heartbeatKeys(String groupId) throws Exception {
        try (io.nats.client.Connection nc = io.nats.client.Nats.connect(NATS.url())) {
            return heartbeats(nc, groupId).keys();
        }
    }

    /** The Parti group's heartbeat bucket, over {@code nc}. */
    private static io.nats.client.KeyValue heartbeats(io.nats.client.Connection nc, String groupId) throws Exception {
        return nc.keyValue(new dev.parti.internal.BucketNames(groupId).name(dev.parti.internal.KvGateway.Bucket.HEARTBEATS));
    }

    /**
     * The surge order with {@code parti.migration.join.wait.ms}: each PartiConsumer starts and defers its Kafka join, then
     * the KafkaConsumer it replaces stops; the newcomer enters the rebalance of that leave and takes the leaver's
     * partitions there. One rebalance per instance swapped: the newcomer's first Kafka generation is the one after the
     * group's generation before the stop, and no other follows before the next swap (joining at once costs two or three
     * per swap: the join's, withheld partitions' second round, and the leave's). The last stop switches the group to
     * Parti, as without the wait.
     */
    @Test
    void fourKafkaConsumersReplacedInTheSurgeOrderWithTheJoinDeferredCostOneRebalancePerSwap() throws Exception {
        String topic = Fixtures.unique("migrate-deferred");
        String groupId = Fixtures.unique("g-deferred");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            List<String> running = new ArrayList<>();
            List<PartiAssignorGroup.Member> plain = fourPlainMembersInOneGeneration(group, running);
            int generation = last(plain.get(0).generations);
            List<Integer> firstGenerations = new ArrayList<>();
            for (int i = 1; i <= 4; i++) {
                String p = "p-" + i;
                PartiAssignorGroup.Member newcomer = deferredNewcomer(group, groupId, p);
                // a member that stays through this swap: its generation is the group's
                PartiAssignorGroup.Member witness = i < 4 ? plain.get(3) : null;
                if (witness != null) {
                    assertThat(last(witness.generations)).as("no rebalance since the previous swap (before stopping k-%d)", i)
                            .isEqualTo(generation);
                }
                group.stop("k-" + i);
                running.remove("k-" + i);
                running.add(p);
                await(p + " joined the Kafka group").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                        .until(() -> !newcomer.generations.isEmpty());
                firstGenerations.add(newcomer.generations.get(0));
                assertThat(newcomer.generations.get(0)).as("%s joined in the rebalance of k-%d's leave", p, i)
                        .isEqualTo(generation + 1);
                if (witness != null) {
                    group.awaitBalanced(running, WAIT);
                    generation++;
                }
            }
            await("every member runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() ->
                    running.stream().allMatch(p -> phase(group, p) == KafkaToPartiMigration.Phase.PARTI));
            group.awaitBalanced(running, WAIT);
            assertThat(group.describe().members()).as("Kafka-managed members left").isEmpty();
            System.out.printf("surge order, join deferred: the newcomers' first Kafka generations %s (one per swap)%n",
                    firstGenerations);
            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /**
     * The stop-then-start order (no spare instance) with {@code parti.migration.join.wait.ms}: each KafkaConsumer stops,
     * then its PartiConsumer starts and defers its Kafka join; it enters the rebalance of the next KafkaConsumer's leave.
     * One rebalance per instance swapped: each swap's leave, the previous newcomer's join inside it. The last stop
     * switches the group to Parti (every member left in it can switch), and the last newcomer joins Parti directly. The
     * price: one instance waits idle between two swaps (three of four consume).
     */
    @Test
    void fourKafkaConsumersReplacedStopThenStartWithTheJoinDeferredCostOneRebalancePerSwap() throws Exception {
        String topic = Fixtures.unique("migrate-stopstart");
        String groupId = Fixtures.unique("g-stopstart");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            List<String> running = new ArrayList<>();
            List<PartiAssignorGroup.Member> plain = fourPlainMembersInOneGeneration(group, running);
            int generation = last(plain.get(0).generations);
            PartiAssignorGroup.Member witness = plain.get(3); // k-4 stays through the first three swaps
            List<Integer> firstGenerations = new ArrayList<>();
            PartiAssignorGroup.Member waiting = null;
            for (int i = 1; i <= 4; i++) {
                if (i < 4) {
                    assertThat(last(witness.generations)).as("no rebalance since the previous swap (before stopping k-%d)", i)
                            .isEqualTo(generation);
                }
                group.stop("k-" + i);
                running.remove("k-" + i);
                if (waiting != null) {
                    PartiAssignorGroup.Member newcomer = waiting;
                    String p = "p-" + (i - 1);
                    await(p + " joined the Kafka group").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                            .until(() -> !newcomer.generations.isEmpty());
                    firstGenerations.add(newcomer.generations.get(0));
                    assertThat(newcomer.generations.get(0)).as("%s joined in the rebalance of k-%d's leave", p, i)
                            .isEqualTo(generation + 1);
                    running.add(p);
                }
                if (i == 4) {
                    break; // every member left in the Kafka group can switch: the group switches to Parti
                }
                group.awaitBalanced(running, WAIT);
                generation++;
                assertThat(last(witness.generations)).as("one rebalance for k-%d's stop", i).isEqualTo(generation);

                waiting = deferredNewcomer(group, groupId, "p-" + i);
            }
            await("every member runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() ->
                    running.stream().allMatch(p -> phase(group, p) == KafkaToPartiMigration.Phase.PARTI));
            group.start("p-4", migrating(group, "p-4"));
            running.add("p-4");
            KafkaToPartiMigration.Phase first = await("p-4 subscribed").atMost(WAIT).pollInterval(Duration.ofMillis(5))
                    .until(() -> phase(group, "p-4"), ph -> ph != null && ph != KafkaToPartiMigration.Phase.NEW);
            // its phase is chosen at subscribe(): KAFKA had it joined the Kafka group, and WAITING never leads back there
            assertThat(first).as("p-4 joins Parti directly, never the Kafka group")
                    .isIn(KafkaToPartiMigration.Phase.WAITING, KafkaToPartiMigration.Phase.PARTI);
            group.awaitBalanced(running, WAIT);
            assertThat(phase(group, "p-4")).isEqualTo(KafkaToPartiMigration.Phase.PARTI);
            assertThat(group.describe().members()).as("Kafka-managed members left").isEmpty();
            System.out.printf("stop-then-start order, join deferred: the newcomers' first Kafka generations %s (one per "
                    + "swap)%n", firstGenerations);
            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /**
     * Kafka's default heartbeat (3 s; session 10 s): the members of a leave's rebalance rejoin at their next heartbeat,
     * and the newcomer's join (a description every 50 ms, then two round trips) must come first. The tests' 500 ms would
     * leave it a few hundred milliseconds on a loaded machine.
     */
    private static Map<String, Object> kafkaDefaultHeartbeat(Map<String, Object> config) {
        config.put("heartbeat.interval.ms", 3000);
        config.put("session.timeout.ms", 10_000);
        return config;
    }

    /** k-1 to k-4, plain KafkaConsumers with {@link PartiAssignor}, balanced and in one Kafka generation. */
    private static List<PartiAssignorGroup.Member> fourPlainMembersInOneGeneration(PartiAssignorGroup group,
                                                                                   List<String> running) {
        List<PartiAssignorGroup.Member> plain = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            Map<String, Object> config = group.config("k-" + i, PartiAssignorGroup.PARTI);
            config.put(PartiAssignor.WORKER_ID_CONFIG, "k-" + i);
            plain.add(group.start("k-" + i, kafkaDefaultHeartbeat(config)));
            running.add("k-" + i);
        }
        group.awaitBalanced(running, WAIT);
        await("the plain members in one generation").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                .until(() -> plain.stream().map(m -> last(m.generations)).distinct().count() == 1);
        return plain;
    }

    /**
     * A migrating PartiConsumer {@code name} started with a 30 s {@code parti.migration.join.wait.ms}, once it has stayed
     * out of the Kafka group for 1.5 s while the group does not rebalance: the deployment waits for a new instance to
     * be up before it stops the next old one, and a member joining at once would be in the Kafka group long before.
     */
    private static PartiAssignorGroup.Member deferredNewcomer(PartiAssignorGroup group, String groupId, String name) {
        Map<String, Object> config = kafkaDefaultHeartbeat(migrating(group, name));
        config.put(PartiConsumerConfig.MIGRATION_JOIN_WAIT_MS_CONFIG, "30000");
        PartiAssignorGroup.Member newcomer = group.start(name, config);
        await(name + " subscribed").atMost(WAIT).pollInterval(Duration.ofMillis(10))
                .until(() -> phase(group, name) == KafkaToPartiMigration.Phase.KAFKA);
        await(name + " stays out of the Kafka group while the group does not rebalance").atMost(WAIT)
                .during(Duration.ofMillis(1500)).pollInterval(Duration.ofMillis(100))
                .until(() -> newcomer.generations.isEmpty() && !inKafkaGroup(group, groupId, name));
        return newcomer;
    }

    /**
     * Whether the broker lists {@code name} as a member of the Kafka group (from its first {@code JoinGroup} on, before
     * any assignment): by the client ID of its Kafka side, the group's ID and its name.
     */
    private static boolean inKafkaGroup(PartiAssignorGroup group, String groupId, String name) {
        return group.describe().members().stream().anyMatch(m -> m.clientId().startsWith(groupId + "-" + name));
    }

    private static int last(List<Integer> generations) {
        return generations.isEmpty() ? -1 : generations.get(generations.size() - 1);
    }

    private void rollOver(int members) throws Exception {
        rollOver(members, false);
    }

    /** {@code ranOnPartiBefore}: two plain PartiConsumers named p-1 and p-2 run the group first, then stop. */
    private void rollOver(int members, boolean ranOnPartiBefore) throws Exception {
        String topic = Fixtures.unique("migrate");
        String groupId = Fixtures.unique("g-migrate");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            List<String> running = new ArrayList<>();
            if (ranOnPartiBefore) {
                List<String> before = List.of("p-1", "p-2");
                for (String p : before) {
                    Map<String, Object> config = migrating(group, p);
                    config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_NONE);
                    group.start(p, config);
                }
                group.awaitBalanced(before, WAIT);
                before.forEach(group::stop);
                awaitNoLiveWorker(groupId); // time passes: their heartbeats expire, as before any later migration
            }
            for (int i = 1; i <= members; i++) {
                group.start("k-" + i);
                running.add("k-" + i);
            }
            group.awaitBalanced(running, WAIT);

            long switchStart = 0;
            List<PartiAssignorGroup.Member> migrating = new ArrayList<>();
            for (int i = 1; i <= members; i++) {
                String p = "p-" + i;
                Map<String, Object> config = migrating(group, p);
                // a cold-start window far longer than the test waits: Parti's first assignment comes once every
                // member of the switch's Kafka generation has joined Parti (the Kafka leader that announced the switch
                // counted them), so it includes all of them and keeps each partition with its Kafka owner
                config.put("parti.cold.start.window.ms", COLD_START_WAITED_FOR_NOBODY.toMillis());
                migrating.add(group.start(p, config));
                running.add(p);
                group.awaitBalanced(running, WAIT);
                assertThat(phase(group, p)).isEqualTo(KafkaToPartiMigration.Phase.KAFKA);
                if (i == members) {
                    switchStart = System.nanoTime();
                }
                group.stop("k-" + i); // the last one: the group switches to Parti
                running.remove("k-" + i);
                if (i < members) {
                    group.awaitBalanced(running, WAIT);
                }
            }

            await("every member runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() ->
                    running.stream().allMatch(p -> phase(group, p) == KafkaToPartiMigration.Phase.PARTI));
            group.awaitBalanced(running, WAIT);
            long switchEnd = System.nanoTime();
            var switchReport = group.ownershipReport(switchStart, switchEnd);
            System.out.printf("%d members, switch (last KafkaConsumer stopped -> balanced on Parti): %.2f s, unavailability "
                            + "%.2f partition-seconds of %d partitions, longest gap %.2f s%n", members,
                    (switchEnd - switchStart) / 1e9, switchReport.unownedNanos() / 1e9, PARTITIONS,
                    switchReport.longestGapNanos() / 1e9);
            assertThat(switchReport.unownedAtEnd()).as("every partition owned once balanced on Parti").isEmpty();
            for (PartiAssignorGroup.Member m : migrating) {
                assertThat(movedAtTheSwitch(m)).as("%s: partitions that moved at the switch (its changes: %s)", m.name,
                        m.changes).isEmpty();
            }
            assertThat(group.describe().members()).as("Kafka-managed members left").isEmpty();
            assertThat(((PartiConsumer<String, String>) group.consumer("p-1")).partiManager()).isNotNull();

            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /**
     * The partitions {@code m} got in its first assignment through Parti and did not give up leaving the Kafka group, and
     * those it gave up and did not get back: empty when Parti's first assignment kept what it owned in Kafka.
     */
    private static Set<TopicPartition> movedAtTheSwitch(PartiAssignorGroup.Member m) {
        List<PartiAssignorGroup.Change> changes = List.copyOf(m.changes);
        int first = -1;
        for (int i = 0; i < changes.size() && first < 0; i++) {
            if (changes.get(i).assigned() && changes.get(i).generation() < 0) {
                first = i;
            }
        }
        assertThat(first).as("%s got an assignment through Parti: %s", m.name, changes).isPositive();
        int leave = first - 1;
        while (leave >= 0 && changes.get(leave).assigned()) {
            leave--;
        }
        Set<TopicPartition> left = leave < 0 ? Set.of() : changes.get(leave).partitions();
        Set<TopicPartition> got = changes.get(first).partitions();
        Set<TopicPartition> moved = new java.util.TreeSet<>(KafkaPartitions.ORDER);
        got.stream().filter(tp -> !left.contains(tp)).forEach(moved::add);
        left.stream().filter(tp -> !got.contains(tp)).forEach(moved::add);
        return moved;
    }

    /**
     * Stop-then-start order (no spare instance): stopping the last KafkaConsumer switches the lone migrating member
     * to Parti; the next PartiConsumer finds a group without Kafka-managed members and joins Parti directly.
     */
    @Test
    void withoutASpareInstanceTheLastPartiConsumerJoinsPartiDirectly() throws Exception {
        String topic = Fixtures.unique("migrate-nospare");
        String groupId = Fixtures.unique("g-nospare");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            group.start("k-1");
            group.start("k-2");
            group.awaitBalanced(List.of("k-1", "k-2"), WAIT);

            group.stop("k-1");
            group.start("p-1", migrating(group, "p-1"));
            group.awaitBalanced(List.of("k-2", "p-1"), WAIT);
            group.stop("k-2"); // p-1 alone can switch
            await("p-1 runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                    .until(() -> phase(group, "p-1") == KafkaToPartiMigration.Phase.PARTI);
            group.awaitBalanced(List.of("p-1"), WAIT);

            group.start("p-2", migrating(group, "p-2"));
            group.awaitBalanced(List.of("p-1", "p-2"), WAIT);
            assertThat(phase(group, "p-2")).isEqualTo(KafkaToPartiMigration.Phase.PARTI);
            assertThat(group.describe().members()).isEmpty();

            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /**
     * Static members (stop, then start under the same {@code group.instance.id}): Kafka hands each PartiConsumer the
     * old member's assignment without a rebalance. The plain leader {@code k-1} listed every plain member in the static
     * members' assignments, so {@code p-1}, taking over the leader's ID (and the leadership), and {@code p-2} find
     * {@code k-2} or {@code k-3} still in the group and ask for no rebalance: both are handed the generation the group
     * had before the swaps. {@code p-3}, replacing the last plain member, asks: the group switches in the first
     * rebalance after the swaps. One rebalance for the three swaps.
     */
    @Test
    void staticMembersReplacedUnderTheirInstanceIdsEndInAPartiRunGroup() throws Exception {
        String topic = Fixtures.unique("migrate-static");
        String groupId = Fixtures.unique("g-static");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            PartiAssignorGroup.Member k1 = threeStaticPlainMembers(group);
            await("k-1 saw the last rebalance").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                    .until(() -> group.describe().groupState() == org.apache.kafka.common.GroupState.STABLE);
            int generation = k1.generations.get(k1.generations.size() - 1);

            group.stop("k-1"); // the plain leader
            PartiAssignorGroup.Member p1 = group.start("p-1", staticMember(migrating(group, "p-1"), "i-1"));
            group.awaitBalanced(List.of("p-1", "k-2", "k-3"), WAIT);
            group.stop("k-2");
            PartiAssignorGroup.Member p2 = group.start("p-2", staticMember(migrating(group, "p-2"), "i-2"));
            group.awaitBalanced(List.of("p-1", "p-2", "k-3"), WAIT);
            assertThat(List.of(p1.generations.get(0), p2.generations.get(0)))
                    .as("p-1 (the leader's ID) and p-2 handed the assignments of the generation before the swaps: no rebalance asked")
                    .containsExactly(generation, generation);

            group.stop("k-3"); // the last plain member
            PartiAssignorGroup.Member p3 = group.start("p-3", staticMember(migrating(group, "p-3"), "i-3"));
            await("p-3 assigned").atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> !p3.generations.isEmpty());
            assertThat(p3.generations.get(0)).as("no rebalance since the swaps began").isEqualTo(generation);

            awaitThreeOnParti(group);
            System.out.printf("static migration of 3 members, the plain leader's ID first: p-1's Kafka generations %s "
                    + "(the group's before the swaps: %d)%n", p1.generations, generation);
            assertThat(p1.generations.get(1)).as("the first rebalance after the swaps is the one p-3 asked for")
                    .isEqualTo(generation + 1);

            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /**
     * Static members, the plain leader's ID replaced last: its assignments list the plain members as unable to switch,
     * so {@code p-2} and {@code p-3}, finding {@code k-1} still there, ask for no rebalance (each is handed the
     * generation the group had before the first swap); {@code p-1}, taking over the leader's ID, asks, and the group
     * switches. One rebalance for the three swaps.
     */
    @Test
    void staticMembersReplacedWithThePlainLeaderLastAskForOneRebalanceOnly() throws Exception {
        String topic = Fixtures.unique("migrate-static-last");
        String groupId = Fixtures.unique("g-static-last");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            PartiAssignorGroup.Member k1 = threeStaticPlainMembers(group);
            await("k-1 saw the last rebalance").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                    .until(() -> group.describe().groupState() == org.apache.kafka.common.GroupState.STABLE);
            int generation = k1.generations.get(k1.generations.size() - 1);

            group.stop("k-2");
            PartiAssignorGroup.Member p2 = group.start("p-2", staticMember(migrating(group, "p-2"), "i-2"));
            group.awaitBalanced(List.of("k-1", "p-2", "k-3"), WAIT);
            group.stop("k-3");
            PartiAssignorGroup.Member p3 = group.start("p-3", staticMember(migrating(group, "p-3"), "i-3"));
            group.awaitBalanced(List.of("k-1", "p-2", "p-3"), WAIT);
            assertThat(List.of(p2.generations.get(0), p3.generations.get(0)))
                    .as("p-2 and p-3 handed the assignments of the generation before the swaps: no rebalance asked")
                    .containsExactly(generation, generation);

            group.stop("k-1"); // the plain leader, the last plain member
            group.start("p-1", staticMember(migrating(group, "p-1"), "i-1"));
            awaitThreeOnParti(group);
            System.out.printf("static migration of 3 members, the plain leader's ID last: p-2's Kafka generations %s, "
                    + "p-3's %s (the group's before the swaps: %d)%n", p2.generations, p3.generations, generation);
            assertThat(p2.generations.get(1)).as("the first rebalance after the swaps is the one p-1 asked for")
                    .isEqualTo(generation + 1);

            assertEveryRecordOnceAndNoOverlap(group);
        }
    }

    /** Starts {@code k-1}, then {@code k-2} and {@code k-3}: static plain members under i-1..i-3, balanced; {@code k-1} leads. */
    private static PartiAssignorGroup.Member threeStaticPlainMembers(PartiAssignorGroup group) throws Exception {
        PartiAssignorGroup.Member k1 = group.start("k-1", staticMember(group.config("k-1", PartiAssignorGroup.PARTI), "i-1"));
        group.awaitBalanced(List.of("k-1"), WAIT); // k-1 leads the Kafka group from now on
        group.start("k-2", staticMember(group.config("k-2", PartiAssignorGroup.PARTI), "i-2"));
        group.start("k-3", staticMember(group.config("k-3", PartiAssignorGroup.PARTI), "i-3"));
        group.awaitBalanced(List.of("k-1", "k-2", "k-3"), WAIT);
        return k1;
    }

    /** {@code p-1}..{@code p-3} consume through Parti, balanced, and the Kafka group has no member left. */
    private static void awaitThreeOnParti(PartiAssignorGroup group) throws Exception {
        await("every member runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() ->
                Stream.of("p-1", "p-2", "p-3").allMatch(p -> phase(group, p) == KafkaToPartiMigration.Phase.PARTI));
        group.awaitBalanced(List.of("p-1", "p-2", "p-3"), WAIT);
        assertThat(group.describe().members()).isEmpty();
    }

    private static Map<String, Object> staticMember(Map<String, Object> config, String instanceId) {
        config.put("group.instance.id", instanceId);
        config.remove(PartiAssignor.WORKER_ID_CONFIG);
        return config;
    }

    /** A bad value of the switch is refused at construction, naming the key; patterns are refused while migrating. */
    @Test
    void badMigrationValueAndPatternSubscriptionAreRefused() {
        Map<String, Object> config = Fixtures.consumerBase(KAFKA.bootstrapServers(), Fixtures.unique("g-bad"));
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, "sideways");
        assertThatThrownBy(() -> new PartiConsumer<String, String>(config)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(PartiConsumerConfig.MIGRATION_CONFIG).hasMessageContaining("sideways");

        config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        PartiConsumer<String, String> consumer = new PartiConsumer<>(config);
        try (consumer) {
            assertThatThrownBy(() -> consumer.subscribe(Pattern.compile("t.*"))).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(PartiConsumerConfig.MIGRATION_CONFIG);
            consumer.subscribe(List.of(Fixtures.unique("t"))); // an empty group: straight to Parti
        }
        assertThatThrownBy(() -> consumer.poll(Duration.ZERO)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    private static Map<String, Object> migrating(PartiAssignorGroup group, String name) {
        Map<String, Object> config = group.config(name, PartiAssignorGroup.PARTI);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        return config;
    }

    /** Until the Parti group {@code groupId} has no live worker (no heartbeat key left). */
    private static void awaitNoLiveWorker(String groupId) throws Exception {
        try (io.nats.client.Connection nc = io.nats.client.Nats.connect(NATS.url())) {
            io.nats.client.KeyValue heartbeats = heartbeats(nc, groupId);
            await("the Parti group's heartbeats expired").atMost(WAIT).pollInterval(Duration.ofMillis(100))
                    .until(() -> heartbeats.keys().isEmpty());
        }
    }

    private static KafkaToPartiMigration.Phase phase(PartiAssignorGroup group, String name) {
        PartiConsumer<String, String> c = (PartiConsumer<String, String>) group.consumer(name);
        return c == null ? null : c.migrationPhase();
    }

    /** The end of every case: production stops, everything is consumed, each record once, no partition owned twice. */
    private static void assertEveryRecordOnceAndNoOverlap(PartiAssignorGroup group) throws Exception {
        group.stopProducing();
        group.awaitAllConsumed(WAIT);
        assertThat(group.violations()).isEmpty();
        assertThat(group.duplicates()).isEmpty();
        assertThat(group.missing()).isEmpty();
        assertThat(group.ownershipReport().overlaps()).isEmpty();
    }
}
