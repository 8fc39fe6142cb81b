package dev.parti.kafka.internal;

import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidGroupIdException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every offset commit of the consumer: the user's {@code commitSync}/{@code commitAsync} and the
 * emulated auto-commit. A subscribed consumer commits only for partitions it safely owns in Parti's
 * view ({@link CommitFailedException} otherwise, naming the partitions); a broker refusal of the
 * generation −1 commit is translated into a mixed-group error ({@link MixedGroupGuard}), unless a
 * {@link PartiConsumerDelegate.RefusedCommits} router is installed (the rolling rollback, {@code
 * parti.migration=parti-to-kafka}): then the refused commit is handed to it and neither fails nor
 * marks the group mixed. A consumer migrating from Kafka ({@code parti.migration=kafka-to-parti}) retries a
 * refused {@code commitSync} once the Kafka group is empty again, within its timeout (see {@link
 * #committedOnceTheKafkaGroupIsEmpty}); a refused {@code commitAsync} is sent again once a member that passed through
 * the Kafka group owning nothing there has left ({@link MixedGroupGuard#passing()}), within {@code
 * default.api.timeout.ms}, leaving out the partitions a later commit was sent for; a refused auto-commit is left to the
 * next one.
 *
 * <p>{@code commitAsync} callbacks run on the polling thread, inside {@code poll()} and the commit
 * methods, strictly in the order the commits were made, refused ones included (a refusal waits for
 * the completion of the commits made before it). Polling thread only.
 */
final class CommitGate {
    private static final Logger log = LoggerFactory.getLogger(CommitGate.class);

    /** One {@code commitAsync}, completed by the inner consumer's callback or at once when refused. */
    private static final class PendingCommit {
        final OffsetCommitCallback callback;
        volatile Map<TopicPartition, OffsetAndMetadata> offsets;
        volatile Exception error;
        volatile boolean done;
        /** The sequence number of its last sending (see {@link #lastSent}). */
        long seq;
        /** Refused while a member passes through the Kafka group: the offsets to send again once it has left, else null. */
        Map<TopicPartition, OffsetAndMetadata> retry;
        long retryUntilNanos;

        PendingCommit(OffsetCommitCallback callback) {
            this.callback = callback;
        }

        void complete(Map<TopicPartition, OffsetAndMetadata> o, Exception e) {
            offsets = o;
            error = e;
            done = true;
        }
    }

    private final ConsumerSettings settings;
    private final KafkaConsumer<?, ?> inner;
    private final ConsumerThread thread;
    private final SubscriptionState subscription;
    private final Supplier<Membership> membership;
    private final Supplier<MixedGroupGuard> guard;
    private final LongSupplier clock;
    private final Interceptors<?, ?> interceptors;
    private final Queue<PendingCommit> pending = new ConcurrentLinkedQueue<>();
    private long nextAutoCommitNanos;
    /** The next offsets (with leader epochs) of the records poll() returned last, per partition. */
    private final Map<TopicPartition, OffsetAndMetadata> returned = new java.util.HashMap<>();
    /**
     * Per partition, the sequence number of the last commit sent for it: a refused asynchronous commit sent again later
     * leaves out the partitions a later commit was sent for, so no committed offset goes backwards.
     */
    private final Map<TopicPartition, Long> lastSent = new java.util.HashMap<>();
    private long sentCommits;
    /** Where broker refusals of a generation −1 commit go instead of failing, or null (set once, before subscribing). */
    private volatile PartiConsumerDelegate.RefusedCommits router;

    CommitGate(ConsumerSettings settings, KafkaConsumer<?, ?> inner, ConsumerThread thread, SubscriptionState subscription,
               Supplier<Membership> membership, Supplier<MixedGroupGuard> guard, Interceptors<?, ?> interceptors,
               LongSupplier clock) {
        this.interceptors = interceptors;
        this.settings = settings;
        this.inner = inner;
        this.thread = thread;
        this.subscription = subscription;
        this.membership = membership;
        this.guard = guard;
        this.clock = clock;
        this.nextAutoCommitNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
    }

    // ------------------------------------------------------------------ ownership

    /** Null when this member may commit for {@code partitions}, else why not. */
    CommitFailedException ownershipProblem(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return null;
        }
        Membership m = membership.get();
        String g = settings.groupId;
        if (m == null || !m.isStarted()) {
            return new CommitFailedException("Commit refused for " + KafkaPartitions.sorted(partitions) + ": this consumer "
                    + "has not joined Parti group '" + g + "' (call poll() after subscribe()) and owns no partitions");
        }
        if (!m.manager().isLeaseValid()) {
            return new CommitFailedException("Commit refused: this consumer is not a safe owner in Parti group '" + g
                    + "' right now (its heartbeat could not be written to NATS for longer than parti.session.timeout.ms minus "
                    + "the safety margin, or its worker ID was lost), so another member may already own "
                    + KafkaPartitions.sorted(partitions) + ". Records processed since the last successful commit may be "
                    + "processed again by their new owner.");
        }
        Set<TopicPartition> notOwned = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : partitions) {
            if (!m.owns(tp)) {
                notOwned.add(tp);
            }
        }
        if (!notOwned.isEmpty()) {
            return new CommitFailedException("Commit refused for " + notOwned + ": not owned by this consumer in Parti group '"
                    + g + "' (revoked, lost, or never assigned to it). Their records may be processed again by their owner.");
        }
        return null;
    }

    private CommitFailedException refusal(Collection<TopicPartition> partitions) {
        return subscription.isSubscribed() ? ownershipProblem(partitions) : null;
    }

    private RuntimeException translate(RuntimeException e, boolean describe) {
        MixedGroupGuard g = guard.get();
        return subscription.isSubscribed() && g != null ? g.translate(e, describe) : e;
    }

    /** Installs the router of refused commits (see the class comment). */
    void routeRefusedCommits(PartiConsumerDelegate.RefusedCommits r) {
        this.router = r;
    }

    /** The router that takes over {@code e}, when {@code e} is a broker refusal of a subscribed consumer's commit. */
    private PartiConsumerDelegate.RefusedCommits routerFor(Throwable e) {
        PartiConsumerDelegate.RefusedCommits r = router;
        return r != null && subscription.isSubscribed() && MixedGroupGuard.isGroupRefusal(e) ? r : null;
    }

    private void requireGroupId() {
        if (settings.groupId == null) {
            throw new InvalidGroupIdException("To use the group management or offset commit APIs, you must "
                    + "provide a valid " + ConsumerConfig.GROUP_ID_CONFIG + " in the consumer configuration.");
        }
    }

    // ------------------------------------------------------------------ user commits

    /** {@code commitSync(timeout)} ({@code offsets} null) or {@code commitSync(offsets, timeout)}. */
    void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        requireGroupId();
        runCompletedCallbacks();
        CommitFailedException refused = refusal(offsets == null ? inner.assignment() : offsets.keySet());
        if (refused != null) {
            throw refused;
        }
        long started = clock.getAsLong();
        sent(offsets == null ? inner.assignment() : offsets.keySet());
        try {
            Map<TopicPartition, OffsetAndMetadata> positions = offsets == null ? positions() : offsets;
            thread.blocking(() -> {
                if (offsets == null) {
                    inner.commitSync(timeout);
                } else {
                    inner.commitSync(offsets, timeout);
                }
                return null;
            });
            interceptors.onCommit(positions);
        } catch (RuntimeException e) {
            PartiConsumerDelegate.RefusedCommits r = routerFor(e);
            if (r == null) {
                Map<TopicPartition, OffsetAndMetadata> positions = offsets == null ? positions() : offsets;
                if (!committedOnceTheKafkaGroupIsEmpty(e, offsets, timeout, started)) {
                    throw translate(e, true);
                }
                interceptors.onCommit(positions);
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> routed = offsets == null ? consumedPositions() : Map.copyOf(offsets);
            log.info("Consumer group {}: the broker refused a commit of {} through Parti ({}): committing it otherwise",
                    settings.groupId, routed.keySet(), e.toString());
            long left = Math.max(0, timeout.toNanos() - (clock.getAsLong() - started));
            r.commitSync(routed, Duration.ofNanos(left));
            interceptors.onCommit(routed);
        } finally {
            runCompletedCallbacks();
        }
    }

    /**
     * {@code parti.migration=kafka-to-parti}: a migrating consumer started during the switch may pass through the Kafka
     * group after the others switched (it gets nothing there and leaves at once, {@code dev.parti.kafka.migration}),
     * and the broker refuses generation −1 commits meanwhile. Such a refusal of a {@code commitSync} is retried once a
     * description shows the Kafka group empty, until {@code timeout} (from {@code started}); a member that stays (a
     * plain {@code KafkaConsumer} started by mistake) ends in the mixed-group error, at once when the guard has found the
     * group mixed ({@link MixedGroupGuard#current()}). Returns whether the commit
     * was made; throws what the retried commit throws other than a refusal, and the ownership refusal when this
     * consumer lost a partition meanwhile.
     */
    private boolean committedOnceTheKafkaGroupIsEmpty(RuntimeException refusal, Map<TopicPartition, OffsetAndMetadata> offsets,
                                                      Duration timeout, long started) {
        MixedGroupGuard g = guard.get();
        if (!settings.parti.migratesFromKafka() || g == null || !subscription.isSubscribed()
                || !MixedGroupGuard.isGroupRefusal(refusal)) {
            return false;
        }
        log.info("Consumer group {}: the broker refused a commit through Parti ({}): a member passes through the Kafka "
                + "group; committing once it has left", settings.groupId, refusal.toString());
        long deadline = started + timeout.toNanos();
        while (true) {
            long left = deadline - clock.getAsLong();
            dev.parti.kafka.MixedGroupException mixed = g.current();
            if (left <= 0 || mixed != null && !mixed.isMigrationWait()) {
                return false; // out of time, or a member owning partitions in Kafka: a mixed group, nothing to wait for
            }
            if (g.kafkaGroupIsEmpty(Duration.ofNanos(left))) {
                CommitFailedException lost = refusal(offsets == null ? inner.assignment() : offsets.keySet());
                if (lost != null) {
                    throw lost;
                }
                Duration rest = Duration.ofNanos(Math.max(0, deadline - clock.getAsLong()));
                sent(offsets == null ? inner.assignment() : offsets.keySet());
                try {
                    thread.blocking(() -> {
                        if (offsets == null) {
                            inner.commitSync(rest);
                        } else {
                            inner.commitSync(offsets, rest);
                        }
                        return null;
                    });
                    return true;
                } catch (RuntimeException again) {
                    if (!MixedGroupGuard.isGroupRefusal(again)) {
                        throw again;
                    }
                }
            }
            thread.blocking(() -> {
                java.util.concurrent.locks.LockSupport.parkNanos(Math.min(TimeUnit.MILLISECONDS.toNanos(50),
                        Math.max(0, deadline - clock.getAsLong())));
                if (Thread.interrupted()) {
                    throw new org.apache.kafka.common.errors.InterruptException(new InterruptedException());
                }
                return null;
            });
        }
    }

    /** {@code commitAsync(callback)} ({@code offsets} null) or {@code commitAsync(offsets, callback)}. */
    void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        requireGroupId();
        runCompletedCallbacks();
        PendingCommit p = new PendingCommit(callback);
        pending.add(p);
        CommitFailedException refused = refusal(offsets == null ? inner.assignment() : offsets.keySet());
        if (refused != null) {
            p.complete(offsets == null ? Map.of() : Map.copyOf(offsets), refused);
            return;
        }
        p.seq = sent(offsets == null ? inner.assignment() : offsets.keySet());
        try {
            if (offsets == null) {
                inner.commitAsync(completion(p));
            } else {
                inner.commitAsync(offsets, completion(p));
            }
        } catch (RuntimeException e) {
            pending.remove(p);
            throw e;
        }
    }

    /** The inner consumer's callback of {@code p}'s sending (polling thread). */
    private OffsetCommitCallback completion(PendingCommit p) {
        return (committed, exception) -> {
            PartiConsumerDelegate.RefusedCommits r = routerFor(exception);
            if (r != null) { // completed by the router, on the polling thread; later callbacks wait for it
                log.info("Consumer group {}: the broker refused an asynchronous commit of {} through Parti ({}): "
                        + "committing it otherwise", settings.groupId, committed.keySet(), exception.toString());
                r.commitAsync(committed, routed -> {
                    if (routed == null) {
                        interceptors.onCommit(committed);
                    }
                    p.complete(committed, routed);
                });
                return;
            }
            if (refusedWhilePassing(exception)) { // sent again once the member has left (runCompletedCallbacks)
                if (p.retry == null) {
                    p.retryUntilNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.defaultApiTimeoutMs);
                }
                p.retry = Map.copyOf(committed);
                return;
            }
            Exception e = exception;
            if (exception instanceof RuntimeException) {
                e = translate((RuntimeException) exception, false);
            } else if (exception == null) {
                interceptors.onCommit(committed);
            }
            p.complete(committed, e);
        };
    }

    /** Whether {@code e} is a broker refusal that a member passing through the Kafka group explains ({@link MixedGroupGuard#passing()}). */
    private boolean refusedWhilePassing(Throwable e) {
        MixedGroupGuard g = guard.get();
        return g != null && subscription.isSubscribed() && MixedGroupGuard.isGroupRefusal(e) && g.refusedWhilePassing();
    }

    /** Records a commit sent for {@code partitions}; returns its sequence number. */
    private long sent(Collection<TopicPartition> partitions) {
        long seq = ++sentCommits;
        for (TopicPartition tp : partitions) {
            lastSent.put(tp, seq);
        }
        return seq;
    }

    /**
     * Polling thread: the asynchronous commits refused while a member passed through the Kafka group are sent again, in
     * commit order, once it has left (without the partitions a later commit was sent for); they fail with the mixed-group
     * error when the group turned out mixed, or with the refusal's translation after {@code default.api.timeout.ms}.
     */
    private void retryRefusedCommits() {
        MixedGroupGuard g = guard.get();
        for (PendingCommit p : pending) {
            Map<TopicPartition, OffsetAndMetadata> retry = p.retry;
            if (retry == null || p.done) {
                continue;
            }
            RuntimeException mixed = g == null ? null : g.current();
            if (mixed != null || clock.getAsLong() - p.retryUntilNanos >= 0) {
                p.retry = null;
                p.complete(retry, mixed != null ? mixed : new org.apache.kafka.common.errors.TimeoutException("Offset commit "
                        + "of " + retry.keySet() + " refused while a member passed through Kafka consumer group '"
                        + settings.groupId + "', which did not empty within " + settings.defaultApiTimeoutMs + " ms"));
                continue;
            }
            if (g != null && g.passing()) {
                return; // later ones wait too: commit order
            }
            Map<TopicPartition, OffsetAndMetadata> current = new java.util.HashMap<>();
            retry.forEach((tp, om) -> {
                if (lastSent.getOrDefault(tp, 0L) <= p.seq) {
                    current.put(tp, om);
                }
            });
            p.retry = null;
            if (current.isEmpty()) { // a later commit was sent for each of its partitions
                p.complete(retry, null);
                continue;
            }
            log.info("Consumer group {}: the member that passed through the Kafka group has left: committing {} again",
                    settings.groupId, current.keySet());
            p.seq = sent(current.keySet());
            inner.commitAsync(current, completion(p));
        }
    }

    /** Polling thread: {@code poll()} returns records whose next offsets are {@code nextOffsets}. */
    void returning(Map<TopicPartition, OffsetAndMetadata> nextOffsets) {
        if (!interceptors.isEmpty()) {
            returned.keySet().retainAll(inner.assignment());
            returned.putAll(nextOffsets);
        }
    }

    /** Runs the callbacks of completed commits, in commit order, stopping at the first commit still in flight. */
    void runCompletedCallbacks() {
        retryRefusedCommits();
        for (PendingCommit p = pending.peek(); p != null && p.done; p = pending.peek()) {
            pending.poll();
            if (p.callback != null) {
                p.callback.onComplete(p.offsets, p.error);
            } else if (p.error != null) {
                log.error("Offset commit with offsets {} failed", p.offsets, p.error);
            }
        }
    }

    /**
     * Waits (up to {@code timeout}) until every asynchronous commit sent so far has completed, so that its callback,
     * or its refusal's routing, has run: {@code commitSync} of no offsets, which Kafka completes only after the
     * commits sent before it. A failure is logged, not thrown.
     */
    void awaitSentCommits(Duration timeout) {
        try {
            thread.blocking(() -> {
                inner.commitSync(Map.of(), timeout);
                return null;
            });
        } catch (WakeupException e) {
            thread.requestWakeup(); // not swallowed: the caller's next blocking step throws it
        } catch (RuntimeException e) {
            log.debug("Waiting for the commits in flight of consumer group {} ended with {}", settings.groupId, e.toString());
        }
    }

    /** What a commit without offsets commits: the position of every assigned partition that has one now. */
    private Map<TopicPartition, OffsetAndMetadata> consumedPositions() {
        Map<TopicPartition, OffsetAndMetadata> out = new java.util.HashMap<>();
        for (TopicPartition tp : inner.assignment()) {
            try {
                long position = inner.position(tp, Duration.ZERO);
                OffsetAndMetadata next = returned.get(tp);
                out.put(tp, next != null && next.offset() == position ? next : new OffsetAndMetadata(position));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                // no position yet: nothing consumed to commit
            }
        }
        return out;
    }

    /** The positions a commit without offsets commits (for the interceptors), those known without waiting. */
    private Map<TopicPartition, OffsetAndMetadata> positions() {
        return interceptors.isEmpty() ? Map.of() : consumedPositions();
    }

    // ------------------------------------------------------------------ auto-commit

    /** Kafka's periodic asynchronous auto-commit, from {@code poll()} (and before a manual reassignment). */
    void maybeAutoCommitAsync() {
        if (!settings.autoCommit) {
            return;
        }
        long now = clock.getAsLong();
        if (now - nextAutoCommitNanos < 0) {
            return;
        }
        nextAutoCommitNanos = now + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
        Set<TopicPartition> parts = inner.assignment();
        if (parts.isEmpty()) {
            return;
        }
        CommitFailedException refused = refusal(parts);
        if (refused != null) {
            log.debug("Auto-commit skipped: {}", refused.getMessage());
            return;
        }
        sent(parts);
        inner.commitAsync((offsets, e) -> {
            PartiConsumerDelegate.RefusedCommits r = routerFor(e);
            if (r != null) {
                log.info("Consumer group {}: the broker refused an auto-commit of {} through Parti ({}): committing it "
                        + "otherwise", settings.groupId, offsets.keySet(), e.toString());
                r.commitAsync(offsets, routed -> {
                    if (routed == null) {
                        interceptors.onCommit(offsets);
                    } else {
                        log.warn("Auto-commit of offsets {} failed: {}", offsets, routed.getMessage());
                    }
                });
            } else if (e == null) {
                interceptors.onCommit(offsets);
                log.debug("Auto-committed offsets {}", offsets);
            } else if (refusedWhilePassing(e)) {
                log.info("Auto-commit of offsets {} refused while a member passes through the Kafka group; the next "
                        + "auto-commit after it has left commits them", offsets);
            } else if (e instanceof RuntimeException && subscription.isSubscribed() && MixedGroupGuard.isGroupRefusal(e)) {
                RuntimeException shown = translate((RuntimeException) e, false);
                log.error("Auto-commit of offsets {} refused: {}", offsets, shown.getMessage());
            } else {
                log.warn("Asynchronous auto-commit of offsets {} failed: {}", offsets, e.getMessage());
            }
        });
    }

    /**
     * Kafka's synchronous auto-commit before a revocation and on close: failures are logged, not thrown;
     * a {@code wakeup()} is thrown after the commit attempt ended, as {@code KafkaConsumer} does.
     */
    void autoCommitSync(String when) {
        if (!settings.autoCommit) {
            return;
        }
        Set<TopicPartition> parts = inner.assignment();
        if (parts.isEmpty()) {
            return;
        }
        CommitFailedException refused = refusal(parts);
        if (refused != null) {
            log.warn("Synchronous auto-commit {} skipped: {}", when, refused.getMessage());
            return;
        }
        long timeoutMs = Math.max(1_000, Math.min(settings.defaultApiTimeoutMs, settings.maxPollIntervalMs));
        try {
            Map<TopicPartition, OffsetAndMetadata> positions = positions();
            sent(parts);
            thread.blocking(() -> {
                inner.commitSync(Duration.ofMillis(timeoutMs));
                return null;
            });
            interceptors.onCommit(positions);
            nextAutoCommitNanos = clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(settings.autoCommitIntervalMs);
        } catch (WakeupException e) {
            log.debug("Synchronous auto-commit {} interrupted by wakeup()", when);
            thread.requestWakeup(); // not swallowed: the caller's next blocking step throws it
        } catch (RuntimeException e) {
            RuntimeException shown = translate(e, false);
            log.warn("Synchronous auto-commit of offsets {} failed: {}", when, shown.getMessage());
        }
    }
}
