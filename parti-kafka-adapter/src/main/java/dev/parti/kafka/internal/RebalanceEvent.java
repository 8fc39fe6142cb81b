package dev.parti.kafka.internal;

import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.TopicPartition;

/**
 * One change of this member's Parti assignment, handed from Parti's callback thread to the thread
 * that polls. A revocation is a handshake: Parti's thread waits until the polling thread has run the
 * user's {@code onPartitionsRevoked} ({@link #complete()}), or gives up ({@link #abandon()}) when the
 * polling thread did not start on it in time; exactly one of the two wins.
 */
final class RebalanceEvent {
    enum Kind { ASSIGNED, REVOKED, LOST }

    private static final int PENDING = 0;
    private static final int CLAIMED = 1;
    private static final int DONE = 2;
    private static final int ABANDONED = 3;

    final Kind kind;
    final Set<TopicPartition> partitions;
    final long version;
    /** When it was queued (the owner's monotonic clock, nanoseconds). */
    final long queuedNanos;
    private final AtomicInteger state = new AtomicInteger(PENDING);
    private final CountDownLatch done = new CountDownLatch(1);

    RebalanceEvent(Kind kind, Set<TopicPartition> partitions, long version, long queuedNanos) {
        this.queuedNanos = queuedNanos;
        this.kind = kind;
        this.partitions = Set.copyOf(partitions);
        this.version = version;
    }

    /** Polling thread: takes the revocation on; false if Parti's thread gave up on it already. */
    boolean claim() {
        return state.compareAndSet(PENDING, CLAIMED);
    }

    /** Polling thread: the user's callback ran and the partitions left the inner consumer. */
    void complete() {
        state.set(DONE);
        done.countDown();
    }

    /** Parti's thread: stops waiting; false if the polling thread took the revocation on already. */
    boolean abandon() {
        boolean won = state.compareAndSet(PENDING, ABANDONED);
        if (won) {
            done.countDown();
        }
        return won;
    }

    boolean isAbandoned() {
        return state.get() == ABANDONED;
    }

    boolean awaitDone(long millis) throws InterruptedException {
        return done.await(millis, TimeUnit.MILLISECONDS);
    }

    @Override
    public String toString() {
        return kind + " v" + version + " " + partitions;
    }
}
