package dev.parti.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.concurrent.Semaphore;
import java.util.function.Consumer;

/**
 * Virtual time and deterministic scheduling for the simulation.
 *
 * <p>Every simulated thread ({@link VThread}: a member's main, lease and callback threads, a watch's
 * delivery thread, a start-up thread) is a real Java thread, but only one thread runs at any moment:
 * the driver (the thread that calls {@link #runUntil}) hands a baton to one simulated thread, which runs
 * until its task ends or it blocks in a simulated wait (a KV request, a sleep), and hands the baton
 * back. Which thread runs next, and when, is decided only by the event queue, ordered by virtual time
 * and then by insertion; every random choice comes from one seeded {@link Random}. So a run is a
 * function of its seed, although the protocol code runs on ordinary threads and blocks as it does in
 * production.
 *
 * <p>A simulated process ({@link Proc}) has its own clock (offset and rate: drift), can be paused
 * (SIGSTOP: its threads get no baton, events aimed at it wait; its clock keeps running) and killed
 * (kill -9: its threads are unwound with {@link Killed} and its pending events dropped).
 *
 * <p>Not thread-safe in the usual sense, and need not be: only the baton holder touches it.
 */
final class SimScheduler {

    /** Thrown inside a simulated thread of a killed process: unwinds it (an Error, so protocol catch blocks let it pass). */
    static final class Killed extends Error {
        private static final long serialVersionUID = 1L;

        Killed() {
            super("simulated process killed", null, false, false);
        }
    }

    /** A simulated OS process: a clock with drift, pause and kill. */
    final class Proc {
        final String name;
        /** Clock rate (1.0 = exact); the process clock reads {@code offset + rate × virtual time}. */
        final double rate;
        final long offset;
        boolean paused;
        boolean dead;
        final List<Event> deferred = new ArrayList<>();
        final List<VThread> threads = new ArrayList<>();

        Proc(String name, double rate, long offset) {
            this.name = name;
            this.rate = rate;
            this.offset = offset;
        }

        /** This process's monotonic clock, in nanoseconds. */
        long nanoTime() {
            return offset + (long) (now * rate);
        }

