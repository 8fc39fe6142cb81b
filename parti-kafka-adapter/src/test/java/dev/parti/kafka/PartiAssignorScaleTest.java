package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.RebalanceProtocol;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * 200 members × 10 000 partitions through {@link PartiAssignor#assign} directly (with Kafka's own protocol
 * serialization around it, see {@link PartiAssignorSimulation}): the leader's work must fit comfortably in
 * a rebalance, and the user data must keep the group's metadata record under Kafka's 1 MB default.
 */
class PartiAssignorScaleTest {
    private static final int MEMBERS = 200;
    private static final int PARTITIONS = 10_000;
    /** Kafka's default {@code message.max.bytes}, which bounds the group metadata record. */
    private static final long ONE_MB = 1_048_588;

    @Test
    void twoHundredMembersTenThousandPartitions() {
        PartiAssignorSimulation sim = new PartiAssignorSimulation(RebalanceProtocol.COOPERATIVE)
                .topic("big", PARTITIONS);
        for (int i = 1; i <= MEMBERS; i++) {
            sim.join(String.format("w-%03d", i));
        }
        List<Long> coldNanos = new ArrayList<>();
        long started = System.nanoTime();
        assertThat(sim.converge()).isEqualTo(1);
        coldNanos.add(sim.lastAssignNanos());
        long coldWallNanos = System.nanoTime() - started;
        assertThat(PartiAssignorTest.counts(sim)).containsOnly(PARTITIONS / MEMBERS);

        // Steady state: rounds with nothing changed move nothing (and warm the JIT).
        List<Long> steadyNanos = new ArrayList<>();
        Map<TopicPartition, String> before = sim.owners();
        for (int i = 0; i < 5; i++) {
            assertThat(sim.round(null)).isFalse();
            steadyNanos.add(sim.lastAssignNanos());
        }
        assertThat(sim.owners()).isEqualTo(before);
        long subscriptionBytes = sim.lastSubscriptionBytes();
        long assignmentBytes = sim.lastAssignmentBytes();
        long userDataBytes = sim.lastUserDataBytes();

        // One member leaves, then comes back: its 50 partitions are lent out, then returned.
        sim.leave("w-100");
        assertThat(sim.converge()).isEqualTo(1);
        long leaveNanos = sim.lastAssignNanos();
        Set<TopicPartition> away = Set.copyOf(before.entrySet().stream()
                .filter(e -> e.getValue().equals("w-100")).map(Map.Entry::getKey).toList());
        sim.join("w-100");
        assertThat(sim.round(null)).isTrue();
        long rejoinNanos = sim.lastAssignNanos();
        long withSubscriptionBytes = sim.lastSubscriptionBytes() + sim.lastAssignmentBytes();
        assertThat(sim.round(null)).isFalse();
        assertThat(sim.member("w-100").owned).containsExactlyInAnyOrderElementsOf(away);
        assertThat(sim.owners()).isEqualTo(before);

        // A 201st member joins: only its share moves.
        sim.join("w-201");
        sim.converge();
        long moved = sim.owners().entrySet().stream()
                .filter(e -> !e.getValue().equals(before.get(e.getKey()))).count();
        assertThat(moved).isLessThanOrEqualTo(PARTITIONS / (MEMBERS + 1) + 1);

        long medianSteady = median(steadyNanos);
        System.out.printf("PartiAssignor 200x10000: cold assign %.1f ms (cold round wall %.1f ms), steady assign median %.1f ms"
                        + " (all %s ms), leave %.1f ms, rejoin %.1f ms; subscriptions %d bytes, assignments %d bytes"
                        + " (group record ~%d bytes, of which PartiAssignor user data %d; during a return %d bytes);"
                        + " 200->201 moved %d%n",
                coldNanos.get(0) / 1e6, coldWallNanos / 1e6, medianSteady / 1e6,
                steadyNanos.stream().map(n -> String.format("%.1f", n / 1e6)).toList(), leaveNanos / 1e6,
                rejoinNanos / 1e6, subscriptionBytes, assignmentBytes, subscriptionBytes + assignmentBytes,
                userDataBytes, withSubscriptionBytes, moved);

        // Generous bounds for a shared 2-core machine; the rebalance timeout (max.poll.interval.ms) is 300 s
        // by default and the leader keeps heartbeating from its heartbeat thread meanwhile.
        assertThat(medianSteady).isLessThan(2_000_000_000L);
        assertThat(subscriptionBytes + assignmentBytes).isLessThan(ONE_MB / 2);
        assertThat(withSubscriptionBytes).isLessThan(ONE_MB / 2);
    }

    private static long median(List<Long> values) {
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
