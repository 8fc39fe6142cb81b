package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.testkit.NatsServerExtension;
import java.net.ServerSocket;
import java.util.HashMap;
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
        PartiPresence presence = new PartiPresence(group, new PartiConsumerConfig(settings(NATS.url())));
        assertThat(presence.liveWorkers()).as("a group that never ran on Parti").isEmpty();

        PartiConfig config = new PartiConsumerConfig(settings(NATS.url())).partiConfigBuilder(group).workerId("w-1")
                .partitionSource(() -> List.of(Partition.of("p-0"))).build();
        PartiManager worker = new PartiManager(config, new dev.parti.AssignmentListener() { });
        try {
            worker.start();
            assertThat(presence.liveWorkers()).as("after its join").containsExactly("w-1");
            assertThat(new PartiPresence("other-" + group, new PartiConsumerConfig(settings(NATS.url()))).liveWorkers())
                    .as("another group").isEmpty();
        } finally {
            worker.close();
        }
        assertThat(presence.liveWorkers()).as("after it left").isEmpty();
    }

    @Test
    void anUnreachableNatsIsAnErrorNamingTheGroup() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Map<String, Object> settings = settings("nats://127.0.0.1:" + port);
        settings.put(PartiConsumerConfig.STARTUP_TIMEOUT_MS_CONFIG, 500);
        PartiPresence presence = new PartiPresence("g-unreachable", new PartiConsumerConfig(settings));
        assertThatThrownBy(presence::liveWorkers).isInstanceOf(KafkaException.class).hasMessageContaining("g-unreachable")
                .hasMessageContaining(String.valueOf(port));
    }

    private static Map<String, Object> settings(String natsUrl) {
        Map<String, Object> m = new HashMap<>();
        m.put(PartiConsumerConfig.NATS_URL_CONFIG, natsUrl);
        m.put("parti.heartbeat.interval.ms", 100);
        m.put("parti.session.timeout.ms", 2000);
        m.put("parti.leader.ttl.ms", 1000);
        m.put("parti.worker.id.ttl.ms", 4000);
        m.put("parti.cold.start.window.ms", 300);
        m.put("parti.planned.scale.window.ms", 300);
        m.put("parti.rebalance.cooldown.ms", 100);
        return m;
    }
}
