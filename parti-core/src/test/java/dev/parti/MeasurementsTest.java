package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Figures quoted in the closing notes (printed as {@code [measure]} lines), each with a loose
 * sanity bound only: performance is reported, not asserted tightly. The leader failover after a kill -9, with the
 * tests' and the default timings, is a benchmark ({@code scripts/bench failover}); the failover's safety is
 * {@code SafetyTest}'s and {@code NemesisTest}'s.
 */
class MeasurementsTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    /** Parti's default heartbeat, session and lease; short windows so that runs do not wait 30 s to start. */
    static PartiConfig.Builder defaultTimings(PartiConfig.Builder b) {
        return b.coldStartWindow(Duration.ofSeconds(1)).plannedScaleWindow(Duration.ofSeconds(1))
                .rebalanceCooldown(Duration.ofMillis(500));
    }

    private static long median(List<Long> xs) {
        List<Long> sorted = new ArrayList<>(xs);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }

    /** A planned 3 → 4 move: from the end of the window to the newcomer's first partition (revoke, acknowledge, assign). */
    @Test
    void handoffLatencyOfAPlannedMoveAfterTheWindow() throws Exception {
        List<Long> micros = new ArrayList<>();
        for (int run = 0; run < 5; run++) {
            try (TestGroup g = new TestGroup("handoff-latency-" + run, nats.server().url(), 12, b -> b)) {
                TestGroup.Member leader = g.start();
                await().atMost(Duration.ofSeconds(5)).until(() -> leader.manager.isLeader());
                g.startAll(2);
                g.awaitBalanced(Duration.ofSeconds(10));
                AtomicLong rebalancingAt = new AtomicLong();
                leader.manager.addStateListener((from, to) -> {
                    if (to == ManagerState.REBALANCING) {
                        rebalancingAt.compareAndSet(0, System.nanoTime());
                    }
                });
                TestGroup.Member newcomer = g.start();
                g.awaitBalanced(Duration.ofSeconds(10));
                micros.add((newcomer.firstPartitionNanos - rebalancingAt.get()) / 1000);
            }
        }
        System.out.println("[measure] planned handoff latency (window end -> newcomer's first partition) µs: " + micros
                + " median " + median(micros));
        assertThat(median(micros)).isPositive();
    }

    @Test
    void joinDetectionThroughTheWatcherTakesWellUnderAHeartbeatScan() throws Exception {
        List<Long> micros = new ArrayList<>();
        // a 2 s heartbeat: the scan fallback would take up to 2 s, so a fast detection can only be the watcher
        try (TestGroup g = new TestGroup("join-latency", nats.server().url(), 8,
                b -> b.heartbeatInterval(Duration.ofSeconds(2)).sessionTimeout(Duration.ofSeconds(6))
                        .leaderTtl(Duration.ofSeconds(5)).workerIdTtl(Duration.ofSeconds(10))
                        .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300))
                        .rebalanceCooldown(Duration.ofMillis(100)))) {
            TestGroup.Member leader = g.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> leader.manager.isLeader());
            Map<ManagerState, AtomicLong> enteredAt = new ConcurrentHashMap<>();
            leader.manager.addStateListener((from, to) -> enteredAt.computeIfAbsent(to, k -> new AtomicLong()).set(System.nanoTime()));
            for (int i = 0; i < 7; i++) {
                await().atMost(Duration.ofSeconds(15)).until(() -> leader.manager.state() == ManagerState.STABLE);
                AtomicLong scaling = enteredAt.computeIfAbsent(ManagerState.SCALING, k -> new AtomicLong());
                long before = scaling.get();
                AtomicLong heartbeatWritten = new AtomicLong();
                MetricsRecorder firstHeartbeat = new MetricsRecorder() {
                    @Override
                    public void stateChanged(ManagerState from, ManagerState to) {
                        if (to == ManagerState.ELECTION) { // entered right after the first heartbeat write returned
                            heartbeatWritten.set(System.nanoTime());
                        }
                    }
                };
                TestGroup.Member m = new TestGroup.Member(g, g.config().metrics(firstHeartbeat).build());
                g.members.add(m);
                m.manager.start();
                long written = heartbeatWritten.get();
                await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(1)).until(() -> scaling.get() != before);
                micros.add((scaling.get() - written) / 1000);
                await().atMost(Duration.ofSeconds(15)).until(() -> leader.manager.state() == ManagerState.STABLE);
                m.manager.close();
            }
        }
        Collections.sort(micros);
        long median = micros.get(micros.size() / 2);
        System.out.println("[measure] join detection µs (heartbeat written -> leader SCALING), sorted: " + micros + " median " + median);
        assertThat(median).as("join seen by the watcher, not by the 2 s scan").isLessThan(1_000_000);
    }

    @Test
    void aTenWorkerGroupAtRestWritesAboutOneHeartbeatPerWorkerPerInterval() throws Exception {
        Map<String, AtomicLong> ops = new ConcurrentHashMap<>();
        MetricsRecorder counting = new MetricsRecorder() {
            @Override
            public void kvOperation(String op, boolean ok) {
                ops.computeIfAbsent(op, k -> new AtomicLong()).incrementAndGet();
            }
        };
        try (TestGroup g = new TestGroup("at-rest", nats.server().url(), 20,
                b -> b.heartbeatInterval(Duration.ofMillis(500)).sessionTimeout(Duration.ofSeconds(3))
                        .leaderTtl(Duration.ofSeconds(2)).workerIdTtl(Duration.ofSeconds(15))
                        .coldStartWindow(Duration.ofMillis(500)).plannedScaleWindow(Duration.ofMillis(500))
                        .metrics(counting))) {
            g.startAll(10);
            g.awaitBalanced(Duration.ofSeconds(15));
            ops.clear();
            long t0 = System.nanoTime();
            await().pollDelay(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(6)).until(() -> true);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double heartbeats = ops.getOrDefault("heartbeat", new AtomicLong()).get() / seconds;
            double idRenewals = ops.getOrDefault("worker-ID renewal", new AtomicLong()).get() / seconds;
            double election = ops.getOrDefault("election", new AtomicLong()).get() / seconds;
            double scans = ops.getOrDefault("heartbeat scan", new AtomicLong()).get() / seconds;
            double polls = ops.getOrDefault("assignment poll", new AtomicLong()).get() / seconds;
            double total = ops.values().stream().mapToLong(AtomicLong::get).sum() / seconds;
            // writes: every heartbeat, every ID renewal, the leader's lease renewal (the only election rounds at rest)
            double writes = heartbeats + idRenewals + election;
            System.out.printf("[measure] 10 workers at rest, heartbeat 500 ms: %.1f heartbeat writes/s, %.1f ID renewals/s, "
                    + "%.1f election rounds/s (the leader's renewal; followers watch the leader key), %.2f assignment polls/s, "
                    + "%.1f leader scans/s; about %.1f KV writes/s; all client KV ops %.2f per worker per interval %s%n",
                    heartbeats, idRenewals, election, polls, scans, writes, total / 10 * 0.5, ops);
            assertThat(heartbeats).as("about 10 workers / 0.5 s").isBetween(14.0, 26.0);
            // before the leader-key watch every follower read the key every interval: 20 rounds/s here
            assertThat(election).as("election rounds/s at rest: the leader's renewals only (2/s), no follower reads")
                    .isLessThan(5.0);
        }
    }
}
