package dev.parti.kafka.internal;

import dev.parti.Partition;
import dev.parti.PartitionSource;
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
 * The partitions of what the consumer subscribes to (a topic list or a pattern), as a snapshot that
 * Parti's leader reads through {@link #partitions()} without any I/O: the snapshot is refreshed by
 * {@link #refresh(Duration)} on the consumer's timer thread with a separate {@link Admin} client (the
 * inner {@code KafkaConsumer} is single-threaded and belongs to the polling thread, and Parti's main
 * thread must never wait for Kafka).
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

    private record Snapshot(Subscription of, List<Partition> partitions, Set<String> topics, Set<String> missing) { }

    private static final Snapshot EMPTY = new Snapshot(null, List.of(), Set.of(), Set.of());

    private final Admin admin;
    private final boolean includeInternal;
    private volatile Subscription subscription;
    private volatile Snapshot snapshot = EMPTY;

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
        snapshot = EMPTY;
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

    /** Subscribed topics (of a topic list) that did not exist at the last refresh: read again soon. */
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
        if (s == null) {
            return false;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        Set<String> candidates;
        if (s.matcher() != null) {
            candidates = new TreeSet<>();
            for (String name : admin.listTopics(new ListTopicsOptions().listInternal(includeInternal)).names()
                    .get(remaining(deadline), TimeUnit.NANOSECONDS)) {
                if (s.matcher().test(name)) {
                    candidates.add(name);
                }
            }
        } else {
            candidates = new TreeSet<>(s.topics());
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
        Set<String> missing = new TreeSet<>(s.matcher() == null ? candidates : Set.of());
        missing.removeAll(existing);
        snapshot = new Snapshot(s, List.copyOf(partitions), Collections.unmodifiableSet(existing), Set.copyOf(missing));
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
