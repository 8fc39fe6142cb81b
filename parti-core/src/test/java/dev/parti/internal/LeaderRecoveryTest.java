package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.ManagerState;
import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, holes 5, 6, 8, 9 and 10: a leader facing failures (KV, partition source, payload,
 * unreadable record, a restart seen at the start of its term) keeps the group going: never half
 * built, never revoking everything for a source hiccup, never stalled, never publishing a version
 * workers ignore.
 */
class LeaderRecoveryTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void close() {
        h.close();
    }

    /** Hole 6: the next leader's first read fails (its bucket was deleted): it must not lead half built. */
    @Test
    void aLeaderWhoseStartFailsIsRebuiltWholeOnceTheBucketIsBack() throws Exception {
        var ps = Holes.partitions(6);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("h6-build", nats.url(), ps), oa);
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        Holes.Owner ob = h.new Owner("b");
        GroupMember b = h.start(Holes.fast("h6-build", nats.url(), ps), ob);
        await().atMost(Duration.ofSeconds(10)).until(() -> ob.owned.size() == 3 && oa.owned.size() == 3
                && a.assignmentVersion() == b.assignmentVersion());
        long before = b.assignmentVersion();
        BucketNames names = new BucketNames("h6-build");
        try (Connection nc = Nats.connect(nats.url())) {
            nc.keyValueManagement().delete(names.name(Bucket.ASSIGNMENT)); // operator error
            h.freeze(a); // the leader stalls for good: b takes over and its first read fails
            await().atMost(Duration.ofSeconds(5)).until(b::isLeader);
            await().pollDelay(Duration.ofMillis(300)).atMost(Duration.ofSeconds(1)).until(() -> true);
            KvGateway kv = new KvGateway(nc, names, Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1); // the operator puts it back (empty), with the group's TTLs
        }
        // a's session ended: b owns everything under a version above anything it applied before
        await().atMost(Duration.ofSeconds(10)).until(() -> ob.owned.size() == 6 && b.assignmentVersion() > before);
        assertThat(h.overlaps).isEmpty();
    }

    /**
     * Hole 6: a KV call failing inside the new leader's start (here a timeout, injected once) must not
     * leave a half-built leader (no known workers, epoch 0, no heartbeat watch, a cold-start wait and a
     * rebalance from nothing): the start is retried whole and the crashed leader's partitions move at once.
     */
    @Test
    void aKvFailureWhileBecomingLeaderIsRetriedWhole() throws Exception {
        var ps = Holes.partitions(6);
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("h6-half", nats.url(), ps)
                .coldStartWindow(Duration.ofSeconds(4));
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(config.get(), oa);
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        Holes.Owner ob = h.new Owner("b");
        GroupMember b = h.start(config.get(), ob);
        await().atMost(Duration.ofSeconds(15)).until(() -> ob.owned.size() == 3 && oa.owned.size() == 3
                && a.assignmentVersion() == b.assignmentVersion());
        AtomicBoolean once = new AtomicBoolean(true);
        b.faults = point -> {
            if (point.equals("become-leader") && once.getAndSet(false)) {
                throw new KvGateway.KvUnavailableException("injected: timeout while becoming leader", null);
            }
        };
        List<Codec.AssignmentRecord> published = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("h6-half"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            try (AutoCloseable w = kv.watch(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, e -> {
                if (!e.deleted()) {
                    published.add(Codec.decodeAssignment(e.value()));
                }
            })) {
                h.freeze(a); // the leader stalls for good
                await().atMost(Duration.ofSeconds(5)).until(b::isLeader);
                long since = System.nanoTime();
                await().atMost(Duration.ofSeconds(8)).until(() -> ob.owned.size() == 6);
                assertThat(once.get()).as("the fault was injected").isFalse();
                // session 1 s + recovery grace + emergency: well below the 4 s cold-start window
                assertThat(Duration.ofNanos(System.nanoTime() - since)).isLessThan(Duration.ofMillis(3000));
                assertThat(published).filteredOn(r -> r.leaderId().equals(b.workerId()))
                        .isNotEmpty().allMatch(r -> r.epoch() > 0, "published under b's epoch");
            }
        }
        assertThat(h.overlaps).isEmpty();
    }

    /** Hole 8: a new leader whose partition source fails keeps the published partitions and retries. */
    @Test
    void aNewLeaderWithAFailingPartitionSourceRevokesNothingAndRetries() throws Exception {
        var ps = Holes.partitions(6);
        AtomicBoolean failing = new AtomicBoolean(true);
        Holes.Owner ob = h.new Owner("b");
        GroupMember a = h.start(Holes.fast("h8-source", nats.url(), ps), h.new Owner("a"));
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        GroupMember b = h.start(Holes.fast("h8-source", nats.url(), ps).partitionSource(() -> {
            if (failing.get()) {
                throw new IllegalStateException("metadata service down");
            }
            return ps;
        }), ob);
        await().atMost(Duration.ofSeconds(10)).until(() -> ob.owned.size() == 3);
        a.close(false); // b leads now, with a source that fails
        await().atMost(Duration.ofSeconds(5)).until(() -> b.isLeader() && ob.owned.size() == 6);
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> ob.owned.size() == 6);
        assertThat(ob.events).noneMatch(e -> e.startsWith("revoked"));
        failing.set(false);
        Holes.Owner oc = h.new Owner("c");
        h.start(Holes.fast("h8-source", nats.url(), ps), oc);
        await().atMost(Duration.ofSeconds(10)).until(() -> oc.owned.size() == 3 && ob.owned.size() == 3);
        assertThat(h.overlaps).isEmpty();
    }

    /** Hole 8: the same with a source that answers an empty list (a metadata hiccup): nothing is revoked. */
    @Test
    void aNewLeaderWhosePartitionSourceAnswersNothingRevokesNothing() throws Exception {
        var ps = Holes.partitions(6);
        AtomicBoolean empty = new AtomicBoolean(true);
        Holes.Owner ob = h.new Owner("b");
        GroupMember a = h.start(Holes.fast("h8-empty", nats.url(), ps).coldStartWindow(Duration.ofSeconds(10)), h.new Owner("a"));
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        GroupMember b = h.start(Holes.fast("h8-empty", nats.url(), ps).coldStartWindow(Duration.ofSeconds(10))
                .partitionSource(() -> empty.get() ? List.of() : ps), ob);
        await().atMost(Duration.ofSeconds(20)).until(() -> ob.owned.size() == 3);
        a.close(false);
        await().atMost(Duration.ofSeconds(5)).until(() -> b.isLeader() && ob.owned.size() == 6);
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> ob.owned.size() == 6);
        assertThat(ob.events).noneMatch(e -> e.startsWith("revoked"));
    }

    /**
     * Hole 9, then issue 19: an assignment above the max payload was not published (the group froze); it is now
     * published in pieces (ChunkedAssignment), and the leader goes back to an inline record once it fits again.
     */
    @Test
    void anAssignmentAboveTheMaxPayloadIsPublishedInPiecesAndInlineAgainWhenItFits() throws Exception {
        List<Partition> big = new ArrayList<>();
        String topic = "x".repeat(250);
        for (int i = 0; i < 5000; i++) {
            big.add(Partition.of(topic, Integer.toString(i)));
        }
        var small = Holes.partitions(6);
        AtomicReference<List<Partition>> source = new AtomicReference<>(small);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("h9-payload", nats.url(), small).partitionSource(source::get), oa);
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 6);
        long before = a.assignmentVersion();
        source.set(big);
        a.refreshPartitions(); // the record for 5000 long partition names is above 1 MB
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 5000);
        assertThat(a.assignmentVersion()).isGreaterThan(before);
        List<Partition> fits = Holes.partitions(8);
        source.set(fits); // the partitions shrink again; nobody calls refreshPartitions()
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 8);
        // the calculator leaves REBALANCING just after the publication the listener acted on
        await().atMost(Duration.ofSeconds(5)).until(() -> a.state() == ManagerState.STABLE);
    }

    /** Hole 10: an unreadable assignment record must not restart versions at 1 (workers ignore those). */
    @Test
    void anUnreadableAssignmentRecordDoesNotRestartTheVersions() throws Exception {
        var ps = Holes.partitions(6);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("h10-garbage", nats.url(), ps), oa);
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        Holes.Owner ob = h.new Owner("b");
        GroupMember b = h.start(Holes.fast("h10-garbage", nats.url(), ps), ob);
        await().atMost(Duration.ofSeconds(10)).until(() -> ob.owned.size() == 3 && oa.owned.size() == 3);
        try (Connection nc = Nats.connect(nats.url())) {
            // a record from a future format, or a manual put
            nc.keyValue(new BucketNames("h10-garbage").name(Bucket.ASSIGNMENT))
                    .put(AssignmentPublisher.KEY, "parti/9\nsomething=new".getBytes(StandardCharsets.UTF_8));
        }
        Holes.Owner oc = h.new Owner("c");
        GroupMember c = h.start(Holes.fast("h10-garbage", nats.url(), ps), oc);
        await().atMost(Duration.ofSeconds(10)).until(() -> oc.owned.size() == 2 && oa.owned.size() == 2 && ob.owned.size() == 2);
        assertThat(c.assignmentVersion()).isEqualTo(a.assignmentVersion()).isEqualTo(b.assignmentVersion());
        assertThat(h.overlaps).isEmpty();
    }

    /**
     * Hole 5: a new leader that starts while most workers are away takes it for a restart; once they
     * are all back, the next single crash is an emergency again, not a cold-start-window wait.
     */
    @Test
    void afterARestartEveryoneCameBackFromTheNextCrashIsAnEmergency() throws Exception {
        var ps = Holes.partitions(8);
        // a leader TTL above the session: the next leader starts after the paused workers' sessions ended
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("h5-restart", nats.url(), ps)
                .leaderTtl(Duration.ofMillis(2000)).recoveryGrace(Duration.ofMillis(1500))
                .coldStartWindow(Duration.ofSeconds(6)).workerIdTtl(Duration.ofSeconds(5));
        GroupMember a = h.start(config.get(), h.new Owner("a"));
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        GroupMember b = h.start(config.get(), h.new Owner("b"));
        GroupMember c = h.start(config.get(), h.new Owner("c"));
        Holes.Owner od = h.new Owner("d");
        GroupMember d = h.start(config.get(), od);
        await().atMost(Duration.ofSeconds(20)).until(() -> List.of(a, b, c, d).stream()
                .allMatch(m -> m.currentAssignment().size() == 2 && m.assignmentVersion() == a.assignmentVersion()));

        var ra = h.freeze(a);
        var rb = h.freeze(b);
        var rc = h.freeze(c);
        await().atMost(Duration.ofSeconds(6)).until(d::isLeader); // starts with 3 of 4 workers away: a restart
        ra.countDown();
        rb.countDown();
        rc.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> List.of(a, b, c, d).stream()
                .allMatch(m -> m.currentAssignment().size() == 2 && m.isLeaseValid()));

        List<ManagerState> leaderStates = new java.util.concurrent.CopyOnWriteArrayList<>();
        d.addStateListener((from, to) -> leaderStates.add(to));
        h.freeze(c); // c crashes for good
        long crash = System.nanoTime();
        // session 1 s + grace: far below the 6 s cold-start window a restart would wait
        await().atMost(Duration.ofSeconds(4)).until(() -> c.currentAssignment().isEmpty()
                && List.of(a, b, d).stream().mapToInt(m -> m.currentAssignment().size()).sum() == 8);
        assertThat(Duration.ofNanos(System.nanoTime() - crash)).isLessThan(Duration.ofSeconds(4));
        assertThat(leaderStates).contains(ManagerState.EMERGENCY);
    }
}
