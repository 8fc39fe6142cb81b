package dev.parti.kafka.internal;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.kafka.KafkaAssignorStrategy;
import dev.parti.kafka.PartiConsumerConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The strategy {@code PartiConsumer}'s leader runs: each member publishes its subscription in its worker
 * metadata ({@link SubscriptionState#METADATA_KEY}); this resolves, for every member, the topics of the
 * request it subscribes to, and gives it only partitions of those. A Kafka assignor ({@link
 * KafkaAssignorStrategy}) runs once over the whole group and gets each member's real topics, as a Kafka
 * group leader's assignor does; any other strategy runs once per set of members sharing a topic
 * ({@link SubscriberGroups}, as {@code PartiAssignor} does). A member that publishes no subscription (a
 * release before per-member subscriptions, during a rolling upgrade) counts as subscribed to every
 * topic of the request, which is what that release assumed of every member.
 *
 * <p>Runs on Parti's leader thread only, never concurrently.
 */
final class SubscriptionStrategy implements AssignmentStrategy {
    private static final Logger log = LoggerFactory.getLogger(SubscriptionStrategy.class);

    private final AssignmentStrategy inner;
    /**
     * Whether every worker of the last request published {@code parti.migration=parti-to-kafka} (the rolling
     * rollback may start); written on the leader thread, read from any thread.
     */
    private volatile boolean everyWorkerRollsBack;

    SubscriptionStrategy(AssignmentStrategy inner) {
        this.inner = inner;
    }

    @Override
    public String name() {
        return inner.name();
    }

    /** The wrapped strategy. */
    AssignmentStrategy inner() {
        return inner;
    }

    /**
     * Each worker's subscription filter, null for a worker that publishes none (subscribes to everything).
     * A subscription this release cannot read counts as none, and is logged.
     */
    static Predicate<String> filterOf(Worker w) {
        String value = w.metadata(SubscriptionState.METADATA_KEY);
        try {
            return SubscriptionState.matcherOf(value);
        } catch (RuntimeException e) {
            log.warn("Worker {} publishes a subscription this release cannot read ({}): counted as every topic", w.id(), e.toString());
            return null;
        }
    }

    /** Whether every worker of the last request this leader ran published {@code parti.migration=parti-to-kafka}. */
    boolean everyWorkerRollsBack() {
        return everyWorkerRollsBack;
    }

    @Override
    public Map<String, List<Partition>> assign(Request request) {
        everyWorkerRollsBack = !request.workers().isEmpty() && request.workers().stream().allMatch(w ->
                PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA.equals(w.metadata(PartiConsumerConfig.MIGRATION_CONFIG)));
        Set<String> topics = new TreeSet<>();
        request.partitions().forEach(p -> topics.add(SubscriberGroups.topicOf(p)));
        Map<String, Set<String>> topicsOf = new HashMap<>();
        for (Worker w : request.workers()) {
            Predicate<String> filter = filterOf(w);
            Set<String> mine = new TreeSet<>();
            for (String t : topics) {
                if (filter == null || filter.test(t)) {
                    mine.add(t);
                }
            }
            topicsOf.put(w.id(), mine);
        }
        if (inner instanceof KafkaAssignorStrategy) {
            List<Worker> workers = new ArrayList<>();
            for (Worker w : request.workers()) {
                Map<String, String> metadata = new HashMap<>(w.metadata());
                metadata.put(KafkaAssignorStrategy.TOPICS_METADATA, String.join(",", topicsOf.get(w.id())));
                workers.add(new Worker(w.id(), w.capacity(), metadata));
            }
            List<Partition> subscribed = new ArrayList<>();
            for (Partition p : request.partitions()) {
                String t = SubscriberGroups.topicOf(p);
                if (topicsOf.values().stream().anyMatch(ts -> ts.contains(t))) {
                    subscribed.add(p);
                }
            }
            return inner.assign(new Request(workers, subscribed, request.previous()));
        }
        return SubscriberGroups.assign(inner, request.workers(), topicsOf, request.partitions(), request.previous());
    }

    @Override
    public String toString() {
        return "SubscriptionStrategy(" + inner + ")";
    }
}
