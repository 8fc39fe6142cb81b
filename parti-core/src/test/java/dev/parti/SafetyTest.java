package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipReport;
import dev.parti.testkit.TcpProxy;
import io.nats.client.Options;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Invariants 4–6 under real faults (a fresh nats-server per test). Timings: heartbeat 100 ms,
 * session 1 s, so invariant 7's bound for an emergency is 1 s + 0 s window + 1 s.
 */
class SafetyTest {
    private static final Duration LIVENESS_BOUND = Duration.ofMillis(1000 + 1000);
    private NatsServer nats;

    @BeforeEach
    void startNats() {
        nats = NatsServer.start();
    }

    @AfterEach
    void stopNats() {
        nats.close();
    }

    private static Set<Partition> ownedBy(List<TestGroup.Member> ms) {
        Set<Partition> all = new HashSet<>();
        ms.forEach(m -> all.addAll(m.manager.currentAssignment()));
        return all;
    }

    private static Options fastReconnect() {
        return new Options.Builder().pingInterval(Duration.ofMillis(200)).maxPingsOut(2).build();
    }

    /** A leader, another worker, and a third connected through {@code proxy}; balanced. */
    private static List<TestGroup.Member> leaderOtherAndOneBehind(TestGroup g, TcpProxy proxy) {
        TestGroup.Member leader = g.start();
        await().atMost(Duration.ofSeconds(5)).until(() -> leader.manager.isLeader());
        TestGroup.Member other = g.start();
        TestGroup.Member cutOff = g.start(g.config().natsUrl(proxy.url("nats")).natsOptions(fastReconnect()));
        g.awaitBalanced(Duration.ofSeconds(10));
        return List.of(leader, other, cutOff);
    }

