package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.kafka.Fixtures;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.testkit.NatsServerExtension;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.KafkaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link PartiPresence} on a real nats-server: what the rolling migration reads to tell whether Parti already runs a
 * group (its live workers), and that an unreachable NATS is an error, never "nobody there".
 */
class PartiPresenceTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Test
    void theLiveWorkersAreThoseOfTheGroupThatHaveJoinedAndNotLeft() {
        String group = "presence-" + System.nanoTime();
        PartiPresence presence = new PartiPresence(group, new PartiConsumerConfig(Fixtures.partiFast(NATS.url())));
        assertThat(presence.liveWorkers()).as("a group that never ran on Parti").isEmpty();

        PartiConfig config = new PartiConsumerConfig(Fixtures.partiFast(NATS.url())).partiConfigBuilder(group).workerId("w-1")
                .partitionSource(() -> List.of(Partition.of("p-0"))).build();
        PartiManager worker = new PartiManager(config, new dev.parti.AssignmentListener() { });
        try {
            worker.start();
            assertThat(presence.liveWorkers()).as("after its join").containsExactly("w-1");
            assertThat(new PartiPresence("other-" + group, new PartiConsumerConfig(Fixtures.partiFast(NATS.url()))).liveWorkers())
                    .as("another group").isEmpty();
        } finally {
            worker.close();
        }
        assertThat(presence.liveWorkers()).as("after it left").isEmpty();
    }

    /**
     * What tells a running group from keys its stopped workers left: a worker that runs writes its heartbeat every
     * interval; a key nobody writes any more (here written once by hand, as a worker stopped less than a session ago
     * leaves it) is not renewed.
     */
    @Test
    void aRunningWorkerRenewsItsHeartbeatAKeyLeftBehindIsNotRenewed() throws Exception {
        String group = "renewal-" + System.nanoTime();
        PartiPresence presence = new PartiPresence(group, new PartiConsumerConfig(Fixtures.partiFast(NATS.url())));
        assertThat(presence.workersRenewHeartbeats()).as("a group that never ran on Parti").isFalse();

        PartiConfig config = new PartiConsumerConfig(Fixtures.partiFast(NATS.url())).partiConfigBuilder(group).workerId("w-1")
                .partitionSource(() -> List.of(Partition.of("p-0"))).build();
        PartiManager worker = new PartiManager(config, new dev.parti.AssignmentListener() { });
        try {
            worker.start();
            assertThat(presence.workersRenewHeartbeats()).as("while w-1 runs").isTrue();
        } finally {
            worker.close();
        }
        try (io.nats.client.Connection nc = io.nats.client.Nats.connect(NATS.url())) {
            nc.keyValue(new dev.parti.internal.BucketNames(group).name(dev.parti.internal.KvGateway.Bucket.HEARTBEATS))
                    .put("w-2", new byte[] {1});
        }
        assertThat(presence.liveWorkers()).as("the key left behind").containsExactly("w-2");
        assertThat(presence.workersRenewHeartbeats()).as("nobody writes it").isFalse();
    }

    @Test
    void anUnreachableNatsIsAnErrorNamingTheGroup() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Map<String, Object> settings = Fixtures.partiFast("nats://127.0.0.1:" + port);
        settings.put(PartiConsumerConfig.STARTUP_TIMEOUT_MS_CONFIG, 500);
        PartiPresence presence = new PartiPresence("g-unreachable", new PartiConsumerConfig(settings));
        assertThatThrownBy(presence::liveWorkers).isInstanceOf(KafkaException.class).hasMessageContaining("g-unreachable")
                .hasMessageContaining(String.valueOf(port));
        assertThatThrownBy(presence::workersRenewHeartbeats).isInstanceOf(KafkaException.class)
                .hasMessageContaining("g-unreachable").hasMessageContaining(String.valueOf(port));
    }
}
