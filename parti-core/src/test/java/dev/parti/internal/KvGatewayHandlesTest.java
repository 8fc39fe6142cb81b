package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19 (a returning static member's join): the workers of a JVM share its NATS connection, and a worker that
 * provisions the group's buckets after another on the same connection reuses the jnats handles instead of reading
 * every bucket stream's info again (one request per bucket fewer). Counted in messages the connection sent.
 */
class KvGatewayHandlesTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static Map<Bucket, Duration> ttls() {
        Map<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, Duration.ofSeconds(30));
        ttls.put(Bucket.HEARTBEATS, Duration.ofSeconds(6));
        ttls.put(Bucket.LEADER, Duration.ofSeconds(3));
        return ttls;
    }

    private static long provisionCost(Connection conn, String group, Duration requestTimeout) {
        long before = conn.getStatistics().getOutMsgs();
        KvGateway kv = new KvGateway(conn, new BucketNames(group), requestTimeout);
        kv.provision(ttls(), 1);
        long sent = conn.getStatistics().getOutMsgs() - before;
        kv.create(Bucket.IDS, "probe-" + System.nanoTime(), new byte[] {1}); // the handles work
        return sent;
    }

    @Test
    void aLaterWorkerOnTheSameConnectionReadsEachBucketsStatusButOpensNoHandleAgain() throws Exception {
        try (Connection first = Nats.connect(NATS.url()); Connection second = Nats.connect(NATS.url())) {
            provisionCost(first, "handles-a", Duration.ofSeconds(2)); // creates the buckets, opens the handles
            long again = provisionCost(first, "handles-a", Duration.ofSeconds(2));
            provisionCost(second, "handles-b", Duration.ofSeconds(2)); // the connection's one-time JetStream set-up
            long fresh = provisionCost(second, "handles-a", Duration.ofSeconds(2));
            long otherTimeout = provisionCost(first, "handles-a", Duration.ofSeconds(3));
            assertThat(fresh - again).as("requests saved on a connection that opened the handles already "
                    + "(%d there, %d on a fresh connection)", again, fresh).isEqualTo(Bucket.values().length);
            assertThat(otherTimeout).as("a handle with another request timeout is opened anew").isEqualTo(fresh);
        }
    }
}
