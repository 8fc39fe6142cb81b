package dev.parti.internal;

import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * What a {@link GroupMember} takes from its process: the monotonic clock, its threads, blocking waits,
 * instance identities and the KV store. Production uses {@link #SYSTEM} (real time, named daemon
 * threads, jnats through {@link KvGateway}); the deterministic simulation supplies virtual time, a
 * single-threaded scheduler and an in-memory KV model, so the protocol code runs unchanged in both.
 */
interface MemberRuntime {

    /** Monotonic time in nanoseconds (for leases and deadlines). */
    long nanoTime();

    /** A new, unique instance identity (one per start). */
    String newInstanceId();

    /**
     * A single-threaded executor for user callbacks; {@code onThread} is told the thread it runs on
     * (callbacks check it to refuse a {@code close()} from a callback).
     */
    ExecutorService callbackExecutor(String threadName, Consumer<Thread> onThread);

    /** A single-threaded scheduler (the main thread, the lease watchdog). */
    ScheduledExecutorService scheduler(String threadName);

    /** The scheduler of the lease watchdog: by default a {@link #scheduler} of its own. */
    default ScheduledExecutorService leaseWatchdog(String threadName) {
        return scheduler(threadName);
    }

    /** Waits, in this runtime's time, on the calling thread; returns early (interrupt flag set) when interrupted. */
    void sleep(long millis);

    /** The KV store this member uses, or null to connect to NATS and use {@link KvGateway} (production). */
    Kv kv(BucketNames names, Duration requestTimeout);

    /** Real time, real threads, NATS. */
    MemberRuntime SYSTEM = new MemberRuntime() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public String newInstanceId() {
            return UUID.randomUUID().toString();
        }

        @Override
        public ExecutorService callbackExecutor(String threadName, Consumer<Thread> onThread) {
            return Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, threadName);
                t.setDaemon(true);
                onThread.accept(t);
                return t;
            });
        }

        @Override
        public ScheduledExecutorService scheduler(String threadName) {
            return Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, threadName);
                t.setDaemon(true);
                return t;
            });
        }

        @Override
        public ScheduledExecutorService leaseWatchdog(String threadName) {
            return SharedScheduler.leaseWatchdog(); // one thread for the JVM's workers: the check never blocks
        }

        @Override
        public void sleep(long millis) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public Kv kv(BucketNames names, Duration requestTimeout) {
            return null;
        }
    };

    /** {@link #SYSTEM} with another clock (tests that move time by hand). */
    static MemberRuntime withClock(java.util.function.LongSupplier clock) {
        return new MemberRuntime() {
            @Override public long nanoTime() { return clock.getAsLong(); }
            @Override public String newInstanceId() { return SYSTEM.newInstanceId(); }
            @Override public ExecutorService callbackExecutor(String n, Consumer<Thread> t) { return SYSTEM.callbackExecutor(n, t); }
            @Override public ScheduledExecutorService scheduler(String n) { return SYSTEM.scheduler(n); }
            @Override public ScheduledExecutorService leaseWatchdog(String n) { return SYSTEM.leaseWatchdog(n); }
            @Override public void sleep(long millis) { SYSTEM.sleep(millis); }
            @Override public Kv kv(BucketNames names, Duration requestTimeout) { return null; }
        };
    }
}
