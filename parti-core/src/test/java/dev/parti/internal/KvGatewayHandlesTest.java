package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.KvUnavailableException;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19 (a returning static member's join): the workers of a JVM share its NATS connection. A worker that
 * provisions the group's buckets after another on the same connection reuses the jnats handles, and, within one
 * worker-ID TTL of the other's status reads and with the same settings, those reads too. Counted in messages the
 * connection sent.
 */
class KvGatewayHandlesTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static Map<Bucket, Duration> ttls(Duration idTtl) {
        Map<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, idTtl);
        ttls.put(Bucket.HEARTBEATS, Duration.ofSeconds(6));
        ttls.put(Bucket.LEADER, Duration.ofSeconds(3));
        return ttls;
    }

    private static long provisionCost(Connection conn, String group, Duration requestTimeout) {
        return provisionCost(conn, group, requestTimeout, Duration.ofSeconds(60));
    }

    private static long provisionCost(Connection conn, String group, Duration requestTimeout, Duration idTtl) {
        long before = conn.getStatistics().getOutMsgs();
        KvGateway kv = new KvGateway(conn, new BucketNames(group), requestTimeout);
        kv.provision(ttls(idTtl), 1);
        long sent = conn.getStatistics().getOutMsgs() - before;
        kv.create(Bucket.IDS, "probe-" + System.nanoTime(), new byte[] {1}); // the handles work
        return sent;
    }

    @Test
    void aLaterWorkerOnTheSameConnectionWithinAWorkerIdTtlSendsNoRequestToProvision() throws Exception {
        try (Connection first = Nats.connect(NATS.url()); Connection second = Nats.connect(NATS.url())) {
            provisionCost(first, "handles-a", Duration.ofSeconds(2)); // creates the buckets, opens the handles
            long again = provisionCost(first, "handles-a", Duration.ofSeconds(2));
            provisionCost(second, "handles-b", Duration.ofSeconds(2)); // the connection's one-time JetStream set-up
            long fresh = provisionCost(second, "handles-a", Duration.ofSeconds(2));
            long otherTimeout = provisionCost(first, "handles-a", Duration.ofSeconds(3));
            int buckets = Bucket.values().length;
            assertThat(fresh).as("a fresh connection reads each bucket's status and opens each handle").isEqualTo(2L * buckets);
            assertThat(again).as("requests on a connection whose worker provisioned the same buckets moments ago").isZero();
            assertThat(otherTimeout).as("a handle with another request timeout is opened anew, the statuses are not read again")
                    .isEqualTo(buckets);
        }
    }

    @Test
    void otherSettingsOrAnOlderReadAreReadAgain() throws Exception {
        try (Connection conn = Nats.connect(NATS.url())) {
            provisionCost(conn, "handles-c", Duration.ofSeconds(2), Duration.ofSeconds(60));
            long longerIdTtl = provisionCost(conn, "handles-c", Duration.ofSeconds(2), Duration.ofSeconds(90));
            assertThat(longerIdTtl).as("another worker-ID TTL reads (and raises) the ID bucket's TTL").isPositive();
            provisionCost(conn, "handles-d", Duration.ofSeconds(2), Duration.ofMillis(300));
            long before = System.nanoTime();
            org.awaitility.Awaitility.await().until(() -> System.nanoTime() - before > Duration.ofMillis(300).toNanos());
            long afterAnIdTtl = provisionCost(conn, "handles-d", Duration.ofSeconds(2), Duration.ofMillis(300));
            assertThat(afterAnIdTtl).as("statuses read more than a worker-ID TTL ago are read again")
                    .isEqualTo(Bucket.values().length);
        }
    }

    @Test
    void aBucketDeletedSinceAnotherWorkerReadItIsCreatedAgainByTheFirstCallThatFailsOnIt() throws Exception {
        try (Connection conn = Nats.connect(NATS.url())) {
            provisionCost(conn, "handles-e", Duration.ofSeconds(1));
            conn.keyValueManagement().delete(new BucketNames("handles-e").name(Bucket.IDS));
            KvGateway kv = new KvGateway(conn, new BucketNames("handles-e"), Duration.ofSeconds(1));
            kv.provision(ttls(Duration.ofSeconds(60)), 1); // from what the first worker read: the deletion is not seen
            assertThatThrownBy(() -> kv.create(Bucket.IDS, "w-0", new byte[] {1}))
                    .as("the first call on the deleted bucket fails as retryable").isInstanceOf(KvUnavailableException.class);
            assertThat(kv.bucketExists(Bucket.IDS)).as("and the bucket was created again").isTrue();
            assertThat(kv.create(Bucket.IDS, "w-0", new byte[] {1})).as("so the retry succeeds").isPositive();
        }
    }
}
