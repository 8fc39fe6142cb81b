package dev.parti.kafka.internal;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import dev.parti.internal.ElasticExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The timer threads of every {@code PartiConsumer} in the JVM: one thread, {@code parti-kafka-timer}, that
 * only keeps time, and an {@link ElasticExecutor} of workers, {@code parti-kafka-worker-N}, that run the tasks
 * (metadata refreshes, group inspection, the {@code max.poll.interval.ms} watchdog): one worker at rest,
 * another whenever a due task has waited {@value #STALL_MS} ms for a busy one, and a worker idle for {@value
 * #KEEP_ALIVE_S} s ends. A task that blocks (a metadata call to an unreachable broker, the watchdog closing a
 * membership) holds its own worker and delays other consumers' tasks by about {@value #STALL_MS} ms once,
 * never longer. Both start with the first {@link #acquire} and end with the last {@link Tasks#stop}.
 */
final class SharedTimers {
    private static final Logger log = LoggerFactory.getLogger(SharedTimers.class);
    static final String TIMER_THREAD = "parti-kafka-timer";
    static final String WORKER_PREFIX = "parti-kafka-worker-";
    static final int KEEP_ALIVE_S = 10;
    /** How long a due task may wait for a busy worker before another worker starts. */
    static final long STALL_MS = 200;

    private static final Object LOCK = new Object();
    private static ScheduledThreadPoolExecutor timer; // guarded by LOCK
    private static ElasticExecutor workers; // guarded by LOCK
    private static int users; // guarded by LOCK

    private SharedTimers() {
    }

    /** One consumer's tasks on the shared threads. */
    static Tasks acquire() {
        synchronized (LOCK) {
            if (timer == null) {
                ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> daemon(r, TIMER_THREAD));
                t.setRemoveOnCancelPolicy(true);
                ElasticExecutor w = new ElasticExecutor(WORKER_PREFIX, TimeUnit.MILLISECONDS.toNanos(STALL_MS),
                        TimeUnit.SECONDS.toNanos(KEEP_ALIVE_S));
                t.scheduleWithFixedDelay(w::checkStalls, STALL_MS / 2, STALL_MS / 2, TimeUnit.MILLISECONDS);
                timer = t;
                workers = w;
            }
            users++;
            return new Tasks(timer, workers);
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void release(ScheduledThreadPoolExecutor t, ElasticExecutor w) {
        synchronized (LOCK) {
            if (t == timer && --users == 0) {
                timer = null;
                workers = null;
                t.shutdownNow();
                w.shutdown(); // idle workers end now, a task still running is interrupted
            }
        }
    }

    /** Whether the shared threads are running (for tests). */
    static boolean running() {
        synchronized (LOCK) {
            return timer != null;
        }
    }

    /** One consumer's view: schedules its tasks, and stops only them. */
    static final class Tasks {
        private final ScheduledThreadPoolExecutor timer;
        private final ElasticExecutor workers;
        private final Set<ScheduledFuture<?>> scheduled = ConcurrentHashMap.newKeySet();
        private final Set<Thread> runningOn = ConcurrentHashMap.newKeySet();
        private volatile boolean stopped;

        private Tasks(ScheduledThreadPoolExecutor timer, ElasticExecutor workers) {
            this.timer = timer;
            this.workers = workers;
        }

        /** Runs {@code task} on a worker after {@code delayMs}; ignored once stopped. */
        void schedule(Runnable task, long delayMs) {
            if (stopped) {
                return;
            }
            try {
                ScheduledFuture<?>[] self = new ScheduledFuture<?>[1];
                ScheduledFuture<?> f = timer.schedule(() -> {
                    ScheduledFuture<?> me = self[0];
                    if (me != null) { // not yet set when the timer runs first: a done future is pruned below
                        scheduled.remove(me); // (a set of ConcurrentHashMap refuses null: that lost the task)
                    }
                    hand(task);
                }, delayMs, TimeUnit.MILLISECONDS);
                self[0] = f;
                scheduled.removeIf(ScheduledFuture::isDone);
                scheduled.add(f);
                if (stopped) {
                    f.cancel(false);
                }
            } catch (RejectedExecutionException ignored) {
                // stopped meanwhile
            }
        }

        /** Runs {@code task} every {@code delayMs} after the previous run ended (never two at once); until stopped. */
        void scheduleWithFixedDelay(Runnable task, long initialDelayMs, long delayMs) {
            schedule(new Runnable() {
                @Override
                public void run() {
                    try {
                        task.run();
                    } finally {
                        schedule(this, delayMs);
                    }
                }
            }, initialDelayMs);
        }

        private void hand(Runnable task) {
            if (stopped) {
                return;
            }
            try {
                workers.execute(() -> {
                    if (stopped) {
                        return;
                    }
                    Thread me = Thread.currentThread();
                    runningOn.add(me);
                    try {
                        task.run();
                    } catch (RuntimeException e) {
                        log.warn("A PartiConsumer timer task failed: {}", e.toString(), e);
                    } finally {
                        synchronized (this) { // stop() interrupts under this lock: never after the clear below
                            runningOn.remove(me);
                            Thread.interrupted(); // an interrupt meant for this consumer must not reach the next task
                            notifyAll();
                        }
                    }
                });
            } catch (RejectedExecutionException ignored) {
                // the shared threads stopped meanwhile
            }
        }

        /**
         * Cancels this consumer's tasks, interrupts those running now and waits for them at most {@code
         * timeout}; the last consumer's stop ends the shared threads.
         */
        void stop(Duration timeout) {
            synchronized (this) {
                if (stopped) {
                    return; // once: a second stop must not give the shared threads back twice
                }
                stopped = true;
            }
            for (ScheduledFuture<?> f : scheduled) {
                f.cancel(false);
            }
            scheduled.clear();
            synchronized (this) {
                for (Thread t : runningOn) {
                    t.interrupt();
                }
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (this) {
                while (!runningOn.isEmpty()) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    try {
                        TimeUnit.NANOSECONDS.timedWait(this, left);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            release(timer, workers);
        }
    }
}
