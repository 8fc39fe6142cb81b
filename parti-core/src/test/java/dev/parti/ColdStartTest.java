package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ColdStartTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    @Test
    void coldStartOfThreeWorkersTraversesStatesInOrderAndOwnsEveryPartitionOnce() throws Exception {
        try (TestGroup g = new TestGroup("cold-start", nats.server().url(), 12,
                b -> b.coldStartWindow(Duration.ofMillis(800)))) {
            long t0 = System.nanoTime();
            List<TestGroup.Member> ms = g.startAll(3);
            g.awaitBalanced(Duration.ofSeconds(10));
            long firstAssignment = ms.stream().mapToLong(m -> m.lastAssignedNanos).min().orElseThrow();
            assertThat(Duration.ofNanos(firstAssignment - t0)).as("cold-start window honoured").isGreaterThanOrEqualTo(Duration.ofMillis(800));

            TestGroup.Member leader = g.leader();
            assertThat(leader).isNotNull();
            await().atMost(Duration.ofSeconds(5)).until(() -> leader.states.contains(ManagerState.STABLE));
            assertThat(leader.states).containsSubsequence(ManagerState.INIT, ManagerState.CLAIMING_ID, ManagerState.ELECTION,
                    ManagerState.WAITING_ASSIGNMENT, ManagerState.SCALING, ManagerState.REBALANCING, ManagerState.STABLE);
            for (TestGroup.Member m : ms) {
                await().atMost(Duration.ofSeconds(5)).until(() -> m.states.contains(ManagerState.STABLE));
                assertThat(m.states).containsSubsequence(ManagerState.INIT, ManagerState.CLAIMING_ID, ManagerState.ELECTION,
                        ManagerState.WAITING_ASSIGNMENT, ManagerState.STABLE);
                assertThat(m.manager.currentAssignment()).hasSize(4);
                assertThat(m.callbackThreads).allMatch(t -> t.equals("parti-cold-start-callbacks"));
            }
            assertThat(ms).extracting(TestGroup.Member::id).containsExactlyInAnyOrder("w-0", "w-1", "w-2");
            assertThat(g.overlaps).isEmpty();
        }
    }
}
