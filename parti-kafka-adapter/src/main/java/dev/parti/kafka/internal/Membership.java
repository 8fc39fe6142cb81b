package dev.parti.kafka.internal;

import dev.parti.AssignmentListener;
import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import java.util.Collections;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.LongSupplier;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One membership of a consumer in its Parti group: one {@link PartiManager}, from the first {@code
 * poll()} after {@code subscribe()} until {@code unsubscribe()}, {@code close()} or an exceeded {@code
 * max.poll.interval.ms} ends it (the consumer then joins again with a new membership).
 *
 * <p>It is the manager's {@link AssignmentListener}. Its callbacks run on Parti's callback thread and
 * never call user code: they queue {@link RebalanceEvent}s for the polling thread and keep {@link
 * #owned()}, the partitions this member may commit for.
 * <ul>
 *   <li>{@code onAssigned}: the partitions become owned at once; the user hears of them in the next poll.</li>
 *   <li>{@code onRevoked}: blocks Parti's thread until the polling thread has run the user's
 *   {@code onPartitionsRevoked} (so the user can commit while Parti still counts the partitions as
 *   this member's, and the new owner is assigned them only afterwards: the two-phase handoff). It stops
 *   waiting when the membership is being released (close, unsubscribe), when the poll interval is
 *   exceeded, or under the {@code fence} policy when the lease is no longer valid; the polling thread
 *   then reports the partitions lost instead.</li>
 *   <li>{@code onLost}: never waits; the partitions stop being owned at once (records already fetched
 *   for them are dropped, commits refused) and the user hears {@code onPartitionsLost} in the next poll.</li>
 * </ul>
 */
final class Membership implements AssignmentListener {
    private static final Logger log = LoggerFactory.getLogger(Membership.class);
    private static final long WAIT_SLICE_MS = 10;

    private final PartiManager manager;
    private final String group;
    private final boolean staticMember;
    private final boolean fence;
    private final Runnable signal;
    private final LongSupplier nanoClock;
    private final Queue<RebalanceEvent> events = new ConcurrentLinkedQueue<>();
    private final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
    private volatile boolean started;
    private volatile boolean releasing;
    private volatile boolean expired;
    private volatile long revokeWaitStartNanos;
    private volatile Thread joiner;
    private volatile RuntimeException startFailure;
    private boolean announced;

    /**
     * @param config       the manager's settings (this object is set as its listener)
     * @param staticMember whether the worker ID is a static {@code group.instance.id}
     * @param signal       wakes the polling thread when an event is queued
     */
    Membership(PartiConfig config, boolean staticMember, Runnable signal, LongSupplier nanoClock) {
        this.group = config.group();
        this.staticMember = staticMember;
        this.fence = config.lossPolicy() == LossPolicy.FENCE;
        this.signal = signal;
        this.nanoClock = nanoClock;
        this.manager = new PartiManager(config, this);
    }

    /**
     * Joins the group on a thread of its own, {@code threadName}, which ends when the manager has a
     * worker ID or gave up (after {@code parti.startup.timeout.ms}); {@code signal} is run either way.
     * The polling thread never waits for NATS.
     */
    void startInBackground(String threadName) {
        Thread t = new Thread(() -> {
            try {
                manager.start();
                started = true;
            } catch (RuntimeException e) {
                startFailure = e;
            } finally {
                signal.run();
            }
        }, threadName);
        t.setDaemon(true);
        joiner = t;
        t.start();
    }

    boolean isStarted() {
        return started;
    }

    /** Whether {@link #startInBackground} was called and has not ended yet. */
    boolean isJoining() {
        Thread t = joiner;
        return t != null && !started && startFailure == null;
    }

    /** Why joining failed, or null. */
    RuntimeException startFailure() {
        return startFailure;
    }

    /** Whether the polling thread announced the join (logs, group checks); set once. */
    boolean announce() {
        if (announced || !started) {
            return false;
        }
        announced = true;
        return true;
    }

    PartiManager manager() {
        return manager;
    }

    boolean isStatic() {
        return staticMember;
    }

    /** Partitions this member owns in Parti's view right now (thread-safe, live). */
    Set<TopicPartition> owned() {
        return Collections.unmodifiableSet(owned);
    }

    boolean owns(TopicPartition tp) {
        return owned.contains(tp);
    }

    /** The next queued event, or null. */
    RebalanceEvent nextEvent() {
        return events.poll();
    }

    boolean hasEvents() {
        return !events.isEmpty();
    }

    /** Whether the poll interval was exceeded: everything is lost and the consumer must join again. */
    boolean isExpired() {
        return expired;
    }

    /** Whether the manager stopped by itself (its static ID was taken over by a newer instance). */
    boolean isFencedOut() {
        return started && !releasing && manager.state() == ManagerState.SHUTDOWN;
    }

    /** Since when Parti's thread waits for the polling thread to handle a revocation, or 0. */
    long revokeWaitStartNanos() {
        return revokeWaitStartNanos;
    }

    /**
     * From now on callbacks return at once (the caller handles or abandons what is left); call before
     * closing the manager, whose close revokes everything through this listener.
     */
    void release() {
        releasing = true;
    }

    /** The poll interval was exceeded: stop waiting for the polling thread; the caller then closes the manager. */
    void expire() {
        expired = true;
        releasing = true;
        signal.run();
    }

    /** Closes the manager: leaves the group, or keeps the worker ID until it expires when {@code remainInGroup}. */
    void close(boolean remainInGroup) {
        releasing = true;
        manager.close(remainInGroup);
    }

    /**
     * Like {@link #close(boolean)}, but waits at most {@code timeoutMs}: the close goes on on the thread
     * {@code threadName}, which ends by itself shortly after (the manager's close makes a join still under
     * way give up at its next retry, and writes nothing when NATS is not connected). Leaving is abandoned, as Kafka abandons its {@code LeaveGroup}, when NATS does
     * not answer in time: the session then expires. Returns whether the close finished in time.
     */
    boolean closeWithin(boolean remainInGroup, long timeoutMs, String threadName) {
        releasing = true;
        // A join under way holds the manager's close until it ends; it is not interrupted (an interrupt
        // closes the NIO channel of the NATS connection it is using, which turns a quick join into a retry
        // until parti.startup.timeout.ms).
        Thread closer = new Thread(() -> {
            try {
                manager.close(remainInGroup);
            } catch (RuntimeException e) {
                log.warn("Closing the Parti membership of group {} failed: {}", group, e.toString());
            }
        }, threadName);
        closer.setDaemon(true);
        closer.start();
        try {
            closer.join(Math.max(1, timeoutMs));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (closer.isAlive()) {
            log.warn("Parti group {}: leaving did not finish within {} ms (NATS unreachable?); abandoned, the session "
                    + "expires instead", group, timeoutMs);
            return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ AssignmentListener (Parti's callback thread)

    @Override
    public void onAssigned(Set<Partition> added, long version) {
        Set<TopicPartition> tps = KafkaPartitions.toTopicPartitions(added);
        owned.addAll(tps);
        if (!releasing) {
            events.add(new RebalanceEvent(RebalanceEvent.Kind.ASSIGNED, tps, version, nanoClock.getAsLong()));
            signal.run();
        }
    }

    @Override
    public void onRevoked(Set<Partition> removed, long version) {
        Set<TopicPartition> tps = KafkaPartitions.toTopicPartitions(removed);
        if (releasing) {
            owned.removeAll(tps);
            return;
        }
        RebalanceEvent event = new RebalanceEvent(RebalanceEvent.Kind.REVOKED, tps, version, nanoClock.getAsLong());
        events.add(event);
        signal.run();
        revokeWaitStartNanos = nanoClock.getAsLong();
        try {
            while (!event.awaitDone(WAIT_SLICE_MS)) {
                String why = expired ? "max.poll.interval.ms was exceeded" : releasing ? "the membership is ending"
                        : fence && !manager.isLeaseValid() ? "the lease is no longer valid" : null;
                if (why != null) {
                    if (event.abandon()) {
                        log.warn("Parti group {}: stopped waiting for the polling thread to revoke {} ({}); "
                                + "they will be reported lost", group, tps, why);
                    }
                    break;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            event.abandon();
        } finally {
            revokeWaitStartNanos = 0;
            owned.removeAll(tps);
        }
    }

    @Override
    public void onLost(Set<Partition> lost, long version) {
        Set<TopicPartition> tps = KafkaPartitions.toTopicPartitions(lost);
        owned.removeAll(tps);
        if (!releasing) {
            events.add(new RebalanceEvent(RebalanceEvent.Kind.LOST, tps, version, nanoClock.getAsLong()));
            signal.run();
        }
    }
}
