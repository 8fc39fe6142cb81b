package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.LossPolicy;
import dev.parti.Partition;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator (seed 2 of {@code scripts/simulate}): a worker fenced while its {@code onRevoked}
 * still ran reported the partitions being revoked as lost too, so the listener got {@code onLost} for
 * partitions it had already let go. Against a real nats-server.
 */
class FenceDuringRevokeTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** Records the partitions of every callback; onRevoked can be held. */
    static final class Recorder implements AssignmentListener {
        final Set<Partition> owned = ConcurrentHashMap.newKeySet();
        final List<Set<Partition>> revoked = new CopyOnWriteArrayList<>();
        final List<Set<Partition>> lost = new CopyOnWriteArrayList<>();
        volatile CountDownLatch holdRevoke;
        volatile boolean inRevoke;

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            owned.addAll(added);
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            inRevoke = true;
            CountDownLatch hold = holdRevoke;
            if (hold != null) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            revoked.add(new TreeSet<>(removed));
            owned.removeAll(removed);
            inRevoke = false;
        }

        @Override
        public void onLost(Set<Partition> l, long version) {
            lost.add(new TreeSet<>(l));
            owned.removeAll(l);
        }
    }

    @Test
    void aWorkerFencedWhileItsOnRevokedRunsDoesNotReportThosePartitionsLostAsWell() throws Exception {
        var ps = Holes.partitions(6);
        // lease = 5 s − 2.5 s = 2.5 s; the heartbeat key lives 5 s: a 3.5 s pause fences without ending the session
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("fence-revoke", nats.url(), ps)
                .sessionTimeout(Duration.ofSeconds(5)).safetyMargin(Duration.ofMillis(2500))
                .leaderTtl(Duration.ofSeconds(4)).workerIdTtl(Duration.ofSeconds(20)).lossPolicy(LossPolicy.FENCE);
        GroupMember leader = h.start(config.get(), new Recorder());
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        Recorder ra = new Recorder();
        GroupMember a = h.start(config.get(), ra);
        await().atMost(Duration.ofSeconds(10)).until(() -> ra.owned.size() == 3);

        CountDownLatch letGo = new CountDownLatch(1);
        h.latches.add(letGo);
        ra.holdRevoke = letGo;
        h.start(config.get(), new Recorder()); // a third worker: a gives one partition up, slowly
        await().atMost(Duration.ofSeconds(10)).until(() -> ra.inRevoke);
        CountDownLatch resume = h.freeze(a); // no heartbeat: a's lease goes stale while onRevoked runs
        await().atMost(Duration.ofSeconds(6)).until(() -> a.currentAssignment().isEmpty()); // fenced by the lease thread
        letGo.countDown();
        await().atMost(Duration.ofSeconds(5)).until(() -> !ra.revoked.isEmpty() && !ra.lost.isEmpty());
        resume.countDown();

        Set<Partition> revoked = ra.revoked.get(0);
        assertThat(revoked).isNotEmpty();
        assertThat(ra.lost.get(0)).as("onLost after onRevoked(%s) returned", revoked).doesNotContainAnyElementsOf(revoked)
                .isNotEmpty();
    }
}
