package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.kafka.PartiConsumerConfig;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringDeserializer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
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

    /** A member still listed as unable to switch is found among the group's members; the member itself never counts. */
    @Test
    void aListedMemberOtherThanItselfStillInTheGroupIsFound() {
        assertThat(KafkaToPartiMigration.firstStillPresent(Set.of("a", "b"), List.of("c", "b"), "c")).isEqualTo("b");
        assertThat(KafkaToPartiMigration.firstStillPresent(Set.of("a", "c"), List.of("c", "d"), "c")).isNull();
        assertThat(KafkaToPartiMigration.firstStillPresent(Set.of("a"), List.of(), "c")).isNull();
    }

    /**
     * In doubt a static member asks for the rebalance: without a list (a plain leader), and when the group cannot be
     * described (no broker here; bounded by {@code default.api.timeout.ms}).
     */
    @Test
    void withoutAListOrWithoutADescriptionAStaticMemberAsksForTheRebalance() {
        KafkaToPartiMigration<String, String> m = migration(() -> false);
        assertThat(m.stillUnableToSwitch("self")).isNull();
        m.assigned(3, Set.of("plain-1"));
        assertThat(m.stillUnableToSwitch("self")).isNull();
    }

    /**
     * The bridge hands out nothing more once a poll returns at least a lease after the previous one (a paused process,
     * even one whose Parti side is valid again by then) or after the lease was seen invalid; never under {@code hold}.
     */
    @Property
    void aPollALeaseOrMoreAfterThePreviousOneOrAfterTheLeaseLapsedEndsTheBridge(
            @ForAll @LongRange(min = 1, max = 10_000_000_000L) long lease, @ForAll @LongRange(min = 0, max = 20_000_000_000L) long gap,
            @ForAll boolean invalidAfterValid, @ForAll @LongRange(min = 1, max = Long.MAX_VALUE / 2) long previous) {
        String lapse = KafkaToPartiMigration.lapse(lease, invalidAfterValid, previous, previous + gap);
        assertThat(lapse != null).as("lapsed, lease %d gap %d invalid after valid %s", lease, gap, invalidAfterValid)
                .isEqualTo(invalidAfterValid || gap >= lease);
        assertThat(KafkaToPartiMigration.lapse(0, invalidAfterValid, previous, previous + gap)).as("hold").isNull();
        assertThat(KafkaToPartiMigration.lapse(lease, false, 0, previous + gap)).as("no poll before").isNull();
    }

    private static KafkaToPartiMigration<String, String> migration(BooleanSupplier groupRuns) {
        Map<String, Object> configs = Map.of("group.id", "g", "bootstrap.servers", "127.0.0.1:9",
                PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI,
                "default.api.timeout.ms", "300", "request.timeout.ms", "300");
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

                    @Override
                    public boolean safeOwner() {
                        return false;
                    }

                    @Override
                    public long leaseNanos() {
                        return 0;
                    }

                    @Override
                    public void rewind(ConsumerRecords<String, String> records) {
                    }
                });
    }
}
