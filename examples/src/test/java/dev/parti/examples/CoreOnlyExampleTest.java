package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.Partition;
import dev.parti.PartiConfig;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Parti core without Kafka: shards are spread over the workers, each owned once, and move when a worker leaves. */
class CoreOnlyExampleTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    static final UnaryOperator<PartiConfig.Builder> FAST = b -> b
            .heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(2000))
            .leaderTtl(Duration.ofMillis(1000)).workerIdTtl(Duration.ofMillis(4000))
            .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300))
            .rebalanceCooldown(Duration.ofMillis(100));

    @Test
    void shardsAreSplitOwnedOnceAndMoveWhenAWorkerLeaves() {
        List<Partition> shards = CoreOnlyExample.shards(12);
        List<CoreOnlyExample.ShardWorker> workers = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                workers.add(new CoreOnlyExample.ShardWorker(NATS.url(), "tenants-core", shards, Duration.ofMillis(50), FAST).start());
            }
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertSplit(workers, shards, 3));
            await().atMost(Duration.ofSeconds(10)).until(() -> workers.stream().allMatch(w -> w.ticks() > 0));

            CoreOnlyExample.ShardWorker leaving = workers.remove(2);
            leaving.close();
            assertThat(leaving.shards()).isEmpty();
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertSplit(workers, shards, 2));
        } finally {
            workers.forEach(CoreOnlyExample.ShardWorker::close);
        }
    }

    /** Every shard owned by exactly one worker, and each worker has its fair share. */
    private static void assertSplit(List<CoreOnlyExample.ShardWorker> workers, List<Partition> shards, int n) {
        Set<Partition> seen = new HashSet<>();
        for (CoreOnlyExample.ShardWorker w : workers) {
            for (Partition p : w.shards()) {
                assertThat(seen.add(p)).as("%s owned twice", p).isTrue();
            }
            assertThat(w.shards()).hasSize(shards.size() / n);
        }
        assertThat(seen).containsExactlyInAnyOrderElementsOf(shards);
    }
}
