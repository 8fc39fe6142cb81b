package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.KvRejectedException;
import dev.parti.internal.KvGateway.KvUnavailableException;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, hole 9 (gateway side): every jnats failure leaves the gateway as one of its three
 * exception types, with a message naming the bucket, the key and the operation, so that no caller
 * is surprised by a raw {@link IllegalArgumentException} or {@link IllegalStateException} (which
 * escaped the roles' catch clauses and stalled the leader). Against a real nats-server.
 */
class KvGatewayErrorsTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final AtomicLong GROUPS = new AtomicLong();

    private static KvGateway provisioned(Connection nc, String prefix) {
        return TestBuckets.provisioned(nc, prefix + "-" + GROUPS.incrementAndGet(), Duration.ofMillis(500));
    }

    private static byte[] bytes(int n) {
        return "x".repeat(n).getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aKeyNatsRefusesIsRejectedNamingBucketKeyAndOperation() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = provisioned(nc, "bad-key");
            String bucket = kv.names().name(Bucket.IDS);
            for (String key : new String[] {"orders:1", "a b", "*", ""}) {
                assertThatThrownBy(() -> kv.create(Bucket.IDS, key, bytes(3))).as(key)
                        .isInstanceOf(KvRejectedException.class)
                        .hasMessageStartingWith(bucket + "/" + key + ": create refused by the client");
            }
            assertThatThrownBy(() -> kv.get(Bucket.IDS, "orders:1")).isInstanceOf(KvRejectedException.class)
                    .hasMessageContaining("/orders:1: get");
            assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
        }
    }

    @Test
    void aClosedConnectionIsUnavailableForEveryOperation() throws Exception {
        Connection nc = Nats.connect(nats.url());
        KvGateway kv = provisioned(nc, "closed");
        long rev = kv.create(Bucket.HEARTBEATS, "w-0", bytes(3));
        nc.close();
        assertThatThrownBy(() -> kv.update(Bucket.HEARTBEATS, "w-0", bytes(3), rev)).isInstanceOf(KvUnavailableException.class)
                .hasMessageContaining("/w-0: update failed").hasMessageContaining("Closed");
        assertThatThrownBy(() -> kv.create(Bucket.HEARTBEATS, "w-1", bytes(3))).isInstanceOf(KvUnavailableException.class);
        assertThatThrownBy(() -> kv.get(Bucket.HEARTBEATS, "w-0")).isInstanceOf(KvUnavailableException.class);
        assertThatThrownBy(() -> kv.delete(Bucket.HEARTBEATS, "w-0", rev)).isInstanceOf(KvUnavailableException.class);
        assertThatThrownBy(() -> kv.keys(Bucket.HEARTBEATS)).isInstanceOf(KvUnavailableException.class);
        assertThatThrownBy(() -> kv.watch(Bucket.HEARTBEATS, ">", e -> { })).isInstanceOf(KvUnavailableException.class);
        assertThatThrownBy(() -> provisioned(nc, "closed-again")).isInstanceOf(KvUnavailableException.class);
    }

    /**
     * Above the server's max payload: refused before sending, also on a connection whose client-side
     * checks are off (the server would otherwise close the connection: every worker on it goes down).
     */
    @Test
    void aValueAboveTheMaxPayloadIsRejectedBeforeSendingAndTheConnectionSurvives() throws Exception {
        Options unchecked = new Options.Builder().server(nats.url()).clientSideLimitChecks(false).build();
        try (Connection checked = Nats.connect(nats.url()); Connection nc = Nats.connect(unchecked)) {
            for (Connection c : new Connection[] {checked, nc}) {
                KvGateway kv = provisioned(c, "payload");
                int max = (int) c.getMaxPayload();
                assertThat(max).isPositive();
                assertThatThrownBy(() -> kv.create(Bucket.ASSIGNMENT, "current", bytes(max + 1)))
                        .isInstanceOf(KvRejectedException.class)
                        .hasMessageContaining(kv.names().name(Bucket.ASSIGNMENT) + "/current: create of " + (max + 1) + " bytes")
                        .hasMessageContaining("max payload of " + max);
                long rev = kv.create(Bucket.ASSIGNMENT, "current", bytes(10));
                assertThatThrownBy(() -> kv.update(Bucket.ASSIGNMENT, "current", bytes(max), rev))
                        .isInstanceOf(KvRejectedException.class).hasMessageContaining("update of " + max + " bytes");
                // the connection is still up and the key untouched
                assertThat(c.getStatus()).isEqualTo(Connection.Status.CONNECTED);
                assertThat(kv.get(Bucket.ASSIGNMENT, "current").revision()).isEqualTo(rev);
                assertThat(kv.update(Bucket.ASSIGNMENT, "current", bytes(max - KvGateway.HEADER_ALLOWANCE), rev)).isGreaterThan(rev);
            }
        }
    }

    /** A JetStream API error other than a lost compare-and-set, here a value-size limit an operator set on the bucket. */
    @Test
    void aServerRefusalIsRejectedAndALostCompareAndSetIsAConflict() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = provisioned(nc, "refusal");
            String name = kv.names().name(Bucket.ASSIGNMENT);
            KeyValueConfiguration cfg = nc.keyValueManagement().getStatus(name).getConfiguration();
            nc.keyValueManagement().update(KeyValueConfiguration.builder(cfg).maximumValueSize(100).build());
            assertThatThrownBy(() -> kv.create(Bucket.ASSIGNMENT, "current", bytes(200)))
                    .isInstanceOf(KvRejectedException.class)
                    .hasMessageStartingWith(name + "/current: create refused by the server");
            long rev = kv.create(Bucket.ASSIGNMENT, "current", bytes(10));
            assertThatThrownBy(() -> kv.update(Bucket.ASSIGNMENT, "current", bytes(10), rev - 1))
                    .isInstanceOf(CasConflictException.class).hasMessageContaining(name + "/current: update lost a compare-and-set");
            assertThatThrownBy(() -> kv.create(Bucket.ASSIGNMENT, "current", bytes(10))).isInstanceOf(CasConflictException.class);
        }
    }

    /** No server answers: a request timeout (IOException in jnats) is unavailability, not a refusal. */
    @Test
    void aServerThatIsGoneMakesCallsUnavailable() throws Exception {
        try (NatsServer server = NatsServer.start();
             Connection nc = Nats.connect(new Options.Builder().server(server.url()).maxReconnects(-1)
                     .reconnectWait(Duration.ofMillis(50)).build())) {
            KvGateway kv = provisioned(nc, "gone");
            long rev = kv.create(Bucket.LEADER, "leader", bytes(3));
            server.kill();
            assertThatThrownBy(() -> kv.update(Bucket.LEADER, "leader", bytes(3), rev)).isInstanceOf(KvUnavailableException.class)
                    .hasMessageContaining(kv.names().name(Bucket.LEADER) + "/leader: update failed");
            assertThatThrownBy(() -> kv.get(Bucket.LEADER, "leader")).isInstanceOf(KvUnavailableException.class);
            assertThatThrownBy(() -> kv.checkBuckets()).isInstanceOf(KvUnavailableException.class);
        }
    }

    /** A bucket deleted under the gateway: reads name it as missing (a type of its own), not as a generic refusal. */
    @Test
    void aDeletedBucketIsReportedMissingNamingIt() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = provisioned(nc, "deleted");
            String name = kv.names().name(Bucket.IDS);
            kv.create(Bucket.IDS, "a", bytes(3));
            nc.keyValueManagement().delete(name);
            assertThatThrownBy(() -> kv.get(Bucket.IDS, "a")).isInstanceOf(KvGateway.BucketMissingException.class)
                    .hasMessageStartingWith(name + "/a: get refused by the server, the bucket does not exist");
            assertThat(KvErrors.kindOf(catchThrowable(() -> kv.keys(Bucket.IDS)))).isEqualTo(dev.parti.KvErrorKind.BUCKET_MISSING);
            assertThat(kv.bucketExists(Bucket.IDS)).isFalse();
        }
    }
}
