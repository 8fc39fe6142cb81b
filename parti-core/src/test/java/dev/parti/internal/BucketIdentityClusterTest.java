package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.BucketProblem;
import dev.parti.testkit.NatsCluster;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link KvGateway#checkBuckets} on a 3-node cluster with R3 buckets: the stream leader of a bucket
 * crashing (its stream leadership moves to another node) is not taken for a re-created bucket, while
 * deleting the bucket and creating it again is.
 */
class BucketIdentityClusterTest {
    @Test
    void aStreamLeaderChangeIsNotARecreationButADeleteAndCreateIs() throws Exception {
        try (NatsCluster cluster = NatsCluster.start(3)) {
            cluster.awaitHealthy(Duration.ofSeconds(30));
            try (Connection nc = Nats.connect(new Options.Builder().servers(cluster.urls().toArray(new String[0]))
                    .maxReconnects(-1).reconnectWait(Duration.ofMillis(50)).build())) {
                BucketNames names = new BucketNames("identity-cluster");
                KvGateway kv = new KvGateway(nc, names, Duration.ofSeconds(2));
                EnumMap<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
                ttls.put(Bucket.IDS, Duration.ofSeconds(30));
                ttls.put(Bucket.HEARTBEATS, Duration.ofSeconds(6));
                ttls.put(Bucket.LEADER, Duration.ofSeconds(3));
                await().atMost(Duration.ofSeconds(20)).ignoreExceptions().untilAsserted(() -> kv.provision(ttls, 3));
                assertThat(kv.checkBuckets()).isEmpty();

                String heartbeats = names.name(Bucket.HEARTBEATS);
                String leader = nc.keyValueManagement().getStatus(heartbeats).getBackingStreamInfo().getClusterInfo().getLeader();
                NatsServer node = cluster.nodes().stream().filter(n -> n.serverName().orElse("").equals(leader)).findFirst()
                        .orElseThrow(() -> new AssertionError("no node named " + leader));
                node.kill();
                await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
                    String now = nc.keyValueManagement().getStatus(heartbeats).getBackingStreamInfo().getClusterInfo().getLeader();
                    return now != null && !now.equals(leader);
                });
                // other streams may still be electing their leader (unavailable: nothing known); the first answer must be "same buckets"
                List<BucketProblem> afterMove = await().atMost(Duration.ofSeconds(30))
                        .ignoreExceptionsInstanceOf(KvGateway.KvUnavailableException.class).until(kv::checkBuckets, p -> true);
                assertThat(afterMove).as("after the stream leader moved off " + leader).isEmpty();
                node.restart();
                cluster.awaitHealthy(Duration.ofSeconds(30));
                await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> kv.checkBuckets().isEmpty());

                nc.keyValueManagement().delete(heartbeats);
                // somebody else's start (another process: its own connection; a worker on this JVM's connection would
                // take the buckets as this one read them, KvGatewayHandlesTest) re-created it: same name, new identity
                try (Connection other = Nats.connect(new Options.Builder().servers(cluster.urls().toArray(new String[0])).build())) {
                    new KvGateway(other, names, Duration.ofSeconds(2)).provision(ttls, 3);
                }
                List<BucketProblem> problems = kv.checkBuckets();
                assertThat(problems).singleElement().satisfies(p -> {
                    assertThat(p.bucket()).isEqualTo(Bucket.HEARTBEATS);
                    assertThat(p.kind()).isEqualTo(BucketProblem.Kind.RECREATED);
                });
            }
        }
    }
}
