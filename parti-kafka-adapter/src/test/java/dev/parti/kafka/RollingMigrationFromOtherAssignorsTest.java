package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.migration.KafkaToPartiMigration;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rolling migration from a fleet that never ran {@link PartiAssignor} (step 1 skipped): plain {@code
 * KafkaConsumer}s on the classic protocol with Kafka's own assignors, replaced one at a time by migrating {@link
 * PartiConsumer}s that keep the same settings. While a {@code KafkaConsumer} remains, the group stays on the
 * assignor every member offers; once only migrating members are left it switches to Parti. Real broker and
 * nats-server, under load; checked by {@link PartiAssignorGroup}: no partition in two members at once, no committed
 * offset going backwards, every record consumed exactly once with commit-in-revoke.
 */
class RollingMigrationFromOtherAssignorsTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(45);
    private static final int PARTITIONS = 12;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            "org.apache.kafka.clients.consumer.RangeAssignor"})
    void kafkaConsumersOnAKafkaAssignorReplacedOneByOneEndInAPartiRunGroup(String assignor) throws Exception {
        String topic = Fixtures.unique("migrate-any");
        String groupId = Fixtures.unique("g-migrate-any");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), groupId, topic, PARTITIONS)) {
            group.startProducing(400);
            List<String> running = new ArrayList<>(List.of("k-1", "k-2"));
            running.forEach(k -> group.start(k, group.config(k, assignor)));
            group.awaitBalanced(running, WAIT);

            for (int i = 1; i <= 2; i++) {
                String p = "p-" + i;
                Map<String, Object> config = group.config(p, assignor); // the old fleet's settings, unchanged
                config.putAll(Fixtures.partiFast(NATS.url()));
                config.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
                group.start(p, config);
                running.add(p);
                group.awaitBalanced(running, WAIT);
                assertThat(phase(group, p)).as(p + " in the Kafka group").isEqualTo(KafkaToPartiMigration.Phase.KAFKA);
                assertThat(group.describe().partitionAssignor()).as("the group's assignor while a KafkaConsumer remains")
                        .isEqualTo(kafkaName(assignor));
                group.stop("k-" + i);
                running.remove("k-" + i);
                if (i < 2) {
                    group.awaitBalanced(running, WAIT);
                }
            }
            await("every member runs through Parti").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() ->
                    running.stream().allMatch(p -> phase(group, p) == KafkaToPartiMigration.Phase.PARTI));
            group.awaitBalanced(running, WAIT);
            assertThat(group.describe().members()).as("Kafka-managed members left").isEmpty();

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.violations()).as("sampled overlaps and committed offsets going backwards").isEmpty();
            assertThat(group.duplicates()).as("records consumed twice").isEmpty();
            assertThat(group.missing()).as("records never consumed").isEmpty();
            assertThat(group.ownershipReport().overlaps()).as("partitions with two live owners").isEmpty();
        }
    }

    private static String kafkaName(String assignor) {
        return assignor.equals(PartiAssignorGroup.RANGE) ? "range" : "cooperative-sticky";
    }

    private static KafkaToPartiMigration.Phase phase(PartiAssignorGroup group, String name) {
        PartiConsumer<String, String> c = (PartiConsumer<String, String>) group.consumer(name);
        return c == null ? null : c.migrationPhase();
    }
}
