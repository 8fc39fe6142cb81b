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
 * sanity bound only: performance is reported, not asserted tightly.
 */
class MeasurementsTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

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
            // writes: every heartbeat, every ID renewal, the leader's lease renewal (1 of the election rounds)
            double writes = heartbeats + idRenewals + 1 / 0.5;
            System.out.printf("[measure] 10 workers at rest, heartbeat 500 ms: %.1f heartbeat writes/s, %.1f ID renewals/s, "
                    + "%.1f election rounds/s (1 write + 9 reads per interval), %.1f leader scans/s; about %.1f KV writes/s%n",
                    heartbeats, idRenewals, election, scans, writes);
            assertThat(heartbeats).as("about 10 workers / 0.5 s").isBetween(14.0, 26.0);
        }
    }
}
