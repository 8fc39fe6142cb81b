package dev.parti.kafka.internal;

import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.Worker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.Objects;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * The partitions of what the consumer subscribes to (a topic list or a pattern) and, on the leader, of
 * what every other member subscribes to, as a snapshot that
 * Parti's leader reads through {@link #partitions(List)} without any I/O: the snapshot is refreshed by
 * {@link #refresh(Duration)} on the consumer's timer thread with a separate {@link Admin} client (the
 * inner {@code KafkaConsumer} is single-threaded and belongs to the polling thread, and Parti's main
 * thread must never wait for Kafka).
 *
 * <p>Members' subscriptions: the leader passes the live workers, each with the subscription it publishes
 * ({@link SubscriptionState#METADATA_KEY}); the watcher then follows their union too (a change is read at
 * once, through the runnable given to {@link #onGroupChange}) and returns the partitions of the topics
 * some live member subscribes to. A member that publishes none (an older release) counts as subscribed
 * to everything the watcher knows.
 *
 * <p>Thread-safe: the subscription is set by the polling thread, refreshes run on the timer thread,
 * reads happen on Parti's main thread.
 */
final class TopicWatcher implements PartitionSource {
    /** A topic list, or a pattern: {@code patternKey} identifies it (syntax, text, flags), {@code matcher} applies it. */
    private record Subscription(Set<String> topics, String patternKey, Predicate<String> matcher) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Subscription s && Objects.equals(topics, s.topics) && Objects.equals(patternKey, s.patternKey);
        }

        @Override
        public int hashCode() {
            return Objects.hash(topics, patternKey);
        }
    }

    private record Snapshot(Subscription of, Set<String> group, List<Partition> partitions, Set<String> topics,
                            Set<String> missing) { }

    private static final Snapshot EMPTY = new Snapshot(null, Set.of(), List.of(), Set.of(), Set.of());

    private final Admin admin;
    private final boolean includeInternal;
    private volatile Subscription subscription;
    private volatile Snapshot snapshot = EMPTY;
    /** The subscriptions other live members publish (leader only; empty elsewhere). */
    private volatile Set<String> group = Set.of();
    private volatile Runnable onGroupChange = () -> { };

    TopicWatcher(Admin admin, boolean includeInternal) {
        this.admin = admin;
        this.includeInternal = includeInternal;
    }

    /** Follows the topics {@code topics} from now on. */
    void subscribe(Set<String> topics) {
        Subscription s = new Subscription(Set.copyOf(topics), null, null);
        if (!s.equals(subscription)) {
            subscription = s;
        }
    }

    /** Follows the topics {@code matcher} accepts from now on; {@code patternKey} identifies the pattern. */
    void subscribe(String patternKey, Predicate<String> matcher) {
        Subscription s = new Subscription(null, patternKey, matcher);
        if (!s.equals(subscription)) {
            subscription = s;
        }
    }

    /** Follows nothing. */
    void clear() {
        subscription = null;
        group = Set.of();
        snapshot = EMPTY;
    }

    /** Called (on Parti's main thread) when the members' subscriptions changed: should refresh soon. */
    void onGroupChange(Runnable r) {
        onGroupChange = r;
    }

    /**
     * Leader's main thread: the partitions of the topics the live {@code workers} subscribe to, from the
     * last refresh; never blocks. Starts following what they subscribe to (the partitions of a topic only
     * another member subscribes to appear after the refresh this triggers).
     */
    @Override
    public List<Partition> partitions(List<Worker> workers) {
        Set<String> values = new TreeSet<>();
        boolean everything = workers.isEmpty();
        for (Worker w : workers) {
            String v = w.metadata(SubscriptionState.METADATA_KEY);
            if (v == null) {
                everything = true;
            } else {
                values.add(v);
            }
        }
        if (!values.equals(group)) {
            group = Set.copyOf(values);
            onGroupChange.run();
        }
        List<Partition> all = snapshot.partitions();
        if (everything) {
            return all;
        }
        List<Predicate<String>> filters = new ArrayList<>();
        for (Worker w : workers) {
            Predicate<String> f = SubscriptionStrategy.filterOf(w);
            if (f == null) {
                return all;
            }
            filters.add(f);
        }
        List<Partition> out = new ArrayList<>();
        for (Partition p : all) {
            String topic = p.keys().get(0);
            if (filters.stream().anyMatch(f -> f.test(topic))) {
                out.add(p);
            }
        }
        return out;
    }

    /** Whether the snapshot reflects the current subscription (it was refreshed since the last change). */
    boolean isCurrent() {
        Subscription s = subscription;
        return s != null && s.equals(snapshot.of());
    }

    /**
     * The partitions of the last refresh, sorted; empty before the first. Never blocks. Right after a
     * subscription change this is still the previous subscription's snapshot until the next refresh
     * (better than an empty list, which would make the leader revoke everything for a moment).
     */
    @Override
    public List<Partition> partitions() {
        return snapshot.partitions();
    }

    /** The topics of the last refresh that exist (for a pattern: that match), sorted. */
    Set<String> topics() {
        Snapshot s = snapshot;
        return s.of() != null && s.of().equals(subscription) ? s.topics() : Set.of();
    }

    /** Subscribed topics (of a topic list, this member's or another's) that did not exist at the last refresh: read again soon. */
    Set<String> missing() {
        return snapshot.missing();
    }

    /**
     * Reads the topics and partition counts of the subscription from Kafka.
     *
     * @return whether the partitions changed
     * @throws InvalidTopicException when a subscribed topic name is invalid
     * @throws TopicAuthorizationException when a subscribed topic may not be described
     * @throws Exception when Kafka does not answer within {@code timeout}; the snapshot is kept
     */
    synchronized boolean refresh(Duration timeout) throws Exception {
        Subscription s = subscription;
        Set<String> others = group;
        if (s == null) {
            return false;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        Set<String> explicit = new TreeSet<>();
        List<Predicate<String>> patterns = new ArrayList<>();
        if (s.matcher() != null) {
            patterns.add(s.matcher());
        } else {
            explicit.addAll(s.topics());
        }
        for (String v : others) {
            if (v.startsWith("topics:")) {
                String list = v.substring("topics:".length());
                if (!list.isEmpty()) {
                    explicit.addAll(List.of(list.split(",")));
                }
            } else {
                try {
                    patterns.add(SubscriptionState.matcherOf(v));
                } catch (RuntimeException unreadable) {
                    // counted as every topic by the strategy; nothing more to read for it
                }
            }
        }
        Set<String> candidates = new TreeSet<>(explicit);
        if (!patterns.isEmpty()) {
            for (String name : admin.listTopics(new ListTopicsOptions().listInternal(includeInternal)).names()
                    .get(remaining(deadline), TimeUnit.NANOSECONDS)) {
                if (patterns.stream().anyMatch(p -> p.test(name))) {
                    candidates.add(name);
                }
            }
        }
        List<Partition> partitions = new ArrayList<>();
        Set<String> existing = new TreeSet<>();
        if (!candidates.isEmpty()) {
            Map<String, KafkaFuture<TopicDescription>> described = admin.describeTopics(candidates).topicNameValues();
            for (String topic : candidates) {
                TopicDescription d;
                try {
                    d = described.get(topic).get(remaining(deadline), TimeUnit.NANOSECONDS);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        continue; // not (or no longer) there: no partitions, like Kafka's metadata
                    }
                    boolean mine = s.matcher() != null ? s.matcher().test(topic) : s.topics().contains(topic);
                    if (!mine) {
                        continue; // another member's topic this member may not read: that member reports it
                    }
                    // poll() throws these, as KafkaConsumer's metadata does, with the same messages
                    if (e.getCause() instanceof InvalidTopicException) {
                        throw new InvalidTopicException("Invalid topics: [" + topic + "]", Set.of(topic));
                    }
                    if (e.getCause() instanceof TopicAuthorizationException) {
                        throw new TopicAuthorizationException("Not authorized to access topics: [" + topic + "]", Set.of(topic));
                    }
                    throw e;
                }
                existing.add(topic);
                for (int i = 0; i < d.partitions().size(); i++) {
                    partitions.add(Partition.of(topic, Integer.toString(d.partitions().get(i).partition())));
                }
            }
        }
        Collections.sort(partitions);
        if (s != subscription) {
            return false; // changed meanwhile; the next refresh reads the new one
        }
        Snapshot before = snapshot;
        Set<String> own = new TreeSet<>();
        for (String t : existing) {
            if (s.matcher() != null ? s.matcher().test(t) : s.topics().contains(t)) {
                own.add(t);
            }
        }
        Set<String> missing = new TreeSet<>(explicit);
        missing.removeAll(existing);
        snapshot = new Snapshot(s, others, List.copyOf(partitions), Collections.unmodifiableSet(own), Set.copyOf(missing));
        return !s.equals(before.of()) || !before.partitions().equals(partitions);
    }

    private static long remaining(long deadline) throws TimeoutException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new TimeoutException("Kafka metadata not read in time");
        }
        return left;
    }
}
