package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.LossPolicy;
import dev.parti.MetricsRecorder;
import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator with two members per process (docs/SIMULATION.md, finding 19): a leader that leaves the
 * group while its lease lapses (its process stopped, then {@code close()} as it resumes) must not hand its partitions
 * over before the fence's {@code onLost} has returned. The revocation {@code close()} queues on the callback thread
 * runs after the fence and finds nothing left to revoke; the fence's {@code onLost} runs behind it. Here, against a
 * real nats-server: the leader's callback thread is held inside an {@code onAssigned} when {@code close()} queues its
 * revocation, its main thread is frozen (a GC pause) until the lease watchdog fences, and its {@code onLost} is slow
 * user code (1.5 s). The other member must not acquire those partitions while that {@code onLost} runs.
 */
class LeaderLeavingDuringFenceTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void tearDown() {
        h.close();
        ReintroducedBugs.reset();
    }

    /** The leader's listener: one onAssigned can be held, and onLost is slow user code. */
    private static final class SlowLeader implements AssignmentListener {
        final Holes.Owner owner;
        volatile CountDownLatch holdNextAssign;
        final CountDownLatch inHeldAssign = new CountDownLatch(1);
        final CountDownLatch inLost = new CountDownLatch(1);

        SlowLeader(Holes.Owner owner) {
            this.owner = owner;
        }

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            CountDownLatch hold = holdNextAssign;
            if (hold != null) {
                holdNextAssign = null;
                inHeldAssign.countDown();
                await(hold);
            }
            owner.onAssigned(added, version);
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            owner.onRevoked(removed, version);
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            inLost.countDown();
            try {
                Thread.sleep(1500); // slow user code: committing, flushing
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            owner.onLost(lost, version);
        }

        private static void await(CountDownLatch l) {
            try {
                l.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Test
    void aLeaderLeavingWhileItsFencesOnLostRunsHandsNothingOverBeforeItReturns() throws Exception {
        List<Partition> ps = Holes.partitions(6);
        CountDownLatch fenced = new CountDownLatch(1);
        Supplier<PartiConfig.Builder> config = () -> Holes.fast("leave-during-fence", nats.url(), ps)
                .lossPolicy(LossPolicy.FENCE).leaderTtl(Duration.ofSeconds(3)).recoveryGrace(Duration.ofMillis(300));
        Holes.Owner leaderOwner = h.new Owner("L#1");
        SlowLeader slow = new SlowLeader(leaderOwner);
        GroupMember leader = h.start(config.get().workerId("L").metrics(new MetricsRecorder() {
            @Override
            public void staleLease(Duration age, LossPolicy policy) {
                fenced.countDown();
            }
        }), slow);
        await().atMost(Duration.ofSeconds(10)).until(() -> leader.isLeader() && leaderOwner.owned.size() == 6);

        // the next onAssigned of the leader (the version that moves half to the joining member) is held
        CountDownLatch releaseAssign = new CountDownLatch(1);
        h.latches.add(releaseAssign);
        slow.holdNextAssign = releaseAssign;
        Holes.Owner other = h.new Owner("M#1");
        h.start(config.get().workerId("M"), other);
        await().atMost(Duration.ofSeconds(10)).until(() -> slow.inHeldAssign.getCount() == 0 && other.owned.size() == 3);

        // a GC pause of the leader's main thread; close() queues its revocation behind the held onAssigned
        CountDownLatch unfreeze = h.freeze(leader);
        Thread closer = new Thread(() -> leader.close(false), "closer");
        closer.start();
        assertThat(fenced.await(5, java.util.concurrent.TimeUnit.SECONDS)).as("the lease watchdog fenced the leader").isTrue();
        releaseAssign.countDown(); // the revocation finds nothing left; the fence's onLost runs behind it
        assertThat(slow.inLost.await(5, java.util.concurrent.TimeUnit.SECONDS)).as("the fence's onLost began").isTrue();
        unfreeze.countDown(); // the process resumes: close() goes on

        await().atMost(Duration.ofSeconds(15)).until(() -> other.owned.size() == 6);
        closer.join(15_000);
        assertThat(h.overlaps).as("partitions acquired while the leaving leader's onLost still ran").isEmpty();
        assertThat(leaderOwner.events).as("the leader let go through the fence").anyMatch(e -> e.startsWith("lost"));
    }
}
