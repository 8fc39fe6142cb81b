package dev.parti.kafka.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The adapter's shared timer threads: every task of a live consumer runs, whatever the others do. */
class SharedTimersTest {

    @Test
    void everyTaskOfALiveConsumerRunsWhileOthersComeGoAndBlock() throws Exception {
        for (int round = 0; round < 200; round++) {
            SharedTimers.Tasks previous = SharedTimers.acquire();
            CountDownLatch blocking = new CountDownLatch(1);
            previous.scheduleWithFixedDelay(() -> { }, 0, 1);
            previous.schedule(() -> {
                try {
                    blocking.await(); // a task that blocks until its consumer stops (interrupted)
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, 0);
            SharedTimers.Tasks next = round % 2 == 0 ? null : SharedTimers.acquire();
            previous.stop(Duration.ofSeconds(5));
            if (next == null) {
                next = SharedTimers.acquire();
            }
            AtomicInteger ran = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(3);
            next.schedule(() -> { ran.incrementAndGet(); done.countDown(); }, 0);
            next.schedule(() -> { ran.incrementAndGet(); done.countDown(); }, 1);
            next.schedule(() -> {
                ran.incrementAndGet();
                done.countDown();
                assertThat(Thread.currentThread().isInterrupted()).as("interrupt meant for another consumer").isFalse();
            }, 0);
            assertThat(done.await(10, TimeUnit.SECONDS)).as("round " + round + ": ran " + ran.get() + " of 3").isTrue();
            next.stop(Duration.ofSeconds(5));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !SharedTimers.running());
    }
}
