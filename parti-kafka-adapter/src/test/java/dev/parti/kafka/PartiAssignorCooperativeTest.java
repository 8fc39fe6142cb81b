package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.OwnershipReport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Scale-out 3 → 4 of real {@link org.apache.kafka.clients.consumer.KafkaConsumer}s ({@code group.protocol=classic},
 * {@code partition.assignment.strategy=PartiAssignor}, cooperative) on a real broker, under a steady stream of
 * records, committing in {@code onPartitionsRevoked}.
 */
class PartiAssignorCooperativeTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();

    /** A graceful stop of a broker with thousands of partitions takes ~45 s here; its data is thrown away anyway. */
    @AfterAll
    static void killBroker() {
        KAFKA.broker().kill();
    }

    private static final int PARTITIONS = 50;
    private static final int LARGE_PARTITIONS = 2_000;
    private static final int LARGE_MEMBERS = 10;

    @Test
    void scaleOutThreeToFourMovesAtMostTheMinimumPlusOneWithoutOverlapLossOrDuplicates() throws Exception {
        KAFKA.broker().createTopic("scale", PARTITIONS);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-scale", "scale", PARTITIONS)) {
            group.startProducing(1000);
            for (String name : List.of("w-1", "w-2", "w-3")) {
                group.start(name);
            }
            Map<String, Set<TopicPartition>> three = group.awaitBalanced(List.of("w-1", "w-2", "w-3"), Duration.ofSeconds(30));
            Map<TopicPartition, String> before = group.owners();
            assertThat(group.describe().partitionAssignor()).isEqualTo("parti");

            long joinStarted = System.nanoTime();
            group.start("w-4");
            Map<String, Set<TopicPartition>> four =
                    group.awaitBalanced(List.of("w-1", "w-2", "w-3", "w-4"), Duration.ofSeconds(30));
            long balancedMillis = (System.nanoTime() - joinStarted) / 1_000_000;
            Map<TopicPartition, String> after = group.owners();

            long moved = after.entrySet().stream().filter(e -> !e.getValue().equals(before.get(e.getKey()))).count();
            int minimum = PARTITIONS / 4; // the newcomer's share: ⌊P/4⌋ (or ⌈P/4⌉)
            assertThat(moved).as("partitions moved in 3 → 4").isLessThanOrEqualTo((PARTITIONS + 3) / 4 + 1);
            assertThat(four.get("w-4")).hasSizeBetween(minimum, minimum + 1);
            // every moved partition went to the newcomer, nobody else lost or gained
            for (String old : List.of("w-1", "w-2", "w-3")) {
                assertThat(three.get(old)).containsAll(four.get(old));
            }

            long written = group.stopProducing();
            group.awaitAllConsumed(Duration.ofSeconds(30));
            assertThat(group.duplicates()).as("records consumed twice").isEmpty();
            assertThat(group.missing()).as("records never consumed").isEmpty();
            assertThat(group.violations()).as("overlaps sampled, foreign records, failures").isEmpty();
            OwnershipReport report = group.ownershipReport();
            assertThat(report.overlaps()).isEmpty();
            group.close();
            assertThat(group.violations()).isEmpty();
            System.out.printf("PartiAssignor 3->4 over %d partitions: moved %d (minimum %d), balanced %d ms after the"
                            + " 4th started; %d records, %d sampler checks, rebalance-latency-max %.0f ms%n",
                    PARTITIONS, moved, minimum, balancedMillis, written, group.samples(), group.rebalanceLatencyMaxMs());
        }
    }

    /**
     * Many partitions through the real broker: ten members over {@value #LARGE_PARTITIONS} partitions, then an
     * eleventh. The leader's assignment (and the user data in the group's metadata record) fits in the classic
     * rebalance without timeouts. 200 members × 10 000 partitions is measured without a broker in
     * {@link PartiAssignorScaleTest} (this broker cannot create 10 000 partitions in a test's time).
     */
    @Test
    void thousandsOfPartitionsAreAssignedWithinTheRebalance() throws Exception {
        long created = System.nanoTime();
        KAFKA.broker().createTopic("large", LARGE_PARTITIONS, Map.of("segment.index.bytes", "4096"));
        long createMillis = (System.nanoTime() - created) / 1_000_000;
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-large", "large",
                LARGE_PARTITIONS)) {
            List<String> names = new ArrayList<>();
            long started = System.nanoTime();
            for (int i = 1; i <= LARGE_MEMBERS; i++) {
                names.add(String.format("w-%02d", i));
                group.start(names.get(i - 1));
            }
            Map<String, Set<TopicPartition>> all = group.awaitBalanced(names, Duration.ofSeconds(60));
            long balancedMillis = (System.nanoTime() - started) / 1_000_000;
            assertThat(all.values()).allSatisfy(set -> assertThat(set).hasSize(LARGE_PARTITIONS / LARGE_MEMBERS));

            long joined = System.nanoTime();
            names.add("w-11");
            group.start("w-11");
            group.awaitBalanced(names, Duration.ofSeconds(60));
            long scaleMillis = (System.nanoTime() - joined) / 1_000_000;
            assertThat(group.violations()).isEmpty();
            group.close();
            assertThat(group.violations()).isEmpty();
            System.out.printf("PartiAssignor %d partitions on a real broker: topic created in %d ms, %d members balanced"
                            + " %d ms after start, 11th member balanced in %d ms, rebalance-latency-max %.0f ms%n",
                    LARGE_PARTITIONS, createMillis, LARGE_MEMBERS, balancedMillis, scaleMillis,
                    group.rebalanceLatencyMaxMs());
        }
    }
}
