package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.strategy.Strategies;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Per-worker metadata (heartbeat format 1.1): the leader's strategy and partition source see each live
 * worker's metadata, with {@code host} and {@code pid} by default; a change of a live worker's metadata
 * rebalances; any worker can request a group-wide rebalance; and a worker writing the 1.0 heartbeat
 * (no metadata) works in one group with 1.1 workers, as during a rolling upgrade.
 */
class WorkerMetadataTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    /** Gives every partition to the workers whose metadata says {@code pick=true} (round robin), else to all; records what it saw. */
    static final class PickingStrategy implements AssignmentStrategy {
        final Map<String, Map<String, String>> seen = new ConcurrentHashMap<>();
        volatile List<Worker> sourceSaw = List.of();

        @Override
        public String name() {
            return "picking";
        }

        @Override
        public Map<String, List<Partition>> assign(Request request) {
            request.workers().forEach(w -> seen.put(w.id(), w.metadata()));
            List<Worker> picked = request.workers().stream().filter(w -> "true".equals(w.metadata("pick"))).toList();
            List<Worker> to = picked.isEmpty() ? request.workers() : picked;
            Map<String, List<Partition>> inner = Strategies.byName("round-robin").assign(
                    new Request(to, request.partitions(), request.previous()));
            Map<String, List<Partition>> out = new HashMap<>();
            request.workers().forEach(w -> out.put(w.id(), inner.getOrDefault(w.id(), List.of())));
            return out;
        }
    }

    @Test
    void theStrategySeesEachWorkersMetadataAndAChangeRebalances() throws Exception {
        PickingStrategy strategy = new PickingStrategy();
        try (TestGroup g = new TestGroup("meta", nats.server().url(), 6, b -> b.strategy(strategy))) {
            TestGroup.Member a = g.start(g.config().partitionSource(new PartitionSource() {
                @Override
                public List<Partition> partitions() {
                    return g.sourcePartitions;
                }

                @Override
                public List<Partition> partitions(List<Worker> workers) {
                    strategy.sourceSaw = List.copyOf(workers);
                    return g.sourcePartitions;
                }
            }));
            a.manager.setMetadata(Map.of("role", "a"));
            TestGroup.Member b = g.start();
            b.manager.setMetadata(Map.of("role", "b"));
            g.awaitBalanced(Duration.ofSeconds(10));
            String pid = Long.toString(ProcessHandle.current().pid());
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(strategy.seen.get(a.id())).containsEntry("role", "a").containsEntry(Worker.PID_KEY, pid)
                        .containsKey(Worker.HOST_KEY);
                assertThat(strategy.seen.get(b.id())).containsEntry("role", "b").containsEntry(Worker.PID_KEY, pid);
                assertThat(strategy.sourceSaw).extracting(Worker::id).containsExactly(a.id(), b.id());
            });
            assertThat(a.manager.metadata()).containsEntry("role", "a").containsKeys(Worker.HOST_KEY, Worker.PID_KEY);
            assertThat(a.manager.currentAssignment()).hasSize(3);

            // nothing else changes in the group: only the metadata change makes the leader move everything to b
            b.manager.setMetadata(Map.of("role", "b", "pick", "true"));
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(b.manager.currentAssignment()).hasSize(6);
                assertThat(a.manager.currentAssignment()).isEmpty();
            });
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(g.overlaps).isEmpty();
        }
    }

    @Test
    void anyWorkerCanRequestAGroupWideRebalanceEveryWorkerHearsOfIt() throws Exception {
        try (TestGroup g = new TestGroup("request", nats.server().url(), 4, b -> b)) {
            TestGroup.Member first = g.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> first.manager.isLeader());
            TestGroup.Member follower = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            long version = first.manager.assignmentVersion();
            Set<Partition> before = follower.manager.currentAssignment();
            int events = follower.events.size();
            int leaderEvents = first.events.size();

            follower.manager.requestRebalance();

            // a new version, applied by both with an onAssigned (of nothing: no partition moves under a sticky strategy)
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(follower.manager.assignmentVersion()).isGreaterThan(version);
                assertThat(first.manager.assignmentVersion()).isEqualTo(follower.manager.assignmentVersion());
                assertThat(follower.events.subList(events, follower.events.size())).anyMatch(e -> e.startsWith("assigned v"));
                assertThat(first.events.subList(leaderEvents, first.events.size())).anyMatch(e -> e.startsWith("assigned v"));
            });
            assertThat(follower.manager.currentAssignment()).isEqualTo(before);
            g.awaitBalanced(Duration.ofSeconds(10));
        }
        try (TestGroup g = new TestGroup("request-unstarted", nats.server().url(), 1, b -> b)) {
            PartiManager m = new PartiManager(g.config().build(), new TestGroup.Member(g, g.config().build()));
            assertThatThrownBy(m::requestRebalance).isInstanceOf(IllegalStateException.class).hasMessageContaining("started");
            assertThatThrownBy(() -> m.setMetadata(Map.of("", "x"))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("non-empty");
            m.close();
        }
    }

    /**
     * Rolling upgrade: a worker constructed with the test switch writes its heartbeat in format 1.0 (no
     * metadata fields, byte for byte what the previous release wrote). With a 1.1 worker in the same group,
     * both as leader in turn: both get their share, the strategy sees the old one with no metadata.
     */
    @Test
    void aWorkerWritingTheOldHeartbeatFormatAndANewOneShareAGroup() throws Exception {
        PickingStrategy strategy = new PickingStrategy();
        try (TestGroup g = new TestGroup("rolling", nats.server().url(), 6, b -> b.strategy(strategy))) {
            TestGroup.Member old;
            System.setProperty("dev.parti.test.legacyHeartbeat", "true");
            try {
                old = g.start();
            } finally {
                System.clearProperty("dev.parti.test.legacyHeartbeat");
            }
            old.manager.setMetadata(Map.of("pick", "true")); // not published: the old format has no field for it
            await().atMost(Duration.ofSeconds(5)).until(() -> old.manager.isLeader());
            TestGroup.Member fresh = g.start();
            fresh.manager.setMetadata(Map.of("role", "new"));
            g.awaitBalanced(Duration.ofSeconds(10));
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(strategy.seen.get(old.id())).isEmpty();
                assertThat(strategy.seen.get(fresh.id())).containsEntry("role", "new");
            });
            assertThat(old.manager.currentAssignment()).hasSize(3);
            assertThat(fresh.manager.currentAssignment()).hasSize(3);

            // the old worker leaves; the new one leads and owns everything; an old one joins again under the new leader
            old.manager.close();
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(fresh.manager.currentAssignment()).hasSize(6);
            TestGroup.Member old2;
            System.setProperty("dev.parti.test.legacyHeartbeat", "true");
            try {
                old2 = g.start();
            } finally {
                System.clearProperty("dev.parti.test.legacyHeartbeat");
            }
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(old2.manager.currentAssignment()).hasSize(3);
                assertThat(fresh.manager.currentAssignment()).hasSize(3);
            });
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(strategy.seen.get(old2.id())).isEmpty();
            assertThat(g.overlaps).isEmpty();
            List<String> ids = new ArrayList<>(strategy.seen.keySet());
            assertThat(ids).contains(fresh.id());
        }
    }
}
