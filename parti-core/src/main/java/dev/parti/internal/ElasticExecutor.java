package dev.parti.internal;

import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs short tasks of many owners on as few threads as they need: one worker at rest, and more when tasks wait
 * because workers are blocked. When the oldest waiting task has waited longer than {@code stallNanos} and no
 * worker is idle: if some workers are blocked (waiting on a lock, a future, a sleep: not {@code RUNNABLE}), one
 * more worker starts per blocked worker, up to the number of tasks that waited that long; if every worker is
 * running, tasks wait for CPU, which more threads would not give, and one more starts only once the oldest
 * has waited {@value #BUSY_FACTOR} × {@code stallNanos} (a task that spins, or blocks in socket I/O, which
 * Java reports as running). A worker that finds nothing queued while another already waits for work ends at
 * once, and the last one ends after {@code keepAliveNanos} without work. So a task that blocks holds up the
 * others for at most about {@code stallNanos} plus one {@link #checkStalls()} period, never indefinitely; a
 * loaded machine does not grow the pool; and at rest one thread serves every owner (a pool that starts a
 * thread whenever none is idle at the instant of submission keeps as many threads as the largest burst it ever
 * saw).
 *
 * <p>{@link #checkStalls()} must be called periodically by the owner's timer thread. Thread-safe.
 */
public final class ElasticExecutor implements Executor {
    private static final Logger log = LoggerFactory.getLogger(ElasticExecutor.class);

    private final String namePrefix;
    private final long stallNanos;
    private final long keepAliveNanos;
    private final LinkedBlockingQueue<Queued> queue = new LinkedBlockingQueue<>();
    private final AtomicInteger names = new AtomicInteger();
    private final java.util.Set<Thread> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Workers inside a task: only these can be blocked in the sense of the class comment. */
    private final java.util.Set<Thread> running = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Object lock = new Object();
    private int workers; // guarded by lock
    private int idle; // guarded by lock
    private boolean shutdown; // guarded by lock

    private record Queued(Runnable task, long since) { }

    /**
     * @param namePrefix     workers are named {@code namePrefix + N}
     * @param stallNanos     how long the oldest task may wait before another worker starts
     * @param keepAliveNanos how long an idle worker waits for work before it ends
     */
    public ElasticExecutor(String namePrefix, long stallNanos, long keepAliveNanos) {
        this.namePrefix = namePrefix;
        this.stallNanos = stallNanos;
        this.keepAliveNanos = keepAliveNanos;
    }

    @Override
    public void execute(Runnable task) {
        synchronized (lock) {
            if (shutdown) {
                throw new RejectedExecutionException(namePrefix + "* is shut down");
            }
            queue.add(new Queued(task, System.nanoTime()));
            if (idle == 0 && workers == 0) {
                startWorker();
            }
        }
    }

    /** How many stall times the oldest task waits for CPU (every worker running) before another worker starts. */
    static final int BUSY_FACTOR = 8;

    /** Starts workers if tasks waited longer than the stall time for blocked workers (see the class comment). */
    public void checkStalls() {
        long now = System.nanoTime();
        Queued head = queue.peek();
        if (head == null || now - head.since() < stallNanos) {
            return;
        }
        int stalled = 0;
        for (Queued q : queue) { // oldest first
            if (now - q.since() < stallNanos) {
                break;
            }
            stalled++;
        }
        int blocked = blockedInTasks();
        int start = blocked > 0 ? Math.min(stalled, blocked) : now - head.since() >= BUSY_FACTOR * stallNanos ? 1 : 0;
        if (start == 0) {
            return;
        }
        int more;
        synchronized (lock) {
            if (shutdown || idle > 0) {
                return;
            }
            // workers not inside a task (just started, or between two tasks) take the waiting tasks first: without
            // this, every check started as many again while the last ones had not reached the queue yet (B6 at
            // 1 000 workers: over 11 000 threads started in 30 s, a thousand alive). The tasks still queued are
            // counted now, after the workers inside a task: tasks move from the queue to a worker while this thread
            // works, so the count of the scan above may be stale, and these two reads in this order bound the workers
            // by the tasks (ElasticExecutorTest, which a loaded machine failed with 2 workers too many).
            int inTasks = running.size();
            more = Math.min(start, queue.size()) - Math.max(0, workers - inTasks);
            if (more <= 0) {
                return;
            }
            workers += more;
        }
        log.debug("{}*: {} task(s) waited over {} ms, {} worker(s) blocked; starting {} more", namePrefix, stalled,
                stallNanos / 1_000_000, blocked, more);
        for (int i = 0; i < more; i++) {
            newWorker().start(); // outside the lock, which every worker takes between its tasks
        }
    }

    /**
     * Workers blocked inside a task (waiting on a lock, a future, a sleep). A worker between tasks is not one: it
     * waits for the queue or for this pool's own lock, and counting it made a busy pool start a worker for every
     * worker waiting for that lock, each of which then waited for it too (B6 at 1 000 workers: hundreds of threads,
     * thousands started and ended, the leader's renewal late and leadership lost again and again).
     */
    int blockedInTasks() {
        int blocked = 0;
        for (Thread t : running) {
            Thread.State s = t.getState();
            if (s == Thread.State.BLOCKED || s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING) {
                blocked++;
            }
        }
        return blocked;
    }

    /** Under lock. */
    private void startWorker() {
        workers++;
        newWorker().start();
    }

    /** A worker counted in {@link #workers} by the caller. */
    private Thread newWorker() {
        Thread t = new Thread(this::work, namePrefix + names.incrementAndGet());
        t.setDaemon(true);
        threads.add(t);
        return t;
    }

    private void work() {
        while (true) {
            Queued q;
            synchronized (lock) {
                if (shutdown || idle > 0 && queue.isEmpty()) { // one idle worker is enough: the surplus ends at once
                    workers--;
                    threads.remove(Thread.currentThread());
                    return;
                }
                idle++;
            }
            try {
                q = queue.poll(keepAliveNanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                q = null;
            }
            synchronized (lock) {
                idle--;
                if (q == null && (queue.isEmpty() || shutdown)) {
                    workers--;
                    threads.remove(Thread.currentThread());
                    return;
                }
            }
            if (q == null) {
                continue;
            }
            Thread self = Thread.currentThread();
            running.add(self);
            try {
                q.task().run();
            } catch (RuntimeException | Error e) {
                log.warn("{}*: a task failed: {}", namePrefix, e.toString(), e);
            } finally {
                running.remove(self);
                Thread.interrupted(); // an interrupt meant for this task must not reach the next one
            }
        }
    }

    /**
     * Refuses new tasks, drops those not started and ends the workers: idle ones at once, a busy one when its
     * task returns (it is interrupted).
     */
    public void shutdown() {
        synchronized (lock) {
            shutdown = true;
            queue.clear();
        }
        for (Thread t : threads) {
            t.interrupt();
        }
    }

    /** Live workers (for tests and benchmarks). */
    public int workers() {
        synchronized (lock) {
            return workers;
        }
    }
}
