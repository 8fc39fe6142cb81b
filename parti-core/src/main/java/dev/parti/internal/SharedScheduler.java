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
 * awaitTermination} waits only for them), all running on one daemon thread, {@code parti-lease-watchdog},
 * which starts with the first view and ends when the last view is shut down.
 *
 * <p>Why one thread is enough and safe: a worker's watchdog task only compares its clock with its last
 * successful heartbeat and, when the lease is stale, hands the fencing over to the worker's own callback
 * thread (it never calls listener code and never waits for NATS or for another thread). A stalled callback
 * or KV call of one worker therefore cannot delay another's watchdog. The worker's protocol thread ({@code
 * -main}, blocking KV calls) and its callback thread ({@code -callbacks}, user code) stay per worker: they
 * may block for a request timeout or for as long as a listener takes, and must not hold up anyone else.
 */
public final class SharedScheduler {
    static final String LEASE_THREAD = "parti-lease-watchdog";

    private static final Object LOCK = new Object();
    private static ScheduledThreadPoolExecutor leasePool; // guarded by LOCK
    private static int leaseUsers; // guarded by LOCK

    private SharedScheduler() {
    }

    /** A worker's own view of the shared lease-watchdog thread; shut it down when the worker stops. */
    public static ScheduledExecutorService leaseWatchdog() {
        synchronized (LOCK) {
            if (leasePool == null) {
                ScheduledThreadPoolExecutor p = new ScheduledThreadPoolExecutor(1, r -> {
                    Thread t = new Thread(r, LEASE_THREAD);
                    t.setDaemon(true);
                    return t;
                });
                p.setRemoveOnCancelPolicy(true);
                leasePool = p;
            }
            leaseUsers++;
            return new View(leasePool);
        }
    }

    /** Whether the shared lease-watchdog thread is running (for tests). */
    static boolean leaseWatchdogRunning() {
        synchronized (LOCK) {
            return leasePool != null;
        }
    }

    private static void releaseLease(ScheduledThreadPoolExecutor pool) {
        synchronized (LOCK) {
            if (pool == leasePool && --leaseUsers == 0) {
                leasePool = null;
                pool.shutdown(); // what is left is cancelled; a task running now finishes, then the thread ends
            }
        }
    }

    /** One worker's executor on the shared pool: tracks its own tasks, shuts down without touching others'. */
    private static final class View extends AbstractExecutorService implements ScheduledExecutorService {
        private final ScheduledThreadPoolExecutor pool;
        private final Set<ScheduledFuture<?>> tasks = ConcurrentHashMap.newKeySet();
        private final Object monitor = new Object();
        private boolean shutdown; // guarded by monitor
        private int running; // guarded by monitor
        private Thread runner; // guarded by monitor: the thread running one of this view's tasks now

        View(ScheduledThreadPoolExecutor pool) {
            this.pool = pool;
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
                    synchronized (monitor) {
                        running--;
                        runner = null;
                        monitor.notifyAll();
                    }
                    Thread.interrupted(); // an interrupt meant for this view's task must not reach the next one's
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
            return keep(pool.schedule(track(command), delay, unit));
        }

        @Override
        public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
            checkOpen();
            Object[] result = new Object[1];
            ScheduledFuture<?> f = pool.schedule(track(() -> {
                try {
                    result[0] = callable.call();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }), delay, unit);
            @SuppressWarnings("unchecked")
            ScheduledFuture<V> typed = (ScheduledFuture<V>) new ResultFuture<>(keep(f), result);
            return typed;
        }

        @Override
        public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
            checkOpen();
            return keep(pool.scheduleAtFixedRate(track(command), initialDelay, period, unit));
        }

        @Override
        public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
            checkOpen();
            return keep(pool.scheduleWithFixedDelay(track(command), initialDelay, delay, unit));
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
            releaseLease(pool);
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
