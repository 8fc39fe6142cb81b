package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** PartiManager#reportFault/#clearFault: an application's fault is the manager's DEGRADED state until every source cleared. */
class ExternalFaultTest {
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
    void reportedFaultsDegradeTheManagerUntilTheLastSourceIsClearedAndKeepTheAssignment() throws Exception {
        try (TestGroup g = new TestGroup("external-fault", nats.url(), 4, b -> b)) {
            TestGroup.Member a = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(a.manager.awaitState(ManagerState.STABLE, Duration.ofSeconds(10))).isTrue();
            Set<Partition> owned = a.manager.currentAssignment();
            List<String> seen = new CopyOnWriteArrayList<>();
            a.manager.addStateListener(new StateListener() {
                @Override
                public void onStateChange(ManagerState from, ManagerState to) {
                    seen.add(from + "->" + to);
                }

                @Override
                public void onDegraded(DegradedReason reason, String detail) {
                    seen.add("degraded " + reason.code() + " " + detail);
                }

                @Override
                public void onRecovered(DegradedReason reason) {
                    seen.add("recovered " + reason.code());
                }
            });

            a.manager.reportFault("nats:orders/1", "stream ORDERS not found");
            a.manager.reportFault("nats:orders/2", "stream ORDERS not found");
            a.manager.reportFault("nats:orders/2", "again"); // reported once
            assertThat(a.manager.awaitState(ManagerState.DEGRADED, Duration.ofSeconds(5))).isTrue();
            assertThat(a.manager.degradedReasons()).containsExactly(DegradedReason.EXTERNAL_FAULT);
            await().atMost(Duration.ofSeconds(5)).until(() -> seen.contains("degraded external-fault nats:orders/1: stream ORDERS not found"));

            a.manager.clearFault("nats:orders/1");
            a.manager.clearFault("never-reported");
            assertThat(a.manager.degradedReasons()).containsExactly(DegradedReason.EXTERNAL_FAULT); // orders/2 still holds it
            assertThat(a.manager.state()).isEqualTo(ManagerState.DEGRADED);

            a.manager.clearFault("nats:orders/2");
            assertThat(a.manager.awaitState(ManagerState.STABLE, Duration.ofSeconds(5))).isTrue();
            assertThat(a.manager.degradedReasons()).isEmpty();
            await().atMost(Duration.ofSeconds(5)).until(() -> seen.contains("recovered external-fault"));
            assertThat(seen.stream().filter(e -> e.startsWith("degraded"))).hasSize(1);
            assertThat(a.manager.currentAssignment()).isEqualTo(owned); // nothing was taken away
            assertThat(a.events).noneMatch(e -> e.startsWith("lost") || e.startsWith("revoked"));
            assertThat(a.manager.isLeaseValid()).isTrue();

            assertThatThrownBy(() -> a.manager.reportFault(" ", "x")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("fault source");
        }
    }
}
