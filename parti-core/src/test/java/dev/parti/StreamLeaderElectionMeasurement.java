package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsCluster;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.ClusterInfo;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.KeyValueOptions;
import io.nats.client.api.Replica;
import io.nats.client.api.StorageType;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Issue 20's measurement, not part of the normal build (enabled only with {@code -Dcluster.kills=N}): how long
 * an R3 KV stream of nats-server 2.9 refuses writes after its stream-leader node is killed (kill -9) on a
 * 3-node cluster of this machine, over N kills. A writer does a CAS update every 20 ms with a 500 ms request
 * timeout from a client connected to every node; per kill it records the time from the kill to the first
 * successful write, and which errors it saw meanwhile. The node is restarted and the stream fully current
 * again before the next kill.
 *
 * <pre>
 * ./mvnw -B -ntp -q -pl parti-core -am test -Dtest=StreamLeaderElectionMeasurement \
 *     -Dsurefire.failIfNoSpecifiedTests=false -Dcluster.kills=20
 * </pre>
 * It prints one {@code [measure]} line per kill and a summary (min / median / p90 / max).
 */
@EnabledIfSystemProperty(named = "cluster.kills", matches = "\\d+")
class StreamLeaderElectionMeasurement {
    private static final String BUCKET = "election_probe";

    @Test
    void writeUnavailabilityAfterKillingTheKvStreamLeader() throws Exception {
        int kills = Integer.getInteger("cluster.kills");
        List<Long> outageMillis = new ArrayList<>();
        List<Long> metaLeaderKills = new ArrayList<>();
        Map<String, Integer> errors = new TreeMap<>();
        try (NatsCluster cluster = NatsCluster.start(3);
             Connection nc = Nats.connect(new Options.Builder().servers(cluster.urls().toArray(String[]::new))
                     .maxReconnects(-1).reconnectWait(Duration.ofMillis(100)).pingInterval(Duration.ofMillis(500))
                     .connectionTimeout(Duration.ofSeconds(2)).build())) {
            nc.keyValueManagement().create(KeyValueConfiguration.builder().name(BUCKET).replicas(3)
                    .storageType(StorageType.File).ttl(Duration.ofSeconds(10)).build());
            KeyValue kv = nc.keyValue(BUCKET, KeyValueOptions.builder().jsRequestTimeout(Duration.ofMillis(500)).build());
            long revision = kv.create("k", bytes(0));
            for (int kill = 0; kill < kills; kill++) {
                String leaderName = awaitFullyCurrent(nc);
                NatsServer victim = cluster.nodes().stream()
                        .filter(n -> n.serverName().map(leaderName::equals).orElse(false)).findFirst().orElseThrow();
                boolean wasMetaLeader = cluster.metaLeader().map(leaderName::equals).orElse(false);
                victim.kill();
                long killedAt = System.nanoTime();
                long written = -1;
                while (written < 0) {
                    try {
                        revision = kv.update("k", bytes(kill), revision);
                        written = System.nanoTime();
                    } catch (JetStreamApiException e) {
                        errors.merge("api " + e.getApiErrorCode() + "/" + e.getErrorCode(), 1, Integer::sum);
                        if (e.getApiErrorCode() == 10071) { // wrong last sequence: a write of ours whose reply was lost
                            revision = kv.get("k").getRevision();
                        }
                    } catch (java.io.IOException | RuntimeException e) {
                        errors.merge(e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()), 1, Integer::sum);
                    }
                    if (written < 0) {
                        Thread.sleep(20);
                    }
                    assertThat(System.nanoTime() - killedAt).as("writes resumed within 60 s").isLessThan(60_000_000_000L);
                }
                long millis = (written - killedAt) / 1_000_000;
                outageMillis.add(millis);
                if (wasMetaLeader) {
                    metaLeaderKills.add(millis);
                }
                System.out.printf(Locale.ROOT, "[measure] kill %d of %s (meta leader too: %s): writes refused for %d ms%n",
                        kill + 1, leaderName, wasMetaLeader, millis);
                victim.restart();
                cluster.awaitHealthy(Duration.ofSeconds(60));
            }
        }
        List<Long> sorted = new ArrayList<>(outageMillis);
        Collections.sort(sorted);
        System.out.printf(Locale.ROOT, "[measure] R3 KV stream-leader kill -9, %d kills: write outage ms min %d median %d "
                        + "p90 %d max %d; sorted %s; kills that also hit the meta leader: %s; errors seen: %s%n",
                sorted.size(), sorted.get(0), sorted.get(sorted.size() / 2), sorted.get((int) Math.ceil(sorted.size() * 0.9) - 1),
                sorted.get(sorted.size() - 1), sorted, metaLeaderKills, errors);
    }

    /** Waits until the probe stream has a leader and every replica is current; returns the leader's name. */
    private static String awaitFullyCurrent(Connection nc) {
        return await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).ignoreExceptions().until(() -> {
            ClusterInfo info = nc.jetStreamManagement().getStreamInfo("KV_" + BUCKET).getClusterInfo();
            if (info.getLeader() == null || info.getReplicas() == null || info.getReplicas().size() != 2) {
                return null;
            }
            for (Replica r : info.getReplicas()) {
                if (!r.isCurrent() || r.isOffline()) {
                    return null;
                }
            }
            return info.getLeader();
        }, java.util.Objects::nonNull);
    }

    private static byte[] bytes(int n) {
        return Integer.toString(n).getBytes(StandardCharsets.UTF_8);
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "";
        }
        int nl = message.indexOf('\n');
        String line = nl < 0 ? message : message.substring(0, nl);
        return line.length() > 80 ? line.substring(0, 80) : line;
    }
}
