package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, hole 4: a deposed leader never gets a publication in. Every write is made under a lease
 * valid at that moment, the new leader fences the assignment chain before it computes, and a
 * publication that lost its compare-and-set is remembered for the two-phase handoff.
 */
class LeaderFencingTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void close() {
        h.close();
    }

    /** Every assignment record written, in order, as (leaderId, epoch, version), from a raw watch. */
    private static AutoCloseable recordPublications(Connection nc, String group, List<AssignmentRecord> out) {
        KvGateway kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
        kv.provision(Holes.fastTtls(), 1);
        return kv.watch(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, e -> {
            if (!e.deleted()) {
                out.add(Codec.decodeAssignment(e.value()));
            }
        });
    }

    @Test
    void aLeaderWhosePartitionSourceBlocksPastItsLeaseNeverPublishesAfterward() throws Exception {
        List<Partition> six = Holes.partitions(6);
        List<Partition> seven = Holes.partitions(7);
        AtomicInteger armed = new AtomicInteger(); // 2: next read answers seven at once; 1: next read blocks, then seven
        CountDownLatch unblock = new CountDownLatch(1);
        h.latches.add(unblock);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("h4-source", nats.url(), six).recoveryGrace(Duration.ofSeconds(1))
                .partitionSource(() -> {
                    int step = armed.getAndUpdate(x -> Math.max(0, x - 1));
                    if (step == 1) {
                        unblock.await(); // user I/O that takes longer than the leader lease
                    }
                    return step > 0 ? seven : six;
                }), oa);
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        GroupMember b = h.start(Holes.fast("h4-source", nats.url(), six).recoveryGrace(Duration.ofSeconds(1)), h.new Owner("b"));
        await().atMost(Duration.ofSeconds(10)).until(() -> b.assignmentVersion() > 0 && b.assignmentVersion() == a.assignmentVersion()
                && !b.currentAssignment().isEmpty() && a.currentAssignment().size() + b.currentAssignment().size() == 6);

        List<AssignmentRecord> published = new CopyOnWriteArrayList<>();
        try (Connection nc = Nats.connect(nats.url()); AutoCloseable w = recordPublications(nc, "h4-source", published)) {
            await().atMost(Duration.ofSeconds(2)).until(() -> !published.isEmpty());
            String aId = a.workerId();
            // the refresh reads seven partitions; the rebalance that follows reads the source again and blocks there
            armed.set(2);
            a.refreshPartitions();
            await().atMost(Duration.ofSeconds(5)).until(b::isLeader);
            int seenWhenDeposed = published.size();
            unblock.countDown(); // the deposed leader's main thread goes on: strategy, then publish
            // b's recovery grace (1 s) has not ended: anything written now came from the deposed leader
            await().pollDelay(Duration.ofMillis(700)).atMost(Duration.ofSeconds(1)).until(() -> true);
            List<AssignmentRecord> after = new ArrayList<>(published.subList(seenWhenDeposed, published.size()));
            assertThat(after).as("records written after %s was deposed", aId)
                    .noneMatch(r -> r.leaderId().equals(aId) && r.version() > published.get(0).version());
        }
    }

    @Test
    void aWriteOfTheDeposedLeaderArrivingAfterTheNewLeaderStartedLosesItsCompareAndSet() throws Exception {
        GroupMember a = h.start(Holes.fast("h4-fence", nats.url(), Holes.partitions(6)).recoveryGrace(Duration.ofSeconds(2)), h.new Owner("a"));
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        GroupMember b = h.start(Holes.fast("h4-fence", nats.url(), Holes.partitions(6)).recoveryGrace(Duration.ofSeconds(2)), h.new Owner("b"));
        await().atMost(Duration.ofSeconds(10)).until(() -> !b.currentAssignment().isEmpty()
                && b.assignmentVersion() == a.assignmentVersion());
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("h4-fence"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            // what the leader's next write was based on, e.g. a request jnats holds back while disconnected
            AssignmentPublisher inFlight = new AssignmentPublisher(kv);
            AssignmentRecord seen = inFlight.load();
            h.freeze(a);
            await().atMost(Duration.ofSeconds(5)).until(b::isLeader);
            // the new leader has started: it fenced the chain (a rewrite of the same version under its ID),
            // and it is inside its 2 s recovery grace: it has computed and published nothing yet
            await().atMost(Duration.ofMillis(1500)).until(() -> {
                KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
                return e != null && b.workerId().equals(Codec.decodeAssignment(e.value()).leaderId());
            });
            AssignmentRecord late = inFlight.publish(Map.of(a.workerId(), Holes.partitions(6)), a.workerId(), seen.epoch());
            assertThat(late).as("a deposed leader's write landing after the new leader started").isNull();
            assertThat(inFlight.current().version()).isEqualTo(seen.version());
        }
    }

    /**
     * The new leader's publication loses its CAS to a record it never saw (worker C may be acquiring
     * X from it): the next version must not give X to D before C has acknowledged that record.
     */
    @Test
    void aPublicationThatLostItsCompareAndSetFeedsTheHandoff() throws Exception {
        Partition x = Partition.of("t", "x");
        Partition y = Partition.of("t", "y");
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("h4-history"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            new AssignmentPublisher(kv).publish(Map.of("C", List.of(y), "D", List.of()), "old", 1);
            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast("h4-history", nats.url(), List.of(x, y)).build();
            AssignmentPublisher mine = new AssignmentPublisher(kv);
            Calculator n = new Calculator(config, now::get, mine, "N", s -> { }, () -> true);
            List<KvGateway.Entry> beats = List.of(
                    beat("C", 11, new Heartbeat("c-1", 1, Set.of(y), false, 1)),
                    beat("D", 12, new Heartbeat("d-1", 1, Set.of(), false, 1)));
            n.begin(7, beats, false);

            // a record N never saw: X goes to C
            AssignmentPublisher foreign = new AssignmentPublisher(kv);
            foreign.load();
            assertThat(foreign.publish(Map.of("C", List.of(x, y), "D", List.of()), "other", 8)).isNotNull();

            now.addAndGet(Duration.ofSeconds(2).toNanos()); // past the recovery grace
            assertThat(n.tick()).as("N's publication loses its CAS").isFalse();
            n.tick();
            AssignmentRecord next = mine.current();
            assertThat(next.leaderId()).isEqualTo("N");
            assertThat(next.of("D")).as("X given to D while C may be acquiring it (C has not acknowledged version 2)")
                    .doesNotContain(x);
        }
    }

    /**
     * Hole 12: the leader reads a heartbeat key (scan or check) and then handles an older watch event
     * of the same key, e.g. the delete marker of a leave before the worker came back: revisions of a
     * key only grow, so the late event must not make a live worker look gone.
     */
    @Test
    void aLateHeartbeatEventOlderThanWhatWasReadIsIgnored() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("h12-order"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast("h12-order", nats.url(), Holes.partitions(2)).build();
            Calculator n = new Calculator(config, now::get, new AssignmentPublisher(kv), "N", s -> { }, () -> true);
            n.begin(3, List.of(beat("C", 12, new Heartbeat("c-2", 0, Set.of(), false, 1))), false);
            assertThat(n.liveWorkers(now.get())).containsExactly("C");
            n.onHeartbeat(new KvGateway.Entry("C", null, 11, true), now.get()); // the delete of an earlier leave, delivered late
            assertThat(n.liveWorkers(now.get())).as("a worker whose newer heartbeat was read").containsExactly("C");
            n.onHeartbeat(new KvGateway.Entry("C", null, 13, true), now.get()); // a real leave after it
            assertThat(n.liveWorkers(now.get())).isEmpty();
        }
    }

    private static KvGateway.Entry beat(String id, long revision, Heartbeat hb) {
        return new KvGateway.Entry(id, Codec.encode(hb), revision, false);
    }
}
