package dev.parti.kafka;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupAssignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.RebalanceProtocol;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * A classic consumer group without a broker, driving real {@link PartiAssignor} instances the way Kafka's
 * {@code ConsumerCoordinator} does: subscriptions (with owned partitions and generation under
 * {@code COOPERATIVE}, without under {@code EAGER}) go through Kafka's own {@link ConsumerProtocol}
 * serialization, the leader assigns, Kafka's cooperative validation is applied, and every member gets
 * {@code onAssignment}. A member that has to revoke partitions rejoins, as Kafka's follow-up rebalance does.
 */
final class PartiAssignorSimulation {
    static final String GROUP = "sim";

    private final Map<String, Integer> topics = new TreeMap<>();
    private final Map<String, SimMember> members = new LinkedHashMap<>();
    private final RebalanceProtocol protocol;
    private int generation;
    private int rounds;
    private long lastSubscriptionBytes;
    private long lastAssignmentBytes;
    private long lastAssignNanos;
    private long lastUserDataBytes;

    PartiAssignorSimulation(RebalanceProtocol protocol) {
        this.protocol = protocol;
    }

    /** One member: an assignor (a "process"), its member ID, its topics and what it owns. */
    static final class SimMember {
        final String name;
        final PartiAssignor assignor;
        final String memberId;
        final Optional<String> instanceId;
        final List<String> topics;
        List<TopicPartition> owned = List.of();
        int generation = -1;

        SimMember(String name, PartiAssignor assignor, Optional<String> instanceId, List<String> topics) {
            this.name = name;
            this.assignor = assignor;
            this.memberId = name + "-" + UUID.randomUUID();
            this.instanceId = instanceId;
            this.topics = List.copyOf(topics);
        }
    }

    PartiAssignorSimulation topic(String name, int partitions) {
        topics.put(name, partitions);
        return this;
    }

    /** A new member (a new process) with the given assignor configuration. */
    SimMember join(String name, Map<String, ?> config, String... subscribedTopics) {
        PartiAssignor assignor = new PartiAssignor();
        assignor.configure(config);
        Object instanceId = config.get("group.instance.id");
        SimMember m = new SimMember(name, assignor, Optional.ofNullable((String) instanceId),
                subscribedTopics.length == 0 ? List.copyOf(topics.keySet()) : List.of(subscribedTopics));
        members.put(name, m);
        return m;
    }

    /** A member with {@code parti.worker.id = name}. */
    SimMember join(String name) {
        return join(name, Map.of(PartiAssignor.WORKER_ID_CONFIG, name));
    }

    /** The member leaves (or its process dies and its session expires). */
    void leave(String name) {
        if (members.remove(name) == null) {
            throw new IllegalArgumentException("no member " + name);
        }
    }

    SimMember member(String name) {
        return members.get(name);
    }

    Collection<SimMember> members() {
        return members.values();
    }

    int rounds() {
        return rounds;
    }

    long lastSubscriptionBytes() {
        return lastSubscriptionBytes;
    }

    long lastAssignmentBytes() {
        return lastAssignmentBytes;
    }

    long lastAssignNanos() {
        return lastAssignNanos;
    }

    /** PartiAssignor's user data alone in the last round: subscriptions' plus assignments'. */
    long lastUserDataBytes() {
        return lastUserDataBytes;
    }

    Cluster cluster() {
        Node node = new Node(1, "localhost", 9092);
        List<PartitionInfo> infos = new ArrayList<>();
        for (Map.Entry<String, Integer> e : topics.entrySet()) {
            for (int p = 0; p < e.getValue(); p++) {
                infos.add(new PartitionInfo(e.getKey(), p, node, new Node[] {node}, new Node[] {node}));
            }
        }
        return new Cluster("sim", List.of(node), infos, Set.of(), Set.of());
    }

