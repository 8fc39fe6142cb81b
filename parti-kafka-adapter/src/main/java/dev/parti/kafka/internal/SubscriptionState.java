package dev.parti.kafka.internal;

import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidRegularExpression;

/**
 * What the user subscribed to and what the user was told it is assigned, as kafka-clients' {@code
 * SubscriptionState} keeps it. Polling thread only.
 *
 * <p>Three sets of partitions:
 * <ul>
 *   <li>{@link #assigned()}: told to the user with {@code onPartitionsAssigned} and not yet revoked or
 *   lost; equal to the inner consumer's assignment;</li>
 *   <li>{@link #leaving()}: the part of {@code assigned} that a new {@code subscribe()} no longer covers.
 *   Their fetched records are never returned again (the inner consumer pauses them at once, which
 *   drops what it buffered), and the next {@code poll()} revokes them after the auto-commit, as
 *   {@code KafkaConsumer} does;</li>
 *   <li>{@link #outside()}: given to this member by Parti but outside the subscription (an assignment
 *   computed for an earlier subscription or an earlier holder of the worker ID). They are never handed
 *   to the user; if a later subscription covers them they are assigned then.</li>
 * </ul>
 */
final class SubscriptionState {
    enum Mode { NONE, TOPICS, PATTERN, RE2J_PATTERN, MANUAL }

    static final ConsumerRebalanceListener NOOP = NoOpRebalanceListener.INSTANCE;

    /**
     * A validated pattern subscription: {@link Mode#PATTERN} ({@code java.util.regex}) or {@link
     * Mode#RE2J_PATTERN} ({@code SubscriptionPattern}, RE2/J syntax as KIP-848's broker evaluates it);
     * {@code key} identifies it (syntax, text, flags), {@code matcher} tests a whole topic name.
     */
    record TopicPattern(Mode mode, String key, Predicate<String> matcher, String description) {
        static TopicPattern of(java.util.regex.Pattern pattern) {
            if (pattern == null || pattern.toString().isEmpty()) {
                throw new IllegalArgumentException("Topic pattern to subscribe to cannot be " + (pattern == null ? "null" : "empty"));
            }
            return new TopicPattern(Mode.PATTERN, "java:" + pattern.flags() + ":" + pattern.pattern(),
                    name -> pattern.matcher(name).matches(), "pattern '" + pattern + "'");
        }

        /** @throws InvalidRegularExpression when the pattern is not valid RE2/J (Kafka's broker refuses it so) */
        static TopicPattern of(SubscriptionPattern pattern) {
            if (pattern == null || pattern.pattern() == null || pattern.pattern().isEmpty()) {
                throw new IllegalArgumentException("Topic pattern to subscribe to cannot be " + (pattern == null ? "null" : "empty"));
            }
            com.google.re2j.Pattern re2j;
            try {
                re2j = com.google.re2j.Pattern.compile(pattern.pattern());
            } catch (com.google.re2j.PatternSyntaxException e) {
                throw new InvalidRegularExpression("Invalid RE2J regular expression '" + pattern.pattern() + "': " + e.getMessage());
            }
            return new TopicPattern(Mode.RE2J_PATTERN, "re2j:" + pattern.pattern(), re2j::matches,
                    "RE2J pattern '" + pattern.pattern() + "'");
        }
    }

