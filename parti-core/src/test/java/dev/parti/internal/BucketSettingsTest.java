package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.PartiConfig;
import dev.parti.PartiException;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.BucketMismatchException;
import dev.parti.internal.KvGateway.BucketProblem;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.KeyValueManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.StorageType;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, hole 2: a bucket that already exists with other settings was used as it was (JetStream
 * error 10058 only logged), so heartbeats expired on the bucket's TTL while workers computed their
 * leases from their own. Now a shorter TTL is raised (safe for every worker), and settings that
 * cannot be reconciled safely refuse the start with the bucket, the setting and both values. Also: a
 * bucket deleted, re-created or changed under a running group is visible ({@link KvGateway#checkBuckets}).
 * Each bucket is created first by plain jnats, as an operator or an older release would have.
 */
class BucketSettingsTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final AtomicLong GROUPS = new AtomicLong();

    private static Map<Bucket, Duration> ttls(Duration session) {
        EnumMap<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, Duration.ofSeconds(30));
        ttls.put(Bucket.HEARTBEATS, session);
        ttls.put(Bucket.LEADER, Duration.ofSeconds(3));
        return ttls;
    }

    /** Creates a bucket the way someone else would have: plain jnats, with the given settings. */
    private static void precreate(Connection nc, String name, Duration ttl, int history, StorageType storage) throws Exception {
        KeyValueConfiguration.Builder b = KeyValueConfiguration.builder().name(name).maxHistoryPerKey(history)
                .storageType(storage).replicas(1);
        if (ttl != null) {
            b.ttl(ttl);
        }
        nc.keyValueManagement().create(b.build());
    }

    private static KeyValueConfiguration config(Connection nc, String name) throws Exception {
        return nc.keyValueManagement().getStatus(name).getConfiguration();
    }

    private static String group(String prefix) {
        return prefix + "-" + GROUPS.incrementAndGet();
    }

    @Test
    void aBucketWithAShorterTtlIsRaisedToThisWorkersAndOtherSafeSettingsAreReconciled() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            BucketNames names = new BucketNames(group("raise"));
            String heartbeats = names.name(Bucket.HEARTBEATS);
            String assignment = names.name(Bucket.ASSIGNMENT);
            precreate(nc, heartbeats, Duration.ofSeconds(2), 5, StorageType.File);
            precreate(nc, assignment, Duration.ofSeconds(60), 1, StorageType.File); // the assignment must never expire

            KvGateway kv = new KvGateway(nc, names, Duration.ofSeconds(2));
            kv.provision(ttls(Duration.ofSeconds(6)), 1);

            assertThat(config(nc, heartbeats).getTtl()).isEqualTo(Duration.ofSeconds(6));
            assertThat(config(nc, heartbeats).getMaxHistoryPerKey()).isEqualTo(1);
            assertThat(config(nc, assignment).getTtl()).isEqualTo(Duration.ZERO);
            assertThat(kv.checkBuckets()).isEmpty();
            // and it is still the same bucket, usable
            long rev = kv.create(Bucket.HEARTBEATS, "w-0", new byte[] {1});
            assertThat(kv.get(Bucket.HEARTBEATS, "w-0").revision()).isEqualTo(rev);
        }
    }

    @Test
    void aBucketWithALongerTtlRefusesTheStartNamingBucketSettingAndBothValues() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            BucketNames names = new BucketNames(group("longer"));
            String heartbeats = names.name(Bucket.HEARTBEATS);
            precreate(nc, heartbeats, Duration.ofSeconds(30), 1, StorageType.File);

            KvGateway kv = new KvGateway(nc, names, Duration.ofSeconds(2));
            assertThatThrownBy(() -> kv.provision(ttls(Duration.ofSeconds(6)), 1))
                    .isInstanceOfSatisfying(BucketMismatchException.class, e -> {
                        assertThat(e.bucket()).isEqualTo(Bucket.HEARTBEATS);
                        assertThat(e.setting()).isEqualTo("TTL");
                        assertThat(e.actual()).isEqualTo("30 s");
                        assertThat(e.wanted()).isEqualTo("sessionTimeout 6 s");
                    })
                    .hasMessageStartingWith("bucket " + heartbeats + " has TTL 30 s but this worker needs sessionTimeout 6 s");
            assertThat(config(nc, heartbeats).getTtl()).as("left alone").isEqualTo(Duration.ofSeconds(30));
        }
    }

    @Test
    void otherReplicasOrStorageRefuseTheStart() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            BucketNames names = new BucketNames(group("replicas"));
            precreate(nc, names.name(Bucket.IDS), Duration.ofSeconds(30), 1, StorageType.File);
            assertThatThrownBy(() -> new KvGateway(nc, names, Duration.ofSeconds(2)).provision(ttls(Duration.ofSeconds(6)), 3))
                    .isInstanceOf(BucketMismatchException.class)
                    .hasMessageContaining("bucket " + names.name(Bucket.IDS) + " has replicas 1 but this worker needs bucketReplicas 3");

            BucketNames memory = new BucketNames(group("storage"));
            precreate(nc, memory.name(Bucket.LEADER), Duration.ofSeconds(3), 1, StorageType.Memory);
            assertThatThrownBy(() -> new KvGateway(nc, memory, Duration.ofSeconds(2)).provision(ttls(Duration.ofSeconds(6)), 1))
                    .isInstanceOf(BucketMismatchException.class)
                    .hasMessageContaining("bucket " + memory.name(Bucket.LEADER) + " has storage memory but this worker needs file");
        }
    }

    /** What a user sees: start() fails with the bucket, the setting and both values. */
    @Test
    void aManagerRefusesToStartOnAHeartbeatBucketWithALongerTtl() throws Exception {
        String group = group("manager");
        try (Connection nc = Nats.connect(nats.url())) {
            precreate(nc, new BucketNames(group).name(Bucket.HEARTBEATS), Duration.ofSeconds(20), 1, StorageType.File);
        }
        PartiConfig config = PartiConfig.builder(group).natsUrl(nats.url())
                .partitionSource(() -> List.of(Partition.of("t", "0")))
                .heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofSeconds(1)).leaderTtl(Duration.ofMillis(800))
                .workerIdTtl(Duration.ofSeconds(3)).startupTimeout(Duration.ofSeconds(5)).build();
        try (PartiManager m = new PartiManager(config, new AssignmentListener() { })) {
            assertThatThrownBy(m::start).isInstanceOf(PartiException.class)
                    .hasMessageContaining(new BucketNames(group).name(Bucket.HEARTBEATS))
                    .hasMessageContaining("TTL 20 s").hasMessageContaining("sessionTimeout 1 s");
        }
    }

    @Test
    void aBucketDeletedRecreatedOrShortenedUnderARunningGroupIsSeenAndARestartIsNot() throws Exception {
        try (NatsServer server = NatsServer.start();
             Connection nc = Nats.connect(new Options.Builder().server(server.url()).maxReconnects(-1)
                     .reconnectWait(Duration.ofMillis(50)).build())) {
            BucketNames names = new BucketNames(group("identity"));
            KvGateway kv = new KvGateway(nc, names, Duration.ofSeconds(2));
            Map<Bucket, Duration> ttls = ttls(Duration.ofSeconds(6));
            kv.provision(ttls, 1);
            assertThat(kv.checkBuckets()).isEmpty();

            // a restart of the server keeps the streams and their creation times: no false alarm
            server.kill();
            server.restart();
            await().atMost(Duration.ofSeconds(10)).until(() -> nc.getStatus() == Connection.Status.CONNECTED);
            await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> kv.checkBuckets().isEmpty());

            KeyValueManagement kvm = nc.keyValueManagement();
            kvm.delete(names.name(Bucket.LEADER));
            assertThat(kv.checkBuckets()).singleElement().satisfies(p -> {
                assertThat(p.bucket()).isEqualTo(Bucket.LEADER);
                assertThat(p.kind()).isEqualTo(BucketProblem.Kind.DELETED);
                assertThat(p.detail()).contains(names.name(Bucket.LEADER));
            });

            // somebody else's start re-created it: same name, new identity
            new KvGateway(nc, names, Duration.ofSeconds(2)).provision(ttls, 1);
            assertThat(kv.checkBuckets()).singleElement().satisfies(p -> {
                assertThat(p.bucket()).isEqualTo(Bucket.LEADER);
                assertThat(p.kind()).isEqualTo(BucketProblem.Kind.RECREATED);
            });
            // provisioning again adopts the new identity
            kv.provision(ttls, 1);
            assertThat(kv.checkBuckets()).isEmpty();

            // an operator shortens the heartbeat TTL below this worker's session
            String heartbeats = names.name(Bucket.HEARTBEATS);
            kvm.update(KeyValueConfiguration.builder(config(nc, heartbeats)).ttl(Duration.ofSeconds(2)).build());
            assertThat(kv.checkBuckets()).singleElement().satisfies(p -> {
                assertThat(p.kind()).isEqualTo(BucketProblem.Kind.SETTING_CHANGED);
                assertThat(p.detail()).contains(heartbeats).contains("TTL 2 s").contains("sessionTimeout 6 s");
            });
            // while a longer one (another worker raised it) is no problem
            kvm.update(KeyValueConfiguration.builder(config(nc, heartbeats)).ttl(Duration.ofSeconds(10)).build());
            assertThat(kv.checkBuckets()).isEmpty();
        }
    }
}
