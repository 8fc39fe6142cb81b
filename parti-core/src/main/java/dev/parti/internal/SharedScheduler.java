package dev.parti.internal;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The threads every worker of one JVM shares: no worker has a thread of its own. Each worker gets three
 * single-threaded {@link ScheduledExecutorService} views ({@link SerialExecutor}): its protocol thread ({@link
 * #main}), its callback thread ({@link #callbacks}) and its lease watchdog ({@link #leaseWatchdog}). A view runs
 * its tasks one at a time and in order, as a thread of its own would, but holds a thread only while one of them
 * runs, and the thread carries the view's name meanwhile ({@code parti-<group>-main}, {@code
 * parti-<group>-callbacks}, {@code parti-<group>-lease}).
 *
 * <p>Behind the views: one daemon thread, {@value #TIMER_THREAD}, that only keeps time (due tasks, and the
 * stall checks below), and three {@link ElasticExecutor} pools that run the tasks, one per kind, so that one
 * kind of work never waits for another: {@value #MAIN_PREFIX}N (protocol steps, which block on KV requests for
 * up to a request timeout), {@value #CALLBACK_PREFIX}N (user listeners, which block as long as they take) and
 * {@value #LEASE_PREFIX}N (lease checks, which never wait for NATS or listeners). Each pool keeps one worker
 * while it has work, starts another per blocked worker when a task waited {@value #STALL_MS} ms (checked every
 * {@value #CHECK_MS} ms; with every worker running, after 8 times that), and
 * ends idle workers (surplus ones at once, the last after {@value #KEEP_ALIVE_S} s). So a worker whose listener
 * hangs, or whose KV call waits for a timeout, holds one pool thread, and delays another worker's callback, heartbeat
 * or lease check by about {@value #STALL_MS}–{@value #STALL_PLUS_CHECK_MS} ms once, never longer; a hung
 * listener never delays a heartbeat or lease check (other pools). Everything starts with the first view and ends when the last view
 * has terminated (or was shut down with {@code shutdownNow}; a task that ignores the interrupt keeps its pool
 * thread until it returns).
 */
public final class SharedScheduler {
    static final String TIMER_THREAD = "parti-timer";
    static final String MAIN_PREFIX = "parti-main-";
    static final String CALLBACK_PREFIX = "parti-callbacks-";
    static final String LEASE_PREFIX = "parti-lease-";
    static final int KEEP_ALIVE_S = 10;
    /** How long a due task may wait for busy workers before another worker starts. */
    static final long STALL_MS = 30;
    static final long CHECK_MS = 15;
    static final long STALL_PLUS_CHECK_MS = STALL_MS + CHECK_MS;

    private static final Object LOCK = new Object();
    private static Threads threads; // guarded by LOCK

    /** The timer and the pools; started with the first view, ended with the last. */
    private record Threads(ScheduledThreadPoolExecutor timer, ElasticExecutor main, ElasticExecutor callbacks,
            ElasticExecutor lease, int[] users) {
    }

    private SharedScheduler() {
    }

    /** A worker's protocol thread: KV calls, heartbeats, election, calculator. Shut it down when the worker stops. */
    public static ScheduledExecutorService main(String name) {
        return view(name, Threads::main, t -> { });
    }

    /**
     * A worker's callback thread (user code, in order); {@code onTask} is told the pool thread at the start of
     * each task and {@code null} at its end. Shut it down when the worker stops.
     */
    public static ScheduledExecutorService callbacks(String name, Consumer<Thread> onTask) {
        return view(name, Threads::callbacks, onTask);
    }

    /** A worker's lease watchdog. Shut it down when the worker stops. */
    public static ScheduledExecutorService leaseWatchdog(String name) {
        return view(name, Threads::lease, t -> { });
    }

    /** A lease watchdog named {@code parti-lease} (tests). */
    static ScheduledExecutorService leaseWatchdog() {
        return leaseWatchdog("parti-lease");
    }

    private static ScheduledExecutorService view(String name, java.util.function.Function<Threads, ElasticExecutor> pool,
            Consumer<Thread> onTask) {
        synchronized (LOCK) {
            if (threads == null) {
                ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
                    Thread t = new Thread(r, TIMER_THREAD);
                    t.setDaemon(true);
                    return t;
                });
                timer.setRemoveOnCancelPolicy(true);
                long stall = TimeUnit.MILLISECONDS.toNanos(STALL_MS);
                long keepAlive = TimeUnit.SECONDS.toNanos(KEEP_ALIVE_S);
                ElasticExecutor main = new ElasticExecutor(MAIN_PREFIX, stall, keepAlive);
                ElasticExecutor callbacks = new ElasticExecutor(CALLBACK_PREFIX, stall, keepAlive);
                ElasticExecutor lease = new ElasticExecutor(LEASE_PREFIX, stall, keepAlive);
                timer.scheduleWithFixedDelay(() -> {
                    main.checkStalls();
                    callbacks.checkStalls();
                    lease.checkStalls();
                }, CHECK_MS, CHECK_MS, TimeUnit.MILLISECONDS);
                threads = new Threads(timer, main, callbacks, lease, new int[1]);
            }
            Threads shared = threads;
            shared.users()[0]++;
            return new SerialExecutor(name, shared.timer(), pool.apply(shared), onTask, () -> release(shared));
        }
    }

    private static void release(Threads shared) {
        synchronized (LOCK) {
            if (--shared.users()[0] == 0 && threads == shared) {
                threads = null;
                shared.timer().shutdownNow();
                shared.main().shutdown(); // idle workers end now; a task still running is interrupted
                shared.callbacks().shutdown();
                shared.lease().shutdown();
            }
        }
    }

    /** Whether the shared threads are running (for tests). */
    static boolean running() {
        synchronized (LOCK) {
            return threads != null;
        }
    }

    /** Live pool workers of the three pools, the timer not included (for tests and benchmarks). */
    static int workers() {
        synchronized (LOCK) {
            return threads == null ? 0 : threads.main().workers() + threads.callbacks().workers() + threads.lease().workers();
        }
    }

    /** Views not yet terminated (for tests). */
    static int users() {
        synchronized (LOCK) {
            return threads == null ? 0 : threads.users()[0];
        }
    }
}
