package dev.parti.internal;

import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * What a {@link GroupMember} takes from its process: the monotonic clock, its threads, blocking waits,
 * instance identities and the KV store. Production uses {@link #SYSTEM} (real time, per-member views over
 * named daemon threads the JVM's members share, jnats through {@link KvGateway}); the deterministic simulation supplies virtual time, a
 * single-threaded scheduler and an in-memory KV model, so the protocol code runs unchanged in both.
 */
interface MemberRuntime {

    /** Monotonic time in nanoseconds (for leases and deadlines). */
    long nanoTime();

    /** A new, unique instance identity (one per start). */
    String newInstanceId();

    /**
     * A single-threaded executor for user callbacks (tasks one at a time, in submission order); {@code onThread}
     * is told the thread a callback runs on, at the latest when it starts, and may be told {@code null} when it
     * returns (in production the thread is a shared pool's, lent for the callback's duration); {@code close()}
     * checks it to refuse being called from a callback.
     */
    ExecutorService callbackExecutor(String threadName, Consumer<Thread> onThread);

    /**
     * A single-threaded scheduler (the main thread): tasks one at a time, as on a thread of its own; in production
     * a view over shared threads that holds one only while a task runs ({@link SharedScheduler}).
     */
    ScheduledExecutorService scheduler(String threadName);

    /** The scheduler of the lease watchdog: by default a {@link #scheduler} of its own; in production on shared threads. */
    default ScheduledExecutorService leaseWatchdog(String threadName) {
        return scheduler(threadName);
    }

    /** Waits, in this runtime's time, on the calling thread; returns early (interrupt flag set) when interrupted. */
    void sleep(long millis);

    /** The KV store this member uses, or null to connect to NATS and use {@link KvGateway} (production). */
    Kv kv(BucketNames names, Duration requestTimeout);

    /** Where a closed static member's instance leaves its revisions to the next one: none by default (the simulator). */
    default StaticHandovers staticHandovers() {
        return StaticHandovers.NONE;
    }

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
            return SharedScheduler.callbacks(threadName, onThread); // a thread only while a callback runs
        }

        @Override
        public ScheduledExecutorService scheduler(String threadName) {
            return SharedScheduler.main(threadName); // a thread only while a protocol step runs
        }

        @Override
        public ScheduledExecutorService leaseWatchdog(String threadName) {
            return SharedScheduler.leaseWatchdog(threadName); // the check never blocks
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

        @Override
        public StaticHandovers staticHandovers() {
            return StaticHandovers.JVM; // the members of this JVM: a returning static member's predecessor is known stopped
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
            @Override public StaticHandovers staticHandovers() { return SYSTEM.staticHandovers(); }
        };
    }
}
