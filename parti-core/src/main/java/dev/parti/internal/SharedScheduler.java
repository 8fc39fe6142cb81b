package dev.parti.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Threads the workers of one JVM share where a worker does not need its own: today the lease watchdog.
 * Every worker gets its own {@link ScheduledExecutorService} view ({@link #leaseWatchdog()}) with the
 * lifecycle of a private executor (its {@code shutdown} cancels only its own tasks, {@code
 * awaitTermination} waits only for them). Behind the views: one daemon thread, {@code
 * parti-lease-watchdog}, that only keeps time, and an {@link ElasticExecutor} of workers, {@code
 * parti-lease-worker-N}, that run the due tasks: one worker at rest, another whenever a due task has waited
 * {@value #STALL_MS} ms for a busy one (idle workers end after {@value #KEEP_ALIVE_S} s); a periodic task
 * that is still running when it is due again skips that round.
 * Both start with the first view and end when the last view is shut down.
 *
 * <p>Isolation: a worker's watchdog task compares its clock with its last successful heartbeat and, when
 * the lease is stale, hands the fencing over to the worker's own callback thread; it never waits for NATS or
 * listener code. Should one still block (a {@link dev.parti.MetricsRecorder} that blocks, say), it holds one
 * worker and delays the other workers' checks by about {@value #STALL_MS} ms once, never for longer. At rest
 * one pool worker serves every worker in the JVM. The worker's protocol thread ({@code -main}, blocking KV calls) and its callback thread ({@code
 * -callbacks}, user code, in order) stay per worker: they may block for a request timeout or for as long as
 * a listener takes, and must not hold up anyone else.
 */
public final class SharedScheduler {
    static final String LEASE_THREAD = "parti-lease-watchdog";
    static final String LEASE_WORKER_PREFIX = "parti-lease-worker-";
    static final int KEEP_ALIVE_S = 10;
    /** How long a due check may wait for a busy worker before another worker starts. */
    static final long STALL_MS = 100;

    private static final Object LOCK = new Object();
    private static ScheduledThreadPoolExecutor leaseTimer; // guarded by LOCK
    private static ElasticExecutor leaseWorkers; // guarded by LOCK
    private static int leaseUsers; // guarded by LOCK

    private SharedScheduler() {
    }

    /** A worker's own view of the shared lease-watchdog threads; shut it down when the worker stops. */
    public static ScheduledExecutorService leaseWatchdog() {
        synchronized (LOCK) {
            if (leaseTimer == null) {
                ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> daemon(r, LEASE_THREAD));
                t.setRemoveOnCancelPolicy(true);
                ElasticExecutor w = new ElasticExecutor(LEASE_WORKER_PREFIX, TimeUnit.MILLISECONDS.toNanos(STALL_MS),
                        TimeUnit.SECONDS.toNanos(KEEP_ALIVE_S));
                t.scheduleWithFixedDelay(w::checkStalls, STALL_MS / 2, STALL_MS / 2, TimeUnit.MILLISECONDS);
                leaseWorkers = w;
                leaseTimer = t;
            }
            leaseUsers++;
            return new View(leaseTimer, leaseWorkers);
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** Whether the shared lease-watchdog threads are running (for tests). */
    static boolean leaseWatchdogRunning() {
        synchronized (LOCK) {
            return leaseTimer != null;
        }
    }

    private static void releaseLease(ScheduledThreadPoolExecutor timer, ElasticExecutor workers) {
        synchronized (LOCK) {
            if (timer == leaseTimer && --leaseUsers == 0) {
                leaseTimer = null;
                leaseWorkers = null;
                timer.shutdownNow();
                workers.shutdown(); // idle workers end now; a task still running is interrupted
            }
        }
    }

    /** One worker's executor on the shared pool: tracks its own tasks, shuts down without touching others'. */
    private static final class View extends AbstractExecutorService implements ScheduledExecutorService {
        private final ScheduledThreadPoolExecutor pool;
        private final ElasticExecutor workers;
        private final Set<ScheduledFuture<?>> tasks = ConcurrentHashMap.newKeySet();
        private final Object monitor = new Object();
        private boolean shutdown; // guarded by monitor
        private int running; // guarded by monitor
        private Thread runner; // guarded by monitor: the thread running one of this view's tasks now

        View(ScheduledThreadPoolExecutor pool, ElasticExecutor workers) {
            this.pool = pool;
            this.workers = workers;
        }

        /** On the timer thread: hands {@code task} to a pool worker (nothing if the pool stopped meanwhile). */
        private void hand(Runnable task) {
            try {
                workers.execute(task);
            } catch (RejectedExecutionException stopped) {
                // the last view was shut down meanwhile
            }
        }

        /** A periodic task: a round that finds the previous one still running is skipped. */
        private Runnable periodic(Runnable command) {
            Runnable tracked = track(command);
            java.util.concurrent.atomic.AtomicBoolean busy = new java.util.concurrent.atomic.AtomicBoolean();
            return () -> {
                if (busy.compareAndSet(false, true)) {
                    hand(() -> {
                        try {
                            tracked.run();
                        } finally {
                            busy.set(false);
                        }
                    });
                }
            };
        }

        private Runnable track(Runnable r) {
            return () -> {
                synchronized (monitor) {
                    if (shutdown) {
                        return;
                    }
                    running++;
                    runner = Thread.currentThread();
                }
                try {
                    r.run();
                } finally {
                    synchronized (monitor) { // shutdownNow() interrupts under this lock: never after the clear below
                        running--;
                        runner = null;
                        Thread.interrupted(); // an interrupt meant for this view's task must not reach the next one's
                        monitor.notifyAll();
                    }
                }
            };
        }

        private <T> ScheduledFuture<T> keep(ScheduledFuture<T> f) {
            tasks.removeIf(ScheduledFuture::isDone);
            tasks.add(f);
            synchronized (monitor) {
                if (shutdown) {
                    f.cancel(false);
                }
            }
            return f;
        }

        private void checkOpen() {
            synchronized (monitor) {
                if (shutdown) {
                    throw new RejectedExecutionException("this worker's scheduler is shut down");
                }
            }
        }

        @Override
        public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
            checkOpen();
            Runnable tracked = track(command);
            return keep(pool.schedule(() -> hand(tracked), delay, unit));
        }

        @Override
        public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
            checkOpen();
            Object[] result = new Object[1];
            Runnable tracked = track(() -> {
                try {
                    result[0] = callable.call();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            ScheduledFuture<?> f = pool.schedule(() -> hand(tracked), delay, unit);
            @SuppressWarnings("unchecked")
            ScheduledFuture<V> typed = (ScheduledFuture<V>) new ResultFuture<>(keep(f), result);
            return typed;
        }

        @Override
        public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
            checkOpen();
            return keep(pool.scheduleAtFixedRate(periodic(command), initialDelay, period, unit));
        }

        @Override
        public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
            checkOpen();
            return keep(pool.scheduleWithFixedDelay(periodic(command), initialDelay, delay, unit));
        }

        @Override
        public void execute(Runnable command) {
            schedule(command, 0, TimeUnit.NANOSECONDS);
        }

        @Override
        public void shutdown() {
            synchronized (monitor) {
                if (shutdown) {
                    return;
                }
                shutdown = true;
            }
            for (ScheduledFuture<?> f : tasks) {
                f.cancel(false);
            }
            tasks.clear();
            releaseLease(pool, workers);
        }

        @Override
        public List<Runnable> shutdownNow() {
            shutdown();
            synchronized (monitor) {
                if (runner != null) {
                    runner.interrupt();
                }
            }
            return new ArrayList<>();
        }

        @Override
        public boolean isShutdown() {
            synchronized (monitor) {
                return shutdown;
            }
        }

        @Override
        public boolean isTerminated() {
            synchronized (monitor) {
                return shutdown && running == 0;
            }
        }

        @Override
        public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
            long deadline = System.nanoTime() + unit.toNanos(timeout);
            synchronized (monitor) {
                while (!(shutdown && running == 0)) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    TimeUnit.NANOSECONDS.timedWait(monitor, left);
                }
                return true;
            }
        }
    }

    /** A scheduled callable's future: the pool's future of the wrapping runnable, answering the callable's result. */
    private record ResultFuture<V>(ScheduledFuture<?> f, Object[] result) implements ScheduledFuture<V> {
        @Override
        public long getDelay(TimeUnit unit) {
            return f.getDelay(unit);
        }

        @Override
        public int compareTo(Delayed o) {
            return f.compareTo(o);
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            return f.cancel(mayInterruptIfRunning);
        }

        @Override
        public boolean isCancelled() {
            return f.isCancelled();
        }

        @Override
        public boolean isDone() {
            return f.isDone();
        }

        @SuppressWarnings("unchecked")
        @Override
        public V get() throws InterruptedException, ExecutionException {
            f.get();
            return (V) result[0];
        }

        @SuppressWarnings("unchecked")
        @Override
        public V get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException, TimeoutException {
            f.get(timeout, unit);
            return (V) result[0];
        }
    }
}
