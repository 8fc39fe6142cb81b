package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which workers the pool counts as blocked decides when it grows (see {@link ElasticExecutor}). */
class ElasticExecutorTest {
    private static final long STALL = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long KEEP_ALIVE = TimeUnit.SECONDS.toNanos(30);

    @Test
    void aWorkerWaitingForTheNextTaskIsNotBlocked() throws Exception {
        ElasticExecutor pool = new ElasticExecutor("eet-idle-", STALL, KEEP_ALIVE);
        try {
            CountDownLatch ran = new CountDownLatch(1);
            pool.execute(ran::countDown);
            assertThat(ran.await(10, TimeUnit.SECONDS)).isTrue();
            Thread worker = await().atMost(Duration.ofSeconds(10)).until(() -> workerNamed("eet-idle-"),
                    t -> t != null && t.getState() == Thread.State.TIMED_WAITING);
            // idle in the queue's poll: Java says TIMED_WAITING, but no task waits behind it
            assertThat(worker.getState()).isEqualTo(Thread.State.TIMED_WAITING);
            assertThat(pool.blockedInTasks()).isZero();
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void aWorkerWaitingInsideATaskIsBlockedUntilTheTaskReturns() throws Exception {
        ElasticExecutor pool = new ElasticExecutor("eet-task-", STALL, KEEP_ALIVE);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        try {
            pool.execute(blockedUntil(release, done));
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.blockedInTasks() == 1);
            release.countDown();
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            await().atMost(Duration.ofSeconds(10)).until(() -> pool.blockedInTasks() == 0);
        } finally {
            release.countDown();
            pool.shutdown();
        }
    }

    @Test
    void workersMeetingAtThePoolsLockBetweenTasksAreNotCountedAsBlocked() throws Exception {
        // many short tasks from many submitters: workers meet at the pool's lock between tasks; none of them is
        // blocked in a task, so the pool must not start a worker per waiting one (it grew to hundreds, B6)
        ElasticExecutor pool = new ElasticExecutor("eet-lock-", 0, KEEP_ALIVE);
        int submitters = 8;
        int tasksEach = 20_000;
        CountDownLatch all = new CountDownLatch(submitters * tasksEach);
        Thread[] threads = new Thread[submitters];
        int most = 0;
        try {
            for (int i = 0; i < submitters; i++) {
                threads[i] = new Thread(() -> {
                    for (int k = 0; k < tasksEach; k++) {
                        pool.execute(all::countDown);
                    }
                }, "eet-submitter-" + i);
                threads[i].start();
            }
            while (!all.await(1, TimeUnit.MILLISECONDS)) {
                pool.checkStalls();
                most = Math.max(most, pool.workers());
            }
            // without blocked tasks only the busy rule may add workers: one per 8 stall times (here: per check)
            assertThat(pool.blockedInTasks()).isZero();
            assertThat(most).as("most workers while %d CPU-only tasks ran", submitters * tasksEach)
                    .isLessThanOrEqualTo(Runtime.getRuntime().availableProcessors() * 4 + 8);
        } finally {
            for (Thread t : threads) {
                t.join(10_000);
            }
            pool.shutdown();
        }
    }

    @Test
    void blockedTasksGetAWorkerEachAndNoMoreHoweverOftenStallsAreChecked() throws Exception {
        // 200 tasks that block until released, and stall checks as fast as the timer can run them: each check used
        // to start a worker per blocked one again while those it had started were not at the queue yet
        ElasticExecutor pool = new ElasticExecutor("eet-many-", 0, KEEP_ALIVE);
        int tasks = 200;
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(tasks);
        int most = 0;
        try {
            for (int i = 0; i < tasks; i++) {
                pool.execute(blockedUntil(release, done));
            }
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (pool.blockedInTasks() < tasks && System.nanoTime() < end) {
                pool.checkStalls();
                most = Math.max(most, pool.workers());
            }
            assertThat(pool.blockedInTasks()).as("every blocked task got a worker").isEqualTo(tasks);
            for (int i = 0; i < 1_000; i++) {
                pool.checkStalls();
                most = Math.max(most, pool.workers());
            }
            assertThat(most).as("most workers for %d blocked tasks", tasks).isLessThanOrEqualTo(tasks + 1);
            release.countDown();
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        } finally {
            release.countDown();
            pool.shutdown();
        }
    }

    /** A task that blocks until {@code release} opens, then counts {@code done} down. */
    private static Runnable blockedUntil(CountDownLatch release, CountDownLatch done) {
        return () -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            done.countDown();
        };
    }

    private static Thread workerNamed(String prefix) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith(prefix)).findFirst().orElse(null);
    }
}
