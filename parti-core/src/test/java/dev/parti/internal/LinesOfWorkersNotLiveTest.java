package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentListener;
import dev.parti.MetricsRecorder;
import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator with two members per process (docs/SIMULATION.md, finding 16): a new leader carries the
 * published lines; its next version (here the re-addressing of a restarted static member, inside the recovery grace)
 * kept the line of a worker whose key was gone, addressed to that worker's last instance. That worker, back from an
 * ended session before the leader saw it, could apply the line and acquire; the leader's next version moved those
 * partitions without waiting for it. The line of a worker the leader does not count live is addressed to no instance.
 *
 * <p>The leader's calculator runs against a real nats-server (its publications are real writes); the worker that
 * comes back unseen is a real {@link AssignmentApplier} of that worker's last instance, offered the published record.
 */
class LinesOfWorkersNotLiveTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    @AfterEach
    void switchesOff() {
        ReintroducedBugs.reset();
    }

    @Test
    void aWorkerTheLeaderDoesNotCountLiveCannotApplyItsLine() throws Exception {
        assertThat(run()).as("what W's last instance acquires from the re-addressed version").isEmpty();
    }

    /** The check above can fail: with the fix switched off, W's last instance acquires its line. */
    @Test
    void withTheLineAddressedToItsLastInstanceTheWorkerAcquires() throws Exception {
        ReintroducedBugs.linesForWorkersNotLive = true;
        assertThat(run()).as("W's last instance applies the line of a worker the leader does not count live")
                .containsExactly(Partition.of("t", "y"));
    }

    private Set<Partition> run() throws Exception {
        Partition x = Partition.of("t", "x");
        Partition y = Partition.of("t", "y");
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("lines-not-live-" + ReintroducedBugs.linesForWorkersNotLive),
                    Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            // an earlier leader's version: S (instance s-1) holds x, W (instance w-1) holds y
            AssignmentRecord v1 = new AssignmentPublisher(kv).publish(Map.of("S", List.of(x), "W", List.of(y)),
                    Map.of("S", "s-1", "W", "w-1"), "old", 1, () -> true);

            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast("lines-not-live", nats.url(), List.of(x, y))
                    .recoveryGrace(Duration.ofSeconds(5)).build();
            AssignmentPublisher mine = new AssignmentPublisher(kv);
            Calculator n = new Calculator(config, now::get, mine, "N", s -> { }, () -> true);
            // the new leader finds S restarted (instance s-2) and no heartbeat of W (its session ended)
            n.begin(2, List.of(new KvGateway.Entry("S", Codec.encode(new Heartbeat("s-2", 0, Set.of(), false, 1)), 11, false)),
                    false);
            now.addAndGet(Duration.ofMillis(100).toNanos()); // inside the recovery grace: the re-addressing only
            n.tick();
            AssignmentRecord v2 = mine.current();
            assertThat(v2.version()).as("a version re-addressed to the restarted S").isGreaterThan(v1.version());
            assertThat(v2.instanceOf("S")).isEqualTo("s-2");
            assertThat(v2.of("W")).as("W's line is carried").containsExactly(y);

            // W's last instance is back, unseen by the leader (its heartbeat still in a stalled watch)
            Set<Partition> acquired = ConcurrentHashMap.newKeySet();
            AssignmentApplier w = new AssignmentApplier(new AssignmentListener() {
                @Override
                public void onAssigned(Set<Partition> added, long version) {
                    acquired.addAll(added);
                }

                @Override
                public void onRevoked(Set<Partition> removed, long version) {
                    acquired.removeAll(removed);
                }
            }, MetricsRecorder.NOOP);
            w.instance("w-1");
            w.workerId("W");
            w.offer(v2);
            w.applyLatest(() -> true);
            return acquired;
        }
    }
}
