package dev.parti.kafka.internal;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Runs a Parti strategy over members with different subscriptions, as a Kafka group leader must: the
 * topics are grouped by the set of members subscribing to them, and the strategy runs once per group,
 * over those members and the partitions of those topics only. Identical subscriptions make one run. So
 * a member is only ever given partitions of topics it subscribes to, and members sharing a topic share
 * its partitions as the strategy decides. Used by {@code PartiAssignor}'s planner (Kafka's classic
 * protocol) and by {@link SubscriptionStrategy} (Parti's leader): one implementation for both.
 *
 * <p>Pure: no I/O, no clock, no randomness.
 */
public final class SubscriberGroups {
    private SubscriberGroups() {
    }

    /** The topic of a Kafka partition {@code [topic, number]} (its first key). */
    static String topicOf(Partition p) {
        return p.keys().get(0);
    }

    /**
     * Assigns {@code partitions} (Kafka partitions) to {@code workers}, each only from the topics
     * {@code topicsOf} gives it.
     *
     * @param strategy   the strategy to run per set of subscribers
     * @param workers    the members (distinct IDs)
     * @param topicsOf   worker ID → the topics it subscribes to (a worker missing here subscribes to none)
     * @param partitions the partitions to assign; those of a topic nobody subscribes to are left out
     * @param previous   worker ID → what it owned before (each run sees the whole map; strategies ignore
     *                   partitions outside their request)
     * @return worker ID → its partitions, sorted; one entry per worker
     * @throws IllegalStateException when the strategy breaks its contract (an unknown worker or partition,
     *         a partition given twice or left out)
     */
    public static Map<String, List<Partition>> assign(AssignmentStrategy strategy, List<Worker> workers,
                                                      Map<String, Set<String>> topicsOf, List<Partition> partitions,
                                                      Map<String, Set<Partition>> previous) {
        Map<String, Worker> byId = new HashMap<>();
        workers.forEach(w -> byId.put(w.id(), w));
        Map<String, List<Partition>> byTopic = new TreeMap<>();
        for (Partition p : partitions) {
            byTopic.computeIfAbsent(topicOf(p), t -> new ArrayList<>()).add(p);
        }
        // topic → its subscribers; then the topics of each distinct set of subscribers
        Map<List<String>, List<String>> topicsBySubscribers = new LinkedHashMap<>();
        for (String topic : byTopic.keySet()) {
            Set<String> subscribers = new TreeSet<>();
            topicsOf.forEach((id, ts) -> {
                if (byId.containsKey(id) && ts.contains(topic)) {
                    subscribers.add(id);
                }
            });
            if (!subscribers.isEmpty()) {
                topicsBySubscribers.computeIfAbsent(List.copyOf(subscribers), k -> new ArrayList<>()).add(topic);
            }
        }
        Map<String, List<Partition>> out = new TreeMap<>();
        workers.forEach(w -> out.put(w.id(), new ArrayList<>()));
        Set<Partition> given = new HashSet<>();
        for (Map.Entry<List<String>, List<String>> e : topicsBySubscribers.entrySet()) {
            List<Worker> classWorkers = new ArrayList<>();
            Map<String, Set<Partition>> classPrevious = new HashMap<>();
            for (String id : e.getKey()) {
                classWorkers.add(byId.get(id));
                Set<Partition> prev = previous.get(id);
                if (prev != null) {
                    classPrevious.put(id, prev);
                }
            }
            List<Partition> classPartitions = new ArrayList<>();
            e.getValue().forEach(t -> classPartitions.addAll(byTopic.get(t)));
            Map<String, List<Partition>> result =
                    strategy.assign(new AssignmentStrategy.Request(classWorkers, classPartitions, classPrevious));
            Set<Partition> inClass = new HashSet<>(classPartitions);
            for (Map.Entry<String, List<Partition>> owned : result.entrySet()) {
                if (!e.getKey().contains(owned.getKey())) {
                    throw new IllegalStateException("strategy " + strategy.name() + " assigned to unknown worker "
                            + owned.getKey());
                }
                for (Partition p : owned.getValue()) {
                    if (!inClass.contains(p) || !given.add(p)) {
                        throw new IllegalStateException("strategy " + strategy.name()
                                + " assigned an unknown or duplicate partition " + p);
                    }
                    out.get(owned.getKey()).add(p);
                }
            }
            for (Partition p : classPartitions) {
                if (!given.contains(p)) {
                    throw new IllegalStateException("strategy " + strategy.name() + " left " + p + " unassigned");
                }
            }
        }
        out.replaceAll((id, ps) -> {
            Collections.sort(ps);
            return List.copyOf(ps);
        });
        return out;
    }
}
