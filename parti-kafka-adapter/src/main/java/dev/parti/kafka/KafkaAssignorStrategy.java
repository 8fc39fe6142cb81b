package dev.parti.kafka;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.kafka.internal.KafkaPartitions;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * A Kafka {@link ConsumerPartitionAssignor} (for example {@code RangeAssignor},
 * {@code RoundRobinAssignor}, {@code CooperativeStickyAssignor} or a custom one) run as a Parti
 * {@link AssignmentStrategy} on the Parti leader. {@link PartiConsumer} uses it when the user sets
 * {@code partition.assignment.strategy} explicitly, so assignments that applications depend on, such
 * as {@code RangeAssignor}'s co-partitioning of topics with equal partition counts, survive the move to Parti.
 *
 * <p>Each call builds what the assignor expects from a Kafka group leader: a {@link Cluster} holding
 * the request's partitions (no brokers), and one {@link Subscription} per worker, the member ID being
 * the worker ID, its topics being those its metadata {@value #TOPICS_METADATA} names (comma-separated;
 * every topic of the request when absent), its owned partitions being its previous assignment (so
 * sticky assignors stay sticky), all at the same generation. Then it calls
 * {@link ConsumerPartitionAssignor#assign(Cluster, GroupSubscription)}. {@code PartiConsumer} sets that
 * metadata from each member's real subscription, so the assignor sees members with different topics
 * as a Kafka group leader would.
 *
 * <p>Contract adaptations: the partitions must be Kafka partitions ({@code [topic, number]}, as
 * {@code PartiConsumer} creates them); weights and worker capacities are ignored (Kafka assignors
 * know neither); a partition the assignor leaves out, if any, goes to the worker with the fewest
 * partitions among those subscribing to its topic (ties by ID; among all workers when none
 * does), and a partition it gives twice stays with the first worker by ID, so the
 * result always keeps the {@link AssignmentStrategy} contract. The result is as deterministic as the
 * wrapped assignor (Kafka's built-in ones are).
 *
 * <p>Thread-safety: Parti calls a strategy on the leader's thread only, never concurrently; this
 * class adds no state, but a stateful assignor must not be shared with a {@code KafkaConsumer}.
 */
public final class KafkaAssignorStrategy implements AssignmentStrategy {
    /** Prefix of {@link #name()}. */
    public static final String NAME_PREFIX = "kafka:";
    /** Worker metadata key: the topics the worker subscribes to, comma-separated; absent means every topic of the request. */
    public static final String TOPICS_METADATA = "kafka.topics";
    private static final int GENERATION = 1;

    private final ConsumerPartitionAssignor assignor;

    /** @param assignor the Kafka assignor to run, already configured if it is {@code Configurable} */
    public KafkaAssignorStrategy(ConsumerPartitionAssignor assignor) {
        this.assignor = Objects.requireNonNull(assignor, "assignor");
    }

    /** The wrapped assignor. */
    public ConsumerPartitionAssignor assignor() {
        return assignor;
    }

    /** {@code kafka:} followed by the assignor's name, e.g. {@code kafka:range}. */
    @Override
    public String name() {
        return NAME_PREFIX + assignor.name();
    }

    /**
     * Runs the Kafka assignor over the request.
     *
     * @throws IllegalArgumentException when a partition is not a Kafka partition {@code [topic, number]}
     */
    @Override
    public Map<String, List<Partition>> assign(Request request) {
        if (request.workers().isEmpty()) {
            return Map.of();
        }
        Map<TopicPartition, Partition> byTp = new HashMap<>();
        List<PartitionInfo> infos = new ArrayList<>();
        Set<String> topics = new TreeSet<>();
        for (Partition p : request.partitions()) {
            TopicPartition tp = KafkaPartitions.toTopicPartition(p);
            byTp.put(tp, p);
            topics.add(tp.topic());
            infos.add(new PartitionInfo(tp.topic(), tp.partition(), null, new Node[0], new Node[0]));
        }
        Cluster cluster = new Cluster("parti", List.of(), infos, Set.of(), Set.of());

        Map<String, Subscription> subscriptions = new TreeMap<>();
        Map<String, Set<String>> topicsOf = new HashMap<>();
        for (Worker w : request.workers()) {
            Set<String> mine = topics;
            String named = w.metadata(TOPICS_METADATA);
            if (named != null) {
                mine = new TreeSet<>(named.isEmpty() ? List.of() : List.of(named.split(",")));
                mine.retainAll(topics);
            }
            topicsOf.put(w.id(), mine);
            List<TopicPartition> owned = new ArrayList<>();
            for (Partition p : request.previous().getOrDefault(w.id(), Set.of())) {
                TopicPartition tp = tryTopicPartition(p);
                if (tp != null && byTp.containsKey(tp)) {
                    owned.add(tp);
                }
            }
            owned.sort(KafkaPartitions.ORDER);
            ByteBuffer userData = assignor.subscriptionUserData(new HashSet<>(mine));
            subscriptions.put(w.id(), new Subscription(List.copyOf(mine), userData, owned, GENERATION, Optional.empty()));
        }
        Map<String, Assignment> result = assignor.assign(cluster, new GroupSubscription(subscriptions)).groupAssignment();

        Map<String, List<Partition>> out = new LinkedHashMap<>();
        Set<TopicPartition> given = new HashSet<>();
        for (String id : subscriptions.keySet()) {
            List<Partition> mine = new ArrayList<>();
            Assignment a = result.get(id);
            if (a != null) {
                for (TopicPartition tp : a.partitions()) {
                    Partition p = byTp.get(tp);
                    if (p != null && given.add(tp)) {
                        mine.add(p);
                    }
                }
            }
            out.put(id, mine);
        }
        List<TopicPartition> leftOver = new ArrayList<>(byTp.keySet());
        leftOver.removeAll(given);
        leftOver.sort(KafkaPartitions.ORDER);
        for (TopicPartition tp : leftOver) {
            String least = null;
            boolean anySubscriber = topicsOf.values().stream().anyMatch(ts -> ts.contains(tp.topic()));
            for (Map.Entry<String, List<Partition>> e : out.entrySet()) {
                boolean eligible = !anySubscriber || topicsOf.get(e.getKey()).contains(tp.topic());
                if (eligible && (least == null || e.getValue().size() < out.get(least).size())) {
                    least = e.getKey();
                }
            }
            out.get(least).add(byTp.get(tp));
        }
        out.replaceAll((id, ps) -> {
            List<Partition> sorted = new ArrayList<>(ps);
            Collections.sort(sorted);
            return List.copyOf(sorted);
        });
        return out;
    }

    private static TopicPartition tryTopicPartition(Partition p) {
        try {
            return KafkaPartitions.toTopicPartition(p);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    @Override
    public String toString() {
        return "KafkaAssignorStrategy(" + assignor.getClass().getName() + ")";
    }
}