    static ConsumerRebalanceListener requireListener(ConsumerRebalanceListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("RebalanceListener cannot be null");
        }
        return listener;
    }

    /**
     * The worker-metadata key under which a member publishes its subscription to the group's leader:
     * {@code topics:<t1>,<t2>,...} (sorted), {@code java:<flags>:<regex>} or {@code re2j:<regex>}.
     */
    static final String METADATA_KEY = "kafka.subscription";

    private Mode mode = Mode.NONE;
    private Set<String> topics = Set.of();
    private Predicate<String> pattern;
    private String patternKey;
    private ConsumerRebalanceListener listener = NOOP;
    private final Set<TopicPartition> assigned = new LinkedHashSet<>();
    private final Set<TopicPartition> leaving = new TreeSet<>(KafkaPartitions.ORDER);
    private final Set<TopicPartition> outside = new TreeSet<>(KafkaPartitions.ORDER);

    Mode mode() {
        return mode;
    }

    /** Subscribed to topics or a pattern (group management). */
    boolean isSubscribed() {
        return mode == Mode.TOPICS || mode == Mode.PATTERN || mode == Mode.RE2J_PATTERN;
    }

    ConsumerRebalanceListener listener() {
        return listener;
    }

    /** The topics of a topic subscription (empty otherwise). */
    Set<String> topics() {
        return topics;
    }

    /** Whether the current subscription covers {@code tp}. */
    boolean matches(TopicPartition tp) {
        switch (mode) {
            case TOPICS:
                return topics.contains(tp.topic());
            case PATTERN:
            case RE2J_PATTERN:
                return pattern.test(tp.topic());
            default:
                return false;
        }
    }

    /** Subscribes to {@code newTopics}; returns {@link #leaving()} under the new subscription. */
    Set<TopicPartition> subscribe(Set<String> newTopics, ConsumerRebalanceListener newListener) {
        mode = Mode.TOPICS;
        topics = Set.copyOf(newTopics);
        pattern = null;
        patternKey = null;
        listener = newListener;
        return recomputeLeaving();
    }

    /**
     * Subscribes to the topics {@code newPattern} accepts ({@link Mode#PATTERN}: a {@code java.util.regex}
     * pattern, {@link Mode#RE2J_PATTERN}: a {@code SubscriptionPattern}); returns {@link #leaving()} under the
     * new subscription.
     */
    Set<TopicPartition> subscribe(TopicPattern newPattern, ConsumerRebalanceListener newListener) {
        mode = newPattern.mode();
        topics = Set.of();
        pattern = newPattern.matcher();
        patternKey = newPattern.key();
        listener = newListener;
        return recomputeLeaving();
    }

    /** What this member publishes under {@link #METADATA_KEY}; null when not subscribed. */
    String metadataValue() {
        switch (mode) {
            case TOPICS:
                return "topics:" + String.join(",", new TreeSet<>(topics));
            case PATTERN:
            case RE2J_PATTERN:
                return patternKey;
            default:
                return null;
        }
    }

    /**
     * The topic filter of a subscription published under {@link #METADATA_KEY} by any member (leader side).
     *
     * @return null when {@code value} is null (a member of a release that does not publish it)
     * @throws IllegalArgumentException when {@code value} is not a subscription this release reads
     */
    static Predicate<String> matcherOf(String value) {
        if (value == null) {
            return null;
        }
        if (value.startsWith("topics:")) {
            String list = value.substring("topics:".length());
            Set<String> ts = list.isEmpty() ? Set.of() : Set.of(list.split(","));
            return ts::contains;
        }
        if (value.startsWith("java:")) {
            int colon = value.indexOf(':', "java:".length());
            if (colon < 0) {
                throw new IllegalArgumentException("malformed pattern subscription: " + value);
            }
            int flags = Integer.parseInt(value.substring("java:".length(), colon));
            java.util.regex.Pattern p = java.util.regex.Pattern.compile(value.substring(colon + 1), flags);
            return name -> p.matcher(name).matches();
        }
        if (value.startsWith("re2j:")) {
            return com.google.re2j.Pattern.compile(value.substring("re2j:".length()))::matches;
        }
        throw new IllegalArgumentException("unknown subscription kind: " + value);
    }

    private Set<TopicPartition> recomputeLeaving() {
        leaving.clear();
        for (TopicPartition tp : assigned) {
            if (!matches(tp)) {
                leaving.add(tp);
            }
        }
        return Set.copyOf(leaving);
    }

    void assignManually() {
        mode = Mode.MANUAL;
    }

    /** Back to nothing (unsubscribe). */
    void clear() {
        mode = Mode.NONE;
        topics = Set.of();
        pattern = null;
        patternKey = null;
        listener = NOOP;
        assigned.clear();
        leaving.clear();
        outside.clear();
    }

    /** Live view; change it only through the methods below. */
    Set<TopicPartition> assigned() {
        return assigned;
    }

    Set<TopicPartition> leaving() {
        return leaving;
    }

    Set<TopicPartition> outside() {
        return outside;
    }

    /**
     * Parti gave this member {@code fromParti}: returns those the user is to be told about (sorted), keeps
     * the ones outside the subscription aside in {@link #outside()}.
     */
    Set<TopicPartition> admit(Set<TopicPartition> fromParti) {
        Set<TopicPartition> added = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : fromParti) {
            if (assigned.contains(tp)) {
                continue;
            }
            if (matches(tp)) {
                added.add(tp);
                outside.remove(tp);
            } else {
                outside.add(tp);
            }
        }
        assigned.addAll(added);
        return added;
    }

    /** Partitions kept aside that the subscription covers now: moved to {@link #assigned()} and returned. */
    Set<TopicPartition> readmit() {
        Set<TopicPartition> back = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : outside) {
            if (matches(tp)) {
                back.add(tp);
            }
        }
        outside.removeAll(back);
        assigned.addAll(back);
        return back;
    }

    /**
     * The user was told these are revoked or lost (or Parti took them away): they leave every set.
     * Partitions Parti still gives this member are kept aside in {@link #outside()} when {@code stillOwned}.
     */
    void remove(Collection<TopicPartition> partitions, boolean stillOwned) {
        assigned.removeAll(partitions);
        leaving.removeAll(partitions);
        if (stillOwned) {
            outside.addAll(partitions);
        } else {
            outside.removeAll(partitions);
        }
    }

    /** Everything the user holds is gone (the membership ended). */
    void clearAssignment() {
        assigned.clear();
        leaving.clear();
        outside.clear();
    }
}
