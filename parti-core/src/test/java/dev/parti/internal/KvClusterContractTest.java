package dev.parti.internal;

import dev.parti.testkit.NatsCluster;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * {@link KvContract} against a real 3-node nats-server cluster with R3 buckets, through {@link KvGateway}: the
 * model must not drift from what a replicated KV does either (revisions, CAS refusals, TTL expiry).
 */
class KvClusterContractTest extends KvContract {
    private static final AtomicInteger GROUPS = new AtomicInteger();
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

    @Override
    void run(Case c) throws Exception {
        Options options = new Options.Builder().servers(cluster.urls().toArray(new String[0])).build();
        try (Connection conn = Nats.connect(options)) {
            KvGateway kv = new KvGateway(conn, new BucketNames("contract-r3-" + GROUPS.incrementAndGet()), Duration.ofSeconds(5));
            kv.provision(ttls(), 3);
            c.run(realTime(kv));
        }
    }
}
