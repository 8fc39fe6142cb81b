package dev.parti.kafka.internal;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.kafka.KafkaAssignorStrategy;
import dev.parti.kafka.PartiConsumerConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.apache.kafka.common.TopicPartition;
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
 * topic of the request, which is what that release assumed of every member. At a cold start (Parti's first
 * assignment) the partitions the members owned in Kafka when a rolling migration switched ({@link #withOwnedInKafka})
 * count as their previous ownership, so sticky strategies keep them where they are.
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

    /**
     * The partitions {@code owned}, encoded for {@link PartiConsumerDelegate#BRIDGE_OWNED_METADATA}: {@code
     * topic:n,n,...} per topic, {@code ;}-separated (Kafka topic names use none of {@code :;,}); null when empty or
     * longer than {@link #MAX_OWNED_METADATA} characters (then nothing is kept: a heartbeat stays small).
     */
    static String encodeOwned(Set<TopicPartition> owned) {
        if (owned == null || owned.isEmpty()) {
            return null;
        }
        Map<String, List<Integer>> byTopic = new TreeMap<>();
        for (TopicPartition tp : owned) {
            byTopic.computeIfAbsent(tp.topic(), t -> new ArrayList<>()).add(tp.partition());
        }
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, List<Integer>> e : byTopic.entrySet()) {
            if (b.length() > 0) {
                b.append(';');
            }
            b.append(e.getKey()).append(':');
            List<Integer> ns = e.getValue();
            ns.sort(null);
            for (int i = 0; i < ns.size(); i++) {
                b.append(i == 0 ? "" : ",").append(ns.get(i));
            }
        }
        return b.length() > MAX_OWNED_METADATA ? null : b.toString();
    }

    /** The longest {@link #encodeOwned} value published, 8 KiB: 1 500 to 2 000 partitions of one topic. */
    static final int MAX_OWNED_METADATA = 8 * 1024;

    /** The partitions {@code w} publishes as owned by its Kafka side ({@link #encodeOwned}); empty when none or unreadable. */
    static Set<Partition> ownedInKafka(Worker w) {
        String value = w.metadata(PartiConsumerDelegate.BRIDGE_OWNED_METADATA);
        if (value == null || value.isEmpty()) {
            return Set.of();
        }
        Set<Partition> out = new HashSet<>();
        try {
            for (String topicPart : value.split(";")) {
                int colon = topicPart.lastIndexOf(':');
                String topic = topicPart.substring(0, colon);
                for (String n : topicPart.substring(colon + 1).split(",")) {
                    out.add(KafkaPartitions.toPartition(new TopicPartition(topic, Integer.parseInt(n))));
                }
            }
        } catch (RuntimeException e) {
            log.debug("Worker {} publishes partitions owned in Kafka this release cannot read ({}): ignored", w.id(), e.toString());
            return Set.of();
        }
        return out;
    }

    /**
     * {@code request}'s previous ownership; at a cold start (no previous ownership: Parti's first assignment), the
     * partitions each worker owned in Kafka when it began to switch ({@link #ownedInKafka}) instead. So Parti's first
     * assignment after a rolling migration's switch keeps each partition with the member that owned it in Kafka (nothing
     * moves when that was balanced). Once Parti has assigned, only what Parti knows counts: a member that joins later is
     * a new member, whatever it owned in Kafka. Only where a partition goes depends on this, never when it may be taken
     * (the handoff rules do not read it).
     */
    static Map<String, Set<Partition>> withOwnedInKafka(Request request) {
        if (!request.previous().isEmpty()) {
            return request.previous();
        }
        Map<String, Set<Partition>> out = new HashMap<>();
        for (Worker w : request.workers()) {
            Set<Partition> claimed = ownedInKafka(w);
            if (!claimed.isEmpty()) {
                out.put(w.id(), claimed);
            }
        }
        return out;
    }

    /**
     * The switch's Kafka generation for {@link PartiConsumerDelegate#SWITCH_METADATA}: {@code generation}, or {@code
     * generation:members} when {@code members} &gt; 0 (the member that announced the switch); null for a generation
     * below 0 (nothing published). Read by {@link #coldStartComplete}.
     */
    static String encodeSwitch(int generation, int members) {
        return generation < 0 ? null : members > 0 ? generation + ":" + members : Integer.toString(generation);
    }

    /**
     * A rolling migration's switch: whether, for some Kafka generation, as many live workers published it as switching
     * ({@link PartiConsumerDelegate#SWITCH_METADATA}) as the member that announced that switch counted in the Kafka
     * group. Every member the Kafka group had at the switch has then joined Parti, so the first assignment need not wait
     * for more: it keeps each partition where it was in Kafka ({@link #withOwnedInKafka}). Without the count (the
     * announcing member has not joined, or another release runs) the cold-start window runs out as usual.
     */
    @Override
    public boolean coldStartComplete(List<Worker> workers) {
        Map<String, Integer> expected = new HashMap<>();
        Map<String, Integer> joined = new HashMap<>();
        for (Worker w : workers) {
            String value = w.metadata(PartiConsumerDelegate.SWITCH_METADATA);
            if (value == null || value.isEmpty()) {
                continue;
            }
            int colon = value.indexOf(':');
            String generation = colon < 0 ? value : value.substring(0, colon);
            joined.merge(generation, 1, Integer::sum);
            if (colon >= 0) {
                try {
                    expected.merge(generation, Integer.parseInt(value.substring(colon + 1)), Math::max);
                } catch (NumberFormatException e) {
                    log.debug("Worker {} publishes a switch this release cannot read ({}): ignored", w.id(), value);
                }
            }
        }
        return expected.entrySet().stream().anyMatch(e -> e.getValue() > 0
                && joined.getOrDefault(e.getKey(), 0) >= e.getValue());
    }

    @Override
    public Map<String, List<Partition>> assign(Request request) {
        Map<String, Set<Partition>> previous = withOwnedInKafka(request);
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
            return inner.assign(new Request(workers, subscribed, previous));
        }
        return SubscriberGroups.assign(inner, request.workers(), topicsOf, request.partitions(), previous);
    }

    @Override
    public String toString() {
        return "SubscriptionStrategy(" + inner + ")";
    }
}
