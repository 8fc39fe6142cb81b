package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A worker's callbacks run on threads the JVM's workers share: {@code close()} from one of its own callbacks is
 * refused (it would wait for itself), while a callback of one worker may close another worker. Real nats-server.
 */
class CloseFromCallbackTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static PartiConfig config(String group) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            ps.add(Partition.of("topic", Integer.toString(i)));
        }
        return PartiConfig.builder(group).natsUrl(nats.server().url())
                .partitionSource(() -> ps)
                .heartbeatInterval(Duration.ofMillis(100))
                .sessionTimeout(Duration.ofMillis(1000))
                .leaderTtl(Duration.ofMillis(800))
                .workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(100))
                .plannedScaleWindow(Duration.ofMillis(100))
                .rebalanceCooldown(Duration.ofMillis(100))
                .startupTimeout(Duration.ofSeconds(10))
                .build();
    }

    @Test
    void closeFromItsOwnCallbackIsRefusedAndFromAnotherWorkersCallbackCloses() throws Exception {
        AtomicReference<PartiManager> self = new AtomicReference<>();
        AtomicReference<PartiManager> other = new AtomicReference<>();
        AtomicReference<Throwable> ownClose = new AtomicReference<>();
        AtomicReference<Throwable> otherClose = new AtomicReference<>();
        AtomicReference<ManagerState> otherState = new AtomicReference<>();
        PartiManager b = new PartiManager(config("close-from-callback-b"), new AssignmentListener() { });
        other.set(b);
        PartiManager a = new PartiManager(config("close-from-callback-a"), new AssignmentListener() {
            @Override
            public void onAssigned(Set<Partition> added, long version) {
                if (added.isEmpty() || ownClose.get() != null) {
                    return;
                }
                try {
                    self.get().close();
                    ownClose.set(new AssertionError("close() from its own callback returned"));
                } catch (IllegalStateException expected) {
                    ownClose.set(expected);
                }
                try {
                    other.get().close(); // another worker: its callbacks run on another pool thread meanwhile
                    otherState.set(other.get().state());
                    otherClose.set(new RuntimeException("none"));
                } catch (RuntimeException e) {
                    otherClose.set(e);
                }
            }
        });
        self.set(a);
        try {
            b.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> b.currentAssignment().size() == 2);
            a.start();
            await().atMost(Duration.ofSeconds(20)).until(() -> otherClose.get() != null);
            assertThat(ownClose.get()).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("must not be called from a Parti callback");
            assertThat(otherClose.get()).hasMessage("none");
            assertThat(otherState.get()).isEqualTo(ManagerState.SHUTDOWN);
            assertThat(a.state()).isNotEqualTo(ManagerState.SHUTDOWN);
        } finally {
            a.close();
            b.close();
        }
        assertThat(a.state()).isEqualTo(ManagerState.SHUTDOWN);
    }
}
