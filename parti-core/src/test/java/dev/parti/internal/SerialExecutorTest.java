package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A worker's executor without a thread of its own ({@link SerialExecutor} over a shared timer and {@link
 * ElasticExecutor}): order, one task at a time, isolation between owners, names, interrupts and shutdown.
 */
class SerialExecutorTest {

    /** A timer and a pool of their own per test (not the JVM's shared ones), with the production stall check. */
    private static final class Shared implements AutoCloseable {
        final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "test-timer");
            t.setDaemon(true);
            return t;
        });
        final ElasticExecutor pool = new ElasticExecutor("test-pool-", TimeUnit.MILLISECONDS.toNanos(30),
                TimeUnit.SECONDS.toNanos(10));
        final AtomicInteger terminated = new AtomicInteger();

        Shared() {
            timer.setRemoveOnCancelPolicy(true);
            timer.scheduleWithFixedDelay(pool::checkStalls, 15, 15, TimeUnit.MILLISECONDS);
        }

        SerialExecutor view(String name) {
            return new SerialExecutor(name, timer, pool, t -> { }, terminated::incrementAndGet);
        }

        @Override
        public void close() {
            timer.shutdownNow();
            pool.shutdown();
        }
    }

    private final List<AutoCloseable> toClose = new ArrayList<>();

    private Shared shared() {
        Shared s = new Shared();
        toClose.add(s);
        return s;
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    /** Per owner: a start and an end event per task, in the order they happened, to check order and overlap. */
    private record Event(int owner, int task, boolean start) {
    }

    /**
     * Tasks of one owner never overlap and run in submission order, whatever the mix of owners and task lengths,
     * while tasks of different owners do run at once (on the pool's workers).
     */
    @Property(tries = 40)
    void tasksOfOneOwnerNeverOverlapAndRunInSubmissionOrder(
            @ForAll @Size(min = 1, max = 6) List<@Size(min = 1, max = 12) List<@IntRange(min = 0, max = 3) Integer>> owners)
            throws Exception {
        try (Shared s = new Shared()) {
            List<Event> events = Collections.synchronizedList(new ArrayList<>());
            List<SerialExecutor> views = new ArrayList<>();
            List<Future<?>> futures = new ArrayList<>();
            for (int o = 0; o < owners.size(); o++) {
                views.add(s.view("owner-" + o));
            }
            // interleave the owners' submissions, as their events would arrive
            int longest = owners.stream().mapToInt(List::size).max().orElse(0);
            for (int i = 0; i < longest; i++) {
                for (int o = 0; o < owners.size(); o++) {
                    if (i < owners.get(o).size()) {
                        int owner = o;
                        int task = i;
                        int ms = owners.get(o).get(i);
                        futures.add(views.get(o).submit(() -> {
                            events.add(new Event(owner, task, true));
                            if (ms > 0) {
                                sleep(ms);
                            }
                            events.add(new Event(owner, task, false));
                        }));
                    }
                }
            }
            for (Future<?> f : futures) {
                f.get(10, TimeUnit.SECONDS);
            }
            for (int o = 0; o < owners.size(); o++) {
                int owner = o;
                List<Event> mine = events.stream().filter(e -> e.owner() == owner).toList();
                List<Event> expected = new ArrayList<>();
                for (int i = 0; i < owners.get(o).size(); i++) {
                    expected.add(new Event(owner, i, true));
                    expected.add(new Event(owner, i, false));
                }
                assertThat(mine).as("owner %d: start/end of each task in submission order, none overlapping", o)
                        .isEqualTo(expected);
            }
            for (SerialExecutor v : views) {
                v.shutdown();
                assertThat(v.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
            }
            assertThat(s.terminated.get()).isEqualTo(owners.size());
        }
    }

    @Test
    void scheduledPeriodicAndImmediateTasksOfOneOwnerNeverRunAtOnce() throws Exception {
        Shared s = shared();
        SerialExecutor v = s.view("mixed");
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger runs = new AtomicInteger();
        Runnable body = () -> {
            if (inside.incrementAndGet() > 1) {
                overlaps.incrementAndGet();
            }
            sleep(1);
            runs.incrementAndGet();
            inside.decrementAndGet();
        };
        v.scheduleWithFixedDelay(body, 0, 1, TimeUnit.MILLISECONDS);
        v.scheduleAtFixedRate(body, 0, 2, TimeUnit.MILLISECONDS);
        for (int i = 0; i < 200; i++) {
            v.execute(body);
            v.schedule(body, i % 7, TimeUnit.MILLISECONDS);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> runs.get() >= 600);
        v.shutdown();
        assertThat(v.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(overlaps.get()).isZero();
        int after = runs.get();
        assertThat(v.isTerminated()).isTrue();
        assertThat(s.terminated.get()).isEqualTo(1);
        assertThat(runs.get()).as("periodic tasks end with the view").isEqualTo(after);
    }

    @Test
    void delayedTasksRunInDueOrder() throws Exception {
        Shared s = shared();
        SerialExecutor v = s.view("due");
        List<Integer> order = new CopyOnWriteArrayList<>();
        v.execute(() -> order.add(1));
        ScheduledFuture<Integer> last = v.schedule(() -> {
            order.add(3);
            return 3;
        }, 2_000, TimeUnit.MILLISECONDS); // submitted first, due last
        v.schedule(() -> order.add(2), 50, TimeUnit.MILLISECONDS);
        assertThat(last.get(5, TimeUnit.SECONDS)).isEqualTo(3);
        assertThat(order).containsExactly(1, 2, 3);
    }

    @Test
    void anOwnerWhoseTaskBlocksForeverHoldsUpNoOtherOwner() throws Exception {
        Shared s = shared();
        SerialExecutor stuck = s.view("stuck");
        SerialExecutor other = s.view("other");
        CountDownLatch blocking = new CountDownLatch(1);
        CountDownLatch never = new CountDownLatch(1);
        stuck.execute(() -> {
            blocking.countDown();
            try {
                never.await(); // a listener that hangs
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        AtomicInteger stuckLater = new AtomicInteger();
        stuck.execute(stuckLater::incrementAndGet);
        assertThat(blocking.await(5, TimeUnit.SECONDS)).isTrue();
        AtomicInteger beats = new AtomicInteger();
        other.scheduleWithFixedDelay(beats::incrementAndGet, 0, 5, TimeUnit.MILLISECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> beats.get() >= 50);
        assertThat(stuckLater.get()).as("the stuck owner's next task waits for its own first one").isZero();

        // shutdownNow interrupts only the stuck owner's task; its pool worker is free again
        assertThat(stuck.shutdownNow()).hasSize(1);
        assertThat(stuck.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stuckLater.get()).isZero();
        int now = beats.get();
        await().atMost(Duration.ofSeconds(10)).until(() -> beats.get() >= now + 20);
        assertThat(other.isShutdown()).isFalse();
    }

    @Test
    void anOwnerWhoseTaskKeepsRunningHoldsUpNoOtherOwnerForever() throws Exception {
        Shared s = shared();
        SerialExecutor spinning = s.view("spinning");
        SerialExecutor other = s.view("other");
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch spinningStarted = new CountDownLatch(1);
        spinning.execute(() -> {
            spinningStarted.countDown();
            while (!stop.get()) {
                Thread.onSpinWait(); // RUNNABLE throughout, as a listener computing, or reading a socket, is
            }
        });
        try {
            assertThat(spinningStarted.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(other.submit(() -> 1).get(10, TimeUnit.SECONDS)).as("the other owner's task ran meanwhile")
                    .isEqualTo(1);
        } finally {
            stop.set(true);
        }
    }

    @Test
    void aTaskRunsUnderItsOwnersNameAndTheMarkerSaysWhichThreadRunsIt() throws Exception {
        Shared s = shared();
        AtomicReference<Thread> marker = new AtomicReference<>();
        List<String> seen = new CopyOnWriteArrayList<>();
        SerialExecutor v = new SerialExecutor("parti-g-callbacks", s.timer, s.pool, marker::set, () -> { });
        AtomicReference<Thread> ran = new AtomicReference<>();
        v.submit(() -> {
            ran.set(Thread.currentThread());
            seen.add(Thread.currentThread().getName());
            seen.add(String.valueOf(marker.get() == Thread.currentThread()));
            seen.add(String.valueOf(v.inTask()));
        }).get(5, TimeUnit.SECONDS);
        assertThat(seen).containsExactly("parti-g-callbacks", "true", "true");
        await().atMost(Duration.ofSeconds(5)).until(() -> marker.get() == null);
        assertThat(ran.get().getName()).as("the pool's name once the task returned").startsWith("test-pool-");
        assertThat(v.inTask()).isFalse();
    }

    @Test
    void cancelInterruptsOnlyItsOwnTaskAndNoInterruptReachesTheNextTask() throws Exception {
        Shared s = shared();
        SerialExecutor v = s.view("cancel");
        SerialExecutor w = s.view("next");
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean interrupted = new AtomicBoolean();
        Future<?> f = v.submit(() -> {
            started.countDown();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                interrupted.set(true);
            }
        });
        assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(f.cancel(true)).isTrue();
        await().atMost(Duration.ofSeconds(5)).untilTrue(interrupted);
        List<Boolean> flags = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 20; i++) {
            v.submit(() -> flags.add(Thread.currentThread().isInterrupted()));
            w.submit(() -> flags.add(Thread.currentThread().isInterrupted()));
        }
        v.submit(() -> { }).get(5, TimeUnit.SECONDS);
        w.submit(() -> { }).get(5, TimeUnit.SECONDS);
        assertThat(flags).hasSize(40).containsOnly(false);
    }

    @Test
    void shutdownRunsWhatIsDueCancelsWhatIsDelayedAndRefusesMore() throws Exception {
        Shared s = shared();
        SerialExecutor v = s.view("closing");
        CountDownLatch hold = new CountDownLatch(1);
        List<String> ran = new CopyOnWriteArrayList<>();
        v.execute(() -> {
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ran.add("first");
        });
        v.execute(() -> ran.add("queued"));
        ScheduledFuture<?> later = v.schedule(() -> ran.add("delayed"), 200, TimeUnit.MILLISECONDS);
        v.shutdown();
        assertThat(v.isShutdown()).isTrue();
        assertThat(v.isTerminated()).isFalse();
        assertThatThrownBy(() -> v.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);
        assertThat(later.isCancelled()).isTrue();
        assertThat(s.terminated.get()).isZero();
        hold.countDown();
        assertThat(v.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(ran).containsExactly("first", "queued");
        assertThat(s.terminated.get()).isEqualTo(1);
        v.shutdownNow();
        assertThat(s.terminated.get()).as("told once").isEqualTo(1);
    }

    @Test
    void aFailingTaskIsReportedAndTheOwnerGoesOn() throws Exception {
        Shared s = shared();
        SerialExecutor v = s.view("failing");
        v.execute(() -> {
            throw new IllegalStateException("listener bug");
        });
        Future<?> f = v.submit(() -> {
            throw new IllegalStateException("step failed");
        });
        assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasRootCauseMessage("step failed");
        AtomicInteger periodicRuns = new AtomicInteger();
        ScheduledFuture<?> p = v.scheduleWithFixedDelay(() -> {
            periodicRuns.incrementAndGet();
            throw new IllegalStateException("periodic failed");
        }, 0, 1, TimeUnit.MILLISECONDS);
        assertThatThrownBy(() -> p.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
        assertThat(v.submit(() -> 42).get(5, TimeUnit.SECONDS)).isEqualTo(42);
        assertThat(periodicRuns.get()).as("a periodic task that throws is not run again").isEqualTo(1);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One pool thread of its own (blocked until {@code go} opens), so that the order of turns is the test's. */
    private static java.util.concurrent.ExecutorService onePoolThread(CountDownLatch go, List<AutoCloseable> toClose) {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "test-one-pool-thread");
            t.setDaemon(true);
            return t;
        });
        toClose.add(pool::shutdownNow);
        pool.execute(() -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return pool;
    }

    @Test
    void manySmallTasksOfOneOwnerRunInFewTurnsNotOneTaskPerTurnOfThePool() throws Exception {
        // a leader's heartbeat events: with one task per turn it got one per pass over every other owner's tasks
        CountDownLatch go = new CountDownLatch(1);
        java.util.concurrent.ExecutorService pool = onePoolThread(go, toClose);
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
        toClose.add(timer::shutdownNow);
        SerialExecutor busy = new SerialExecutor("busy", timer, pool, t -> { }, () -> { });
        SerialExecutor quiet = new SerialExecutor("quiet", timer, pool, t -> { }, () -> { });
        List<String> ran = new CopyOnWriteArrayList<>();
        int each = 50;
        for (int i = 0; i < each; i++) {
            busy.execute(() -> ran.add("busy"));
            quiet.execute(() -> ran.add("quiet"));
        }
        go.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> ran.size() == 2 * each);
        int switches = 0;
        for (int i = 1; i < ran.size(); i++) {
            if (!ran.get(i).equals(ran.get(i - 1))) {
                switches++;
            }
        }
        // 50 tiny tasks fit in one turn of 5 ms; a preempted pool thread may cut a few turns short
        assertThat(switches).as("turns switched between the owners: %s", ran).isLessThanOrEqualTo(10);
    }

    @Test
    void anOwnerWhoseTurnIsUsedUpLetsTheOthersRunBeforeItsNextTask() throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        java.util.concurrent.ExecutorService pool = onePoolThread(go, toClose);
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
        toClose.add(timer::shutdownNow);
        SerialExecutor a = new SerialExecutor("a", timer, pool, t -> { }, () -> { });
        SerialExecutor b = new SerialExecutor("b", timer, pool, t -> { }, () -> { });
        List<String> ran = new CopyOnWriteArrayList<>();
        a.execute(() -> {
            long end = System.nanoTime() + 4 * SerialExecutor.TURN_NANOS;
            while (System.nanoTime() < end) {
                Thread.onSpinWait(); // a task that uses up the turn by itself (work, not a wait)
            }
            ran.add("a1");
        });
        a.execute(() -> ran.add("a2"));
        b.execute(() -> ran.add("b1"));
        go.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> ran.size() == 3);
        assertThat(ran).containsExactly("a1", "b1", "a2");
    }
}
