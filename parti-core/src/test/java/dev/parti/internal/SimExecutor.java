package dev.parti.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A single-threaded {@link ScheduledExecutorService} on one simulated thread, in its process's time:
 * what {@link MemberRuntime#scheduler} and {@link MemberRuntime#callbackExecutor} return in the
 * simulation. Tasks run in order, one at a time; delays are measured on the process's (drifting) clock.
 * {@link java.util.concurrent.Future#get} blocks the calling simulated thread, never a real one.
 */
final class SimExecutor extends AbstractExecutorService implements ScheduledExecutorService {
    private final SimScheduler sim;
    private final SimScheduler.VThread thread;
    private boolean shutdown;

    SimExecutor(SimScheduler sim, SimScheduler.VThread thread) {
        this.sim = sim;
        this.thread = thread;
    }

    @Override
    public void execute(Runnable command) {
        if (shutdown) {
            throw new RejectedExecutionException("simulated executor " + thread + " is shut down");
        }
        sim.submit(thread, command);
    }

    @Override
    public void shutdown() {
        shutdown = true;
    }

    @Override
    public List<Runnable> shutdownNow() {
        shutdown = true;
        List<Runnable> left = new ArrayList<>(thread.ready);
        thread.ready.clear();
        return left;
    }

    @Override
    public boolean isShutdown() {
        return shutdown;
    }

    @Override
    public boolean isTerminated() {
        return shutdown && !thread.busy && thread.ready.isEmpty();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
        // waits on the calling simulated thread, as the real one blocks, for the running and queued tasks
        long left = unit.toNanos(timeout);
        long step = TimeUnit.MILLISECONDS.toNanos(1);
        while (!isTerminated() && left > 0) {
            sim.sleep(Math.min(step, left));
            left -= step;
        }
        return isTerminated();
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Runnable runnable, T value) {
        return new Task<>(() -> {
            runnable.run();
            return value;
        }, 0, 0);
    }

    @Override
    protected <T> RunnableFuture<T> newTaskFor(Callable<T> callable) {
        return new Task<>(callable, 0, 0);
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        Task<Object> t = new Task<>(() -> {
            command.run();
            return null;
        }, unit.toNanos(delay), 0);
        t.arm(unit.toNanos(delay));
        return t;
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
        Task<V> t = new Task<>(callable, unit.toNanos(delay), 0);
        t.arm(unit.toNanos(delay));
        return t;
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
        return scheduleWithFixedDelay(command, initialDelay, period, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
        Task<Object> t = new Task<>(() -> {
            command.run();
            return null;
        }, unit.toNanos(initialDelay), unit.toNanos(delay));
        t.arm(unit.toNanos(initialDelay));
        return t;
    }

    /** A task, one-shot or repeated, whose futures block simulated threads only. */
    private final class Task<V> implements RunnableFuture<V>, ScheduledFuture<V> {
        private final Callable<V> body;
        private final long repeatNanos;
        private long dueVirtual;
        private boolean cancelled;
        private boolean done;
        private V value;
        private Throwable failure;
        private final List<SimScheduler.Waiter> waiters = new ArrayList<>();

        Task(Callable<V> body, long delayNanos, long repeatNanos) {
            this.body = body;
            this.repeatNanos = repeatNanos;
            this.dueVirtual = sim.now + thread.proc.toVirtual(delayNanos);
        }

        /** Runs the task after {@code delayNanos} of the process's clock. */
        void arm(long delayNanos) {
            dueVirtual = sim.now + thread.proc.toVirtual(delayNanos);
            sim.at(dueVirtual, thread.proc, () -> {
                if (!cancelled && !shutdown) {
                    sim.submit(thread, this);
                }
            });
        }

        @Override
        public void run() {
            if (cancelled || done) {
                return;
            }
            try {
                V v = body.call();
                if (repeatNanos > 0) {
                    if (!cancelled && !shutdown) {
                        arm(repeatNanos);
                    }
                    return;
                }
                value = v;
            } catch (SimScheduler.Killed k) {
                throw k;
            } catch (Throwable t) {
                failure = t;
            }
            finish();
        }

        private void finish() {
            done = true;
            List<SimScheduler.Waiter> ws = new ArrayList<>(waiters);
            waiters.clear();
            for (SimScheduler.Waiter w : ws) {
                sim.at(sim.now, w.thread.proc, () -> w.wake(null));
            }
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            if (done) {
                return false;
            }
            cancelled = true;
            finish();
            return true;
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public boolean isDone() {
            return done;
        }

        @Override
        public V get() throws ExecutionException {
            while (!done) {
                SimScheduler.Waiter w = sim.waiter();
                waiters.add(w);
                sim.park(w);
            }
            return result();
        }

        @Override
        public V get(long timeout, TimeUnit unit) throws ExecutionException, TimeoutException {
            if (!done) {
                SimScheduler.Waiter w = sim.waiter();
                waiters.add(w);
                sim.after(w.thread.proc.toVirtual(unit.toNanos(timeout)), w.thread.proc, () -> w.wake(null));
                sim.park(w);
                waiters.remove(w);
            }
            if (!done) {
                throw new TimeoutException("simulated wait timed out");
            }
            return result();
        }

        private V result() throws ExecutionException {
            if (cancelled) {
                throw new java.util.concurrent.CancellationException();
            }
            if (failure != null) {
                throw new ExecutionException(failure);
            }
            return value;
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(dueVirtual - sim.now, TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            return Long.compare(getDelay(TimeUnit.NANOSECONDS), o.getDelay(TimeUnit.NANOSECONDS));
        }
    }
}
