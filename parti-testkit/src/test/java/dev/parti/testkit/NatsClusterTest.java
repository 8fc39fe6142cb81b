package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.nats.client.Connection;
import io.nats.client.KeyValue;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.ClusterInfo;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.Replica;
import io.nats.client.api.StorageType;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class NatsClusterTest {
  private static NatsCluster cluster;

  @BeforeAll
  static void startCluster() {
    cluster = NatsCluster.start(3);
  }

  @AfterAll
  static void closeCluster() {
    cluster.close();
  }

  @Test
  void connectStringListsEveryNodeAndTheNodesAgreeOnAMetaLeader() throws Exception {
    assertThat(cluster.connectString().split(",")).hasSize(3).containsExactlyElementsOf(cluster.urls());
    assertThat(cluster.metaLeader()).get().isIn("node-0", "node-1", "node-2");
    try (Connection nc = Nats.connect(cluster.connectString())) {
      assertThat(nc.getServers()).isNotEmpty();
      assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
    }
  }

  @Test
  void anR3BucketKeepsServingReadsAndWritesWhenItsLeaderIsKilledAndTheNodeRejoinsAfterRestart() throws Exception {
    Options options = Options.builder()
        .servers(cluster.urls().toArray(String[]::new))
        .connectionTimeout(Duration.ofSeconds(2))
        .reconnectWait(Duration.ofMillis(100))
        .maxReconnects(-1)
        .build();
    try (Connection nc = Nats.connect(options)) {
      nc.keyValueManagement().create(KeyValueConfiguration.builder()
          .name("r3").replicas(3).storageType(StorageType.File).build());
      KeyValue kv = nc.keyValue("r3");
      kv.put("k", bytes("before"));

      String leader = streamCluster(nc).getLeader();
      int leaderIndex = Integer.parseInt(leader.substring("node-".length()));
      NatsServer killed = cluster.node(leaderIndex);
      killed.kill();

      // nats-server elects a new stream leader after its raft election timeout (4 to 9 s on 2.9)
      await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
          .until(() -> kv.put("k", bytes("after")) > 0);
      assertThat(text(kv.get("k").getValue())).isEqualTo("after");
      assertThat(streamCluster(nc).getLeader()).isNotEqualTo(leader);

      killed.restart();
      cluster.awaitHealthy(Duration.ofSeconds(30));

      await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
        List<Replica> replicas = streamCluster(nc).getReplicas();
        assertThat(replicas).extracting(Replica::getName).contains(leader);
        assertThat(replicas).allSatisfy(r -> {
          assertThat(r.isOffline()).isFalse();
          assertThat(r.isCurrent()).isTrue();
        });
      });
      // KV gets are "direct gets" that any replica may answer: the restarted node serves the new value once caught up.
      try (Connection direct = Nats.connect(Options.builder().server(killed.url()).noRandomize().build())) {
        KeyValue viaRestarted = direct.keyValue("r3");
        await().atMost(Duration.ofSeconds(10))
            .until(() -> text(viaRestarted.get("k").getValue()).equals("after"));
      }
    }
  }

  private static ClusterInfo streamCluster(Connection nc) throws Exception {
    return nc.jetStreamManagement().getStreamInfo("KV_r3").getClusterInfo();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String text(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
