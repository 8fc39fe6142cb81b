package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway;
import dev.parti.testkit.NatsCluster;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A 3-node JetStream cluster with R3 buckets: losing the node a worker is connected to, or the node
 * leading the KV stream, loses no ID, no leadership and no assignment. Timings here are longer
 * (session 12 s) because a JetStream stream-leader election takes seconds.
 */
class ClusterTest {
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
    void losingTheConnectedNodeOrTheKvStreamLeaderLosesNoIdLeadershipOrAssignment() throws Exception {
        List<Connection> conns = new ArrayList<>();
        Map<String, AtomicLong> okHeartbeats = new HashMap<>();
        try {
            for (int i = 0; i < 3; i++) {
                conns.add(connectPreferring(i));
            }
            TestGroup g = new TestGroup("cluster", cluster.connectString(), 12, b -> b);
            long t0 = System.nanoTime();
            List<TestGroup.Member> ms = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                AtomicLong ok = new AtomicLong();
                okHeartbeats.put("m" + (i + 1), ok);
                MetricsRecorder count = new MetricsRecorder() {
                    @Override
                    public void kvOperation(String op, boolean success) {
                        if (success && op.equals("heartbeat")) {
                            ok.incrementAndGet();
                        }
                    }
                };
                ms.add(g.start(PartiConfig.builder("cluster").connection(conns.get(i))
                        .partitionSource(() -> g.sourcePartitions).bucketReplicas(3)
                        .heartbeatInterval(Duration.ofMillis(500)).sessionTimeout(Duration.ofSeconds(12))
                        .leaderTtl(Duration.ofSeconds(10)).workerIdTtl(Duration.ofSeconds(30))
                        .coldStartWindow(Duration.ofMillis(500)).plannedScaleWindow(Duration.ofMillis(500))
                        .rebalanceCooldown(Duration.ofMillis(100)).metrics(count)));
            }
            g.awaitBalanced(Duration.ofSeconds(20));
            TestGroup.Member leader = g.leader();
            Map<String, String> ids = new HashMap<>();
            Map<String, Set<Partition>> owned = new HashMap<>();
            ms.forEach(m -> {
                ids.put(m.owner(), m.id());
                owned.put(m.owner(), m.manager.currentAssignment());
            });
            long version = leader.manager.assignmentVersion();

            // 1. kill the node worker m1 is connected to
            int node = nodeOf(conns.get(0).getConnectedUrl());
            assertThat(node).isGreaterThanOrEqualTo(0);
            cluster.node(node).kill();
            awaitEveryoneHeartbeatsAgain(ms, okHeartbeats);
            await().atMost(Duration.ofSeconds(20)).until(() -> conns.get(0).getStatus() == Connection.Status.CONNECTED
                    && nodeOf(conns.get(0).getConnectedUrl()) != node);
            assertNothingLost(g, ms, leader, ids, owned, version);
            cluster.node(node).restart();
            cluster.awaitHealthy(Duration.ofSeconds(30));

            // 2. kill the node leading the heartbeats KV stream
            String stream = "KV_" + new BucketNames("cluster").name(KvGateway.Bucket.HEARTBEATS);
            String leaderName = conns.get(1).jetStreamManagement().getStreamInfo(stream).getClusterInfo().getLeader();
            NatsServer streamLeader = cluster.nodes().stream()
                    .filter(n -> n.serverName().map(leaderName::equals).orElse(false)).findFirst().orElseThrow();
            streamLeader.kill();
            awaitEveryoneHeartbeatsAgain(ms, okHeartbeats);
            assertNothingLost(g, ms, leader, ids, owned, version);
            streamLeader.restart();

            g.checkOwnership(t0, Duration.ofSeconds(14)).assertClean();
            g.close();
        } finally {
            for (Connection c : conns) {
                c.close();
            }
        }
    }

    private static void awaitEveryoneHeartbeatsAgain(List<TestGroup.Member> ms, Map<String, AtomicLong> ok) {
        Map<String, Long> now = new HashMap<>();
        ok.forEach((k, v) -> now.put(k, v.get()));
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() ->
                ms.stream().allMatch(m -> ok.get(m.owner()).get() > now.get(m.owner()) + 2));
    }

    private static void assertNothingLost(TestGroup g, List<TestGroup.Member> ms, TestGroup.Member leader,
                                          Map<String, String> ids, Map<String, Set<Partition>> owned, long version) {
        assertThat(leader.manager.isLeader()).as("leadership kept").isTrue();
        for (TestGroup.Member m : ms) {
            assertThat(m.id()).as("ID of %s kept", m.owner()).isEqualTo(ids.get(m.owner()));
            assertThat(m.manager.currentAssignment()).as("assignment of %s kept", m.owner()).isEqualTo(owned.get(m.owner()));
            assertThat(m.manager.assignmentVersion()).isEqualTo(version);
            assertThat(m.events).noneMatch(e -> e.startsWith("lost"));
        }
        assertThat(g.overlaps).isEmpty();
    }
}
