package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway;
import dev.parti.testkit.NatsCluster;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipReport;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A 3-node JetStream cluster with R3 buckets loses a node (kill -9): the node worker m1 is connected to,
 * then the node leading the heartbeats KV stream. Timings: heartbeat 500 ms, session 12 s, leader TTL 10 s
 * (lease 8 s: TTL minus the 2 s safety margin), worker-ID TTL 30 s.
 *
 * <p>What must hold (issue 20): nobody loses its worker ID, no partition is owned by two instances at once,
 * no partition moves (every worker is alive, so nothing has to move) and none is left without an owner, and
 * there is a leader again within {@link #LEADER_AGAIN} of the kill, or within {@link #LEADER_AFTER_STREAMS_BACK} of the
 * KV streams answering again when nats-server takes longer than that to elect their new leaders (it did once in about
 * six full runs on a loaded two-core machine: 17.5 s). Keeping the leadership is <em>not</em>
 * required: nats-server 2.9 needs 3.7–7.8 s (median 5.4 s, 20 kills on the CI machine, see
 * {@link StreamLeaderElectionMeasurement}) to elect a new leader for an R3 KV stream whose leader node died,
 * and answers writes with 503 No Responders meanwhile; a leader whose renewals fail for longer than its
 * lease must step down (invariant 2), and with an 8 s lease that happens in the tail of that distribution.
 * The test prints, per kill, whether the leadership changed hands, how long the group had no leader, how
 * many partitions moved and the longest time a partition had no owner.
 */
class ClusterTest {
    /**
     * A leader again within the leader TTL (the old key must expire) + an election round + 1.5 s of slack, counted
     * from the kill, or from when the KV streams answer writes again if that is later (nobody can be elected through a
     * stream without a leader; nats-server's own election of one is not Parti's to bound).
     */
    private static final Duration LEADER_AGAIN = Duration.ofMillis(10_000 + 500 + 1_500);
    /** An election round + 1.5 s of slack, after the streams answer again. */
    private static final Duration LEADER_AFTER_STREAMS_BACK = Duration.ofMillis(500 + 1_500);
    private static NatsCluster cluster;

    @BeforeAll
    static void startCluster() {
        cluster = NatsCluster.start(3);
        cluster.awaitHealthy(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    private static Connection connectPreferring(int node) throws Exception {
        List<String> urls = new ArrayList<>();
        urls.add(cluster.node(node).url());
        for (int i = 0; i < cluster.size(); i++) {
            if (i != node) {
                urls.add(cluster.node(i).url());
            }
        }
        return Nats.connect(new Options.Builder().servers(urls.toArray(new String[0])).noRandomize()
                .maxReconnects(-1).reconnectWait(Duration.ofMillis(100)).pingInterval(Duration.ofMillis(500))
                .connectionTimeout(Duration.ofSeconds(2)).build());
    }

    private static int nodeOf(String connectedUrl) {
        for (int i = 0; i < cluster.size(); i++) {
            if (connectedUrl != null && connectedUrl.endsWith(":" + cluster.node(i).port())) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void losingTheConnectedNodeOrTheKvStreamLeaderLosesNoIdMovesNothingAndHasALeaderAgainWithinTheBound() throws Exception {
        List<Connection> conns = new ArrayList<>();
        Map<String, AtomicLong> okHeartbeats = new HashMap<>();
        Map<String, AtomicLong> okElections = new HashMap<>();
        String group = "cluster-" + Long.toHexString(System.nanoTime());
        try {
            for (int i = 0; i < 3; i++) {
                conns.add(connectPreferring(i));
            }
            TestGroup g = new TestGroup(group, cluster.connectString(), 12, b -> b);
            List<TestGroup.Member> ms = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                AtomicLong ok = new AtomicLong();
                AtomicLong elected = new AtomicLong();
                okHeartbeats.put("m" + (i + 1), ok);
                okElections.put("m" + (i + 1), elected);
                MetricsRecorder count = new MetricsRecorder() {
                    @Override
                    public void kvOperation(String op, boolean success) {
                        if (success && op.equals("heartbeat")) {
                            ok.incrementAndGet();
                        } else if (success && op.equals("election")) {
                            elected.incrementAndGet();
                        }
                    }
                };
                ms.add(g.start(PartiConfig.builder(group).connection(conns.get(i))
                        .partitionSource(() -> g.sourcePartitions).bucketReplicas(3)
                        .heartbeatInterval(Duration.ofMillis(500)).sessionTimeout(Duration.ofSeconds(12))
                        .leaderTtl(Duration.ofSeconds(10)).workerIdTtl(Duration.ofSeconds(30))
                        .coldStartWindow(Duration.ofMillis(500)).plannedScaleWindow(Duration.ofMillis(500))
                        .rebalanceCooldown(Duration.ofMillis(100)).metrics(count)));
            }
            g.awaitBalanced(Duration.ofSeconds(20));
            long t0 = System.nanoTime();
            Map<String, String> ids = new HashMap<>();
            Map<String, Set<Partition>> owned = new HashMap<>();
            ms.forEach(m -> {
                ids.put(m.owner(), m.id());
                owned.put(m.owner(), m.manager.currentAssignment());
            });
            int eventsAtStart = g.ownership.events().size();

            // 1. kill the node worker m1 is connected to
            int node = nodeOf(conns.get(0).getConnectedUrl());
            assertThat(node).isGreaterThanOrEqualTo(0);
            Failover first = loseNode(g, ms, okHeartbeats, okElections, cluster.node(node), "connected node of m1");
            await().atMost(Duration.ofSeconds(20)).until(() -> conns.get(0).getStatus() == Connection.Status.CONNECTED
                    && nodeOf(conns.get(0).getConnectedUrl()) != node);
            assertNothingLost(g, ms, ids, owned, eventsAtStart);
            cluster.node(node).restart();
            cluster.awaitHealthy(Duration.ofSeconds(30));

            // 2. kill the node leading the heartbeats KV stream
            String stream = "KV_" + new BucketNames(group).name(KvGateway.Bucket.HEARTBEATS);
            String leaderName = await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() ->
                    conns.get(1).jetStreamManagement().getStreamInfo(stream).getClusterInfo().getLeader(), java.util.Objects::nonNull);
            NatsServer streamLeader = cluster.nodes().stream()
                    .filter(n -> n.serverName().map(leaderName::equals).orElse(false)).findFirst().orElseThrow();
            Failover second = loseNode(g, ms, okHeartbeats, okElections, streamLeader, "heartbeats stream leader " + leaderName);
            assertNothingLost(g, ms, ids, owned, eventsAtStart);
            streamLeader.restart();
            cluster.awaitHealthy(Duration.ofSeconds(30));

            OwnershipReport report = g.checkOwnership(t0, Duration.ofSeconds(12 + 1));
            System.out.printf(Locale.ROOT, "[measure] R3 node loss: %s; %s; longest time without owner %d ms, "
                            + "partitions moved %d%n", first, second, report.longestGapNanos() / 1_000_000,
                    acquisitions(g.ownership.events().subList(eventsAtStart, g.ownership.events().size())));
            report.assertClean();
            g.close();
        } finally {
            for (Connection c : conns) {
                c.close();
            }
        }
    }

    /** What one node loss cost. */
    private record Failover(String what, boolean leadershipChanged, long withoutLeaderMillis, long leaderAgainMillis,
                            long streamsBackMillis) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: leadership %s, no leader for %d ms (a leader %d ms after the kill; "
                    + "the streams answered again after %d ms)", what, leadershipChanged ? "changed hands" : "kept",
                    withoutLeaderMillis, leaderAgainMillis, streamsBackMillis);
        }
    }

    /**
     * Kills {@code node}; samples every 10 ms whether any worker leads, until every worker wrote two heartbeats
     * and the leader renewed the leader key since the kill (the KV streams answer again) and one leader has held
     * for 2 s (a leader whose lease ran out meanwhile has stepped down by then); asserts a leader again within
     * {@link #LEADER_AGAIN}.
     */
    private static Failover loseNode(TestGroup g, List<TestGroup.Member> ms, Map<String, AtomicLong> okHeartbeats,
                                     Map<String, AtomicLong> okElections, NatsServer node, String what) {
        TestGroup.Member before = await().atMost(LEADER_AGAIN).until(g::leader, java.util.Objects::nonNull);
        Map<String, Long> heartbeats = new HashMap<>();
        okHeartbeats.forEach((k, v) -> heartbeats.put(k, v.get()));
        Map<String, Long> elections = new HashMap<>();
        okElections.forEach((k, v) -> elections.put(k, v.get()));
        node.kill();
        long killedAt = System.nanoTime();
        long[] withoutLeader = {0};
        long[] lastSample = {killedAt};
        long[] leaderAgain = {-1};
        long[] heartbeatsBack = {-1};
        long[] electionsBack = {-1};
        long[] streamsBack = {-1};
        long[] settledSince = {-1};
        TestGroup.Member[] settledLeader = {null};
        await().atMost(LEADER_AGAIN.plusSeconds(30)).pollInterval(Duration.ofMillis(10)).until(() -> {
            long t = System.nanoTime();
            TestGroup.Member leader = g.leader();
            if (leader == null) {
                withoutLeader[0] += t - lastSample[0];
                leaderAgain[0] = -1;
            } else if (leaderAgain[0] < 0) {
                leaderAgain[0] = t - killedAt;
            }
            lastSample[0] = t;
            if (heartbeatsBack[0] < 0 && ms.stream().anyMatch(m -> okHeartbeats.get(m.owner()).get() > heartbeats.get(m.owner()))) {
                heartbeatsBack[0] = t - killedAt; // a heartbeat written since the kill
            }
            if (electionsBack[0] < 0 && ms.stream().anyMatch(m -> okElections.get(m.owner()).get() > elections.get(m.owner()))) {
                electionsBack[0] = t - killedAt; // a leader-key operation answered since the kill
            }
            streamsBack[0] = heartbeatsBack[0] < 0 || electionsBack[0] < 0 ? -1 : Math.max(heartbeatsBack[0], electionsBack[0]);
            // followers watch the leader key instead of reading it: the leader's renewal shows that its stream answers
            boolean answering = ms.stream().allMatch(m -> okHeartbeats.get(m.owner()).get() > heartbeats.get(m.owner()) + 2)
                    && leader != null && okElections.get(leader.owner()).get() > elections.get(leader.owner());
            if (!answering || leader == null || leader != settledLeader[0]) {
                settledLeader[0] = leader;
                settledSince[0] = answering && leader != null ? t : -1;
                return false;
            }
            return t - settledSince[0] >= 2_000_000_000L;
        });
        Failover failover = new Failover(what, g.leader() != before, withoutLeader[0] / 1_000_000, leaderAgain[0] / 1_000_000,
                streamsBack[0] / 1_000_000);
        System.out.println("[measure] " + failover);
        Duration bound = LEADER_AGAIN.compareTo(Duration.ofNanos(streamsBack[0]).plus(LEADER_AFTER_STREAMS_BACK)) >= 0
                ? LEADER_AGAIN : Duration.ofNanos(streamsBack[0]).plus(LEADER_AFTER_STREAMS_BACK);
        assertThat(Duration.ofNanos(leaderAgain[0])).as("a leader again after losing the %s (heartbeats written again %d ms "
                + "after the kill, leader-key operations %d ms)", what, heartbeatsBack[0] / 1_000_000, electionsBack[0] / 1_000_000)
                .isLessThanOrEqualTo(bound);
        return failover;
    }

    private static void assertNothingLost(TestGroup g, List<TestGroup.Member> ms, Map<String, String> ids,
                                          Map<String, Set<Partition>> owned, int eventsAtStart) {
        for (TestGroup.Member m : ms) {
            assertThat(m.id()).as("ID of %s kept", m.owner()).isEqualTo(ids.get(m.owner()));
            assertThat(m.manager.currentAssignment()).as("assignment of %s kept", m.owner()).isEqualTo(owned.get(m.owner()));
            assertThat(m.events).as("events of %s", m.owner()).noneMatch(e -> e.startsWith("lost"));
        }
        assertThat(g.ownership.events().subList(eventsAtStart, g.ownership.events().size()))
                .as("no partition acquired or released: nothing had to move").isEmpty();
        assertThat(g.overlaps).isEmpty();
    }

    private static long acquisitions(List<OwnershipEvent> events) {
        return events.stream().filter(e -> e.kind() == OwnershipEvent.Kind.ACQUIRED).count();
    }
}
