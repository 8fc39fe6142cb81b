package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.kafka.PartiConsumerConfig;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/** What the Kafka group's leader learns from a migrating member about Parti's state, without a broker. */
class KafkaToPartiMigrationTest {

    /** Parti runs, does not run, or cannot be read: only "does not run" lets the leader hand out partitions. */
    @Test
    void theLeaderActsAsIfPartiRanWhenItsStateCannotBeRead() {
        assertThat(migration(() -> true).partiMayRun()).isTrue();
        assertThat(migration(() -> false).partiMayRun()).isFalse();
        assertThat(migration(() -> {
            throw new KafkaException("NATS unreachable");
        }).partiMayRun()).isTrue();
    }

    private static KafkaToPartiMigration<String, String> migration(BooleanSupplier groupRuns) {
        Map<String, Object> configs = Map.of("group.id", "g", "bootstrap.servers", "127.0.0.1:9",
                PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
        return new KafkaToPartiMigration<>(configs, new StringDeserializer(), new StringDeserializer(),
                new KafkaToPartiMigration.PartiSide<>() {
                    @Override
                    public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
                    }

                    @Override
                    public ConsumerRecords<String, String> poll(Duration timeout) {
                        return ConsumerRecords.empty();
                    }

                    @Override
                    public long assignmentVersion() {
                        return 0;
                    }

                    @Override
                    public boolean groupRuns() {
                        return groupRuns.getAsBoolean();
                    }
                });
    }
}
