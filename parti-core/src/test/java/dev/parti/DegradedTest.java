package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.NatsServer;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** NATS goes away and comes back: workers report DEGRADED meanwhile and recover afterwards. */
class DegradedTest {
    private NatsServer nats;

    @BeforeEach
    void startNats() {
        nats = NatsServer.start();
    }

    @AfterEach
    void stopNats() {
        nats.close();
    }

    @Test
    void workersAreDegradedWhileNatsIsDownAndUnderFenceGiveUpTheirPartitionsThenRecover() throws Exception {
        try (TestGroup g = new TestGroup("degraded-fence", nats.url(), 6, b -> b.lossPolicy(LossPolicy.FENCE))) {
            TestGroup.Member a = g.start();
            TestGroup.Member b = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));

            nats.kill();
            assertThat(a.manager.awaitState(ManagerState.DEGRADED, Duration.ofSeconds(5))).isTrue();
            assertThat(b.manager.awaitState(ManagerState.DEGRADED, Duration.ofSeconds(5))).isTrue();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() ->
                    a.manager.currentAssignment().isEmpty() && b.manager.currentAssignment().isEmpty());
            assertThat(a.events).anyMatch(e -> e.startsWith("lost"));

            nats.restart();
            g.awaitBalanced(Duration.ofSeconds(20));
            assertThat(a.manager.state()).isEqualTo(ManagerState.STABLE);
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void underHoldWorkersKeepTheirPartitionsWhileNatsIsDown() throws Exception {
        try (TestGroup g = new TestGroup("degraded-hold", nats.url(), 6, b -> b.lossPolicy(LossPolicy.HOLD))) {
            TestGroup.Member a = g.start();
            TestGroup.Member b = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            int ownedA = a.manager.currentAssignment().size();

            nats.kill();
            assertThat(a.manager.awaitState(ManagerState.DEGRADED, Duration.ofSeconds(5))).isTrue();
            // past the session timeout the lease is stale, yet under hold nothing is given up
            org.awaitility.Awaitility.await().pollDelay(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3))
                    .until(() -> a.manager.currentAssignment().size() == ownedA);
            assertThat(a.events).noneMatch(e -> e.startsWith("lost"));

            nats.restart();
            g.awaitBalanced(Duration.ofSeconds(20));
            assertThat(g.overlaps).isEmpty();
        }
    }
}
