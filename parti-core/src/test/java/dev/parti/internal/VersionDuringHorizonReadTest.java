package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.LossPolicy;
import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator (docs/SIMULATION.md, finding 20): a worker fenced after a pause writes its heartbeat and reads
 * the assignment key to learn its horizon. The leader, seeing it fenced at the current version, publishes a fresh
 * version; the worker's watch delivers it while the read's reply is being handled, and the applier refuses it (the
 * horizon is still pending). Nothing offers that version again, the worker reports the version before it, and the
 * leader publishes nothing more: the worker never owns again. It must apply the fresh version once the horizon is set.
 *
 * <p>Against a real nats-server: the worker's main thread is frozen until its lease watchdog fences (shorter than its
 * session, so the leader moves nothing), then held at the point right after the horizon read until the leader's fresh
 * version is on the server and a little more (a GC pause there), so its watch delivers that version meanwhile. The
 * leader's main thread is stopped from just before the worker resumes until the worker's read is done, so the read
 * always returns the version before the fresh one.
 */
class VersionDuringHorizonReadTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void tearDown() {
        h.close();
        ReintroducedBugs.reset();
    }

    @Test
    void aFencedWorkerAppliesTheFreshVersionPublishedDuringItsHorizonRead() throws Exception {
        List<Partition> ps = Holes.partitions(4);
        Supplier<PartiConfig.Builder> config = () -> Holes.fast("horizon-race", nats.url(), ps).lossPolicy(LossPolicy.FENCE);
        Holes.Owner leaderOwner = h.new Owner("M#1");
        GroupMember leader = h.start(config.get().workerId("M"), leaderOwner);
        await().atMost(Duration.ofSeconds(10)).until(leader::isLeader);
        Holes.Owner worker = h.new Owner("W#1");
        GroupMember w = h.start(config.get().workerId("W"), worker);
        await().atMost(Duration.ofSeconds(10)).until(() -> worker.owned.size() == 2 && leaderOwner.owned.size() == 2);

        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("horizon-race"), Duration.ofSeconds(2));
            kv.open();
            CountDownLatch atHorizon = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            h.latches.add(release);
            w.faults = point -> {
                if ("horizon-read".equals(point) && atHorizon.getCount() > 0) {
                    atHorizon.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            long before = ChunkedAssignment.version(kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value());
            CountDownLatch paused = h.freeze(w); // a pause just past the lease (833 ms), short of the session (1 s)
            await().atMost(Duration.ofSeconds(5)).until(() -> worker.events.stream().anyMatch(e -> e.startsWith("lost")));
            // the leader's main thread stops for a moment, so the worker's read comes before the fresh version
            CountDownLatch leaderPaused = h.freezeNow(leader);
            paused.countDown();
            assertThat(atHorizon.await(5, java.util.concurrent.TimeUnit.SECONDS)).as("the horizon read").isTrue();
            leaderPaused.countDown();
            // held right after the read: the leader publishes a fresh version for the fenced worker meanwhile
            await().atMost(Duration.ofSeconds(5)).until(() ->
                    ChunkedAssignment.version(kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value()) > before);
            long fresh = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).revision();
            // the rest of the pause: until the worker's watch has delivered that version
            await("the worker's watch delivers the fresh version").atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(5)).until(() -> w.assignmentRevisionSeen() >= fresh);
            release.countDown();
        }
        await("the fenced worker owns again").atMost(Duration.ofSeconds(5)).until(() -> worker.owned.size() == 2);
        assertThat(h.overlaps).isEmpty();
    }
}
