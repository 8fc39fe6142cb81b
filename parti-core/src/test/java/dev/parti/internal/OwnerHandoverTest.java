package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, holes 3 and 7: a partition never has two live owners, checked by instance. A newer
 * instance of a static member acquires nothing while the older one may still own; a fenced worker
 * reports its partitions held until its {@code onLost} has returned.
 */
class OwnerHandoverTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void close() {
        h.close();
    }

    @Test
    void aNewerInstanceOfAStaticMemberOwnsNothingWhileTheOlderOneStillDoes() throws Exception {
        var ps = Holes.partitions(6);
        GroupMember leader = h.start(Holes.fast("h3-static", nats.url(), ps), h.new Owner("leader"));
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        Holes.Owner first = h.new Owner("orders-1#1");
        GroupMember older = h.start(Holes.fast("h3-static", nats.url(), ps).workerId("orders-1"), first);
        await().atMost(Duration.ofSeconds(10)).until(() -> first.owned.size() == 3);

        // the older instance pauses (shorter than its lease): it still owns and still passes isLeaseValid()
        CountDownLatch resume = h.freezeNow(older);
        Holes.Owner second = h.new Owner("orders-1#2");
        GroupMember newer = h.start(Holes.fast("h3-static", nats.url(), ps).workerId("orders-1"), second);
        await().pollDelay(Duration.ofMillis(400)).atMost(Duration.ofSeconds(1)).until(() -> true);
        assertThat(older.isLeaseValid()).as("the paused older instance is still a safe owner by its lease").isTrue();
        resume.countDown();

        await().atMost(Duration.ofSeconds(10)).until(() -> older.state() == ManagerState.SHUTDOWN && second.owned.size() == 3);
        assertThat(first.events).anyMatch(e -> e.startsWith("lost"));
        assertThat(h.overlaps).as("partitions owned by two instances at once").isEmpty();
        assertThat(second.firstAcquireNanos).as("the newer instance acquired before the older one let go")
                .isGreaterThan(first.lastReleaseNanos);
        assertThat(newer.workerId()).isEqualTo("orders-1");
    }

    /**
     * Found by the simulator (seed 526137469): a second instance takes the static ID over from a paused first one
     * and waits a session, as it must; a third takes over from the second at once. The second's heartbeat said it
     * owned nothing, so before the fix the third acquired at once while the first still owned under a valid lease.
     * The second now reports what the first held until its wait ends, so the third waits too.
     */
    @Test
    void aThirdInstanceTakingOverFromASecondThatStillWaitsWaitsForTheFirstToo() throws Exception {
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = longSession("h3-chain");
        Holes.Owner first = h.new Owner("orders-1#1");
        GroupMember older = leaderAndStaticOwner(config, first);

        CountDownLatch resume = h.freezeNow(older);
        h.start(config.get().workerId("orders-1"), h.new Owner("orders-1#2"));
        Holes.Owner third = h.new Owner("orders-1#3");
        h.start(config.get().workerId("orders-1"), third);
        // the first instance stays paused until its own lease has run out (it still owns until then)
        await().atMost(Duration.ofSeconds(10)).until(() -> !older.isLeaseValid());
        resume.countDown();

        await().atMost(Duration.ofSeconds(15)).until(() -> third.owned.size() == 3);
        assertThat(h.overlaps).as("partitions owned by two instances at once").isEmpty();
        assertThat(third.firstAcquireNanos).as("the third instance acquired before the first one let go")
                .isGreaterThan(first.lastReleaseNanos);
    }

    /** The takeover wait is only for a live older instance: one closed with remainInGroup reported its release. */
    @Test
    void aRestartAfterACloseThatRemainsInTheGroupAcquiresWithoutWaitingASession() throws Exception {
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = longSession("h3-restart");
        Holes.Owner first = h.new Owner("orders-1#1");
        GroupMember older = leaderAndStaticOwner(config, first);
        older.close(true);
        long restart = System.nanoTime();
        Holes.Owner second = h.new Owner("orders-1#2");
        h.start(config.get().workerId("orders-1"), second);
        await().atMost(Duration.ofSeconds(10)).until(() -> second.owned.size() == 3);
        assertThat(Duration.ofNanos(second.firstAcquireNanos - restart)).as("restart to first partition")
                .isLessThan(Duration.ofSeconds(3));
        assertThat(h.overlaps).isEmpty();
    }

    @Test
    void aFencedWorkerReportsItsPartitionsHeldUntilOnLostReturned() throws Exception {
        var ps = Holes.partitions(6);
        // lease = 5 s − 2.5 s = 2.5 s; the heartbeat key lives 5 s: a 3.3 s pause fences without ending the session
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("h7-fence", nats.url(), ps)
                .sessionTimeout(Duration.ofSeconds(5)).safetyMargin(Duration.ofMillis(2500))
                .leaderTtl(Duration.ofSeconds(4)).workerIdTtl(Duration.ofSeconds(20)).lossPolicy(LossPolicy.FENCE);
        GroupMember leader = h.start(config.get(), h.new Owner("leader"));
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(config.get(), oa);
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 3);

        CountDownLatch letGo = new CountDownLatch(1);
        h.latches.add(letGo);
        oa.holdLost = letGo; // onLost is slow to stop the work
        CountDownLatch resume = h.freeze(a);
        await().atMost(Duration.ofSeconds(5)).until(() -> a.currentAssignment().isEmpty()); // fenced by the lease thread
        // a newcomer while a is fenced but its heartbeat still shows its partitions: the leader withholds
        // what it moves from a, and a, fenced, applies nothing
        Holes.Owner oc = h.new Owner("c");
        h.start(config.get(), oc);
        await().atMost(Duration.ofSeconds(3)).until(() -> !oc.owned.isEmpty());
        resume.countDown(); // a's heartbeat succeeds again, while its onLost still runs
        await().atMost(Duration.ofSeconds(2)).until(() -> a.isLeaseValid());
        await().pollDelay(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(2)).until(() -> true);
        assertThat(oa.events).noneMatch(e -> e.startsWith("lost"));
        // the by-instance record releases a's partitions only when its onRevoked/onLost returned
        assertThat(h.overlaps).as("partitions acquired by another instance while a's onLost still ran").isEmpty();
        assertThat(a.currentAssignment()).isEmpty();

        letGo.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> h.holder.size() == 6 && !oc.owned.isEmpty());
        assertThat(h.overlaps).isEmpty();
    }

    /** A group whose session (4 s) leaves time to start instances while an older one still holds its lease. */
    private static java.util.function.Supplier<dev.parti.PartiConfig.Builder> longSession(String group) {
        var ps = Holes.partitions(6);
        return () -> Holes.fast(group, nats.url(), ps)
                .sessionTimeout(Duration.ofSeconds(4)).leaderTtl(Duration.ofMillis(1500)).workerIdTtl(Duration.ofSeconds(10));
    }

    /** Starts a leader, then static member {@code orders-1} as {@code first}, and waits until it owns its half. */
    private GroupMember leaderAndStaticOwner(java.util.function.Supplier<dev.parti.PartiConfig.Builder> config,
                                             Holes.Owner first) {
        GroupMember leader = h.start(config.get(), h.new Owner("leader"));
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        GroupMember older = h.start(config.get().workerId("orders-1"), first);
        await().atMost(Duration.ofSeconds(10)).until(() -> first.owned.size() == 3);
        return older;
    }

}