        /** A duration on this process's clock, in virtual nanoseconds. */
        long toVirtual(long processNanos) {
            return Math.max(0, (long) Math.ceil(processNanos / rate));
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** One event: an action at a virtual time, aimed at a process (null: the world, e.g. the KV server). */
    record Event(long time, long seq, Proc proc, Runnable action) { }

    /**
     * Virtual threads (Java 21+), when the JVM has them and {@code -Dsim.virtualThreads=false} does not say
     * otherwise. Run on one carrier ({@code -Djdk.virtualThreadScheduler.parallelism=1}, as {@code scripts/simulate}
     * does), a handoff is a continuation switch instead of two OS wake-ups (one per event: about 3x faster, see
     * docs/SIMULATION.md; spinning before parking platform threads was tried, and was slower on a busy machine).
     * Found by reflection: the project compiles for Java 17, where every simulated thread is a platform thread.
     * The driver must run in a virtual thread too ({@link #runInThread}).
     */
    private static final VirtualThreads VIRTUAL_THREADS = VirtualThreads.lookUp();
    static final boolean VIRTUAL = VIRTUAL_THREADS != null;

    /** {@code Thread.ofVirtual()}, {@code Thread.Builder.name} and {@code unstarted}, looked up once per JVM. */
    private record VirtualThreads(java.lang.reflect.Method ofVirtual, java.lang.reflect.Method name,
                                  java.lang.reflect.Method unstarted) {
        static VirtualThreads lookUp() {
            if (!Boolean.parseBoolean(System.getProperty("sim.virtualThreads", "true"))) {
                return null;
            }
            try {
                Class<?> builder = Class.forName("java.lang.Thread$Builder");
                return new VirtualThreads(Thread.class.getMethod("ofVirtual"), builder.getMethod("name", String.class),
                        builder.getMethod("unstarted", Runnable.class));
            } catch (ReflectiveOperationException java17) {
                return null;
            }
        }
    }

    /** A started-later thread: virtual when {@link #VIRTUAL}, else a daemon platform thread. */
    static Thread newThread(Runnable body, String name) {
        if (VIRTUAL) {
            try {
                Object builder = VIRTUAL_THREADS.name().invoke(VIRTUAL_THREADS.ofVirtual().invoke(null), name);
                return (Thread) VIRTUAL_THREADS.unstarted().invoke(builder, body);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("virtual threads", e);
            }
        }
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        return t;
    }

    /** Runs {@code body} in a fresh {@link #newThread} and waits for it: the driver of a run, next to its simulated threads. */
    static <T> T runInThread(java.util.function.Supplier<T> body, String name) {
        Object[] out = new Object[1];
        Throwable[] failed = new Throwable[1];
        Thread t = newThread(() -> {
            try {
                out[0] = body.get();
            } catch (Throwable e) {
                failed[0] = e;
            }
        }, name);
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        if (failed[0] instanceof RuntimeException r) {
            throw r;
        }
        if (failed[0] instanceof Error er) {
            throw er;
        }
        if (failed[0] != null) {
            throw new IllegalStateException(failed[0]);
        }
        @SuppressWarnings("unchecked")
        T result = (T) out[0];
        return result;
    }

    /** A simulated thread. */
    final class VThread {
        final Proc proc;
        final String name;
        final Thread thread;
        final Semaphore go = new Semaphore(0);
        final ArrayDeque<Runnable> ready = new ArrayDeque<>();
        Runnable current;
        boolean busy;
        boolean dispatchPending;
        boolean killed;

        VThread(Proc proc, String name) {
            this.proc = proc;
            this.name = name;
            this.thread = newThread(this::loop, "sim-" + proc.name + "-" + name);
            proc.threads.add(this);
            allThreads.add(this);
            this.thread.start();
        }

        private void loop() {
            try {
                while (true) {
                    go.acquireUninterruptibly();
                    if (killed) {
                        return;
                    }
                    Runnable task = current;
                    current = null;
                    try {
                        task.run();
                    } catch (Killed k) {
                        return;
                    } catch (Throwable t) {
                        if (killed) {
                            return;
                        }
                        uncaught.accept(this.name + " of " + proc.name + ": " + t);
                    }
                    busy = false;
                    back.release();
                }
            } finally {
                busy = false;
                back.release();
            }
        }

        @Override
        public String toString() {
            return proc.name + "/" + name;
        }
    }

    /** One wait of a simulated thread; the first of its wake-ups wins. */
    final class Waiter {
        final VThread thread;
        boolean done;
        Object result;

        Waiter(VThread thread) {
            this.thread = thread;
        }

        /** Driver: wakes the waiting thread with {@code r}, unless already woken. */
        void wake(Object r) {
            if (done) {
                return;
            }
            done = true;
            result = r;
            transfer(thread);
        }
    }

    final Random random;
    private final PriorityQueue<Event> queue = new PriorityQueue<>((a, b) ->
            a.time != b.time ? Long.compare(a.time, b.time) : Long.compare(a.seq, b.seq));
    private final Semaphore back = new Semaphore(0);
    private final List<VThread> allThreads = new ArrayList<>();
    private long seq;
    long now;
    long steps;
    /** The simulated thread holding the baton, null when the driver does. */
    VThread running;
    /** Called after every event (the checker). */
    Runnable afterEvent = () -> { };
    /** An exception escaped a simulated thread's task. */
    Consumer<String> uncaught = s -> { };

    SimScheduler(long seed) {
        this.random = new Random(seed);
    }

    Proc newProc(String name, double rate, long offset) {
        return new Proc(name, rate, offset);
    }

    /** Schedules {@code action} at virtual time {@code time} (not before now). */
    void at(long time, Proc proc, Runnable action) {
        queue.add(new Event(Math.max(time, now), seq++, proc, action));
    }

    void after(long delay, Proc proc, Runnable action) {
        at(now + delay, proc, action);
    }

    /** Runs events up to virtual time {@code end} (or until {@code stop} says so after an event). */
    void runUntil(long end, java.util.function.BooleanSupplier stop) {
        while (!queue.isEmpty() && queue.peek().time <= end) {
            Event e = queue.poll();
            now = e.time;
            if (e.proc != null) {
                if (e.proc.dead) {
                    continue;
                }
                if (e.proc.paused) {
                    e.proc.deferred.add(e);
                    continue;
                }
            }
            e.action.run();
            steps++;
            afterEvent.run();
            if (stop.getAsBoolean()) {
                return;
            }
        }
        now = Math.max(now, end);
    }

    // ------------------------------------------------------------ threads

    /** Queues {@code task} on {@code t}; it runs when {@code t} is free, in order. */
    void submit(VThread t, Runnable task) {
        if (t.killed || t.proc.dead) {
            return;
        }
        t.ready.add(task);
        scheduleDispatch(t);
    }

    private void scheduleDispatch(VThread t) {
        if (!t.busy && !t.dispatchPending && !t.ready.isEmpty()) {
            t.dispatchPending = true;
            at(now, t.proc, () -> dispatch(t));
        }
    }

    private void dispatch(VThread t) {
        t.dispatchPending = false;
        if (t.busy || t.ready.isEmpty() || t.killed) {
            return;
        }
        t.busy = true;
        t.current = t.ready.poll();
        transfer(t);
    }

    /** Driver: hands the baton to {@code t} and waits until it ends its task or blocks. */
    private void transfer(VThread t) {
        VThread prev = running;
        running = t;
        t.go.release();
        back.acquireUninterruptibly();
        running = prev;
        scheduleDispatch(t);
    }

    /** The simulated thread calling this: blocks it until {@code w} is woken; returns the wake-up value. */
    Object park(Waiter w) {
        VThread t = w.thread;
        if (t.killed) {
            throw new Killed();
        }
        back.release();
        t.go.acquireUninterruptibly();
        if (t.killed) {
            throw new Killed();
        }
        return w.result;
    }

    /** A new wait for the calling simulated thread. */
    Waiter waiter() {
        VThread t = running;
        if (t == null) {
            throw new IllegalStateException("a simulated wait outside a simulated thread");
        }
        if (t.killed || t.proc.dead) {
            throw new Killed();
        }
        return new Waiter(t);
    }

    /** Blocks the calling simulated thread for {@code processNanos} of its process's clock. */
    void sleep(long processNanos) {
        Waiter w = waiter();
        after(w.thread.proc.toVirtual(processNanos), w.thread.proc, () -> w.wake(null));
        park(w);
    }

    // ------------------------------------------------------------ faults

    void pause(Proc p) {
        p.paused = true;
    }

    void resume(Proc p) {
        if (!p.paused) {
            return;
        }
        p.paused = false;
        // what waited for the process runs now, in its original order
        for (Event e : p.deferred) {
            at(now, p, e.action);
        }
        p.deferred.clear();
    }

    /** kill -9: every thread of {@code p} is unwound now (deterministically, one at a time); its events are dropped. */
    void kill(Proc p) {
        p.dead = true;
        p.deferred.clear();
        for (VThread t : p.threads) {
            killThread(t);
        }
    }

    private void killThread(VThread t) {
        if (t.killed) {
            return;
        }
        t.killed = true;
        t.ready.clear();
        VThread prev = running;
        running = t;
        t.go.release();
        back.acquireUninterruptibly();
        running = prev;
        try {
            t.thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends every simulated thread (end of a run). */
    void shutdown() {
        for (VThread t : new ArrayList<>(allThreads)) {
            killThread(t);
        }
        queue.clear();
    }
}
