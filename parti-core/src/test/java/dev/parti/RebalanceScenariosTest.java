package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class RebalanceScenariosTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    @Test
    void plannedScaleFromThreeToFiveWaitsThePlannedWindowThenBalances() throws Exception {
        try (TestGroup g = new TestGroup("planned-scale", nats.server().url(), 20,
                b -> b.plannedScaleWindow(Duration.ofMillis(1000)).coldStartWindow(Duration.ofMillis(1000)))) {
            g.startAll(3);
            g.awaitBalanced(Duration.ofSeconds(10));
            TestGroup.Member leader = g.leader();
            long versionBefore = leader.manager.assignmentVersion();
            int statesBefore = leader.states.size();

            long joinedAt = System.nanoTime();
            TestGroup.Member a = g.start();
            TestGroup.Member b = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            long rebalancedAt = Math.min(a.firstPartitionNanos, b.firstPartitionNanos);

            assertThat(Duration.ofNanos(rebalancedAt - joinedAt)).as("planned-scale window honoured")
                    .isGreaterThanOrEqualTo(Duration.ofMillis(1000));
            assertThat(leader.manager.assignmentVersion()).isGreaterThan(versionBefore);
            assertThat(leader.states.subList(statesBefore, leader.states.size()))
                    .containsSubsequence(ManagerState.SCALING, ManagerState.REBALANCING, ManagerState.STABLE)
                    .doesNotContain(ManagerState.EMERGENCY);
            for (TestGroup.Member m : g.running()) {
                assertThat(m.manager.currentAssignment()).hasSize(4);
            }
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void emergencyWhenOneOfThreeVanishesReassignsWithoutWindowWithinTheSessionTimeoutPlusOneSecond() throws Exception {
        try (TestGroup g = new TestGroup("emergency", nats.server().url(), 12,
                b -> b.plannedScaleWindow(Duration.ofSeconds(5)).coldStartWindow(Duration.ofSeconds(5)))) {
            List<TestGroup.Member> ms = new ArrayList<>();
            ms.add(g.start());
            await().atMost(Duration.ofSeconds(5)).until(() -> ms.get(0).manager.isLeader());
            ms.add(g.start());
            ms.add(g.start());
            g.awaitBalanced(Duration.ofSeconds(15));
            TestGroup.Member leader = ms.get(0);
            int statesBefore = leader.states.size();
            TestGroup.Member victim = ms.get(2);

            long crashAt = System.nanoTime();
            victim.manager.close(true); // keeps heartbeat and ID: to the group this is a crash
            g.awaitBalanced(Duration.ofSeconds(5));
            Duration took = Duration.ofNanos(System.nanoTime() - crashAt);

            assertThat(took).as("vanished worker's partitions reassigned within session timeout + 1 s, no 5 s window")
                    .isLessThan(Duration.ofMillis(1000 + 1000));
            assertThat(leader.states.subList(statesBefore, leader.states.size()))
                    .containsSubsequence(ManagerState.EMERGENCY, ManagerState.STABLE)
                    .doesNotContain(ManagerState.SCALING);
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void gracefulLeaveRebalancesAtOnceWithoutWaitingForTheSession() throws Exception {
        try (TestGroup g = new TestGroup("graceful-leave", nats.server().url(), 12,
                b -> b.sessionTimeout(Duration.ofSeconds(5)).leaderTtl(Duration.ofSeconds(4))
                        .workerIdTtl(Duration.ofSeconds(10)).plannedScaleWindow(Duration.ofSeconds(5))
                        .coldStartWindow(Duration.ofSeconds(5)))) {
            List<TestGroup.Member> ms = new ArrayList<>();
            ms.add(g.start());
            await().atMost(Duration.ofSeconds(5)).until(() -> ms.get(0).manager.isLeader());
            ms.add(g.start());
            ms.add(g.start());
            g.awaitBalanced(Duration.ofSeconds(15));

            long leaveAt = System.nanoTime();
            ms.get(1).manager.close();
            g.awaitBalanced(Duration.ofSeconds(4));
            assertThat(Duration.ofNanos(System.nanoTime() - leaveAt)).as("well before the 5 s session expires")
                    .isLessThan(Duration.ofSeconds(2));
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void restartOfTenWorkersAfterAllVanishedWaitsTheColdStartWindowAndGivesEveryWorkerItsPartitionsBack() throws Exception {
        try (TestGroup g = new TestGroup("restart", nats.server().url(), 40,
                b -> b.coldStartWindow(Duration.ofMillis(4000)).plannedScaleWindow(Duration.ofMillis(500)))) {
            g.startAll(10);
            g.awaitBalanced(Duration.ofSeconds(15));
            Map<String, Set<Partition>> before = new HashMap<>();
            for (TestGroup.Member m : g.running()) {
                before.put(m.id(), m.manager.currentAssignment());
            }
            for (TestGroup.Member m : g.running()) {
                m.manager.close(true); // the whole fleet goes down without leaving (a crash or a redeploy)
            }
            assertThat(g.running()).isEmpty();
            String idsBucket = new dev.parti.internal.BucketNames("restart").name(dev.parti.internal.KvGateway.Bucket.IDS);
            try (io.nats.client.Connection nc = io.nats.client.Nats.connect(nats.server().url())) {
                await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                        .until(() -> nc.keyValue(idsBucket).keys().isEmpty());
            }

            List<TestGroup.Member> back = g.startAll(10);
            g.awaitBalanced(Duration.ofSeconds(15));
            Map<String, Set<Partition>> after = new HashMap<>();
            for (TestGroup.Member m : g.running()) {
                after.put(m.id(), m.manager.currentAssignment());
            }
            assertThat(after).as("every stable ID gets its partitions back").isEqualTo(before);
            TestGroup.Member leader = g.leader();
            assertThat(leader).isSameAs(back.get(0));
            // Either the new leader's term began while most workers were still away (a restart: cold-start
            // window, then one rebalance) or they were all back by then (nothing to change); never an emergency.
            assertThat(leader.states).doesNotContain(ManagerState.EMERGENCY);
            if (leader.states.contains(ManagerState.SCALING)) {
                assertThat(leader.states).containsSubsequence(ManagerState.SCALING, ManagerState.REBALANCING, ManagerState.STABLE);
            }
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void refreshPartitionsPicksUpAddedRemovedAndReweightedPartitions() throws Exception {
        try (TestGroup g = new TestGroup("refresh", nats.server().url(), 6, b -> b)) {
            List<TestGroup.Member> ms = g.startAll(2);
            g.awaitBalanced(Duration.ofSeconds(10));

            List<Partition> grown = new ArrayList<>(g.partitions);
            grown.add(Partition.of("topic", "6"));
            grown.add(Partition.of("topic", "7"));
            g.sourcePartitions = grown;
            ms.forEach(m -> m.manager.refreshPartitions());
            g.awaitBalanced(Duration.ofSeconds(5));

            List<Partition> shrunk = new ArrayList<>(grown.subList(2, grown.size()));
            g.sourcePartitions = shrunk;
            ms.forEach(m -> m.manager.refreshPartitions());
            g.awaitBalanced(Duration.ofSeconds(5));
            assertThat(g.running().stream().flatMap(m -> m.manager.currentAssignment().stream()))
                    .doesNotContain(Partition.of("topic", "0"), Partition.of("topic", "1"));

            long version = g.leader().manager.assignmentVersion();
            List<Partition> reweighted = new ArrayList<>(shrunk);
            reweighted.set(0, reweighted.get(0).withWeight(5));
            g.sourcePartitions = reweighted;
            ms.forEach(m -> m.manager.refreshPartitions());
            await().atMost(Duration.ofSeconds(5)).until(() -> g.leader().manager.assignmentVersion() > version);
            g.awaitBalanced(Duration.ofSeconds(5));
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void cooldownSpacesTwoRebalancesThatNeedNoWindow() throws Exception {
        // when each rebalance started, as the leader reports it: a publication's KV write latency (which varies with
        // the machine's load) is not part of what the cooldown spaces
        List<Long> startedAt = new CopyOnWriteArrayList<>();
        MetricsRecorder metrics = new MetricsRecorder() {
            @Override
            public void rebalanceStarted(RebalanceKind kind) {
                startedAt.add(System.nanoTime());
            }
        };
        try (TestGroup g = new TestGroup("cooldown", nats.server().url(), 4,
                b -> b.plannedScaleWindow(Duration.ofMillis(1500)).coldStartWindow(Duration.ofMillis(1500))
                        .rebalanceCooldown(Duration.ofMillis(1500)).metrics(metrics))) {
            TestGroup.Member m = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            List<Partition> more = new ArrayList<>(g.partitions);
            more.add(Partition.of("topic", "4"));
            g.sourcePartitions = more;
            int before = startedAt.size();
            long refreshedAt = System.nanoTime();
            m.manager.refreshPartitions();
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(startedAt.size()).isGreaterThan(before);
            long lastBefore = startedAt.get(before - 1);
            long next = startedAt.get(before);
            assertThat(Duration.ofNanos(next - lastBefore)).as("rebalances at least a cooldown apart")
                    .isGreaterThanOrEqualTo(Duration.ofMillis(1500));
            assertThat(next).isGreaterThan(refreshedAt);
        }
    }
}
