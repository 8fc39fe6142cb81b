package dev.parti.kafka.internal;

import dev.parti.kafka.MixedGroupException;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The poll loop: polls the inner consumer in slices of at most {@value #POLL_SLICE_MS} ms, cut short
 * (an internal {@code wakeup()} of the inner consumer) when Parti queues a rebalance event, so
 * revocations and assignments reach the user at once; between slices it delivers rebalance callbacks,
 * commit callbacks and the auto-commit; it waits on a signal while nothing is assigned. Records of
 * partitions this member no longer owns, or no longer subscribes to, are never returned.
 *
 * <p>{@link #poll} runs on the polling thread; {@link #onMembershipEvent()} on Parti's callback thread.
 */
final class Poller<K, V> {
    private static final Logger log = LoggerFactory.getLogger(Poller.class);
    static final long POLL_SLICE_MS = 100;
    /** Polling thread: fetched records are being held back (see {@link #holdBack}); logged once per episode. */
    private boolean holdingBack;

    private final KafkaConsumer<K, V> inner;
    private final ConsumerThread thread;
    private final SubscriptionState subscription;
    private final RebalanceDriver driver;
    private final CommitGate commits;
    private final Supplier<MixedGroupGuard> guard;
    private final Supplier<GroupRuntime> runtime;
    private final Interceptors<K, V> interceptors;
    private final ConsumerSettings settings;
    private long nextAutoCreateNanos;
    private final LongSupplier clock;
    /** Whether the polling thread is inside the inner consumer's poll (read by Parti's callback thread). */
    private volatile boolean inInnerPoll;
    /** The polling thread is inside {@link #warmUp}: a Parti event cuts it short (its assignment goes first). */
    private volatile boolean warmingUp;
    /** Whether the inner consumer has connected ahead of the first assignment ({@link #warmUp}). */
    private boolean warmed;

    Poller(KafkaConsumer<K, V> inner, ConsumerThread thread, SubscriptionState subscription, RebalanceDriver driver,
           CommitGate commits, Supplier<MixedGroupGuard> guard, Supplier<GroupRuntime> runtime, Interceptors<K, V> interceptors,
           ConsumerSettings settings, LongSupplier clock) {
        this.settings = settings;
        this.interceptors = interceptors;
        this.runtime = runtime;
        this.inner = inner;
        this.thread = thread;
        this.subscription = subscription;
        this.driver = driver;
        this.commits = commits;
        this.guard = guard;
        this.clock = clock;
    }

    /** Polling thread, with the consumer acquired and open: one {@code poll(timeout)}. */
    ConsumerRecords<K, V> poll(long timeoutMs) {
        if (subscription.mode() == SubscriptionState.Mode.NONE) {
            throw new IllegalStateException("Consumer is not subscribed to any topics or assigned any partitions");
        }
        long start = clock.getAsLong();
        long budget = timeoutMs >= Long.MAX_VALUE / 2_000_000 ? Long.MAX_VALUE / 2 : TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        boolean subscribed = subscription.isSubscribed();
        do {
            driver.polled();
            commits.runCompletedCallbacks();
            thread.throwIfWakeup();
            Membership m = null;
            if (subscribed) {
                // Join first (in the background): a migrating consumer joins Parti while it still waits for the
                // Kafka-managed members to leave, and delivers nothing meanwhile (see MixedGroupGuard).
                driver.ensureJoined();
                MixedGroupException mixed = guard.get().current();
                if (mixed != null) {
                    throw mixed;
                }
                RuntimeException metadataError = runtime.get().takeMetadataError();
                if (metadataError != null) {
                    throw metadataError;
                }
                RuntimeException callbackFailure = driver.dispatch();
                m = driver.membership();
                if (callbackFailure != null) {
                    throw RebalanceDriver.asKafkaException(callbackFailure);
                }
                thread.throwIfWakeup(); // e.g. a wakeup() during the auto-commit before a revocation
            }
            if (subscribed) {
                maybeAutoCreateTopics(TimeUnit.NANOSECONDS.toMillis(Math.max(0, budget - (clock.getAsLong() - start))));
            }
            commits.maybeAutoCommitAsync();
            long remainingMs = TimeUnit.NANOSECONDS.toMillis(Math.max(0, budget - (clock.getAsLong() - start)));
            long slice = Math.min(remainingMs, POLL_SLICE_MS);
            if (subscribed ? subscription.assigned().isEmpty() : inner.assignment().isEmpty()) {
                if (subscribed && !warmed) {
                    warmUp(slice, m);
                }
                Membership waitingFor = m;
                thread.awaitSignal(slice, () -> waitingFor != null && (waitingFor.hasEvents() || waitingFor.isExpired()
                        || !waitingFor.isStarted() && !waitingFor.isJoining()));
                continue;
            }
            ConsumerRecords<K, V> records;
            inInnerPoll = true;
            try {
                records = inner.poll(Duration.ofMillis(slice));
            } catch (WakeupException e) {
                if (thread.takeWakeup()) {
                    throw e;
                }
                continue; // a Parti event cut the slice short, or a stale wakeup already reported
            } finally {
                inInnerPoll = false;
            }
            commits.runCompletedCallbacks();
            if (m != null && !records.isEmpty() && !m.mayHandOut()) {
                holdBack(records);
                Membership waitingFor = m;
                long left = TimeUnit.NANOSECONDS.toMillis(Math.max(0, budget - (clock.getAsLong() - start)));
                thread.awaitSignal(Math.min(left, POLL_SLICE_MS),
                        () -> waitingFor.hasEvents() || waitingFor.isExpired() || waitingFor.mayHandOut());
                continue;
            }
            if (m != null) {
                records = onlyOwned(records, m);
            }
            if (!records.isEmpty()) {
                holdingBack = false;
                commits.returning(records.nextOffsets());
                return interceptors.onConsume(records);
            }
            if (!records.nextOffsets().isEmpty()) {
                return records;
            }
        } while (clock.getAsLong() - start < budget);
        return ConsumerRecords.empty();
    }

    /**
     * Polling thread, once, while the first assignment is awaited: the inner consumer connects, finds the group's
     * coordinator (the committed offset of partition 0 of a subscribed topic that exists) and reads that topic's metadata,
     * so that the first fetch after the assignment does not pay for them (issue 19: a returning member's first
     * record). Best effort within {@code sliceMs}; a topic that does not exist yet is left to
     * {@link #maybeAutoCreateTopics}, and the warm-up waits for one that does. It runs while the Parti side joins, and a
     * Parti event (the first assignment, say) cuts it short: the assignment is not held back behind it (a returning
     * static member's line arrives a few ms into its join, before the warm-up's round trips to Kafka end); what the
     * warm-up started goes on in the inner consumer's next calls.
     */
    private void warmUp(long sliceMs, Membership m) {
        if (sliceMs <= 0 || subscription.mode() != SubscriptionState.Mode.TOPICS) {
            return;
        }
        java.util.Set<String> missing = runtime.get().watcher().missing();
        String topic = subscription.topics().stream().filter(t -> !missing.contains(t)).findFirst().orElse(null);
        if (topic == null) {
            return;
        }
        warmed = true;
        warmingUp = true; // before the check below: an event queued after it wakes the inner consumer
        try {
            thread.throwIfWakeup();
            if (m != null && m.hasEvents()) {
                return; // the assignment is there already
            }
            // the coordinator first: right after the assignment the committed offsets come before any fetch (a
            // logged b4r run showed the first record waiting for the coordinator's lookup); partition 0 exists in
            // every topic
            inner.committed(java.util.Set.of(new TopicPartition(topic, 0)), Duration.ofMillis(sliceMs));
            if (m == null || !m.hasEvents()) {
                inner.partitionsFor(topic, Duration.ofMillis(sliceMs));
            }
        } catch (WakeupException e) {
            if (thread.takeWakeup()) {
                throw e; // the user's wakeup()
            }
            log.debug("Connecting ahead of the first assignment cut short by a Parti event");
        } catch (org.apache.kafka.common.KafkaException e) {
            log.debug("Connecting ahead of the first assignment did not complete: {}", e.toString());
        } finally {
            warmingUp = false;
        }
    }

    /**
     * {@code allow.auto.create.topics}: subscribed topics that do not exist are asked for with the inner
     * consumer's metadata request (which lets a broker with {@code auto.create.topics.enable} create them,
     * as {@code KafkaConsumer}'s subscription metadata does), at most every {@code retry.backoff.max.ms} and
     * within what is left of the poll timeout; the runtime then reads the subscription again.
     */
    private void maybeAutoCreateTopics(long remainingMs) {
        if (!settings.allowAutoCreateTopics || subscription.mode() != SubscriptionState.Mode.TOPICS || remainingMs <= 0
                || clock.getAsLong() - nextAutoCreateNanos < 0) {
            return;
        }
        java.util.Set<String> missing = runtime.get().watcher().missing();
        if (missing.isEmpty()) {
            return;
        }
        nextAutoCreateNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.retryBackoffMaxMs);
        long deadline = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(remainingMs);
        for (String topic : missing) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - clock.getAsLong());
            if (left <= 0) {
                break;
            }
            try {
                thread.blocking(() -> inner.partitionsFor(topic, Duration.ofMillis(left)));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                log.debug("Metadata of missing topic {} not read in time: {}", topic, e.getMessage());
            }
        }
        runtime.get().refreshSoon();
    }

    /**
     * Parti's callback thread: a rebalance event is queued. Cuts the inner poll slice short so the
     * event reaches the user at once instead of after up to {@value #POLL_SLICE_MS} ms: a revocation
     * releases sooner and an assignment starts sooner. The inner consumer's {@link WakeupException}
     * that this may leave behind is absorbed by the polling loop and {@link ConsumerThread#blocking}.
     */
    void onMembershipEvent() {
        thread.signal();
        if (inInnerPoll || warmingUp) {
            inner.wakeup();
        }
    }

    /**
     * Records fetched while this member is not a safe owner (its lease ran out: NATS unreachable, or a pause such as
     * SIGSTOP or a long GC after which this thread ran before the lease watchdog) are not handed out: each partition is
     * set back to its first record, fetched again if the partition stays this member's; a loss reported meanwhile
     * restarts it from the committed offset.
     */
    private void holdBack(ConsumerRecords<K, V> records) {
        KafkaPartitions.rewind(inner, records);
        if (!holdingBack) {
            holdingBack = true;
            log.info("Fetched records of {} held back: this member's Parti lease is not valid (fence policy)",
                    records.partitions());
        }
    }

    /** Drops records of partitions this member no longer safely owns (lost or released meanwhile) or no longer subscribes to. */
    private ConsumerRecords<K, V> onlyOwned(ConsumerRecords<K, V> records, Membership m) {
        boolean all = true;
        for (TopicPartition tp : records.partitions()) {
            all &= keep(tp, m);
        }
        for (TopicPartition tp : records.nextOffsets().keySet()) {
            all &= keep(tp, m);
        }
        if (all) {
            return records;
        }
        Map<TopicPartition, List<ConsumerRecord<K, V>>> kept = new LinkedHashMap<>();
        for (TopicPartition tp : records.partitions()) {
            if (keep(tp, m)) {
                kept.put(tp, records.records(tp));
            }
        }
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        records.nextOffsets().forEach((tp, o) -> {
            if (keep(tp, m)) {
                next.put(tp, o);
            }
        });
        log.debug("Dropped fetched records of partitions no longer owned: {}", KafkaPartitions.minus(records.partitions(), kept.keySet()));
        return new ConsumerRecords<>(kept, next);
    }

    private boolean keep(TopicPartition tp, Membership m) {
        return m.owns(tp) && !subscription.leaving().contains(tp);
    }
}
