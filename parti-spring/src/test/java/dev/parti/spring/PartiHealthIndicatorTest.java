package dev.parti.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

/** Readiness and liveness from real workers: a core manager through a real NATS outage, and a real PartiConsumer. */
class PartiHealthIndicatorTest {

    @Test
    void managerIsReadyOnlyWhileASafeOwnerAndDeadOnlyOnceShutDown() {
        try (NatsServer nats = NatsServer.start()) {
            PartiManager m = new PartiManager(PartiConfig.builder("healthy").natsUrl(nats.url())
                    .partitionSource(() -> List.of(Partition.of("t", "0"), Partition.of("t", "1")))
                    .heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(1000))
                    .leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                    .coldStartWindow(Duration.ofMillis(200)).plannedScaleWindow(Duration.ofMillis(200))
                    .rebalanceCooldown(Duration.ofMillis(100)).startupTimeout(Duration.ofSeconds(10)).build(),
                    new AssignmentListener() { });
            PartiHealthIndicator readiness = PartiHealthIndicator.readiness(m);
            PartiHealthIndicator liveness = PartiHealthIndicator.liveness(m);
            try {
                assertThat(readiness.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
                assertThat(readiness.health().getDetails().get("reason")).isEqualTo("starting (INIT)");
                assertThat(liveness.health().getStatus()).isEqualTo(Status.UP);

                m.start();
                await().atMost(Duration.ofSeconds(10)).until(() -> m.state() == ManagerState.STABLE && m.currentAssignment().size() == 2);
                Health up = readiness.health();
                assertThat(up.getStatus()).as("%s", up).isEqualTo(Status.UP);
                @SuppressWarnings("unchecked")
                Map<String, Object> worker = ((List<Map<String, Object>>) up.getDetails().get("workers")).get(0);
                assertThat(worker).containsEntry("workerId", "w-0").containsEntry("state", "STABLE")
                        .containsEntry("leaseValid", true).containsEntry("leader", true).containsEntry("ownedPartitions", 2);

                nats.stop(); // NATS unreachable: not ready, but alive (a restart would not bring NATS back)
                await().atMost(Duration.ofSeconds(10)).until(() -> readiness.health().getStatus().equals(Status.OUT_OF_SERVICE));
                await().atMost(Duration.ofSeconds(10)).until(() -> m.state() == ManagerState.DEGRADED);
                assertThat(readiness.health().getDetails().get("reason")).isEqualTo("degraded: NATS unreachable or lease stale");
                assertThat(liveness.health().getStatus()).isEqualTo(Status.UP);

                nats.restart();
                await().atMost(Duration.ofSeconds(20)).until(() -> readiness.health().getStatus().equals(Status.UP));
            } finally {
                m.close();
            }
            assertThat(readiness.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
            assertThat(liveness.health().getStatus()).isEqualTo(Status.DOWN);
            assertThat(liveness.health().getDetails().get("reason")).isEqualTo("a Parti worker shut down");
        }
    }

    @Test
    void partiConsumerHealthComesFromItsMetrics() {
        try (NatsServer nats = NatsServer.start(); KafkaBroker kafka = KafkaBroker.start()) {
            kafka.createTopic("health", 2);
            Map<String, Object> props = new HashMap<>();
            props.put("bootstrap.servers", kafka.bootstrapServers());
            props.put("group.id", "health-group");
            props.put("client.id", "c1");
            props.put("parti.nats.url", nats.url());
            props.put("parti.heartbeat.interval.ms", 100);
            props.put("parti.session.timeout.ms", 2000);
            props.put("parti.leader.ttl.ms", 1000);
            props.put("parti.worker.id.ttl.ms", 4000);
            props.put("parti.cold.start.window.ms", 200);
            props.put("parti.planned.scale.window.ms", 200);
            props.put("parti.rebalance.cooldown.ms", 100);
            try (PartiConsumer<String, String> consumer = new PartiConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
                PartiHealthIndicator readiness = PartiHealthIndicator.readiness(() -> Map.of("c1", consumer.metrics()));
                PartiHealthIndicator liveness = PartiHealthIndicator.liveness(() -> Map.of("c1", consumer.metrics()));
                assertThat(readiness.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
                assertThat(readiness.health().getDetails().get("reason")).isEqualTo("not started");
                assertThat(liveness.health().getStatus()).isEqualTo(Status.UP);

                consumer.subscribe(List.of("health"));
                await().atMost(Duration.ofSeconds(30)).until(() -> {
                    consumer.poll(Duration.ofMillis(100));
                    return consumer.assignment().size() == 2;
                });
                Health up = readiness.health();
                assertThat(up.getStatus()).as("%s", up).isEqualTo(Status.UP);
                @SuppressWarnings("unchecked")
                Map<String, Object> worker = ((List<Map<String, Object>>) up.getDetails().get("workers")).get(0);
                assertThat(worker).containsEntry("clientId", "c1").containsEntry("state", "STABLE").containsEntry("leaseValid", true);
                assertThat(((Number) worker.get("ownedPartitions")).intValue()).isEqualTo(2);
            }
        }
    }
}
