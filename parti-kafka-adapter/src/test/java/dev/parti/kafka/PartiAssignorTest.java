package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.kafka.PartiAssignorCodec.AssignmentData;
import dev.parti.kafka.PartiAssignorCodec.MemberData;
import dev.parti.kafka.PartiAssignorSimulation.SimMember;
import dev.parti.strategy.Strategies;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.RebalanceProtocol;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The assignor without a broker: configuration, user data, and rebalances driven by {@link PartiAssignorSimulation}. */
class PartiAssignorTest {

    // ---- configuration ----

    @Test
    void nameAndProtocols() {
        PartiAssignor assignor = new PartiAssignor();
        assertThat(assignor.name()).isEqualTo("parti").isEqualTo(PartiAssignor.NAME);
        assertThat(assignor.supportedProtocols())
                .containsExactlyInAnyOrder(RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER);
        assertThat(assignor.strategy()).isSameAs(Strategies.defaultStrategy());
        assertThat(assignor.weight()).isEqualTo(1L);
    }

    @Test
    void workerIdComesFromGroupInstanceIdThenPartiWorkerIdThenIsGeneratedOncePerProcess() {
        PartiAssignor both = configured(Map.of("group.instance.id", "static-1", "parti.worker.id", "w-1"));
        assertThat(both.workerId()).isEqualTo("static-1");

        PartiAssignor onlyParti = configured(Map.of("parti.worker.id", "w-1"));
        assertThat(onlyParti.workerId()).isEqualTo("w-1");

        PartiAssignor generatedA = configured(Map.of("client.id", "consumer-a"));
        PartiAssignor generatedA2 = configured(Map.of("client.id", "consumer-a"));
        PartiAssignor generatedB = configured(Map.of("client.id", "consumer-b"));
        assertThat(generatedA.workerId()).startsWith("parti-").endsWith("-consumer-a")
                .isEqualTo(generatedA2.workerId()); // same process, same consumer: same ID
        assertThat(generatedB.workerId()).isNotEqualTo(generatedA.workerId());
        assertThat(configured(Map.of()).workerId()).isNotEqualTo(configured(Map.of()).workerId());
    }

    @Test
    void weightAndStrategyAreRead() {
        PartiAssignor assignor = configured(Map.of("parti.worker.weight", "3", "parti.strategy", "consistent-hash"));
        assertThat(assignor.weight()).isEqualTo(3L);
        assertThat(assignor.strategy().name()).isEqualTo("consistent-hash");
        assertThat(configured(Map.of("parti.worker.weight", 2)).weight()).isEqualTo(2L);
    }

