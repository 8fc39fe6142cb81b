package dev.parti.nats;

import dev.parti.Partition;
import io.nats.client.Dispatcher;
import io.nats.client.Message;
import io.nats.client.MessageConsumer;
import io.nats.client.impl.NatsJetStreamMetaData;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One owned partition: its consumer and its serial handling.
 *
 * <p>Threads: {@link #deliver} runs on the jnats dispatcher thread of {@link #dispatcher} (the handler
 * runs there, inline, as with a plain {@code consume()}: no hand-off per message); consumer creation on
 * the helper's consumer thread under {@link #acquireLock}; release on Parti's callback thread.
 * {@code phase}, {@code generation} and {@code handlerThread} change under the lane's monitor; a message
 * from an older generation (a consumer replaced or closed) is dropped unacked, and the next consumer of
 * the partition starts from the last handled sequence.
 */
final class Lane {
    private static final Logger log = LoggerFactory.getLogger(Lane.class);

    final Partition partition;
    final String consumerName;
    /** The dispatcher whose thread delivers, and handles, this partition's messages. */
    final Dispatcher dispatcher;
    /** The consumer's filter subjects; set by the consumer thread before the first consumer is created. */
    volatile List<String> filters;
    final ReentrantLock acquireLock = new ReentrantLock();
    private final PartitionHandler handler;
    private final Engine engine;
    /** Acknowledge at least every this many handled messages (the consumers ack all up to a sequence). */
    private final int ackEvery;
    /**
     * The last handled message not acknowledged yet (the consumer's ack policy is "all": acking it acks
     * every earlier one), or null. Set by the dispatcher thread; taken and acked by the next ack on that
     * thread, by the helper's periodic flush (consumer thread), or by the release; dropped when the consumer
     * is recreated (the new one starts after the last handled message anyway).
     */
    final AtomicReference<Message> unacked = new AtomicReference<>();
    private int handledSinceAck; // dispatcher thread only

    // guarded by this
    private PartitionStatus.Phase phase = PartitionStatus.Phase.ACQUIRING;
    private int generation;
    private MessageConsumer consumer;
    /** The thread running a handler call of this lane (with its ack), or null. */
    private Thread handlerThread;

    volatile int failedAttempts;
    /** Creation time of the stream lastHandled refers to (consumer thread). */
    volatile java.time.ZonedDateTime streamCreated;
    /** Whether this lane's persistent failure is reported to the Parti manager (PartiManager#reportFault). */
    volatile boolean faultReported;
    /** System.nanoTime() of the last delivery, or of the consumer's start (idle lanes get their consumer checked). */
    volatile long lastActivityNanos = System.nanoTime();
    volatile String lastError;
    /** Handler failures in a row (backoff of the retries); 0 after a success. */
    volatile int handlerFailures;
    /** Stream sequence of the last message handled and acked (volatile: read by the consumer thread on a reset). */
    volatile long lastHandled;
    volatile long handledCount;
    // dispatcher thread only (a new generation is handed over through the monitor): the delivery sequence
    // last seen from the consumer of generation lastDeliveryGeneration
    private long lastDelivery;
    private int lastDeliveryGeneration = -1;

    /** The helper services a lane needs. */
    interface Engine {
        /** A delivery was lost: stop fetching and recreate the consumer after the last handled message. */
        void requestReset(Lane lane, String why);

        /** The handler failed on the next message: recreate the consumer after a backoff, so it comes first again. */
        void requestRetry(Lane lane, Exception cause);

        void countDuplicate();

        void countHandled();

        /** Whether this worker may handle messages now (false while its Parti lease is not valid under the fence policy). */
        boolean mayHandle();
    }

    Lane(Partition partition, String consumerName, Dispatcher dispatcher, PartitionHandler handler, Engine engine, int ackEvery) {
        this.partition = partition;
        this.consumerName = consumerName;
        this.dispatcher = dispatcher;
        this.handler = handler;
        this.engine = engine;
        this.ackEvery = ackEvery;
    }

    /** Acks the last handled message if it was not acked yet (any thread). */
    void flushAck() {
        Message m = unacked.getAndSet(null);
        if (m != null) {
            try {
                m.ack();
            } catch (RuntimeException e) {
                log.debug("acking {} failed: {}", partition, e.toString());
            }
        }
    }

    synchronized PartitionStatus.Phase phase() {
        return phase;
    }

    synchronized void setPhase(PartitionStatus.Phase p) {
        if (phase != PartitionStatus.Phase.RELEASING) {
            phase = p;
        }
    }

    /** A new consumer generation is about to start; messages of older ones are dropped from now on. */
    synchronized int nextGeneration() {
        return ++generation;
    }

    /**
     * Makes the lane RUNNING for consumer generation {@code gen} before the consumer starts, so its first
     * deliveries are not dropped; false when the lane is being released or moved on meanwhile.
     */
    synchronized boolean run(int gen) {
        if (phase == PartitionStatus.Phase.RELEASING || gen != generation) {
            return false;
        }
        phase = PartitionStatus.Phase.RUNNING;
        return true;
    }

