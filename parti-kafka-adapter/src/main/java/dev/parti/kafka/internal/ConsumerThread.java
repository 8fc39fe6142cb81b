package dev.parti.kafka.internal;

import java.util.ConcurrentModificationException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;

/**
 * The single-thread rule of a consumer (a second thread gets a {@link ConcurrentModificationException},
 * as in {@code KafkaConsumer}), its closed flag, {@code wakeup()} and the signal the polling thread
 * waits on while it has nothing to fetch. Thread-safe: {@link #requestWakeup()} and {@link #signal()}
 * are called from any thread, everything else from the thread that holds the consumer.
 */
final class ConsumerThread {
    private static final long NO_CURRENT_THREAD = -1L;

    private final AtomicLong currentThread = new AtomicLong(NO_CURRENT_THREAD);
    private final AtomicInteger refcount = new AtomicInteger();
    private final AtomicBoolean wakeupRequested = new AtomicBoolean();
    private final Object signal = new Object();
    private volatile boolean closed;

    /** Takes the consumer for this thread (re-entrant). */
    void acquire() {
        Thread thread = Thread.currentThread();
        long threadId = thread.getId();
        if (threadId != currentThread.get() && !currentThread.compareAndSet(NO_CURRENT_THREAD, threadId)) {
            throw new ConcurrentModificationException("PartiConsumer is not safe for multi-threaded access. currentThread(name: "
                    + thread.getName() + ", id: " + threadId + ") otherThread(id: " + currentThread.get() + ")");
        }
        refcount.incrementAndGet();
    }

    /** Takes the consumer and fails if it is closed. */
    void acquireAndEnsureOpen() {
        acquire();
        if (closed) {
            release();
            throw new IllegalStateException("This consumer has already been closed.");
        }
    }

    void release() {
        if (refcount.decrementAndGet() == 0) {
            currentThread.set(NO_CURRENT_THREAD);
        }
    }

    boolean isClosed() {
        return closed;
    }

    void markClosed() {
        closed = true;
    }

    /** Any thread: the next (or current) blocking call of the polling thread throws {@link WakeupException}. */
    void requestWakeup() {
        wakeupRequested.set(true);
        signal();
    }

    /** Consumes a pending wakeup: true if there was one (the caller then throws {@link WakeupException}). */
    boolean takeWakeup() {
        return wakeupRequested.getAndSet(false);
    }

    boolean wakeupPending() {
        return wakeupRequested.get();
    }

    void throwIfWakeup() {
        if (takeWakeup()) {
            throw new WakeupException();
        }
    }

    /**
     * Runs a blocking call of the inner consumer: a pending wakeup is thrown first; a {@link
     * WakeupException} of the inner consumer that no pending wakeup explains (left by an internal
     * wakeup that only cut a poll slice short) is absorbed and the call repeated.
     */
    <T> T blocking(Supplier<T> blockingCall) {
        throwIfWakeup();
        while (true) {
            try {
                return blockingCall.get();
            } catch (WakeupException e) {
                if (takeWakeup()) {
                    throw e;
                }
            }
        }
    }

    /** Polling thread: waits up to {@code millis} for {@link #signal()}, unless a wakeup is pending or {@code ready} holds. */
    void awaitSignal(long millis, BooleanSupplier ready) {
        if (millis <= 0) {
            return;
        }
        synchronized (signal) {
            if (wakeupRequested.get() || ready.getAsBoolean()) {
                return;
            }
            try {
                signal.wait(millis);
            } catch (InterruptedException e) {
                throw new InterruptException(e);
            }
        }
    }

    /** Any thread: ends a wait in {@link #awaitSignal}. */
    void signal() {
        synchronized (signal) {
            signal.notifyAll();
        }
    }
}
