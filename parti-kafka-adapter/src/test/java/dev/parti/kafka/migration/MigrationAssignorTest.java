package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.kafka.PartiAssignor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** The leader rules of {@link MigrationAssignor} and its user-data trailer, without a broker. */
class MigrationAssignorTest {
    private static final int PARTITIONS = 9;

    @Property(tries = 300)
    void theTrailerIsFoundAndStrippedWhateverPrecedesIt(@ForAll @Size(max = 64) byte[] data, @ForAll boolean switching) {
        byte state = switching ? MigrationAssignor.SWITCHING : MigrationAssignor.READY;
        ByteBuffer with = MigrationAssignor.withTrailer(ByteBuffer.wrap(data), state);
        assertThat(MigrationAssignor.state(with)).isEqualTo(state);
        ByteBuffer stripped = MigrationAssignor.strip(with);
        byte[] back = new byte[stripped.remaining()];
        stripped.get(back);
        assertThat(back).isEqualTo(data);
        assertThat(MigrationAssignor.state(ByteBuffer.wrap(data))).as("no trailer").isZero();
    }

    @Property(tries = 300)
    void theListOfMembersThatCannotSwitchIsFoundAndStrippedWhateverPrecedesIt(
            @ForAll @Size(max = 64) byte[] data, @ForAll @Size(max = 8) Set<String> memberIds) {
        ByteBuffer with = MigrationAssignor.withPending(ByteBuffer.wrap(data), memberIds);
        assertThat(MigrationAssignor.state(with)).isEqualTo(MigrationAssignor.PENDING);
        assertThat(MigrationAssignor.pending(with)).isEqualTo(memberIds);
        ByteBuffer stripped = MigrationAssignor.strip(with);
        byte[] back = new byte[stripped.remaining()];
        stripped.get(back);
        assertThat(back).isEqualTo(data);
        assertThat(MigrationAssignor.pending(ByteBuffer.wrap(data))).as("no trailer").isNull();
    }

