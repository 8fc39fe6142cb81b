package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.KafkaBrokerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Preference lists mixing {@link PartiAssignor} with Kafka's assignors, switched member by member with rolling
 * restarts of real consumers, as Kafka documents for {@code partition.assignment.strategy}: the group uses an
 * assignor every member lists, and members' preferences decide among those. Throughout: no partition in two
 * members at once, every record consumed exactly once (commit in {@code onPartitionsRevoked}).
 */
class PartiAssignorMixedTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();

    private static final List<String> NAMES = List.of("w-1", "w-2", "w-3");
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String PARTI_THEN_STICKY = PartiAssignorGroup.PARTI + "," + PartiAssignorGroup.COOPERATIVE_STICKY;

    /**
     * {@code [cooperative-sticky]} → {@code [parti, cooperative-sticky]} one member at a time: the group stays on
     * cooperative-sticky until the last member lists parti, then switches to parti. Rolling one member back to
     * {@code [cooperative-sticky]} switches the whole group back at once.
     */
    @Test
    void rollingSwitchFromCooperativeStickyToPartiAndBack() throws Exception {
        int partitions = 18;
        KAFKA.broker().createTopic("mixed", partitions);
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-mixed", "mixed", partitions)) {
            group.startProducing(500);
            for (String name : NAMES) {
                group.start(name, config(group, name, PartiAssignorGroup.COOPERATIVE_STICKY));
            }
            group.awaitBalanced(NAMES, WAIT);
            group.awaitAssignor("cooperative-sticky", WAIT);

            for (int i = 0; i < NAMES.size(); i++) {
                String name = NAMES.get(i);
                group.stop(name);
                group.start(name, config(group, name, PARTI_THEN_STICKY));
                group.awaitBalanced(NAMES, WAIT);
                group.awaitAssignor(i < NAMES.size() - 1 ? "cooperative-sticky" : "parti", WAIT);
            }
            // Now on parti, balanced and whole.
            Map<String, Set<TopicPartition>> onParti = group.awaitBalanced(NAMES, WAIT);

            // Roll back: the first member without parti takes the whole group back to cooperative-sticky.
            group.stop("w-1");
            group.start("w-1", config(group, "w-1", PartiAssignorGroup.COOPERATIVE_STICKY));
            group.awaitBalanced(NAMES, WAIT);
            group.awaitAssignor("cooperative-sticky", WAIT);
            for (String name : List.of("w-2", "w-3")) {
                group.stop(name);
                group.start(name, config(group, name, PartiAssignorGroup.COOPERATIVE_STICKY));
                group.awaitBalanced(NAMES, WAIT);
                group.awaitAssignor("cooperative-sticky", WAIT);
            }

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(onParti.values()).allSatisfy(set -> assertThat(set).hasSize(partitions / NAMES.size()));
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.violations()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
        }
    }

    /**
     * From the eager {@code [range]}: first bounce to {@code [parti, range]} (parti chosen once every member
     * lists it, still eager because range supports eager only), second bounce to {@code [parti]} (cooperative).
     * During the second bounce eager and cooperative members share the group.
     */
    @Test
    void twoBounceSwitchFromRangeThroughEagerPartiToCooperativeParti() throws Exception {
        int partitions = 18;
        KAFKA.broker().createTopic("from-range", partitions);
        String partiThenRange = PartiAssignorGroup.PARTI + "," + PartiAssignorGroup.RANGE;
        try (PartiAssignorGroup group = new PartiAssignorGroup(KAFKA.bootstrapServers(), "g-range", "from-range",
                partitions)) {
            group.startProducing(500);
            for (String name : NAMES) {
                group.start(name, config(group, name, PartiAssignorGroup.RANGE));
            }
            group.awaitBalanced(NAMES, WAIT);
            group.awaitAssignor("range", WAIT);

            for (int i = 0; i < NAMES.size(); i++) { // first bounce
                String name = NAMES.get(i);
                group.stop(name);
                group.start(name, config(group, name, partiThenRange));
                group.awaitBalanced(NAMES, WAIT);
                group.awaitAssignor(i < NAMES.size() - 1 ? "range" : "parti", WAIT);
            }
            boolean first = true;
            for (String name : NAMES) { // second bounce
                long fullBefore = group.fullRevocations();
                group.stop(name);
                if (first) { // the others still run [parti, range]: eager, they give up everything in each rebalance
                    group.awaitBalanced(NAMES.stream().filter(n -> !n.equals(name)).toList(), WAIT);
                    assertThat(group.fullRevocations() - fullBefore).isGreaterThanOrEqualTo(NAMES.size());
                    first = false;
                }
                group.start(name, config(group, name, PartiAssignorGroup.PARTI));
                group.awaitBalanced(NAMES, WAIT);
                group.awaitAssignor("parti", WAIT);
            }
            // Cooperative now: a fourth member makes only its share move, and nobody gives anything else up.
            Map<String, Set<TopicPartition>> three = group.awaitBalanced(NAMES, WAIT);
            long revocationsBefore = group.revocations();
            group.start("w-4", config(group, "w-4", PartiAssignorGroup.PARTI));
            Map<String, Set<TopicPartition>> four = group.awaitBalanced(List.of("w-1", "w-2", "w-3", "w-4"), WAIT);
            for (String name : NAMES) {
                assertThat(three.get(name)).containsAll(four.get(name));
            }
            assertThat(group.revocations() - revocationsBefore).isLessThanOrEqualTo(NAMES.size());

            group.stopProducing();
            group.awaitAllConsumed(WAIT);
            assertThat(group.duplicates()).isEmpty();
            assertThat(group.missing()).isEmpty();
            assertThat(group.violations()).isEmpty();
            assertThat(group.ownershipReport().overlaps()).isEmpty();
        }
    }

    private static Map<String, Object> config(PartiAssignorGroup group, String name, String assignors) {
        Map<String, Object> config = group.config(name, assignors);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        return config;
    }
}
