package dev.parti.kafka.internal;

import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives this consumer's Parti membership and turns its changes into the user's rebalance callbacks,
 * as kafka-clients' {@code ConsumerCoordinator} does for a Kafka group: joins (and rejoins after an
 * exceeded {@code max.poll.interval.ms}), delivers queued {@link RebalanceEvent}s in order, revokes
 * what a new subscription no longer covers, keeps the inner consumer's assignment equal to what the
 * user was told, and leaves the group.
 *
 * <p>User callbacks run only on the polling thread, from {@link #dispatch()} and {@link #leave}. The
 * {@code max.poll.interval.ms} watchdog ({@link #watchPollInterval()}) runs on the runtime's timer
 * thread and touches only the membership.
 */
final class RebalanceDriver {
    private static final Logger log = LoggerFactory.getLogger(RebalanceDriver.class);

    private final ConsumerSettings settings;
    private final KafkaConsumer<?, ?> inner;
    private final SubscriptionState subscription;
    private final CommitGate commits;
    private final PartiMetrics metrics;
    private final LongSupplier clock;
    private final Supplier<GroupRuntime> runtime;
    private final Supplier<MixedGroupGuard> guard;
    private final Runnable onEvent;
    private final String threadPrefix;
    private volatile Membership membership;
    private volatile long lastPollNanos;
    /** Set while close() or unsubscribe() ends the membership: the watchdog keeps out. */
    private volatile boolean leaving;
    private boolean dispatching;
    /** When the rebalance being delivered started (its first change was queued), 0 when none is. */
    private long rebalanceStartNanos;
    private volatile int assignedCount;
    /** What this member publishes as its subscription (see {@link SubscriptionState#METADATA_KEY}); polling thread. */
    private String subscriptionMetadata;
    /** A migrating member's Kafka member ID while it switches (see {@link #publishSwitching}), or null. */
    private volatile String bridgeMemberId;
    /** The partitions a migrating member's Kafka side owned when it began to switch, encoded, or null. */
    private volatile String bridgeOwned;
    /** The switch's Kafka generation (and announced member count) a migrating member publishes, or null. */
    private volatile String switchGeneration;
    /** The strategy of the current membership (its leader side tells whether the group rolls back), or null. */
    private volatile SubscriptionStrategy strategy;

    /** @param onEvent called on Parti's callback thread when an event is queued (wakes the polling thread) */
    RebalanceDriver(ConsumerSettings settings, KafkaConsumer<?, ?> inner, SubscriptionState subscription, CommitGate commits,
                    PartiMetrics metrics, LongSupplier clock, Supplier<GroupRuntime> runtime, Supplier<MixedGroupGuard> guard,
                    Runnable onEvent, String clientId) {
        this.threadPrefix = "parti-consumer-" + clientId + "-";
        this.settings = settings;
        this.inner = inner;
        this.subscription = subscription;
        this.commits = commits;
        this.metrics = metrics;
        this.clock = clock;
        this.runtime = runtime;
        this.guard = guard;
        this.onEvent = onEvent;
    }

    /** The current membership, or null. */
    Membership membership() {
        return membership;
    }

    /** The current manager when joined, else null. */
    PartiManager manager() {
        Membership m = membership;
        return m == null || !m.isStarted() ? null : m.manager();
    }

    /** How many partitions the user holds now (any thread, for metrics). */
    int assignedCount() {
        return assignedCount;
    }

    boolean isJoined() {
        return manager() != null;
    }

    /** Polling thread: {@code poll()} was called (for the watchdog). */
    void polled() {
        lastPollNanos = clock.getAsLong();
    }

    /** Polling thread, at subscribe: prepares a membership (it joins in the next poll()). */
    void prepare() {
        if (membership == null) {
            membership = newMembership();
        }
    }

    /**
     * Polling thread, at {@code subscribe()}: publishes the subscription in this member's heartbeat (at
     * once when joined), so the leader assigns it only partitions of its own topics and rebalances when it changes.
     */
    void publishSubscription(String value) {
        subscriptionMetadata = value;
        Membership m = membership;
        if (m != null && value != null) {
            m.manager().setMetadata(metadataOf(value));
        }
    }

    /**
     * Polling thread, before a migrating member's Parti side subscribes to switch: the Kafka member ID of its Kafka side
     * (unless null), the partitions it owns and the switch's generation ({@link PartiConsumerDelegate#SWITCH_METADATA},
     * unless null), published in its heartbeat from then on (at once when joined).
     */
    void publishSwitching(String memberId, Set<TopicPartition> owned, String generation) {
        bridgeMemberId = memberId;
        bridgeOwned = SubscriptionStrategy.encodeOwned(owned);
        switchGeneration = generation;
        Membership m = membership;
        if (m != null && subscriptionMetadata != null) {
            m.manager().setMetadata(metadataOf(subscriptionMetadata));
        }
    }

    /**
     * The worker metadata published for subscription {@code value}: plus {@code parti.migration} when rolling back, and
     * the Kafka side's member ID while switching.
     */
    private java.util.Map<String, String> metadataOf(String value) {
        java.util.Map<String, String> m = new java.util.HashMap<>();
        m.put(SubscriptionState.METADATA_KEY, value);
        if (settings.parti.rollsBackToKafka()) {
            m.put(dev.parti.kafka.PartiConsumerConfig.MIGRATION_CONFIG, dev.parti.kafka.PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA);
        }
        String member = bridgeMemberId;
        if (member != null && !member.isEmpty()) {
            m.put(PartiConsumerDelegate.BRIDGE_MEMBER_METADATA, member);
        }
        String owned = bridgeOwned;
        if (owned != null) {
            m.put(PartiConsumerDelegate.BRIDGE_OWNED_METADATA, owned);
        }
        String generation = switchGeneration;
        if (generation != null) {
            m.put(PartiConsumerDelegate.SWITCH_METADATA, generation);
        }
        return java.util.Map.copyOf(m);
    }

    /**
     * Any thread: whether this member leads its Parti group and every live worker of the leader's last rebalance
     * published {@code parti.migration=parti-to-kafka}, and that rebalance is complete (the leader is {@code STABLE}).
     */
    boolean leadsAGroupThatRollsBack() {
        PartiManager m = manager();
        SubscriptionStrategy s = strategy;
        return m != null && s != null && m.isLeader() && s.everyWorkerRollsBack()
                && m.state() == dev.parti.ManagerState.STABLE;
    }

    private Membership newMembership() {
        GroupRuntime rt = runtime.get();
        rt.watcher().onGroupChange(rt::refreshSoon); // the leader reads what other members subscribe to at once
        PartiConfig.Builder b = settings.parti.partiConfigBuilder(settings.groupId)
                .strategy(strategy = new SubscriptionStrategy(settings.strategy()))
                .partitionSource(runtime.get().watcher())
                .metrics(metrics);
        String workerId = settings.workerId();
        if (workerId != null) {
            b.workerId(workerId);
        }
        PartiConfig config;
        try {
            config = b.build();
        } catch (IllegalArgumentException e) {
            throw new KafkaException("Invalid Parti settings for group " + settings.groupId + ": " + e.getMessage(), e);
        }
        Membership m = new Membership(config, workerId != null, onEvent, clock);
        if (subscriptionMetadata != null) {
            m.manager().setMetadata(metadataOf(subscriptionMetadata));
        }
        return m;
    }

    /**
     * Polling thread: makes sure this subscription is joining or joined; never waits for NATS (the join
     * runs in the background, {@code poll()} returns empty meanwhile, as {@code KafkaConsumer} does while
     * it finds its coordinator). Returns whether the membership is started.
     *
     * @throws KafkaException when the last join attempt failed (the next call tries again)
     */
    boolean ensureJoined() {
        Membership m = membership;
        if (m == null) {
            m = newMembership();
            membership = m;
        }
        if (m.announce()) {
            lastPollNanos = clock.getAsLong();
            log.info("Joined Parti group {} as worker {}", settings.groupId, m.manager().workerId());
            guard.get().checkSoon();
            if (!runtime.get().watcher().isCurrent()) {
                runtime.get().refreshSoon();
            }
        }
        if (m.isStarted() || m.isJoining()) {
            return m.isStarted();
        }
        RuntimeException failure = m.startFailure();
        if (failure != null) {
            membership = null;
            throw new KafkaException("Could not join Parti group '" + settings.groupId + "' over NATS at "
                    + settings.parti.natsUrls() + ": " + failure.getMessage(), failure);
        }
        m.startInBackground(threadPrefix + "join");
        return false;
    }

    /**
     * Polling thread, at {@code subscribe()}: stops returning records of {@code leavingNow} at once (the
     * inner consumer pauses them, dropping what it buffered); the next {@link #dispatch()} revokes them.
     */
    void subscriptionChanged(Set<TopicPartition> leavingNow, Set<TopicPartition> leavingBefore) {
        Set<TopicPartition> resume = KafkaPartitions.minus(leavingBefore, leavingNow);
        if (!resume.isEmpty()) {
            inner.resume(resume);
        }
        if (!leavingNow.isEmpty()) {
            inner.pause(leavingNow);
            log.info("Partitions {} are no longer subscribed: no more records of them; revoked in the next poll()", leavingNow);
        }
    }

    /**
     * Polling thread: delivers what changed since the last call to the user's listener, in order, and
     * keeps the inner consumer's assignment equal to what the user was told. Returns the first exception
     * a callback threw (every change is completed anyway).
     */
    RuntimeException dispatch() {
        if (dispatching) {
            return null; // poll() called from inside a rebalance callback
        }
        dispatching = true;
        try {
            Membership m = membership;
            if (m == null) {
                return null;
            }
            if (m.isExpired() || m.isFencedOut()) {
                return rejoin(m);
            }
            RuntimeException first = revokeUnsubscribed();
            Set<TopicPartition> back = subscription.readmit();
            if (!back.isEmpty()) {
                first = firstOf(first, assigned(back, "now subscribed"));
            }
            for (RebalanceEvent e = m.nextEvent(); e != null; e = m.nextEvent()) {
                first = firstOf(first, apply(e));
            }
            return first;
        } finally {
            dispatching = false;
        }
    }

    private static RuntimeException firstOf(RuntimeException first, RuntimeException next) {
        return first != null ? first : next;
    }

    private RuntimeException rejoin(Membership m) {
        boolean fencedOut = !m.isExpired();
        while (m.nextEvent() != null) {
            // everything is lost; the queued changes no longer matter
        }
        RuntimeException failure = lose(KafkaPartitions.sorted(subscription.assigned()), true);
        subscription.clearAssignment();
        if (fencedOut) {
            throw new FencedInstanceIdException("The static worker ID '" + m.manager().workerId() + "' ("
                    + (settings.groupInstanceId != null ? "group.instance.id '" + settings.groupInstanceId + "'"
                            : "parti.worker.id") + ") of this consumer was taken over in Parti group '"
                    + settings.groupId + "' by a newer instance with the same ID; this consumer must be closed");
        }
        m.close(m.isStatic()); // the watchdog closed it already, or is doing so: this waits for it
        membership = null;
        log.info("Rejoining Parti group {} after exceeding max.poll.interval.ms", settings.groupId);
        ensureJoined(); // in the background
        return failure;
    }

    /** The revocation a new subscription asked for: auto-commit, then {@code onPartitionsRevoked}, as Kafka does. */
    private RuntimeException revokeUnsubscribed() {
        Set<TopicPartition> gone = KafkaPartitions.sorted(subscription.leaving());
        if (gone.isEmpty()) {
            return null;
        }
        RuntimeException failure;
        if (rebalanceStartNanos == 0) {
            rebalanceStartNanos = clock.getAsLong();
        }
        try {
            commits.autoCommitSync("before revoking " + gone);
            log.info("Revoking partitions no longer subscribed: {}", gone);
            failure = invoke("onPartitionsRevoked", gone, () -> subscription.listener().onPartitionsRevoked(gone));
        } finally {
            Membership m = membership;
            subscription.remove(gone, true);
            if (m != null) {
                subscription.outside().retainAll(m.owned());
            }
            syncInner(); // the paused partitions leave the inner consumer
        }
        return failure;
    }

    private RuntimeException apply(RebalanceEvent event) {
        switch (event.kind) {
            case ASSIGNED: {
                if (rebalanceStartNanos == 0) {
                    rebalanceStartNanos = event.queuedNanos;
                }
                Set<TopicPartition> added = subscription.admit(event.partitions);
                Set<TopicPartition> ignored = intersect(event.partitions, subscription.outside());
                if (!ignored.isEmpty()) {
                    log.warn("Parti group {} assigned partitions outside this consumer's subscription (version {}): {}; "
                            + "they are ignored until the group's leader takes them back", settings.groupId, event.version, ignored);
                }
                return assigned(added, "Parti version " + event.version);
            }
            case REVOKED: {
                Set<TopicPartition> mine = intersect(event.partitions, subscription.assigned());
                subscription.outside().removeAll(event.partitions);
                if (!event.claim()) {
                    return lose(mine, true);
                }
                if (rebalanceStartNanos == 0) {
                    rebalanceStartNanos = event.queuedNanos;
                }
                RuntimeException failure = null;
                try {
                    if (!mine.isEmpty()) {
                        commits.autoCommitSync("before revoking " + mine);
                        log.info("Revoking partitions (Parti version {}): {}", event.version, mine);
                        failure = invoke("onPartitionsRevoked", mine, () -> subscription.listener().onPartitionsRevoked(mine));
                    }
                } finally {
                    subscription.remove(mine, false);
                    syncInner();
                    event.complete();
                }
                return failure;
            }
            case LOST:
                subscription.outside().removeAll(event.partitions);
                return lose(intersect(event.partitions, subscription.assigned()), true);
            default:
                throw new IllegalStateException("unknown event " + event);
        }
    }

    private RuntimeException assigned(Set<TopicPartition> added, String why) {
        syncInner();
        log.info("Assigned partitions ({}): {}", why, added);
        try {
            return invoke("onPartitionsAssigned", added, () -> subscription.listener().onPartitionsAssigned(added));
        } finally {
            long start = rebalanceStartNanos == 0 ? clock.getAsLong() : rebalanceStartNanos;
            metrics.rebalanceCompleted(TimeUnit.NANOSECONDS.toMillis(clock.getAsLong() - start));
            rebalanceStartNanos = 0;
        }
    }

    /** Calls onPartitionsLost (when non-empty) and drops the partitions (from the inner consumer too when {@code sync}). */
    private RuntimeException lose(Set<TopicPartition> lost, boolean sync) {
        if (lost.isEmpty()) {
            return null;
        }
        log.warn("Lost partitions (Parti group {}): {}", settings.groupId, lost);
        metrics.rebalanceFailed();
        try {
            return invoke("onPartitionsLost", lost, () -> subscription.listener().onPartitionsLost(lost));
        } finally {
            subscription.remove(lost, false);
            if (sync) {
                syncInner();
            }
        }
    }

    private RuntimeException invoke(String method, Set<TopicPartition> partitions, Runnable call) {
        long start = clock.getAsLong();
        try {
            call.run();
            return null;
        } catch (WakeupException | InterruptException e) {
            return e;
        } catch (RuntimeException e) {
            log.error("User provided listener {} failed on invocation of {} for partitions {}",
                    subscription.listener().getClass().getName(), method, partitions, e);
            return e;
        } finally {
            String kind = method.equals("onPartitionsAssigned") ? "assigned" : method.equals("onPartitionsRevoked") ? "revoked" : "lost";
            metrics.callback(kind, TimeUnit.NANOSECONDS.toMillis(clock.getAsLong() - start));
        }
    }

    static KafkaException asKafkaException(RuntimeException e) {
        return e instanceof KafkaException ? (KafkaException) e : new KafkaException("User rebalance callback throws an error", e);
    }

    private static Set<TopicPartition> intersect(Set<TopicPartition> a, Set<TopicPartition> b) {
        Set<TopicPartition> out = new TreeSet<>(KafkaPartitions.ORDER);
        for (TopicPartition tp : a) {
            if (b.contains(tp)) {
                out.add(tp);
            }
        }
        return out;
    }

    private void syncInner() {
        Set<TopicPartition> assigned = subscription.assigned();
        assignedCount = assigned.size();
        if (assigned.isEmpty()) {
            if (!inner.assignment().isEmpty()) {
                inner.unsubscribe();
            }
        } else if (!inner.assignment().equals(assigned)) {
            inner.assign(new ArrayList<>(assigned));
        }
    }

    /**
     * Polling thread: ends the membership like Kafka's leave: queued losses are reported, then (when
     * {@code commitFirst}) auto-commit, then {@code onPartitionsRevoked} for everything still assigned
     * (or {@code onPartitionsLost} when this member is no longer a safe owner), then the manager closes.
     * Throws the first callback failure after everything is done. Waits for NATS until {@code
     * deadlineNanos} at most (then leaving is abandoned and the session expires).
     */
    void leave(boolean commitFirst, GroupMembershipOperation op, long deadlineNanos) {
        Membership m = membership;
        if (m == null) {
            return;
        }
        leaving = true;
        RuntimeException first = null;
        List<RebalanceEvent> claimed = new ArrayList<>();
        try {
            if (m.isStarted()) {
                boolean lostAll = m.isExpired() || m.isFencedOut() || !m.manager().isLeaseValid();
                Set<TopicPartition> lost = new TreeSet<>(KafkaPartitions.ORDER);
                for (RebalanceEvent e = m.nextEvent(); e != null; e = m.nextEvent()) {
                    if (e.kind == RebalanceEvent.Kind.REVOKED && e.claim()) {
                        claimed.add(e);
                    } else if (e.kind != RebalanceEvent.Kind.ASSIGNED) {
                        lost.addAll(intersect(e.partitions, subscription.assigned()));
                    } // an assignment never announced is released by the manager's close
                }
                if (lostAll) {
                    lost.addAll(subscription.assigned());
                }
                first = lose(lost, false);
                if (commitFirst) {
                    commits.autoCommitSync("on close");
                }
                Set<TopicPartition> rest = KafkaPartitions.sorted(subscription.assigned());
                if (!rest.isEmpty()) {
                    log.info("Revoking partitions (leaving Parti group {}): {}", settings.groupId, rest);
                    first = firstOf(first, invoke("onPartitionsRevoked", rest,
                            () -> subscription.listener().onPartitionsRevoked(rest)));
                }
            }
        } finally {
            subscription.clearAssignment();
            syncInner();
            m.release();
            claimed.forEach(RebalanceEvent::complete);
            boolean remain = op == GroupMembershipOperation.REMAIN_IN_GROUP
                    || op == GroupMembershipOperation.DEFAULT && m.isStatic();
            m.closeWithin(remain, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - clock.getAsLong()), threadPrefix + "leave");
            membership = null;
            MixedGroupGuard g = guard.get();
            if (g != null) {
                g.clear();
            }
            leaving = false;
        }
        if (first != null) {
            throw asKafkaException(first);
        }
    }

    /** From now on the watchdog keeps out (the consumer is closing). */
    void closing() {
        leaving = true;
    }

    /** Timer thread: leaves the group when {@code poll()} was not called for {@code max.poll.interval.ms}. */
    void watchPollInterval() {
        Membership m = membership;
        if (m == null || !m.isStarted() || m.isExpired() || leaving) {
            return;
        }
        long idle = clock.getAsLong() - lastPollNanos;
        if (idle <= TimeUnit.MILLISECONDS.toNanos(settings.maxPollIntervalMs)) {
            return;
        }
        log.warn("consumer poll timeout has expired. This means the time between subsequent calls to poll() was longer "
                + "than the configured max.poll.interval.ms ({} ms), which typically implies that the poll loop is spending "
                + "too much time processing messages. You can address this either by increasing max.poll.interval.ms or by "
                + "reducing the maximum size of batches returned in poll() with max.poll.records. This member leaves Parti "
                + "group {}{}; its next poll() reports its partitions lost and joins again.", settings.maxPollIntervalMs,
                settings.groupId, m.isStatic() ? " (keeping its static ID)" : "");
        metrics.pollIntervalExceeded();
        m.expire();
        try {
            m.close(m.isStatic());
        } catch (RuntimeException e) {
            log.warn("Leaving Parti group {} after the poll timeout failed: {}", settings.groupId, e.toString());
        }
    }
}