    @Test
    void aWorkerCutOffNatsUnderFenceGivesUpItsPartitionsBeforeAnyoneElseAcquiresThem() throws Exception {
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port());
             TestGroup g = new TestGroup("cut-fence", nats.url(), 12, b -> b.lossPolicy(LossPolicy.FENCE))) {
            List<TestGroup.Member> ms = leaderOtherAndOneBehind(g, proxy);
            long t0 = System.nanoTime(); // balanced from here on (the cold start is not what this test is about)
            TestGroup.Member leader = ms.get(0);
            TestGroup.Member other = ms.get(1);
            TestGroup.Member cutOff = ms.get(2);
            Set<Partition> itsPartitions = cutOff.manager.currentAssignment();
            assertThat(itsPartitions).isNotEmpty();

            proxy.cut();
            await().atMost(Duration.ofSeconds(5)).until(() -> ownedBy(List.of(leader, other)).size() == 12);
            assertThat(cutOff.manager.currentAssignment()).isEmpty();
            assertThat(cutOff.events).anyMatch(e -> e.startsWith("lost"));

            long versionWhileCut = leader.manager.assignmentVersion();
            proxy.restore();
            awaitBackWithItsShare(g, cutOff, versionWhileCut);
            OwnershipReport report = g.checkOwnership(t0, LIVENESS_BOUND);
            System.out.println("[measure] cut-off under fence: longest unowned gap "
                    + report.longestGapNanos() / 1_000_000 + " ms, overlap " + report.overlapNanos() / 1_000_000 + " ms");
            report.assertClean();
        }
    }

    /**
     * Once reconnected, the cut-off worker is a joining worker again: balanced only once the leader's rebalance gave it
     * its share back. A balanced state seen before the leader noticed the return (every member on one version, the
     * returning one holding nothing yet) is followed by that rebalance's handoff, which the checks would catch midway.
     * Under hold it still holds its old partitions until it reads the version of the cut, hence the version check.
     */
    private static void awaitBackWithItsShare(TestGroup g, TestGroup.Member cutOff, long versionWhileCut) {
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(20))
                .until(() -> cutOff.manager.assignmentVersion() > versionWhileCut
                        && !cutOff.manager.currentAssignment().isEmpty());
        g.awaitBalanced(Duration.ofSeconds(15));
    }

    @Test
    void aWorkerCutOffNatsUnderHoldKeepsWorkingAndTheOverlapIsMeasuredAndEndsAfterReconnecting() throws Exception {
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port());
             TestGroup g = new TestGroup("cut-hold", nats.url(), 12, b -> b.lossPolicy(LossPolicy.HOLD))) {
            List<TestGroup.Member> ms = leaderOtherAndOneBehind(g, proxy);
            long t0 = System.nanoTime(); // balanced from here on (the cold start is not what this test is about)
            TestGroup.Member leader = ms.get(0);
            TestGroup.Member other = ms.get(1);
            TestGroup.Member cutOff = ms.get(2);
            Set<Partition> itsPartitions = cutOff.manager.currentAssignment();

            proxy.cut();
            // the rest of the group reassigns after the session expires; the cut-off worker holds on (documented)
            await().atMost(Duration.ofSeconds(5)).until(() -> ownedBy(List.of(leader, other)).size() == 12);
            assertThat(cutOff.manager.currentAssignment()).isEqualTo(itsPartitions);
            assertThat(cutOff.manager.state()).isEqualTo(ManagerState.DEGRADED);
            assertThat(cutOff.events).noneMatch(e -> e.startsWith("lost"));

            long versionWhileCut = leader.manager.assignmentVersion();
            proxy.restore();
            awaitBackWithItsShare(g, cutOff, versionWhileCut);
            OwnershipReport report = g.checkOwnership(t0, LIVENESS_BOUND);
            System.out.println("[measure] cut-off under hold: overlap " + report.overlapNanos() / 1_000_000
                    + " ms in total over " + report.overlaps().size() + " partition intervals (cut ~ the wait above)");
            assertThat(report.overlaps()).as("hold trades overlap for availability").isNotEmpty();
            assertThat(report.unownedAtEnd()).isEmpty();
            assertThat(g.owners.values()).allMatch(o -> o.size() == 1);
        }
    }

    @Test
    void natsKilledForTenSecondsUnderHoldStopsNobodyAndMovesNothingAfterRecovery() throws Exception {
        try (TestGroup g = new TestGroup("nats-down-hold", nats.url(), 12, b -> b.lossPolicy(LossPolicy.HOLD))) {
            g.startAll(3);
            g.awaitBalanced(Duration.ofSeconds(10));
            long versionBefore = g.leader().manager.assignmentVersion();
            java.util.Map<String, Set<Partition>> before = new java.util.HashMap<>();
            g.running().forEach(m -> before.put(m.owner(), m.manager.currentAssignment()));
            int eventsBefore = g.ownership.events().size();

            nats.kill();
            long killedAt = System.nanoTime();
            await().atMost(Duration.ofSeconds(5)).until(() -> g.running().stream()
                    .allMatch(m -> m.manager.state() == ManagerState.DEGRADED));
            await().pollDelay(Duration.ofMillis(100)).atMost(Duration.ofSeconds(11))
                    .until(() -> System.nanoTime() - killedAt >= 10_000_000_000L);
            g.running().forEach(m -> assertThat(m.manager.currentAssignment()).isEqualTo(before.get(m.owner())));
            nats.restart();

            await().atMost(Duration.ofSeconds(15)).until(() -> g.leader() != null
                    && g.running().stream().allMatch(m -> m.manager.state() == ManagerState.STABLE));
            g.awaitBalanced(Duration.ofSeconds(10));
            g.running().forEach(m -> assertThat(m.manager.currentAssignment()).as("nothing moved").isEqualTo(before.get(m.owner())));
            assertThat(g.ownership.events().size()).as("no acquisition or release at all").isEqualTo(eventsBefore);
            assertThat(g.leader().manager.assignmentVersion() - versionBefore).as("at most one rebalance").isLessThanOrEqualTo(1);
        }
    }

    /**
     * The leader's JVM is killed (kill -9) while a planned handoff is between its two phases: the followers
     * were told to release partitions for a newcomer and are still inside onRevoked, the newcomer has nothing
     * yet. The next leader completes the handoff; nobody owned a partition twice (by instance, over time) and
     * nothing stayed unowned beyond invariant 7's bound.
     */
    @Test
    void theLeaderKilledBetweenTheRevokeAndAssignPhasesIsReplacedAndTheNextLeaderCompletesTheHandoff() throws Exception {
        for (int attempt = 1; !leaderKilledMidHandoff("handoff-failover-" + attempt); attempt++) {
            assertThat(attempt).as("attempts where the child JVM still led when the handoff began").isLessThan(5);
        }
    }

    /** False when the slow child JVM lost its lease before the handoff began: not a leader kill, try again. */
    private boolean leaderKilledMidHandoff(String group) throws Exception {
        CountDownLatch releaseRevokes = new CountDownLatch(1);
        AtomicInteger blockedRevokes = new AtomicInteger();
        try (ChildGroup children = new ChildGroup(group, 12);
             TestGroup g = new TestGroup(group, nats.url(), 12, b -> b)) {
            ChildGroup.Child leader = children.start("leader", nats.url());
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> leader.status().map(ChildWorker.Status::leader).orElse(false));
            TestGroup.Member b = g.start();
            TestGroup.Member c = g.start();
            await().atMost(Duration.ofSeconds(15)).until(() -> b.manager.currentAssignment().size() == 4
                    && c.manager.currentAssignment().size() == 4 && leader.status().map(s -> s.owned().size() == 4).orElse(false));
            if (g.leader() != null) {
                return false;
            }
            long t0 = System.nanoTime();
            // the followers release slowly: the handoff stays between its two phases until we say so
            b.blockRevokes = () -> {
                blockedRevokes.incrementAndGet();
                releaseRevokes.await();
            };
            c.blockRevokes = b.blockRevokes;
            TestGroup.Member d = g.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> blockedRevokes.get() > 0);
            if (g.leader() != null) {
                releaseRevokes.countDown();
                return false;
            }
            // half done: the newcomer may already have what the (unblocked) leader released, not what b and c are releasing
            Set<Partition> pending = new HashSet<>(b.manager.currentAssignment());
            pending.addAll(c.manager.currentAssignment());
            assertThat(d.manager.currentAssignment()).as("the newcomer's partitions while b and c are releasing")
                    .hasSizeLessThan(4).doesNotContainAnyElementsOf(pending);

            leader.kill(); // the leader dies with a handoff half done
            releaseRevokes.countDown();

            await().atMost(Duration.ofSeconds(10)).until(() -> g.leader() != null);
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(d.manager.currentAssignment()).as("the next leader completed the handoff").hasSize(4);
            assertThat(d.events).as("the newcomer never lost anything").noneMatch(e -> e.startsWith("lost"));
            // invariant 7 for the planned move (window 300 ms): session 1 s + 300 ms + 1 s
            OwnershipReport report = children.check(t0, Duration.ofMillis(1000 + 300 + 1000), true, g.ownership.events());
            System.out.println("[measure] leader killed mid-handoff: " + report);
            report.assertClean();
            return true;
        }
    }

    /**
     * Issue 12 hole 3 seen through the ownership log: a newer instance with the same static worker ID takes
     * over while the older one still owns its partitions. Owners are instances, so the two are two owners:
     * the older must have let go (or its session ended) before the newer acquires anything, or the report
     * shows overlaps and the ID acting through two instances at once.
     */
    @Test
    void aNewerInstanceWithTheSameStaticIdOwnsNothingUntilTheOlderOneLetGo() throws Exception {
        try (TestGroup g = new TestGroup("static-takeover", nats.url(), 6, b -> b.lossPolicy(LossPolicy.FENCE))) {
            TestGroup.Member older = g.start(g.config().workerId("orders-1"));
            await().atMost(Duration.ofSeconds(10)).until(() -> older.manager.currentAssignment().size() == 6);
            long t0 = System.nanoTime();
            TestGroup.Member newer = g.start(g.config().workerId("orders-1"));
            await().atMost(Duration.ofSeconds(10)).until(() -> older.manager.state() == ManagerState.SHUTDOWN
                    && newer.manager.currentAssignment().size() == 6);
            OwnershipReport report = g.checkOwnership(t0, LIVENESS_BOUND);
            System.out.println("[measure] static ID takeover: " + report);
            assertThat(report.idConflicts()).as("orders-1 acting through two instances at once").isEmpty();
            assertThat(report.overlaps()).as("partitions owned by both instances of orders-1").isEmpty();
            report.assertClean();
        }
    }
}
