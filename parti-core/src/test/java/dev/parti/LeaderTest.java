package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class LeaderTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    /** Session 1 s, leader lease 800 ms. */
    @Test
    void leaderFailoverCompletesWithinSessionTimeoutPlusOneSecondInFiveRuns() throws Exception {
        List<Long> failoverMillis = new ArrayList<>();
        for (int run = 0; run < 5; run++) {
            try (TestGroup g = new TestGroup("failover-" + run, nats.server().url(), 9, b -> b)) {
                TestGroup.Member first = g.start();
                await().atMost(Duration.ofSeconds(5)).until(() -> first.manager.isLeader());
                g.startAll(2);
                g.awaitBalanced(Duration.ofSeconds(10));

                long crashAt = System.nanoTime();
                first.manager.close(true); // a crash, as far as the group can tell
                await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(5)).until(() -> g.leader() != null);
                long took = (System.nanoTime() - crashAt) / 1_000_000;
                failoverMillis.add(took);
                assertThat(took).as("failover ms, run %d", run).isLessThan(1000 + 1000);
                g.awaitBalanced(Duration.ofSeconds(5));
                assertThat(g.overlaps).isEmpty();
            }
        }
        Collections.sort(failoverMillis);
        System.out.println("[measure] leader failover ms (sorted, 5 runs, session 1000 ms, lease 800 ms): " + failoverMillis
                + " median " + failoverMillis.get(2));
    }

    /** The next leader waits a 30 s recovery grace before it moves anything: only the leaver itself can move its partitions sooner. */
    @Test
    void aLeaderThatLeavesHandsItsOwnPartitionsOverBeforeTheNextLeaderCouldMoveThem() throws Exception {
        try (TestGroup g = new TestGroup("handover", nats.server().url(), 9, b -> b.recoveryGrace(Duration.ofSeconds(30)))) {
            TestGroup.Member first = g.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> first.manager.isLeader());
            g.startAll(2);
            g.awaitBalanced(Duration.ofSeconds(10));
            long from = System.nanoTime();

            first.manager.close();
            g.awaitBalanced(Duration.ofSeconds(10));

            assertThat(first.manager.isLeader()).isFalse();
            assertThat(g.leader()).isNotSameAs(first);
            assertThat(g.overlaps).isEmpty();
            assertThat(g.checkOwnership(from, Duration.ofSeconds(10)).overlaps()).isEmpty();
        }
    }

    @Test
    void threeRoundsOfLeaderChurnKeepOneLeaderAtATimeIncreasingVersionsAndEveryPartitionOwnedOnce() throws Exception {
        try (TestGroup g = new TestGroup("churn", nats.server().url(), 15, b -> b)) {
            g.startAll(3);
            g.awaitBalanced(Duration.ofSeconds(10));
            AtomicBoolean sampling = new AtomicBoolean(true);
            AtomicInteger twoLeaders = new AtomicInteger();
            List<Long> versions = new CopyOnWriteArrayList<>();
            Thread sampler = new Thread(() -> {
                while (sampling.get()) {
                    long leaders = g.running().stream().filter(m -> m.manager.isLeader()).count();
                    if (leaders > 1) {
                        twoLeaders.incrementAndGet();
                    }
                    g.running().stream().mapToLong(m -> m.manager.assignmentVersion()).max().ifPresent(versions::add);
                    Thread.onSpinWait();
                }
            }, "leader-sampler");
            sampler.start();
            for (int round = 0; round < 3; round++) {
                TestGroup.Member leader = g.leader();
                assertThat(leader).isNotNull();
                leader.manager.close(true);
                g.start();
                await().atMost(Duration.ofSeconds(5)).until(() -> g.leader() != null && g.leader() != leader);
                g.awaitBalanced(Duration.ofSeconds(10));
            }
            sampling.set(false);
            sampler.join();
            assertThat(twoLeaders.get()).as("instants with two leaders").isZero();
            assertThat(versions).isSorted();
            assertThat(g.overlaps).isEmpty();
        }
    }
}
