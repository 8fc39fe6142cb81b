package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 12, hole 1: with every timing at its default except a longer session timeout, a group must
 * elect a leader that publishes and keeps leading. Before the fix the default safety margin
 * (session/6) ate the 3 s leader TTL: session 15 s left a 0.5 s lease against a 1 s election round
 * (the group never published), 30 s a negative one. Only the stabilization windows are shortened, so
 * the test does not wait for the 30 s cold-start window; they play no part in the lease.
 */
class LongSessionLeaderTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private PartiConfig config(String group, long sessionSeconds) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ps.add(Partition.of("t", Integer.toString(i)));
        }
        return PartiConfig.builder(group).natsUrl(nats.server().url()).partitionSource(() -> ps)
                .sessionTimeout(Duration.ofSeconds(sessionSeconds))
                .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300))
                .rebalanceCooldown(Duration.ofMillis(100))
                .build();
    }

    @ParameterizedTest(name = "session {0} s")
    @ValueSource(longs = {15, 30})
    void aGroupWithALongSessionElectsPublishesAndKeepsLeading(long sessionSeconds) throws Exception {
        String group = "long-session-" + sessionSeconds;
        try (PartiManager first = new PartiManager(config(group, sessionSeconds), new AssignmentListener() { })) {
            first.start();
            await().atMost(Duration.ofSeconds(15)).until(() -> first.assignmentVersion() >= 1);
            assertThat(first.currentAssignment()).hasSize(4);
            // keeps leading across several renewals: 5 s is 5 election rounds and more than twice the lease
            await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(7)).until(first::isLeader);
            // and still publishes: a joining worker gets its share
            long before = first.assignmentVersion();
            try (PartiManager second = new PartiManager(config(group, sessionSeconds), new AssignmentListener() { })) {
                second.start();
                await().atMost(Duration.ofSeconds(15)).until(() -> first.assignmentVersion() > before
                        && second.currentAssignment().size() == 2 && first.currentAssignment().size() == 2);
                assertThat(first.isLeader()).isTrue();
                assertThat(second.isLeader()).isFalse();
            }
        }
    }
}
