package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator with watches that stall (docs/SIMULATION.md, finding 14): a worker whose assignment watch
 * delivers an earlier leader's versions seconds late may still apply one that gives it a partition, after a new leader,
 * which never saw that version, gave the partition to another worker. A new leader therefore moves nothing to a worker
 * while a worker it found as its term began has not applied the version the term started from.
 */
class LateVersionLeaderTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    @AfterEach
    void switchesOff() {
        ReintroducedBugs.reset();
    }

    @Test
    void aNewLeaderGivesNothingNewWhileAWorkerMayStillApplyAVersionItNeverSaw() throws Exception {
        Partition x = Partition.of("t", "x");
        Partition y = Partition.of("t", "y");
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("late-version"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            // the earlier leader's chain: v1 (C applied it), v2 gives X to C (C's watch stalls before delivering it),
            // v3 takes X back (C has not acknowledged v2, so nobody gets X)
            AssignmentPublisher old = new AssignmentPublisher(kv);
            old.publish(Map.of("C", List.of(y), "D", List.of()), "old", 1);
            old.publish(Map.of("C", List.of(x, y), "D", List.of()), "old", 1);
            AssignmentRecord v3 = old.publish(Map.of("C", List.of(y), "D", List.of()), "old", 1);
            assertThat(v3.version()).isEqualTo(3);

            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast("late-version", nats.url(), List.of(x, y)).build();
            AssignmentPublisher mine = new AssignmentPublisher(kv);
            Calculator n = new Calculator(config, now::get, mine, "N", s -> { }, () -> true);
            n.begin(2, List.of(
                    beat("C", 11, new Heartbeat("c-1", 1, Set.of(y), false, 1)),
                    beat("D", 12, new Heartbeat("d-1", 3, Set.of(), false, 1))), false);
            now.addAndGet(Duration.ofSeconds(2).toNanos()); // past the recovery grace
            n.tick();
            n.tick();
            AssignmentRecord current = mine.current();
            assertThat(current.of("D")).as("X given to D while C, at version 1, may still apply version 2 (which N never saw)")
                    .doesNotContain(x);

            // C catches up (its watch delivers v2, v3 and N's fence): X may move now
            now.addAndGet(Duration.ofMillis(100).toNanos());
            n.onHeartbeat(beat("C", 13, new Heartbeat("c-1", current.version(), Set.of(y), false, 1)), now.get());
            n.tick();
            n.tick();
            assertThat(mine.current().of("D")).as("once C acknowledged the version N started from").contains(x);
        }
    }

    private static KvGateway.Entry beat(String id, long revision, Heartbeat hb) {
        return new KvGateway.Entry(id, Codec.encode(hb), revision, false);
    }
}