    @Test
    void withAPlainMemberTheAssignmentIsPartiAssignorsAndTheMigratingMemberLearnsWhoCannotSwitch() {
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), migrating("w-1").subscriptionUserData(Set.of("t"))));
        subs.put("m-2", new Subscription(List.of("t"), plain("w-2").subscriptionUserData(Set.of("t"))));
        Map<String, Assignment> result = migrating("w-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        Map<String, Assignment> plan = plain("w-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(result.get("m-1").partitions()).containsExactlyElementsOf(plan.get("m-1").partitions());
        assertThat(MigrationAssignor.pending(result.get("m-1").userData())).containsExactly("m-2");
        assertThat(bytes(MigrationAssignor.strip(result.get("m-1").userData()))).isEqualTo(bytes(plan.get("m-1").userData()));
        assertThat(bytes(result.get("m-2").userData())).as("a dynamic plain member's bytes")
                .isEqualTo(bytes(plan.get("m-2").userData()));
        assertWhole(result);

        List<Set<String>> told = new ArrayList<>();
        MigrationAssignor listening = configured("w-1", new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
            }

            @Override
            public void assigned(int generation, Set<String> cannotSwitch) {
                told.add(cannotSwitch);
            }
        });
        listening.onAssignment(result.get("m-1"), new ConsumerGroupMetadata("g", 3, "m-1", Optional.empty()));
        listening.onAssignment(plan.get("m-1"), new ConsumerGroupMetadata("g", 4, "m-1", Optional.empty()));
        assertThat(told).containsExactly(Set.of("m-2"), null);
        // and a plain PartiAssignor leader reads a migrating member's user data like any other
        Map<String, Assignment> byPlain = plain("w-2").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(byPlain.values()).allSatisfy(a -> assertThat(a.partitions()).isNotEmpty());
        assertWhole(byPlain);
    }

    /**
     * A static plain member's assignment carries the list too (the broker hands it to the member that replaces it),
     * and a plain {@code PartiAssignor} reads it exactly as without: its next subscription is the same.
     */
    @Test
    void aStaticPlainMemberGetsTheListAndReadsItsAssignmentAsBefore() {
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), migrating("w-1").subscriptionUserData(Set.of("t"))));
        Subscription plainStatic = new Subscription(List.of("t"), plain("w-2").subscriptionUserData(Set.of("t")));
        plainStatic.setGroupInstanceId(Optional.of("i-2"));
        subs.put("m-2", plainStatic);
        subs.put("m-3", new Subscription(List.of("t"), plain("w-3").subscriptionUserData(Set.of("t"))));
        Map<String, Assignment> result = migrating("w-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        Map<String, Assignment> plan = plain("w-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(MigrationAssignor.pending(result.get("m-2").userData())).containsExactly("m-2", "m-3");
        assertThat(bytes(MigrationAssignor.strip(result.get("m-2").userData()))).isEqualTo(bytes(plan.get("m-2").userData()));
        assertThat(bytes(result.get("m-3").userData())).isEqualTo(bytes(plan.get("m-3").userData()));

        PartiAssignor withList = plain("w-2");
        PartiAssignor without = plain("w-2");
        ConsumerGroupMetadata meta = new ConsumerGroupMetadata("g", 6, "m-2", Optional.of("i-2"));
        withList.onAssignment(result.get("m-2"), meta);
        without.onAssignment(plan.get("m-2"), meta);
        assertThat(bytes(withList.subscriptionUserData(Set.of("t")))).isEqualTo(bytes(without.subscriptionUserData(Set.of("t"))));
    }

    /**
     * A plain {@code PartiAssignor} leader lists every plain member (itself included, no migrating member) in the
     * assignment of every static member (migrating or plain, its own included): the member that replaces one learns
     * who cannot switch, so the leader's replacement, too, finds the others still there and asks for nothing. Dynamic
     * members' bytes are unchanged; a plain member reads its assignment as before; a leader that cannot tell which
     * member it is (its worker ID announced twice) lists nobody.
     */
    @Test
    void aPlainLeaderListsEveryPlainMemberInTheAssignmentsOfTheStaticMembers() {
        Map<String, Subscription> subs = new TreeMap<>();
        Subscription leaderStatic = new Subscription(List.of("t"), plain("i-1").subscriptionUserData(Set.of("t")));
        leaderStatic.setGroupInstanceId(Optional.of("i-1"));
        subs.put("m-1", leaderStatic);
        Subscription plainStatic = new Subscription(List.of("t"), plain("i-2").subscriptionUserData(Set.of("t")));
        plainStatic.setGroupInstanceId(Optional.of("i-2"));
        subs.put("m-2", plainStatic);
        subs.put("m-3", new Subscription(List.of("t"), plain("w-3").subscriptionUserData(Set.of("t"))));
        Subscription migratingStatic = new Subscription(List.of("t"), migrating("i-4").subscriptionUserData(Set.of("t")));
        migratingStatic.setGroupInstanceId(Optional.of("i-4"));
        subs.put("m-4", migratingStatic);
        Map<String, Assignment> result = plain("i-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        Map<String, Assignment> plan = plain("w-9").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        for (String static_ : List.of("m-1", "m-2", "m-4")) {
            assertThat(MigrationAssignor.pending(result.get(static_).userData())).as(static_)
                    .containsExactlyInAnyOrder("m-1", "m-2", "m-3");
            assertThat(bytes(MigrationAssignor.strip(result.get(static_).userData()))).as(static_)
                    .isEqualTo(bytes(plan.get(static_).userData()));
            assertThat(result.get(static_).partitions()).isEqualTo(plan.get(static_).partitions());
        }
        assertThat(bytes(result.get("m-3").userData())).as("m-3, dynamic").isEqualTo(bytes(plan.get("m-3").userData()));
        assertWhole(result);

        PartiAssignor withList = plain("i-2");
        PartiAssignor without = plain("i-2");
        ConsumerGroupMetadata meta = new ConsumerGroupMetadata("g", 6, "m-2", Optional.of("i-2"));
        withList.onAssignment(result.get("m-2"), meta);
        without.onAssignment(plan.get("m-2"), meta);
        assertThat(bytes(withList.subscriptionUserData(Set.of("t")))).isEqualTo(bytes(without.subscriptionUserData(Set.of("t"))));

        List<Set<String>> told = new ArrayList<>();
        configured("i-4", new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
            }

            @Override
            public void assigned(int generation, Set<String> cannotSwitch) {
                told.add(cannotSwitch);
            }
        }).onAssignment(result.get("m-4"), new ConsumerGroupMetadata("g", 6, "m-4", Optional.of("i-4")));
        assertThat(told).containsExactly(Set.of("m-1", "m-2", "m-3"));

        subs.put("m-5", new Subscription(List.of("t"), plain("i-1").subscriptionUserData(Set.of("t"))));
        Map<String, Assignment> ambiguous = plain("i-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(ambiguous.values()).allSatisfy(a -> assertThat(MigrationAssignor.pending(a.userData())).isNull());
    }

    /**
     * In a group too large for every static member to be told every plain member (over {@link
     * MigrationAssignor#PENDING_BUDGET_BYTES}), a plain leader lists only itself, in the other static members'
     * assignments: linear in the group, and those replacing a member while the leader is there still ask for nothing.
     */
    @Test
    void aPlainLeaderOfALargeGroupListsOnlyItself() {
        Map<String, Subscription> subs = new TreeMap<>();
        for (int i = 1; i <= 150; i++) {
            Subscription plainStatic = new Subscription(List.of("t"), plain("i-" + i).subscriptionUserData(Set.of("t")));
            plainStatic.setGroupInstanceId(Optional.of("i-" + i));
            subs.put("i-" + i + "-2f1c6a8e-7d0b-4c7e-9a51-0c3e5b7d9f21", plainStatic);
        }
        String leader = "i-1-2f1c6a8e-7d0b-4c7e-9a51-0c3e5b7d9f21";
        Map<String, Assignment> result = plain("i-1").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(MigrationAssignor.pending(result.get(leader).userData())).as("the leader's own").isNull();
        assertThat(result.entrySet().stream().filter(e -> !e.getKey().equals(leader)))
                .allSatisfy(e -> assertThat(MigrationAssignor.pending(e.getValue().userData())).containsExactly(leader));
    }

    /**
     * The lists grow with the square of the group (one per recipient, as long as the group has plain members) and the
     * broker keeps every assignment in one record: past {@link MigrationAssignor#PENDING_BUDGET_BYTES} nobody is told,
     * and the assignment is {@code PartiAssignor}'s byte for byte.
     */
    @Test
    void aLargeGroupIsNotToldWhoCannotSwitchSoItsAssignmentsStaySmall() {
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-0", new Subscription(List.of("t"), migrating("w-0").subscriptionUserData(Set.of("t"))));
        for (int i = 1; i <= 150; i++) {
            Subscription plainStatic = new Subscription(List.of("t"), plain("i-" + i).subscriptionUserData(Set.of("t")));
            plainStatic.setGroupInstanceId(Optional.of("i-" + i));
            subs.put("i-" + i + "-2f1c6a8e-7d0b-4c7e-9a51-0c3e5b7d9f21", plainStatic);
        }
        Map<String, Assignment> result = migrating("w-0").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        Map<String, Assignment> plan = plain("w-9").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        long bytes = result.values().stream().mapToLong(a -> a.userData() == null ? 0 : a.userData().remaining()).sum();
        long planned = plan.values().stream().mapToLong(a -> a.userData() == null ? 0 : a.userData().remaining()).sum();
        assertThat(bytes).as("no list appended").isEqualTo(planned);
        assertThat(result.values()).allSatisfy(a -> assertThat(MigrationAssignor.pending(a.userData())).isNull());

        Map<String, Subscription> small = new TreeMap<>();
        small.put("m-0", subs.get("m-0"));
        subs.entrySet().stream().filter(e -> !e.getKey().equals("m-0")).limit(10)
                .forEach(e -> small.put(e.getKey(), e.getValue()));
        Map<String, Assignment> told = migrating("w-0").assign(cluster(), new GroupSubscription(small)).groupAssignment();
        assertThat(MigrationAssignor.pending(told.get("m-0").userData())).hasSize(10);
    }

    /**
     * Any mixed group (plain dynamic, plain static, migrating members; at least one plain): the partitions are {@code
     * PartiAssignor}'s; with a migrating member, each migrating and each static plain member is told exactly the plain
     * members, and a dynamic plain member's bytes are {@code PartiAssignor}'s; without one, nothing is appended.
     */
    @Property(tries = 200)
    void inAMixedGroupTheMigratingMembersLearnExactlyWhoCannotSwitch(
            @ForAll @Size(min = 1, max = 6) List<@net.jqwik.api.constraints.IntRange(min = 0, max = 3) Integer> kinds) {
        // kind 0: plain dynamic, 1: plain static, 2: migrating dynamic, 3: migrating static; member 0 is plain
        Map<String, Subscription> subs = new TreeMap<>();
        Set<String> plainIds = new HashSet<>();
        boolean anyMigrating = false;
        for (int m = 0; m < kinds.size(); m++) {
            int kind = m == 0 ? kinds.get(0) % 2 : kinds.get(m);
            String id = "m-" + m;
            ByteBuffer data = kind < 2 ? plain("w-" + m).subscriptionUserData(Set.of("t"))
                    : migrating("w-" + m).subscriptionUserData(Set.of("t"));
            Subscription sub = new Subscription(List.of("t"), data);
            if (kind % 2 == 1) {
                sub.setGroupInstanceId(Optional.of("i-" + m));
            }
            subs.put(id, sub);
            if (kind < 2) {
                plainIds.add(id);
            } else {
                anyMigrating = true;
            }
        }
        Map<String, Assignment> result = migrating("w-x").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        Map<String, Assignment> plan = plain("w-x").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(result.keySet()).isEqualTo(subs.keySet());
        for (String id : subs.keySet()) {
            assertThat(result.get(id).partitions()).as(id).containsExactlyElementsOf(plan.get(id).partitions());
            ByteBuffer data = result.get(id).userData();
            boolean told = anyMigrating && (!plainIds.contains(id) || subs.get(id).groupInstanceId().isPresent());
            if (told) {
                assertThat(MigrationAssignor.pending(data)).as(id).isEqualTo(plainIds);
                assertThat(bytes(MigrationAssignor.strip(data))).as(id).isEqualTo(bytes(plan.get(id).userData()));
            } else {
                assertThat(bytes(data)).as(id + ": PartiAssignor's bytes").isEqualTo(bytes(plan.get(id).userData()));
            }
        }
    }

    @Test
    void whenEveryMemberCanSwitchTheGenerationIsFlaggedAndAMemberLearnsIt() {
        MigrationAssignor one = migrating("w-1");
        MigrationAssignor two = migrating("w-2");
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), one.subscriptionUserData(Set.of("t"))));
        subs.put("m-2", new Subscription(List.of("t"), two.subscriptionUserData(Set.of("t"))));
        Map<String, Assignment> result = one.assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertWhole(result);
        assertThat(result.values()).allSatisfy(a ->
                assertThat(MigrationAssignor.state(a.userData())).isEqualTo(MigrationAssignor.SWITCHING));

        List<Integer> announced = new ArrayList<>();
        MigrationAssignor listening = configured("w-2", (generation, members) -> announced.add(generation));
        assertThat(MigrationAssignor.state(listening.subscriptionUserData(Set.of("t")))).isEqualTo(MigrationAssignor.READY);
        listening.onAssignment(result.get("m-2"), new ConsumerGroupMetadata("g", 7, "m-2", Optional.empty()));
        assertThat(announced).containsExactly(7);
        assertThat(MigrationAssignor.state(listening.subscriptionUserData(Set.of("t")))).isEqualTo(MigrationAssignor.SWITCHING);
    }

    @Test
    void onceSwitchingMembersKeepWhatTheyOwnAndNothingOfALeaverMoves() {
        MigrationAssignor a = configured("w-1", (g, members) -> { });
        MigrationAssignor b = configured("w-2", (g, members) -> { });
        Assignment flagged = new Assignment(List.of(), MigrationAssignor.withTrailer(null, MigrationAssignor.SWITCHING));
        a.onAssignment(flagged, null);
        b.onAssignment(flagged, null);
        List<TopicPartition> ownedA = List.of(new TopicPartition("t", 0), new TopicPartition("t", 1));
        List<TopicPartition> ownedB = List.of(new TopicPartition("t", 2));
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), a.subscriptionUserData(Set.of("t")), ownedA, 8, Optional.empty()));
        subs.put("m-2", new Subscription(List.of("t"), b.subscriptionUserData(Set.of("t")), ownedB, 8, Optional.empty()));
        // a new migrating member arriving mid-switch is still READY: it gets nothing in Kafka, and the flag
        subs.put("m-3", new Subscription(List.of("t"), migrating("w-3").subscriptionUserData(Set.of("t")), List.of(), -1,
                Optional.empty()));
        Map<String, Assignment> result = a.assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(result.get("m-1").partitions()).containsExactlyInAnyOrderElementsOf(ownedA);
        assertThat(result.get("m-2").partitions()).containsExactlyInAnyOrderElementsOf(ownedB);
        assertThat(result.get("m-3").partitions()).isEmpty();
        assertThat(result.values()).allSatisfy(x ->
                assertThat(MigrationAssignor.state(x.userData())).isEqualTo(MigrationAssignor.SWITCHING));
    }

    /**
     * Every member can switch and none is switching, but Parti already runs the group (members that switched earlier
     * left the Kafka group, these joined it after them; or Parti's state cannot be read): each member keeps exactly what
     * it owns in Kafka, nothing else is handed out, and the switch is announced. Without the Parti check the same group
     * gets {@code PartiAssignor}'s whole plan.
     */
    @Property(tries = 100)
    void whenPartiRunsEveryMemberKeepsWhatItOwnsAndGetsNothingMore(
            @ForAll @Size(min = PARTITIONS, max = PARTITIONS)
            List<@net.jqwik.api.constraints.IntRange(min = -1, max = 2) Integer> owners,
            @ForAll boolean partiRuns) {
        List<List<TopicPartition>> owned = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (int p = 0; p < PARTITIONS; p++) {
            if (owners.get(p) >= 0) {
                owned.get(owners.get(p)).add(new TopicPartition("t", p));
            }
        }
        MigrationAssignor leader = configured("w-0", new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
            }

            @Override
            public boolean partiMayRun() {
                return partiRuns;
            }
        });
        Map<String, Subscription> subs = new TreeMap<>();
        for (int m = 0; m < 3; m++) {
            MigrationAssignor member = m == 0 ? leader : migrating("w-" + m);
            subs.put("m-" + m, new Subscription(List.of("t"), member.subscriptionUserData(Set.of("t")), owned.get(m), 5,
                    Optional.empty()));
        }
        Map<String, Assignment> result = leader.assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(result.values()).allSatisfy(a ->
                assertThat(MigrationAssignor.state(a.userData())).isEqualTo(MigrationAssignor.SWITCHING));
        if (partiRuns) {
            for (int m = 0; m < 3; m++) {
                assertThat(result.get("m-" + m).partitions()).as("m-" + m).containsExactlyInAnyOrderElementsOf(owned.get(m));
            }
        } else {
            Map<String, Assignment> plan = plain("w-0").assign(cluster(), new GroupSubscription(subs)).groupAssignment();
            for (int m = 0; m < 3; m++) {
                assertThat(result.get("m-" + m).partitions()).as("m-" + m)
                        .containsExactlyInAnyOrderElementsOf(plan.get("m-" + m).partitions());
            }
        }
    }

    @Test
    void aRebalanceIsReportedFromTheSubscriptionUntilTheAssignment() {
        List<Boolean> rebalancing = new ArrayList<>();
        MigrationAssignor a = configured("w-1", new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
            }

            @Override
            public void rebalancing(boolean inProgress) {
                rebalancing.add(inProgress);
            }
        });
        a.subscriptionUserData(Set.of("t"));
        assertThat(rebalancing).containsExactly(true);
        a.onAssignment(new Assignment(List.of(new TopicPartition("t", 0)), null), null);
        assertThat(rebalancing).containsExactly(true, false);
    }

    @Test
    void withoutItsSignalItRefusesToBeConfigured() {
        assertThatThrownBy(() -> new MigrationAssignor().configure(Map.of("parti.worker.id", "w")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(MigrationAssignor.SIGNAL_CONFIG);
    }

    @Property(tries = 300)
    void aRollbackReportIsFoundAndStrippedWhateverPrecedesIt(@ForAll @Size(max = 64) byte[] data,
                                                            @ForAll @Size(max = 20) Set<@net.jqwik.api.constraints.IntRange(max = 99) Integer> claimed) {
        Set<TopicPartition> claims = new HashSet<>();
        claimed.forEach(p -> claims.add(new TopicPartition("topic-" + (p % 3), p)));
        ByteBuffer with = MigrationAssignor.withClaims(ByteBuffer.wrap(data), claims);
        assertThat(MigrationAssignor.state(with)).isEqualTo(MigrationAssignor.ROLLBACK);
        assertThat(MigrationAssignor.claims(with)).isEqualTo(claims);
        ByteBuffer stripped = MigrationAssignor.strip(with);
        byte[] back = new byte[stripped.remaining()];
        stripped.get(back);
        assertThat(back).isEqualTo(data);
    }

    /**
     * The leader's rollback rule, for any owned (cooperative, disjoint) and reported sets: no partition twice; a
     * partition owned in Kafka stays with its owner; otherwise it goes to its only reporter, and to nobody when two
     * members or none report it; the assignment says ROLLED exactly when every partition is assigned.
     */
    @Property(tries = 500)
    void aRollbackAssignmentMovesNothingAndGivesAReportedPartitionOnlyToItsOnlyReporter(
            @ForAll @Size(value = PARTITIONS) List<@net.jqwik.api.constraints.IntRange(min = -1, max = 3) Integer> ownerOf,
            @ForAll @Size(value = 4) List<@Size(max = PARTITIONS) Set<@net.jqwik.api.constraints.IntRange(max = PARTITIONS - 1) Integer>> reports,
            @ForAll @Size(value = 4) List<Boolean> rollingBack) {
        Map<String, Subscription> subs = new TreeMap<>();
        for (int m = 0; m < 4; m++) {
            List<TopicPartition> owned = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                if (ownerOf.get(p) == m) {
                    owned.add(new TopicPartition("t", p));
                }
            }
            Set<TopicPartition> claims = new HashSet<>();
            reports.get(m).forEach(p -> claims.add(new TopicPartition("t", p)));
            ByteBuffer data = rollingBack.get(m) || m == 0 ? MigrationAssignor.withClaims(null, claims) : null;
            subs.put("m-" + m, new Subscription(List.of("t"), data, owned, 3, Optional.empty()));
        }
        Map<String, Assignment> result = MigrationAssignor.rollbackAssignment(cluster(), subs).groupAssignment();
        assertThat(result.keySet()).isEqualTo(subs.keySet());
        Map<TopicPartition, String> assigned = new HashMap<>();
        result.forEach((m, a) -> a.partitions().forEach(tp ->
                assertThat(assigned.put(tp, m)).as("assigned once: " + tp).isNull()));
        for (int p = 0; p < PARTITIONS; p++) {
            TopicPartition tp = new TopicPartition("t", p);
            int owner = ownerOf.get(p);
            List<String> reporters = new ArrayList<>();
            for (int m = 0; m < 4; m++) {
                if ((rollingBack.get(m) || m == 0) && reports.get(m).contains(p)) {
                    reporters.add("m-" + m);
                }
            }
            if (owner >= 0) {
                assertThat(assigned.get(tp)).as("owned in Kafka: " + tp).isEqualTo("m-" + owner);
            } else if (reporters.size() == 1) {
                assertThat(assigned.get(tp)).as("reported once: " + tp).isEqualTo(reporters.get(0));
            } else {
                assertThat(assigned.get(tp)).as("reported by " + reporters + ": " + tp).isNull();
            }
        }
        byte expected = assigned.size() == PARTITIONS ? MigrationAssignor.ROLLED : 0;
        assertThat(result.values()).allSatisfy(a -> assertThat(MigrationAssignor.state(a.userData())).isEqualTo(expected));
    }

    @Test
    void aMemberRollingBackReportsWhatItOwnsUntilTheGroupHasRolledBack() {
        Set<TopicPartition> owned = Set.of(new TopicPartition("t", 1), new TopicPartition("t", 4));
        List<Integer> rolled = new ArrayList<>();
        boolean[] done = {false};
        MigrationAssignor a = configured("w-1", new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
            }

            @Override
            public boolean rollsBack() {
                return true;
            }

            @Override
            public Set<TopicPartition> rollbackClaims() {
                return done[0] ? null : owned;
            }

            @Override
            public void rolledBack(int generation) {
                rolled.add(generation);
                done[0] = true;
            }
        });
        ByteBuffer sub = a.subscriptionUserData(Set.of("t"));
        assertThat(MigrationAssignor.state(sub)).isEqualTo(MigrationAssignor.ROLLBACK);
        assertThat(MigrationAssignor.claims(sub)).isEqualTo(owned);
        // a plain PartiAssignor leader still reads the member (the report is a trailer its reader ignores)
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), sub));
        assertWhole(plain("w-2").assign(cluster(), new GroupSubscription(subs)).groupAssignment());

        a.onAssignment(new Assignment(List.copyOf(owned), MigrationAssignor.withTrailer(null, MigrationAssignor.ROLLED)),
                new ConsumerGroupMetadata("g", 5, "m-1", Optional.empty()));
        assertThat(rolled).containsExactly(5);
        assertThat(MigrationAssignor.state(a.subscriptionUserData(Set.of("t")))).as("a plain member now").isZero();
    }

    private static byte[] bytes(ByteBuffer data) {
        if (data == null) {
            return null;
        }
        ByteBuffer d = data.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    private static void assertWhole(Map<String, Assignment> result) {
        Set<TopicPartition> all = new HashSet<>();
        result.values().forEach(x -> x.partitions().forEach(tp -> assertThat(all.add(tp)).as("once: " + tp).isTrue()));
        assertThat(all).hasSize(PARTITIONS);
    }

    /**
     * Every member can switch: the Kafka leader that announces the switch learns, in its own assignment, how many members
     * it announced it to; the others learn the generation only. Once the group switches, nobody is told a count again.
     */
    @Test
    void theLeaderAnnouncingTheSwitchLearnsHowManyMembersItToldTheOthersOnlyTheGeneration() {
        Map<String, Subscription> subs = new TreeMap<>();
        for (int i = 1; i <= 3; i++) {
            subs.put("m-" + i, new Subscription(List.of("t"), migrating("w-" + i).subscriptionUserData(Set.of("t"))));
        }
        Map<String, Integer> told = new TreeMap<>();
        MigrationAssignor leader = configured("w-1", counting("m-1", told));
        Map<String, Assignment> result = leader.assign(cluster(), new GroupSubscription(subs)).groupAssignment();
        leader.onAssignment(result.get("m-1"), new ConsumerGroupMetadata("g", 7, "m-1", Optional.empty()));
        configured("w-2", counting("m-2", told)).onAssignment(result.get("m-2"),
                new ConsumerGroupMetadata("g", 7, "m-2", Optional.empty()));
        assertThat(told).containsExactlyInAnyOrderEntriesOf(Map.of("m-1", 3, "m-2", 0));

        told.clear();
        Map<String, Subscription> switching = new TreeMap<>();
        subs.forEach((m, sub) -> switching.put(m, new Subscription(List.of("t"),
                MigrationAssignor.withTrailer(MigrationAssignor.strip(sub.userData()), MigrationAssignor.SWITCHING))));
        Map<String, Assignment> next = leader.assign(cluster(), new GroupSubscription(switching)).groupAssignment();
        leader.onAssignment(next.get("m-1"), new ConsumerGroupMetadata("g", 8, "m-1", Optional.empty()));
        assertThat(told).containsExactly(Map.entry("m-1", 0));
    }

    /** A signal recording, per member, the count each switch announcement gave it. */
    private static MigrationAssignor.SwitchSignal counting(String member, Map<String, Integer> told) {
        return new MigrationAssignor.SwitchSignal() {
            @Override
            public void switchAnnounced(int generation, int members) {
                told.put(member, members);
            }
        };
    }

    private static MigrationAssignor migrating(String workerId) {
        return configured(workerId, (g, members) -> { });
    }

    private static MigrationAssignor configured(String workerId, MigrationAssignor.SwitchSignal signal) {
        MigrationAssignor a = new MigrationAssignor();
        Map<String, Object> config = new HashMap<>();
        config.put(PartiAssignor.WORKER_ID_CONFIG, workerId);
        config.put(MigrationAssignor.SIGNAL_CONFIG, signal);
        a.configure(config);
        return a;
    }

    private static PartiAssignor plain(String workerId) {
        PartiAssignor a = new PartiAssignor();
        a.configure(Map.of(PartiAssignor.WORKER_ID_CONFIG, workerId));
        return a;
    }

    private static Cluster cluster() {
        Node node = new Node(1, "localhost", 9092);
        List<PartitionInfo> infos = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            infos.add(new PartitionInfo("t", p, node, new Node[] {node}, new Node[] {node}));
        }
        return new Cluster("c", List.of(node), infos, Set.of(), Set.of());
    }
}
