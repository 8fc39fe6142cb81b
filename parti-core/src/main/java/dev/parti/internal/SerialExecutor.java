package dev.parti.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Delayed;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.RunnableScheduledFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One owner's single-threaded {@link ScheduledExecutorService} without a thread of its own: a view over a shared
 * timer (which only keeps time) and a shared pool (which runs tasks). Its tasks run one at a time, in the order
 * they became due (submission order for those due at once), never two at once, as on a single-thread executor;
 * between two of them the pool thread may run other owners' tasks, so the owner holds a thread only while one
 * of its tasks runs. While it runs one, the pool thread carries the owner's {@code name} (so a thread dump says
 * whose work it is) and {@code onTask} is told that thread (and {@code null} once the task returned): "is this
 * thread running one of this owner's tasks now" stays answerable without a thread of its own.
 *
 * <p>Semantics follow {@link java.util.concurrent.ScheduledThreadPoolExecutor} with one thread, except that
 * {@link #shutdown()} cancels delayed tasks (not only periodic ones) and lets only those already due run.
 * {@code cancel(true)} and {@link #shutdownNow()} interrupt this owner's running task only, never a task of
 * another owner that runs on the same pool thread later. A task that throws is logged (submitted with {@code
 * execute}) or answered by its future; a periodic one that throws is not run again. Thread-safe.
 *
 * <p>{@code onTerminated} runs once, when the view is shut down and its last task has returned, or at {@link
 * #shutdownNow()}: the owner of the shared threads counts its users with it.
 */
final class SerialExecutor extends AbstractExecutorService implements ScheduledExecutorService {
    private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

    private final String name;
    private final ScheduledExecutorService timer;
    private final Executor pool;
    private final Consumer<Thread> onTask;
    private final Runnable onTerminated;
    private final Object monitor = new Object();
    /** Due tasks in the order they became due; guarded by monitor. */
    private final ArrayDeque<Task<?>> ready = new ArrayDeque<>();
    /** Tasks waiting on the timer. */
    private final Set<Task<?>> delayed = ConcurrentHashMap.newKeySet();
    private boolean draining; // guarded by monitor: a drain is queued in the pool or running
    private Thread runner; // guarded by monitor: the pool thread running one of this view's tasks now
    private boolean shutdown; // guarded by monitor
    private boolean released; // guarded by monitor

    /**
     * @param name         the name a pool thread carries while it runs one of this view's tasks
     * @param timer        keeps time only (its tasks hand due tasks over to {@code pool})
     * @param pool         runs the tasks
     * @param onTask       told the thread at the start of each task and {@code null} at its end
     * @param onTerminated run once, when terminated or at {@link #shutdownNow()}
     */
    SerialExecutor(String name, ScheduledExecutorService timer, Executor pool, Consumer<Thread> onTask,
            Runnable onTerminated) {
        this.name = name;
        this.timer = timer;
        this.pool = pool;
        this.onTask = onTask;
        this.onTerminated = onTerminated;
    }

    // ---------------------------------------------------------------- submission

    @Override
    public void execute(Runnable command) {
        if (command == null) {
            throw new NullPointerException("command");
        }
        Task<?> task = command instanceof Task<?> t && t.owner() == this ? t
                : new Task<>(Executors.callable(command, null), System.nanoTime(), 0, true);
        accept(task);
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Runnable runnable, T value) {
        return new Task<>(Executors.callable(runnable, value), System.nanoTime(), 0, false);
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Callable<T> callable) {
        return new Task<>(callable, System.nanoTime(), 0, false);
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        if (command == null) {
            throw new NullPointerException("command");
        }
        return accept(new Task<>(Executors.callable(command, null), System.nanoTime() + unit.toNanos(delay), 0, false));
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
        if (callable == null) {
            throw new NullPointerException("callable");
        }
        return accept(new Task<>(callable, System.nanoTime() + unit.toNanos(delay), 0, false));
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
        if (command == null) {
            throw new NullPointerException("command");
        }
        if (period <= 0) {
            throw new IllegalArgumentException("period must be positive, was " + period + " " + unit);
        }
        return accept(new Task<>(Executors.callable(command, null), System.nanoTime() + unit.toNanos(initialDelay),
                unit.toNanos(period), false));
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
        if (command == null) {
            throw new NullPointerException("command");
        }
        if (delay <= 0) {
            throw new IllegalArgumentException("delay must be positive, was " + delay + " " + unit);
        }
        return accept(new Task<>(Executors.callable(command, null), System.nanoTime() + unit.toNanos(initialDelay),
                -unit.toNanos(delay), false));
    }

    /** Queues {@code task} now if due, else on the timer; refuses it after shutdown. */
    private <T> Task<T> accept(Task<T> task) {
        long delay = task.time - System.nanoTime();
        synchronized (monitor) {
            if (shutdown) {
                throw new RejectedExecutionException(name + ": this owner's executor is shut down");
            }
            if (delay <= 0) {
                enqueueLocked(task);
                return task;
            }
            delayed.add(task);
        }
        later(task, delay);
        return task;
    }

    private void later(Task<?> task, long delay) {
        try {
            task.timerFuture = timer.schedule(() -> {
                delayed.remove(task);
                synchronized (monitor) {
                    if (shutdown) { // delayed tasks end with the view
                        task.cancel(false);
                        return;
                    }
                    enqueueLocked(task);
                }
            }, delay, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException stopped) { // the shared threads ended: only after every view was released
            delayed.remove(task);
            task.cancel(false);
        }
    }

    /** A periodic task that ran: due again after its period (fixed rate) or delay (fixed delay). */
    private void again(Task<?> task) {
        long now = System.nanoTime();
        task.time = task.period > 0 ? task.time + task.period : now - task.period;
        synchronized (monitor) {
            if (shutdown || task.isCancelled()) {
                task.cancel(false);
                return;
            }
            if (task.time - now <= 0) {
                enqueueLocked(task);
                return;
            }
            delayed.add(task);
        }
        later(task, task.time - now);
    }

    /** Under monitor. */
    private void enqueueLocked(Task<?> task) {
        if (task.isCancelled()) {
            return;
        }
        ready.add(task);
        if (!draining) {
            draining = true;
            handToPool();
        }
    }

    /** Under monitor. */
    private void handToPool() {
        try {
            pool.execute(this::drainOne);
        } catch (RejectedExecutionException stopped) { // the shared threads ended: only after every view was released
            draining = false;
            for (Task<?> t : ready) {
                t.cancel(false);
            }
            ready.clear();
        }
    }

    // ---------------------------------------------------------------- running

    /**
     * How long one turn on a pool thread may go on running this owner's due tasks before the rest goes back to the
     * pool, behind other owners' tasks. One task per turn starved an owner with many small tasks: a leader of 1 000
     * workers gets 1 000 heartbeat events a second, and with one of them per turn of a pool shared by 1 000 owners
     * its lease renewal, queued behind them, came too late (B6).
     */
    static final long TURN_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(5);

    /**
     * On a pool thread: runs the oldest due task under this owner's name, and the next ones while the turn lasts
     * ({@link #TURN_NANOS}), then hands the rest back to the pool (behind other owners' tasks that wait meanwhile).
     */
    private void drainOne() {
        Thread thread = Thread.currentThread();
        long turnStart = System.nanoTime();
        while (true) {
            Task<?> task;
            synchronized (monitor) {
                task = ready.poll();
                if (task == null) {
                    draining = false;
                    monitor.notifyAll();
                    return;
                }
                runner = thread;
            }
            boolean more = false;
            String poolName = thread.getName();
            thread.setName(name);
            try {
                onTask.accept(thread);
                task.run();
            } finally {
                try {
                    onTask.accept(null);
                } finally {
                    thread.setName(poolName);
                    synchronized (monitor) { // shutdownNow() interrupts under this lock: never after the clear below
                        runner = null;
                        Thread.interrupted(); // an interrupt meant for this owner's task must not reach another's
                        if (ready.isEmpty()) {
                            draining = false;
                        } else if (System.nanoTime() - turnStart < TURN_NANOS) {
                            more = true; // still this drain's turn: draining stays set
                        } else {
                            handToPool();
                        }
                        if (terminatedLocked()) {
                            releaseLocked();
                        }
                        monitor.notifyAll();
                    }
                }
            }
            if (!more) {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void shutdown() {
        synchronized (monitor) {
            if (shutdown) {
                return;
            }
            shutdown = true;
            ready.removeIf(t -> {
                if (t.isPeriodic()) { // periodic tasks end with the view, as on ScheduledThreadPoolExecutor
                    t.cancel(false);
                    return true;
                }
                return false;
            });
        }
        for (Task<?> t : delayed) {
            t.cancel(false);
        }
        delayed.clear();
        synchronized (monitor) {
            if (terminatedLocked()) {
                releaseLocked();
                monitor.notifyAll();
            }
        }
    }

    @Override
    public List<Runnable> shutdownNow() {
        shutdown();
        List<Runnable> notRun;
        synchronized (monitor) {
            notRun = new ArrayList<>(ready);
            ready.clear();
            if (runner != null) {
                runner.interrupt();
            }
            releaseLocked(); // a task that ignores the interrupt keeps its pool thread until it returns, not the shared threads
            monitor.notifyAll();
        }
        return notRun;
    }

    /**
     * Under monitor (so that whoever sees this view terminated sees its release done): tells {@code onTerminated},
     * once. It only takes the shared threads' registry lock, which is never held while taking this monitor.
     */
    private void releaseLocked() {
        if (!released) {
            released = true;
            onTerminated.run();
        }
    }

    /** Under monitor. */
    private boolean terminatedLocked() {
        return shutdown && ready.isEmpty() && runner == null;
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
            return terminatedLocked();
        }
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        synchronized (monitor) {
            while (!terminatedLocked()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(monitor, left);
            }
            return true;
        }
    }

    /** Whether the calling thread is running one of this view's tasks now. */
    boolean inTask() {
        synchronized (monitor) {
            return runner == Thread.currentThread();
        }
    }

    @Override
    public String toString() {
        return "SerialExecutor[" + name + "]";
    }

    // ---------------------------------------------------------------- task

    /** A task of this view: its future, its due time and, when periodic, its period (> 0 rate, < 0 delay). */
    private final class Task<V> extends FutureTask<V> implements RunnableScheduledFuture<V> {
        volatile long time;
        final long period;
        final boolean logFailure;
        volatile Future<?> timerFuture;

        Task(Callable<V> callable, long time, long period, boolean logFailure) {
            super(callable);
            this.time = time;
            this.period = period;
            this.logFailure = logFailure;
        }

        SerialExecutor owner() {
            return SerialExecutor.this;
        }

        @Override
        public boolean isPeriodic() {
            return period != 0;
        }

        @Override
        public void run() {
            if (!isPeriodic()) {
                super.run();
            } else if (super.runAndReset()) {
                again(this);
            }
        }

        @Override
        protected void setException(Throwable t) {
            if (logFailure || isPeriodic()) {
                log.warn("{}: a task failed{}: {}", name, isPeriodic() ? " (not run again)" : "", t.toString(), t);
            }
            super.setException(t);
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled;
            synchronized (monitor) { // the interrupt (if any) lands while this task runs, under the drain's lock discipline
                cancelled = super.cancel(mayInterruptIfRunning);
            }
            Future<?> f = timerFuture;
            if (f != null) {
                f.cancel(false);
            }
            delayed.remove(this);
            return cancelled;
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(time - System.nanoTime(), TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            return o == this ? 0 : Long.compare(getDelay(TimeUnit.NANOSECONDS), o.getDelay(TimeUnit.NANOSECONDS));
        }
    }
}
