package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The JVM's shared worker threads: per-worker views, isolation from a blocked task, nothing left behind. */
class SharedSchedulerTest {

    private static long threadsNamed(String prefix) {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith(prefix)).count();
    }

    /** The timer and every pool thread, whatever name it carries now. */
    private static long sharedThreads() {
        return threadsNamed(SharedScheduler.TIMER_THREAD) + SharedScheduler.workers();
    }

    @Test
    void aBlockedTaskOfOneViewDoesNotStopAnothersAndTheLastShutdownEndsTheThreads() throws Exception {
        ScheduledExecutorService a = SharedScheduler.leaseWatchdog();
        ScheduledExecutorService b = SharedScheduler.leaseWatchdog();
        CountDownLatch blocked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger bRuns = new AtomicInteger();
        try {
            a.scheduleWithFixedDelay(() -> {
                blocked.countDown();
                try {
                    release.await(); // e.g. a MetricsRecorder that blocks
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, 0, 10, TimeUnit.MILLISECONDS);
            assertThat(blocked.await(10, TimeUnit.SECONDS)).isTrue();
            int before = bRuns.get();
            b.scheduleWithFixedDelay(bRuns::incrementAndGet, 0, 10, TimeUnit.MILLISECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> bRuns.get() >= before + 20);
            assertThat(threadsNamed(SharedScheduler.TIMER_THREAD)).isEqualTo(1);

            b.shutdown();
            assertThat(b.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
            assertThatThrownBy(() -> b.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);
            int after = bRuns.get();
            assertThat(a.isShutdown()).as("a view's shutdown leaves the others running").isFalse();
            assertThat(SharedScheduler.running()).isTrue();
            assertThat(bRuns.get()).as("no run after termination").isEqualTo(after);
        } finally {
            release.countDown();
            a.shutdownNow();
            b.shutdownNow();
        }
        assertThat(a.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(SharedScheduler.running()).isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> threadsNamed("parti-lease") == 0
                && threadsNamed(SharedScheduler.TIMER_THREAD) == 0);
    }

    @Test
    void atRestAFewSharedThreadsServeManyWorkersAndNoneIsLeftAfterTheLast() throws Exception {
        int n = 50;
        ScheduledExecutorService[] mains = new ScheduledExecutorService[n];
        ScheduledExecutorService[] leases = new ScheduledExecutorService[n];
        ExecutorService[] callbacks = new ExecutorService[n];
        AtomicInteger runs = new AtomicInteger();
        try {
            for (int i = 0; i < n; i++) {
                mains[i] = SharedScheduler.main("parti-many-main");
                leases[i] = SharedScheduler.leaseWatchdog("parti-many-lease");
                callbacks[i] = SharedScheduler.callbacks("parti-many-callbacks", t -> { });
                mains[i].scheduleWithFixedDelay(runs::incrementAndGet, i, 20, TimeUnit.MILLISECONDS);
                leases[i].scheduleWithFixedDelay(runs::incrementAndGet, i, 20, TimeUnit.MILLISECONDS);
                callbacks[i].execute(runs::incrementAndGet);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> runs.get() >= 2 * n * 20);
            assertThat(SharedScheduler.users()).isEqualTo(3 * n);
            // 150 executors of quick tasks: the timer and about one worker per pool, not 150 threads (a pool grows for
            // running workers only after tasks waited 8 stall times, which a starved machine may see now and then)
            assertThat(sharedThreads()).as("shared threads for %d workers", n).isLessThanOrEqualTo(10);
        } finally {
            for (int i = 0; i < n; i++) {
                for (ExecutorService e : new ExecutorService[] {mains[i], leases[i], callbacks[i]}) {
                    if (e != null) {
                        e.shutdown();
                    }
                }
            }
        }
        for (int i = 0; i < n; i++) {
            assertThat(mains[i].awaitTermination(5, TimeUnit.SECONDS)).isTrue();
            assertThat(callbacks[i].awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !SharedScheduler.running());
        await().atMost(Duration.ofSeconds(10)).until(() -> threadsNamed(SharedScheduler.TIMER_THREAD) == 0
                && threadsNamed(SharedScheduler.MAIN_PREFIX) == 0 && threadsNamed(SharedScheduler.CALLBACK_PREFIX) == 0
                && threadsNamed("parti-lease") == 0 && threadsNamed("parti-many-") == 0);
    }
}
