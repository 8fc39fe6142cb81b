package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.KafkaBrokerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Rolling restarts of four real {@link org.apache.kafka.clients.consumer.KafkaConsumer}s with stable IDs: each
 * restarted member is a new consumer (a new {@link PartiAssignor} instance remembering nothing) and gets back
 * exactly the partitions it had.
 */
class PartiAssignorRestartTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();

    private static final List<String> NAMES = List.of("w-1", "w-2", "w-3", "w-4");
    private static final Duration WAIT = Duration.ofSeconds(30);

    /**
     * Dynamic members ({@code parti.worker.id}): a stopped member leaves the group, its partitions are lent to
     * the others (a real rebalance), and when it joins again the group's memory gives them back.
     */
    @Test
    void rollingRestartOfDynamicMembersWithPartiWorkerIdGivesEachItsPartitionsBack() throws Exception {
        int partitions = 24;
        KAFKA.broker().createTopic("roll-dynamic", partitions);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-roll-dynamic",
                "roll-dynamic", partitions)) {
            group.startProducing(500);
            NAMES.forEach(group::start);
            Map<String, Set<TopicPartition>> initial = group.awaitBalanced(NAMES, WAIT);
            List<Long> restartMillis = new ArrayList<>();

            for (String name : NAMES) {
                long started = System.nanoTime();
                group.stop(name);
                List<String> others = NAMES.stream().filter(n -> !n.equals(name)).toList();
                group.awaitBalanced(others, WAIT); // its partitions are consumed by the others meanwhile
                group.start(name);
                Map<String, Set<TopicPartition>> back = group.awaitBalanced(NAMES, WAIT);
                assertThat(back.get(name)).as("%s after its restart", name).isEqualTo(initial.get(name));
                assertThat(back).isEqualTo(initial);
                restartMillis.add((System.nanoTime() - started) / 1_000_000);
            }

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.violations()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
            System.out.printf("PartiAssignor rolling restart (dynamic, parti.worker.id): each restart %s ms from stop to"
                    + " balanced with its partitions back%n", restartMillis);
        }
    }

    /**
     * Static members ({@code group.instance.id}): restarted within {@code session.timeout.ms}, a member rejoins
     * without any rebalance and Kafka hands it its previous assignment; the assignor's user data (which a new
     * process starts without) does not disturb that.
     */
    @Test
    void rollingRestartOfStaticMembersCausesNoRebalanceAndGivesEachItsPartitionsBack() throws Exception {
        int partitions = 24;
        KAFKA.broker().createTopic("roll-static", partitions);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-roll-static",
                "roll-static", partitions)) {
            group.startProducing(500);
            for (String name : NAMES) {
                group.start(name, staticConfig(group, name));
            }
            Map<String, Set<TopicPartition>> initial = group.awaitBalanced(NAMES, WAIT);
            long revocationsBefore = group.revocations();

            for (String name : NAMES) {
                group.stop(name);
                group.start(name, staticConfig(group, name));
                Map<String, Set<TopicPartition>> back = group.awaitBalanced(NAMES, WAIT);
                assertThat(back).isEqualTo(initial);
            }
            // Only the stopped members revoked (at close): nobody else gave anything up.
            assertThat(group.revocations() - revocationsBefore).isLessThanOrEqualTo(NAMES.size());

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.violations()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
        }
    }

    private static Map<String, Object> staticConfig(PartiAssignorGroup group, String name) {
        Map<String, Object> config = group.config(name, PartiAssignorGroup.PARTI);
        config.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-" + name);
        return config;
    }
}