    /**
     * One rebalance round, the leader being {@code leader} (or the first member).
     *
     * @return whether some member revoked partitions (so Kafka would run a follow-up round)
     * @throws IllegalStateException when the assignment breaks Kafka's cooperative validation or assigns a
     *                               partition twice
     */
    boolean round(String leader) {
        rounds++;
        Map<String, Subscription> subscriptions = new TreeMap<>();
        long subscriptionBytes = 0;
        long userDataBytes = 0;
        for (SimMember m : members.values()) {
            ByteBuffer userData = m.assignor.subscriptionUserData(Set.copyOf(m.topics));
            userDataBytes += userData.remaining();
            List<TopicPartition> owned = protocol == RebalanceProtocol.COOPERATIVE ? m.owned : List.of();
            Subscription sent = new Subscription(m.topics, userData, owned, m.generation, Optional.empty());
            ByteBuffer wire = ConsumerProtocol.serializeSubscription(sent);
            subscriptionBytes += wire.remaining();
            Subscription received = ConsumerProtocol.deserializeSubscription(wire);
            received.setGroupInstanceId(m.instanceId);
            subscriptions.put(m.memberId, received);
        }
        lastSubscriptionBytes = subscriptionBytes;
        SimMember leaderMember = leader != null ? members.get(leader) : members.values().iterator().next();
        long started = System.nanoTime();
        GroupAssignment result = leaderMember.assignor.assign(cluster(), new GroupSubscription(subscriptions));
        lastAssignNanos = System.nanoTime() - started;
        Map<String, Assignment> assignments = result.groupAssignment();
        if (!assignments.keySet().equals(subscriptions.keySet())) {
            throw new IllegalStateException("assignment for " + assignments.keySet() + ", members "
                    + subscriptions.keySet());
        }
        if (protocol == RebalanceProtocol.COOPERATIVE) {
            validateCooperative(assignments);
        }
        Set<TopicPartition> seen = new HashSet<>();
        for (Assignment a : assignments.values()) {
            for (TopicPartition tp : a.partitions()) {
                if (!seen.add(tp)) {
                    throw new IllegalStateException(tp + " assigned twice in one round");
                }
            }
        }
        generation++;
        boolean revoked = false;
        long assignmentBytes = 0;
        for (SimMember m : members.values()) {
            ByteBuffer assignmentUserData = assignments.get(m.memberId).userData();
            userDataBytes += assignmentUserData == null ? 0 : assignmentUserData.remaining();
            ByteBuffer wire = ConsumerProtocol.serializeAssignment(assignments.get(m.memberId));
            assignmentBytes += wire.remaining();
            Assignment received = ConsumerProtocol.deserializeAssignment(wire);
            Set<TopicPartition> now = new HashSet<>(received.partitions());
            if (protocol == RebalanceProtocol.COOPERATIVE && !now.containsAll(m.owned)) {
                revoked = true;
            }
            m.owned = List.copyOf(received.partitions());
            m.generation = generation;
            m.assignor.onAssignment(received, new ConsumerGroupMetadata(GROUP, generation, m.memberId, m.instanceId));
        }
        lastAssignmentBytes = assignmentBytes;
        lastUserDataBytes = userDataBytes;
        return revoked;
    }

    /** Rounds until nobody revokes (at most 5); returns the number of rounds run. */
    int converge() {
        return converge(null);
    }

    int converge(String leader) {
        for (int n = 1; n <= 5; n++) {
            if (!round(leader)) {
                return n;
            }
        }
        throw new IllegalStateException("no convergence in 5 rounds");
    }

    /** Worker name → owned partitions. */
    Map<String, Set<TopicPartition>> ownership() {
        Map<String, Set<TopicPartition>> result = new TreeMap<>();
        for (SimMember m : members.values()) {
            result.put(m.name, Set.copyOf(m.owned));
        }
        return result;
    }

    /** Partition → worker name. */
    Map<TopicPartition, String> owners() {
        Map<TopicPartition, String> result = new HashMap<>();
        for (SimMember m : members.values()) {
            for (TopicPartition tp : m.owned) {
                result.put(tp, m.name);
            }
        }
        return result;
    }

    int totalPartitions() {
        return topics.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** Kafka's {@code ConsumerCoordinator.validateCooperativeAssignment}, restated. */
    private void validateCooperative(Map<String, Assignment> assignments) {
        Set<TopicPartition> added = new HashSet<>();
        Set<TopicPartition> revoked = new HashSet<>();
        for (SimMember m : members.values()) {
            List<TopicPartition> now = assignments.get(m.memberId).partitions();
            Set<TopicPartition> a = new HashSet<>(now);
            a.removeAll(m.owned);
            Set<TopicPartition> r = new HashSet<>(m.owned);
            r.removeAll(now);
            added.addAll(a);
            revoked.addAll(r);
        }
        added.retainAll(revoked);
        if (!added.isEmpty()) {
            throw new IllegalStateException("COOPERATIVE violation: " + added + " handed straight to another member");
        }
    }
}
