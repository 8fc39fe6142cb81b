package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The shared lease-watchdog threads: per-worker views, isolation from a blocked task, nothing left behind. */
class SharedSchedulerTest {

    private static long threadsNamed(String prefix) {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith(prefix)).count();
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
            assertThat(threadsNamed(SharedScheduler.LEASE_THREAD)).isEqualTo(1);

            b.shutdown();
            assertThat(b.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
            assertThatThrownBy(() -> b.execute(() -> { })).isInstanceOf(RejectedExecutionException.class);
            int after = bRuns.get();
            assertThat(a.isShutdown()).as("a view's shutdown leaves the others running").isFalse();
            assertThat(SharedScheduler.leaseWatchdogRunning()).isTrue();
            assertThat(bRuns.get()).as("no run after termination").isEqualTo(after);
        } finally {
            release.countDown();
            a.shutdownNow();
            b.shutdownNow();
        }
        assertThat(a.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(SharedScheduler.leaseWatchdogRunning()).isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> threadsNamed("parti-lease-") == 0);
    }

    @Test
    void atRestOneWorkerServesManyViews() throws Exception {
        ScheduledExecutorService[] views = new ScheduledExecutorService[50];
        AtomicInteger runs = new AtomicInteger();
        try {
            for (int i = 0; i < views.length; i++) {
                views[i] = SharedScheduler.leaseWatchdog();
                views[i].scheduleWithFixedDelay(runs::incrementAndGet, i, 20, TimeUnit.MILLISECONDS);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> runs.get() >= 50 * 20);
            assertThat(threadsNamed(SharedScheduler.LEASE_WORKER_PREFIX)).as("workers for 50 views of quick tasks")
                    .isLessThanOrEqualTo(2);
        } finally {
            for (ScheduledExecutorService v : views) {
                if (v != null) {
                    v.shutdown();
                }
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> threadsNamed("parti-lease-") == 0);
    }
}
