package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.LossPolicy;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator (seeds 12, 17, 20, 29 and 36 of {@code scripts/simulate --seed 4 --seeds 40}): a
 * worker stopped past its session comes back, re-creates its expired heartbeat and acquires from a version
 * published while it was away that still lists it, while the leader, which declared it dead, moves those
 * partitions to another worker without waiting: two owners. A worker whose session ended now applies only a
 * version newer than the one in force once its new session began. Against a real nats-server.
 */
class SessionLossReturnTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** The leader's partition source; armed, its next call waits (slow user I/O in the leader's rebalance). */
    static final class SlowSource implements PartitionSource {
        final List<Partition> ps;
        volatile CountDownLatch armed;
        volatile boolean waiting;

        SlowSource(List<Partition> ps) {
            this.ps = ps;
        }

        @Override
        public List<Partition> partitions() throws Exception {
            CountDownLatch a = armed;
            if (a != null) {
                armed = null;
                waiting = true;
                a.await(5, TimeUnit.SECONDS);
                waiting = false;
            }
            return ps;
        }
    }

    @Test
    void aWorkerBackFromAnEndedSessionDoesNotAcquireFromAVersionPublishedWhileItWasAway() throws Exception {
        var ps = Holes.partitions(6);
        SlowSource source = new SlowSource(ps);
        // lease = 5 s − 2.5 s = 2.5 s; the heartbeat key lives 5 s
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("session-return", nats.url(), ps)
                .partitionSource(source)
                .sessionTimeout(Duration.ofSeconds(5)).safetyMargin(Duration.ofMillis(2500))
                .leaderTtl(Duration.ofSeconds(4)).workerIdTtl(Duration.ofSeconds(20)).lossPolicy(LossPolicy.FENCE);
        GroupMember leader = h.start(config.get(), h.new Owner("leader"));
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        Holes.Owner ow = h.new Owner("w");
        GroupMember w = h.start(config.get(), ow);
        await().atMost(Duration.ofSeconds(10)).until(() -> ow.owned.size() == 3);

        CountDownLatch resume = h.freeze(w); // stopped: no heartbeat
        await().atMost(Duration.ofSeconds(5)).until(() -> w.currentAssignment().isEmpty()); // fenced by its lease thread
        // while w's session is still alive on the server, a newcomer: the leader publishes a version that still lists w
        long before = leader.assignmentVersion();
        Holes.Owner ox = h.new Owner("x");
        h.start(config.get(), ox);
        await().atMost(Duration.ofSeconds(3)).until(() -> leader.assignmentVersion() > before);
        // w's session ends; the leader's rebalance that moves w's partitions is slow to compute
        CountDownLatch slow = new CountDownLatch(1);
        h.latches.add(slow);
        source.armed = slow;
        await().atMost(Duration.ofSeconds(8)).until(() -> source.waiting);
        resume.countDown(); // w comes back while the leader is deciding, on the view that w is dead
        await().atMost(Duration.ofSeconds(3)).until(w::isLeaseValid);
        await().pollDelay(Duration.ofMillis(300)).atMost(Duration.ofSeconds(1)).until(() -> true);
        slow.countDown();

        await().atMost(Duration.ofSeconds(15)).until(() -> h.holder.size() == 6);
        assertThat(h.overlaps).as("partitions acquired by another instance while w held them").isEmpty();
        assertThat(ow.events).as("w applied versions again after it came back").anyMatch(e -> e.startsWith("assigned"));
    }
}