    @Test
    void unknownStrategyIsAConfigExceptionNamingTheKeyAndTheValidNames() {
        assertThatThrownBy(() -> configured(Map.of("parti.strategy", "range")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("parti.strategy")
                .hasMessageContaining("range")
                .hasMessageContaining(String.join(", ", Strategies.names()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-1", "abc", "1.5", ""})
    void badWeightIsAConfigExceptionNamingTheKey(String weight) {
        assertThatThrownBy(() -> configured(Map.of("parti.worker.weight", weight)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("parti.worker.weight");
    }

    @Test
    void emptyWorkerIdIsAConfigException() {
        assertThatThrownBy(() -> configured(Map.of("parti.worker.id", "")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("parti.worker.id");
    }

    @Test
    void kafkaConsumerAcceptsPartiKeysAndWrapsTheAssignorsConfigErrors() {
        Map<String, Object> config = consumerConfig();
        config.put("parti.worker.id", "w-1");
        config.put("parti.worker.weight", "2");
        config.put("parti.strategy", "round-robin");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            assertThat(consumer.groupMetadata().groupId()).isEqualTo("cfg"); // built: unknown keys are not rejected
        }

        config.put("parti.strategy", "nope");
        assertThatThrownBy(() -> new KafkaConsumer<String, String>(config).close())
                .isInstanceOf(KafkaException.class)
                .rootCause().isInstanceOf(ConfigException.class)
                .hasMessageContaining("parti.strategy").hasMessageContaining("sticky-balanced");
    }

    @Test
    void groupProtocolConsumerRejectsClientSideAssignors() {
        Map<String, Object> config = consumerConfig();
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        config.remove(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG);
        config.remove(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG);
        assertThatThrownBy(() -> new KafkaConsumer<String, String>(config).close())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
    }

    // ---- user data ----

    @Test
    void userDataRoundTrips() {
        TopicPartition a0 = new TopicPartition("a", 0);
        TopicPartition a7 = new TopicPartition("a", 7);
        TopicPartition b2 = new TopicPartition("b.x", 2);
        MemberData member = new MemberData("wörker-1", 5, "wörker-1", 42,
                Map.of("", List.of(a7, a0), "gone", List.of(b2)), "w-2", Map.of("", List.of(b2)));
        MemberData decoded = PartiAssignorCodec.decodeMember(PartiAssignorCodec.encode(member));
        assertThat(decoded.workerId()).isEqualTo("wörker-1");
        assertThat(decoded.weight()).isEqualTo(5);
        assertThat(decoded.generation()).isEqualTo(42);
        assertThat(decoded.holdings()).isEqualTo(Map.of("", List.of(a0, a7), "gone", List.of(b2)));
        assertThat(decoded.buddyId()).isEqualTo("w-2");
        assertThat(decoded.memo()).isEqualTo(Map.of("", List.of(b2)));

        AssignmentData assignment = new AssignmentData("x#m", List.of(b2), Map.of("gone", List.of(a0)), null, Map.of());
        AssignmentData back = PartiAssignorCodec.decodeAssignment(PartiAssignorCodec.encode(assignment));
        assertThat(back).isEqualTo(assignment);
    }

    @Test
    void aLaterVersionWithMoreFieldsIsReadAsVersionOne() {
        ByteBuffer v1 = PartiAssignorCodec.encode(new MemberData("w", 1, null, -1, Map.of(), null, Map.of()));
        ByteBuffer v2 = ByteBuffer.allocate(v1.remaining() + 4);
        v2.put(v1.duplicate()).putInt(12345).flip();
        v2.putShort(0, (short) 2);
        assertThat(PartiAssignorCodec.decodeMember(v2).workerId()).isEqualTo("w");
    }

    @Test
    void membersWithoutOrWithMalformedUserDataStillGetPartitions() {
        PartiAssignor leader = configured(Map.of("parti.worker.id", "w-1"));
        Map<String, Subscription> subs = new TreeMap<>();
        subs.put("m-1", new Subscription(List.of("t"), leader.subscriptionUserData(Set.of("t"))));
        subs.put("m-2", new Subscription(List.of("t"), ByteBuffer.wrap("garbage".getBytes(StandardCharsets.UTF_8))));
        Subscription none = new Subscription(List.of("t"), null);
        none.setGroupInstanceId(Optional.of("static-3"));
        subs.put("m-3", none);
        Map<String, Assignment> result = leader.assign(new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE)
                .topic("t", 9).cluster(), new GroupSubscription(subs)).groupAssignment();
        assertThat(result).containsOnlyKeys("m-1", "m-2", "m-3");
        assertThat(result.values()).allSatisfy(a -> assertThat(a.partitions()).hasSize(3));
    }

    // ---- rebalances ----

    @ParameterizedTest
    @EnumSource(RebalanceProtocol.class)
    void coldStartIsBalancedAndTheSameWhoeverLeads(RebalanceProtocol protocol) {
        PartiAssignorSimulation a = group(protocol, 50, "w-1", "w-2", "w-3");
        PartiAssignorSimulation b = group(protocol, 50, "w-1", "w-2", "w-3");
        a.converge("w-1");
        b.converge("w-3");
        assertThat(counts(a)).containsOnly(17, 16);
        assertThat(a.ownership()).isEqualTo(b.ownership());
    }

    @ParameterizedTest
    @EnumSource(RebalanceProtocol.class)
    void scaleOutMovesOnlyTheNewcomersShareAndNeverHandsAnOwnedPartitionStraightOver(RebalanceProtocol protocol) {
        int p = 50;
        PartiAssignorSimulation sim = group(protocol, p, "w-1", "w-2", "w-3");
        sim.converge();
        Map<TopicPartition, String> before = sim.owners();

        sim.join("w-4");
        boolean followUp = sim.round(null); // validates Kafka's cooperative rule inside
        if (protocol == RebalanceProtocol.COOPERATIVE) {
            assertThat(followUp).isTrue();
            assertThat(sim.member("w-4").owned).isEmpty(); // withheld until released
            assertThat(sim.round(null)).isFalse();
        } else {
            assertThat(followUp).isFalse();
        }
        Map<TopicPartition, String> after = sim.owners();
        assertThat(after).hasSize(p);
        long moved = after.entrySet().stream().filter(e -> !e.getValue().equals(before.get(e.getKey()))).count();
        assertThat(moved).isEqualTo(p / 4); // all to the newcomer: the theoretical minimum
        assertThat(sim.member("w-4").owned).hasSize(p / 4);
        assertThat(counts(sim)).containsOnly(13, 12);
    }

    @ParameterizedTest
    @EnumSource(RebalanceProtocol.class)
    void aRestartedMemberGetsItsPartitionsBackEvenAfterLeavingTheGroup(RebalanceProtocol protocol) {
        PartiAssignorSimulation sim = group(protocol, 48, "w-1", "w-2", "w-3", "w-4");
        sim.converge();
        Map<String, Set<TopicPartition>> initial = sim.ownership();

        for (String name : List.of("w-1", "w-2", "w-3", "w-4")) { // a rolling restart, leader included
            sim.leave(name);
            sim.converge();
            assertThat(sim.owners()).hasSize(48);
            sim.join(name); // a new process: a new assignor that remembers nothing
            sim.converge();
            assertThat(sim.ownership()).isEqualTo(initial);
        }
    }

    @Test
    void staticMembersAreIdentifiedByGroupInstanceId() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE).topic("t", 12);
        for (String name : List.of("a", "b", "c")) {
            sim.join(name, Map.of("group.instance.id", "static-" + name));
        }
        sim.converge();
        Map<String, Set<TopicPartition>> initial = sim.ownership();
        sim.leave("b");
        sim.converge();
        sim.join("b", Map.of("group.instance.id", "static-b"));
        sim.converge();
        assertThat(sim.ownership()).isEqualTo(initial);
    }

    @Test
    void theMemoryIsLostOnlyWhenAWorkerAndTheKeeperOfItsMemoAreAwayTogether() {
        // Each worker keeps the memo of the next in ID order: w-4 keeps w-1's, w-2 keeps w-3's.
        PartiAssignorSimulation sim = group(RebalanceProtocol.COOPERATIVE, 40, "w-1", "w-2", "w-3", "w-4");
        sim.converge();
        Map<String, Set<TopicPartition>> initial = sim.ownership();
        sim.leave("w-1");
        sim.leave("w-3");
        sim.converge();
        sim.join("w-1");
        sim.join("w-3");
        sim.converge();
        assertThat(sim.ownership()).isEqualTo(initial); // their memo keepers stayed
        sim.leave("w-1");
        sim.leave("w-4"); // w-4 keeps w-1's memo, w-3 keeps w-4's
        sim.converge();
        sim.join("w-1");
        sim.join("w-4");
        sim.converge();
        assertThat(counts(sim)).containsOnly(10); // still balanced
        assertThat(sim.ownership().get("w-4")).isEqualTo(initial.get("w-4"));
        assertThat(sim.ownership().get("w-1")).isNotEqualTo(initial.get("w-1")); // forgotten
    }

    @Test
    void duplicateWorkerIdsAreDisambiguatedDeterministicallyAndTheGroupStillWorks() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE).topic("t", 12);
        sim.join("a", Map.of("parti.worker.id", "same"));
        sim.converge();
        Set<TopicPartition> aBefore = Set.copyOf(sim.member("a").owned);
        sim.join("b", Map.of("parti.worker.id", "same")); // misconfigured: same ID
        sim.join("c", Map.of("parti.worker.id", "other"));
        sim.converge();
        assertThat(counts(sim)).containsOnly(4);
        assertThat(sim.owners()).hasSize(12);
        assertThat(aBefore).containsAll(sim.member("a").owned); // the member that had the ID keeps it (and stays sticky)
        // the same result whoever leads
        Map<String, Set<TopicPartition>> now = sim.ownership();
        sim.round("c");
        assertThat(sim.ownership()).isEqualTo(now);
    }

    @Test
    void membersSubscribingToDifferentTopicsGetOnlyTheirTopics() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE)
                .topic("orders", 6).topic("payments", 4).topic("unused", 3);
        sim.join("a", Map.of("parti.worker.id", "a"), "orders", "payments");
        sim.join("b", Map.of("parti.worker.id", "b"), "orders");
        sim.join("c", Map.of("parti.worker.id", "c"), "payments", "missing-topic");
        sim.converge();
        assertThat(sim.member("b").owned).allMatch(tp -> tp.topic().equals("orders")).hasSize(3);
        assertThat(sim.member("c").owned).allMatch(tp -> tp.topic().equals("payments")).hasSize(2);
        assertThat(sim.member("a").owned).hasSize(5);
        assertThat(sim.owners()).hasSize(10);
    }

    @Test
    void weightsAreHonoured() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE).topic("t", 40);
        sim.join("big", Map.of("parti.worker.id", "big", "parti.worker.weight", "3"));
        sim.join("small", Map.of("parti.worker.id", "small"));
        sim.converge();
        assertThat(sim.member("big").owned).hasSize(30);
        assertThat(sim.member("small").owned).hasSize(10);
    }

    @Test
    void theLeadersStrategyIsUsed() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE).topic("t", 64);
        sim.join("w-1", Map.of("parti.worker.id", "w-1", "parti.strategy", "consistent-hash"));
        sim.join("w-2", Map.of("parti.worker.id", "w-2", "parti.strategy", "consistent-hash"));
        sim.converge("w-1");
        Map<String, Set<TopicPartition>> hashed = sim.ownership();
        // consistent-hash is a function of the IDs: compare with the strategy itself
        Map<String, List<dev.parti.Partition>> expected = Strategies.byName("consistent-hash").assign(
                dev.parti.AssignmentStrategy.Request.fresh(
                        List.of(dev.parti.Worker.of("w-1"), dev.parti.Worker.of("w-2")),
                        java.util.stream.IntStream.range(0, 64).mapToObj(i -> dev.parti.Partition.of("t", "" + i)).toList()));
        assertThat(hashed.get("w-1")).isEqualTo(expected.get("w-1").stream()
                .map(p -> new TopicPartition("t", Integer.parseInt(p.keys().get(1)))).collect(Collectors.toSet()));
    }

    @Test
    void aSwitchFromCooperativeStickyKeepsTheCurrentOwnership() {
        // The group ran cooperative-sticky until now: members own partitions, parti remembers nothing.
        CooperativeStickyAssignor sticky = new CooperativeStickyAssignor();
        PartiAssignorSimulation sim = group(RebalanceProtocol.COOPERATIVE, 30, "w-1", "w-2", "w-3");
        Map<String, Subscription> subs = new TreeMap<>();
        for (SimMember m : sim.members()) {
            subs.put(m.memberId, new Subscription(m.topics, null, List.of(), -1, Optional.empty()));
        }
        Map<String, Assignment> bySticky = sticky.assign(sim.cluster(), new GroupSubscription(subs)).groupAssignment();
        int gen = 7;
        for (SimMember m : sim.members()) {
            m.owned = bySticky.get(m.memberId).partitions();
            m.generation = gen;
        }
        Map<TopicPartition, String> before = sim.owners();
        assertThat(sim.converge()).isEqualTo(1);
        assertThat(sim.owners()).isEqualTo(before);
    }

    // ---- helpers ----

    private static PartiAssignor configured(Map<String, ?> config) {
        PartiAssignor assignor = new PartiAssignor();
        assignor.configure(config);
        return assignor;
    }

    static PartiAssignorSimulation group(RebalanceProtocol protocol, int partitions, String... names) {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(protocol).topic("t", partitions);
        for (String name : names) {
            sim.join(name);
        }
        return sim;
    }

    static List<Integer> counts(PartiAssignorSimulation sim) {
        return sim.ownership().values().stream().map(Set::size).toList();
    }

    private static Map<String, Object> consumerConfig() {
        Map<String, Object> config = new HashMap<>();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:9");
        config.put(ConsumerConfig.GROUP_ID_CONFIG, "cfg");
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        config.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, PartiAssignor.class.getName());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        config.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        return config;
    }
}
