package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.LossPolicy;
import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.TcpProxy;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator (docs/SIMULATION.md, finding 17): a worker back from a pause longer than its ID's lease
 * writes its heartbeat first, while the ID's lease is still stale, so that heartbeat does not end the stale-lease
 * episode; the ID's renewal, right after in the same round, is what makes the whole lease valid again. It must end
 * the episode as well: otherwise the worker acquires, and when its lease goes stale again before its next
 * heartbeat (its main thread stalled again), the lease watchdog takes the episode as handled and never fences.
 *
 * <p>Against a real nats-server: the worker's link is cut ({@link TcpProxy#refuse()}) right after an ID renewal (seen on
 * the ID key) for longer than the ID's lease; then its main thread is frozen (a GC pause) after the round that renewed
 * the ID and the next one, which read the assignment horizon, before its next heartbeat, and the leader publishes a
 * version that gives the worker partitions. The worker must fence once its lease lapses inside that pause. (A pause
 * for the first episode does not reproduce it: the heartbeat the fence asks for then runs right after the renewal.)
 */
class StaleEpisodeEndedByIdRenewalTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();
    private final List<TcpProxy> proxies = new CopyOnWriteArrayList<>();

    @AfterEach
    void tearDown() {
        h.close();
        proxies.forEach(TcpProxy::close);
        ReintroducedBugs.reset();
    }

    @Test
    void aWorkerWhoseIdRenewalEndedAStaleEpisodeFencesWhenItsLeaseLapsesAgain() throws Exception {
        List<Partition> four = Holes.partitions(4);
        List<Partition> five = Holes.partitions(5);
        List<List<Partition>> source = new CopyOnWriteArrayList<>(List.of(four));
        // heartbeats 400 ms apart (a tick every 100 ms): the second freeze fits between the horizon read and the
        // next heartbeat. Session lease 1.4 s, ID lease 2.4 s, renewed every 1.5 s. The longest emergency grace (a session): the
        // leader moves nothing while the worker is away.
        Supplier<PartiConfig.Builder> config = () -> PartiConfig.builder("stale-episode-id").natsUrl(nats.url())
                .partitionSource(() -> source.get(source.size() - 1)).lossPolicy(LossPolicy.FENCE)
                .heartbeatInterval(Duration.ofMillis(400)).sessionTimeout(Duration.ofSeconds(2))
                .safetyMargin(Duration.ofMillis(600)).workerIdTtl(Duration.ofSeconds(3))
                .emergencyGrace(Duration.ofSeconds(2)).coldStartWindow(Duration.ofMillis(200))
                .plannedScaleWindow(Duration.ofMillis(200)).rebalanceCooldown(Duration.ofMillis(100));
        Holes.Owner leaderOwner = h.new Owner("M#1");
        GroupMember leader = h.start(config.get().workerId("M"), leaderOwner);
        await().atMost(Duration.ofSeconds(10)).until(leader::isLeader);
        Holes.Owner worker = h.new Owner("W#1");
        TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.server().port());
        proxies.add(proxy);
        GroupMember w = h.start(config.get().workerId("W").natsUrl(proxy.url("nats")), worker);
        await().atMost(Duration.ofSeconds(10)).until(() -> worker.owned.size() == 2 && leaderOwner.owned.size() == 2);

        BlockingQueue<long[]> renewals = new LinkedBlockingQueue<>(); // {revision, nanoTime seen}
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("stale-episode-id"), Duration.ofSeconds(2));
            kv.open();
            try (AutoCloseable ids = kv.watch(Bucket.IDS, "W", e -> renewals.add(new long[] {e.revision(), System.nanoTime()}))) {
                // episode 1: cut off right after an ID renewal, for longer than the ID's lease (2.4 s); its main thread
                // keeps running (every KV step fails at once), so the heartbeat the fence asks for is tried and fails
                long seen = kv.get(Bucket.IDS, "W").revision();
                long renewedAt = nextRenewal(renewals, seen)[1];
                proxy.refuse();
                await().atMost(Duration.ofSeconds(5)).until(() -> worker.events.stream().anyMatch(e -> e.startsWith("lost")));
                seen = kv.get(Bucket.IDS, "W").revision();
                long cutEnds = renewedAt + Duration.ofMillis(2700).toNanos(); // the cut's length: past the ID's lease
                Thread.sleep(Math.max(0, (cutEnds - System.nanoTime()) / 1_000_000));
                AtomicInteger horizonReads = new AtomicInteger();
                w.faults = point -> {
                    if ("horizon-read".equals(point)) {
                        horizonReads.incrementAndGet();
                    }
                };
                proxy.restore();
                // the round after the reconnection: the heartbeat (the ID's lease still stale), then the ID renewal
                nextRenewal(renewals, seen);
                // the next round reads the assignment horizon; the next heartbeat is 400 ms after the last
                await("the worker read the assignment horizon").atMost(Duration.ofSeconds(2))
                        .pollInterval(Duration.ofMillis(5)).until(() -> horizonReads.get() > 0);
                CountDownLatch second = h.freeze(w);
                long lostBefore = worker.events.stream().filter(e -> e.startsWith("lost")).count();
                source.add(five);
                leader.refreshPartitions(); // a version published after the horizon gives the worker partitions
                await().atMost(Duration.ofSeconds(2)).until(() -> !worker.owned.isEmpty());
                // its lease lapses inside the second pause: it must fence
                await("the worker fences once its lease lapsed again").atMost(Duration.ofSeconds(4))
                        .until(() -> worker.events.stream().filter(e -> e.startsWith("lost")).count() > lostBefore);
                second.countDown();
            }
        }
        assertThat(h.overlaps).isEmpty();
    }

    /** Waits for a write of the ID key after {@code revision}: a renewal. */
    private static long[] nextRenewal(BlockingQueue<long[]> renewals, long revision) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            long[] e = renewals.poll(100, TimeUnit.MILLISECONDS);
            if (e != null && e[0] > revision) {
                return e;
            }
        }
        throw new AssertionError("no renewal of the ID after revision " + revision);
    }
}
