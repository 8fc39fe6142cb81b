package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 14 item 3: a new instance of a worker ID never inherits the assignment line written for an
 * earlier instance of that ID (lines are addressed to an instance, format 1.1); it gets its partitions
 * from a version the leader published for it, after seeing its heartbeat.
 */
class InstanceAddressedAssignmentTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static long firstAssignedVersion(TestGroup.Member m) {
        return m.events.stream().filter(e -> e.startsWith("assigned v")).findFirst()
                .map(e -> Long.parseLong(e.substring("assigned v".length(), e.indexOf(' ', "assigned v".length()))))
                .orElseThrow();
    }

    @Test
    void aNewInstanceOfAWorkerIdNeverAppliesTheLineWrittenForTheEarlierInstance() throws Exception {
        try (TestGroup g = new TestGroup("inherit", nats.server().url(), 6, b -> b)) {
            TestGroup.Member leader = g.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> leader.manager.isLeader());
            TestGroup.Member earlier = g.start(g.config().workerId("s-1"));
            g.awaitBalanced(Duration.ofSeconds(10));
            long versionOfEarlier = earlier.manager.assignmentVersion();
            Set<Partition> itsPartitions = earlier.manager.currentAssignment();
            assertThat(itsPartitions).isNotEmpty();

            // keeps the ID and its heartbeat: the published line for s-1 stays, addressed to this instance
            earlier.manager.close(true);
            TestGroup.Member later = g.start(g.config().workerId("s-1"));

            await().atMost(Duration.ofSeconds(10)).until(() -> later.manager.currentAssignment().equals(itsPartitions));
            assertThat(firstAssignedVersion(later)).as("the first version the new instance applied")
                    .isGreaterThan(versionOfEarlier);
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(g.overlaps).isEmpty();
        }
    }
}
