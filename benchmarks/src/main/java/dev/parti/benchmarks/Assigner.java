package dev.parti.benchmarks;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.strategy.Strategies;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupAssignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * One assignor under test, Parti's or Kafka's, driven through its public API with equivalent inputs:
 * Parti strategies get a {@link AssignmentStrategy.Request} (workers of capacity 1, partitions
 * {@code [topic, n]} of weight 1, previous = owned partitions); Kafka assignors get
 * {@link ConsumerPartitionAssignor#assign(Cluster, GroupSubscription)} with a {@link Cluster} holding
 * the topics and one subscription per member listing every topic and its owned partitions (all
 * members of the same generation).
 */
public abstract sealed class Assigner {
    /** Names of the Kafka assignors, as used in the benchmark parameters. */
    public static final String KAFKA_RANGE = "kafka-range";
    /** Kafka's cooperative sticky assignor. */
    public static final String KAFKA_COOPERATIVE_STICKY = "kafka-cooperative-sticky";

    /** Every assignor of B1: Parti's strategies, then Kafka's. */
    public static List<String> names() {
        List<String> names = new ArrayList<>(Strategies.names());
        names.add(KAFKA_RANGE);
        names.add(KAFKA_COOPERATIVE_STICKY);
        return names;
    }

    /** The assignor named {@code name} (see {@link #names()}). */
    public static Assigner byName(String name) {
        return switch (name) {
            case KAFKA_RANGE -> new Kafka(name, RangeAssignor::new);
            case KAFKA_COOPERATIVE_STICKY -> new Kafka(name, CooperativeStickyAssignor::new);
            default -> new Parti(Strategies.byName(name));
        };
    }

    private final String name;

    private Assigner(String name) {
        this.name = name;
    }

    /** The name. */
    public String name() {
        return name;
    }

    /** Whether the assignor hands partitions over in several rounds (Kafka's cooperative protocol). */
    public boolean cooperative() {
        return false;
    }

    /**
     * Converts the input once, outside any measurement.
     *
     * @param members    member (worker) IDs
     * @param partitions the partitions
     * @param owned      member → partitions it owned before (may be empty)
     * @param generation the members' generation (Kafka only)
     */
    public abstract Prepared prepare(List<String> members, List<TopicPartition> partitions,
                                     Map<String, List<TopicPartition>> owned, int generation);

    /** A converted input, ready to run many times. */
    public interface Prepared {
        /** Runs the assignor once; what the benchmark measures. */
        Object run();

        /** Runs the assignor once and converts its result to member → partitions. */
        Map<String, List<TopicPartition>> assign();
    }

    @Override
    public String toString() {
        return name;
    }

    private static final class Parti extends Assigner {
        private final AssignmentStrategy strategy;

        Parti(AssignmentStrategy strategy) {
            super(strategy.name());
            this.strategy = strategy;
        }

        @Override
        public Prepared prepare(List<String> members, List<TopicPartition> partitions,
                                Map<String, List<TopicPartition>> owned, int generation) {
            List<Worker> workers = members.stream().map(Worker::of).toList();
            List<Partition> ps = partitions.stream().map(Scenario::toParti).toList();
            Map<String, Set<Partition>> previous = new HashMap<>();
            owned.forEach((w, tps) -> {
                Set<Partition> set = new HashSet<>();
                tps.forEach(tp -> set.add(Scenario.toParti(tp)));
                previous.put(w, set);
            });
            AssignmentStrategy.Request request = new AssignmentStrategy.Request(workers, ps, previous);
            return new Prepared() {
                @Override
                public Object run() {
                    return strategy.assign(request);
                }

                @Override
                public Map<String, List<TopicPartition>> assign() {
                    Map<String, List<TopicPartition>> result = new LinkedHashMap<>();
                    strategy.assign(request).forEach((w, list) ->
                            result.put(w, list.stream().map(Scenario::toKafka).toList()));
                    return result;
                }
            };
        }
    }

    private static final class Kafka extends Assigner {
        private static final Node NODE = new Node(0, "localhost", 9092);
        private final Supplier<ConsumerPartitionAssignor> factory;

        Kafka(String name, Supplier<ConsumerPartitionAssignor> factory) {
            super(name);
            this.factory = factory;
        }

        @Override
        public boolean cooperative() {
            return name().equals(KAFKA_COOPERATIVE_STICKY);
        }

        @Override
        public Prepared prepare(List<String> members, List<TopicPartition> partitions,
                                Map<String, List<TopicPartition>> owned, int generation) {
            List<PartitionInfo> infos = new ArrayList<>(partitions.size());
            Node[] replicas = {NODE};
            for (TopicPartition tp : partitions) {
                infos.add(new PartitionInfo(tp.topic(), tp.partition(), NODE, replicas, replicas));
            }
            Cluster cluster = new Cluster("parti-bench", List.of(NODE), infos, Set.of(), Set.of());
            List<String> topics = Scenario.topics(partitions);
            Map<String, Subscription> subscriptions = new HashMap<>();
            for (String m : members) {
                subscriptions.put(m, new Subscription(topics, (ByteBuffer) null,
                        owned.getOrDefault(m, List.of()), generation, Optional.empty()));
            }
            GroupSubscription group = new GroupSubscription(subscriptions);
            ConsumerPartitionAssignor assignor = factory.get();
            return new Prepared() {
                @Override
                public Object run() {
                    return assignor.assign(cluster, group);
                }

                @Override
                public Map<String, List<TopicPartition>> assign() {
                    GroupAssignment result = assignor.assign(cluster, group);
                    Map<String, List<TopicPartition>> out = new LinkedHashMap<>();
                    members.stream().sorted().forEach(m -> out.put(m, result.groupAssignment().get(m).partitions()));
                    return out;
                }
            };
        }
    }
}
