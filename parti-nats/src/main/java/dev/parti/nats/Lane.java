package dev.parti.nats;

import dev.parti.Partition;
import io.nats.client.Message;
import io.nats.client.MessageConsumer;
import io.nats.client.impl.NatsJetStreamMetaData;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One owned partition: its consumer, its queue of delivered messages and its serial handling.
 *
 * <p>Threads: {@link #offer} runs on the jnats dispatcher thread; {@link #drain} on one handler
 * thread at a time ({@link #scheduled} guards it); consumer creation on the helper's consumer thread
 * under {@link #acquireLock}; release on Parti's callback thread. {@code phase} and {@code generation}
 * change under the lane's monitor; a message from an older generation (a consumer replaced or closed)
 * is dropped unacked, and the next consumer of the partition starts from the last handled sequence.
 */
final class Lane {
    private static final Logger log = LoggerFactory.getLogger(Lane.class);
    private static final long MAX_HANDLER_BACKOFF_MS = 5_000;

    record Delivery(int generation, Message message) {
    }

    final Partition partition;
    final String consumerName;
    /** The consumer's filter subjects; set by the consumer thread before the first consumer is created. */
    volatile List<String> filters;
    final ReentrantLock acquireLock = new ReentrantLock();
    private final ConcurrentLinkedQueue<Delivery> queue = new ConcurrentLinkedQueue<>();
    private final Executor handlers;
    private final PartitionHandler handler;
    private final Engine engine;

    // guarded by this
    private PartitionStatus.Phase phase = PartitionStatus.Phase.ACQUIRING;
    private int generation;
    private MessageConsumer consumer;
    private boolean scheduled;
    private Thread handlerThread;

    volatile int failedAttempts;
    volatile String lastError;
    /** Stream sequence of the last message handled and acked (volatile: read by the consumer thread on a reset). */
    volatile long lastHandled;
    volatile long handledCount;
    // drain thread only (one at a time, handed over through the monitor): the delivery sequence last seen
    // from the consumer of generation lastDeliveryGeneration
    private long lastDelivery;
    private int lastDeliveryGeneration = -1;

    /** The helper services a lane needs. */
    interface Engine {
        void requestReset(Lane lane, String why);

        void countDuplicate();

        void countHandled();

        /** Whether this worker may handle messages now (false while its Parti lease is not valid under the fence policy). */
        boolean mayHandle();
    }

    Lane(Partition partition, String consumerName, Executor handlers, PartitionHandler handler, Engine engine) {
        this.partition = partition;
        this.consumerName = consumerName;
        this.handlers = handlers;
        this.handler = handler;
        this.engine = engine;
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

    /** Marks the lane as being released: it will never run again. */
    synchronized void beginRelease() {
        phase = PartitionStatus.Phase.RELEASING;
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
     * Stops fetching: the lane leaves RUNNING ({@code next}: RELEASING or RESETTING), queued messages
     * will be dropped, and the consumer is closed. Returns the closed consumer's generation.
     */
    void stopFetching(PartitionStatus.Phase next) {
        MessageConsumer c;
        synchronized (this) {
            if (phase != PartitionStatus.Phase.RELEASING) {
                phase = next;
            }
            generation++;
            c = consumer;
            consumer = null;
        }
        queue.clear();
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                log.debug("closing the consumer of {} failed: {}", partition, e.toString());
            }
        }
    }

    /** Dispatcher thread: queues a delivery of generation {@code gen}. */
    void offer(int gen, Message message) {
        synchronized (this) {
            if (gen != generation || phase != PartitionStatus.Phase.RUNNING) {
                return; // stale or stopping: left unacked; the next consumer starts at the last handled sequence
            }
        }
        queue.add(new Delivery(gen, message));
        schedule();
    }

    private void schedule() {
        synchronized (this) {
            if (scheduled) {
                return;
            }
            scheduled = true;
        }
        try {
            handlers.execute(this::drain);
        } catch (RuntimeException e) { // rejected: the helper is closing
            synchronized (this) {
                scheduled = false;
                notifyAll();
            }
        }
    }

    private void drain() {
        synchronized (this) {
            handlerThread = Thread.currentThread();
        }
        try {
            Delivery d;
            while ((d = queue.poll()) != null) {
                int gen;
                synchronized (this) {
                    if (phase != PartitionStatus.Phase.RUNNING || d.generation() != generation) {
                        continue;
                    }
                    gen = generation;
                }
                process(gen, d.message());
            }
        } finally {
            boolean again;
            synchronized (this) {
                handlerThread = null;
                scheduled = false;
                again = !queue.isEmpty() && phase == PartitionStatus.Phase.RUNNING;
                notifyAll();
            }
            Thread.interrupted(); // an interrupt meant for a handler must not leak into the next task of this thread
            if (again) {
                schedule();
            }
        }
    }

    private void process(int gen, Message message) {
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
        long backoffMs = 50;
        while (true) {
            synchronized (this) {
                if (phase != PartitionStatus.Phase.RUNNING || gen != generation) {
                    return; // not acked: the next consumer starts at lastHandled + 1
                }
            }
            if (!engine.mayHandle()) { // not a safe owner right now (fence policy): wait for the lease or the loss
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
                continue;
            }
            try {
                handler.handle(partition, message);
                message.ack();
                lastHandled = seq;
                handledCount++;
                engine.countHandled();
                return;
            } catch (InterruptedException e) {
                log.debug("handler of {} interrupted at sequence {}", partition, seq);
                return;
            } catch (Exception | LinkageError e) {
                log.warn("handler failed on {} sequence {} (retrying in {} ms): {}", partition, seq, backoffMs, e.toString());
                try {
                    message.inProgress();
                    Thread.sleep(backoffMs);
                } catch (InterruptedException ie) {
                    return;
                } catch (RuntimeException ignored) {
                    // the connection may be down; the retry goes on
                }
                backoffMs = Math.min(backoffMs * 2, MAX_HANDLER_BACKOFF_MS);
            }
        }
    }

    /**
     * Waits until no handler runs for this lane, up to {@code timeoutNanos}; interrupts a handler still
     * running then. Returns true when the lane went idle in time.
     */
    boolean awaitIdle(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (this) {
            while (scheduled) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    if (handlerThread != null) {
                        handlerThread.interrupt();
                    }
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