    /**
     * Keeps the started consumer of generation {@code gen} for closing later; false (and the caller closes
     * {@code started}) when the lane was stopped meanwhile.
     */
    synchronized boolean attach(int gen, MessageConsumer started) {
        if (phase != PartitionStatus.Phase.RUNNING || gen != generation) {
            return false;
        }
        consumer = started;
        return true;
    }

    /**
     * Stops fetching: the lane leaves RUNNING ({@code next}: RELEASING or RESETTING) and messages already
     * delivered to the dispatcher will be dropped. Returns the consumer to close (the caller closes it, off
     * the dispatcher thread), or null. Only a call that takes the lane out of RUNNING returns it, so a
     * second request (a reset racing a release) does nothing.
     */
    synchronized MessageConsumer stopFetching(PartitionStatus.Phase next) {
        if (phase != PartitionStatus.Phase.RELEASING) {
            phase = next;
        }
        generation++;
        MessageConsumer c = consumer;
        consumer = null;
        return c;
    }

    /**
     * Stops fetching, as {@link #stopFetching}, only while RUNNING (a lost delivery or a failed handler
     * racing a release does nothing). Returns null when the lane was not running, else a holder of the
     * consumer to close (whose value may be null).
     */
    synchronized MessageConsumer[] stopIfRunning(PartitionStatus.Phase next) {
        if (phase != PartitionStatus.Phase.RUNNING) {
            return null;
        }
        return new MessageConsumer[] {stopFetching(next)};
    }

    static void closeQuietly(MessageConsumer c, Partition p) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            log.debug("closing the consumer of {} failed: {}", p, e.toString());
        }
    }

    /**
     * Dispatcher thread: a delivery of consumer generation {@code gen}. Handles it inline (its handler
     * call and ack), or drops it unacked when the lane stopped or moved on to a newer consumer.
     */
    void deliver(int gen, Message message) {
        synchronized (this) {
            if (gen != generation || phase != PartitionStatus.Phase.RUNNING) {
                return; // stale or stopping: left unacked; the next consumer starts at the last handled sequence
            }
        }
        lastActivityNanos = System.nanoTime();
        NatsJetStreamMetaData meta = message.metaData();
        long seq = meta.streamSequence();
        long delivery = meta.consumerSequence();
        if (gen != lastDeliveryGeneration) {
            lastDeliveryGeneration = gen;
            lastDelivery = 0;
        }
        if (delivery > lastDelivery + 1) { // every consumer is new: its first delivery is 1
            // deliveries lastDelivery+1 .. delivery-1 never reached us (a server restart, a stale pull):
            // handling this one now would break the order; restart the consumer after the last handled message
            engine.requestReset(this, "deliveries " + (lastDelivery + 1) + ".." + (delivery - 1) + " were lost");
            return;
        }
        lastDelivery = delivery;
        if (seq <= lastHandled) {
            message.ack(); // a redelivery of something handled already
            engine.countDuplicate();
            return;
        }
        while (!engine.mayHandle()) { // not a safe owner right now (fence policy): wait for the lease or the loss
            synchronized (this) {
                if (phase != PartitionStatus.Phase.RUNNING || gen != generation) {
                    return;
                }
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // not ours: the dispatcher is being closed
                return;
            }
        }
        synchronized (this) {
            if (phase != PartitionStatus.Phase.RUNNING || gen != generation) {
                return; // not acked: the next consumer starts at lastHandled + 1
            }
            handlerThread = Thread.currentThread();
        }
        try {
            handler.handle(partition, message);
            // Ack policy "all": one ack covers every earlier message of the partition. Ack now when the
            // partition is caught up (nothing more was pending at delivery) or every ackEvery messages; the
            // periodic flush and the release ack the rest. Unacked handled messages stay within maxInFlight.
            if (++handledSinceAck >= ackEvery || meta.pendingCount() == 0) {
                handledSinceAck = 0;
                unacked.set(null);
                message.ack();
            } else {
                unacked.set(message);
            }
            lastHandled = seq;
            handledCount++;
            handlerFailures = 0;
            engine.countHandled();
        } catch (InterruptedException e) {
            log.debug("handler of {} interrupted at sequence {}", partition, seq);
        } catch (Exception | LinkageError e) {
            if (Thread.currentThread().isInterrupted()) {
                log.debug("handler of {} interrupted at sequence {}: {}", partition, seq, e.toString());
            } else {
                engine.requestRetry(this, e instanceof Exception ex ? ex : new RuntimeException(e));
            }
        } finally {
            synchronized (this) {
                handlerThread = null;
                notifyAll();
            }
            // An interrupt is only sent while handlerThread is set (awaitIdle, under the monitor), so clearing
            // it here, after handlerThread is null, never leaves one on the dispatcher thread (it would stop it).
            Thread.interrupted();
        }
    }

    /**
     * Waits until no handler call of this lane runs, up to {@code timeoutNanos}; interrupts one still
     * running then. Returns true when the lane went idle in time. Call after {@link #stopFetching}: no new
     * call starts then.
     */
    boolean awaitIdle(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (this) {
            while (handlerThread != null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    handlerThread.interrupt();
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return true;
        }
    }

    PartitionStatus status() {
        PartitionStatus.Phase p = phase();
        return new PartitionStatus(partition, p, consumerName, failedAttempts, lastError, handledCount, lastHandled);
    }
}
