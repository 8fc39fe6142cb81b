package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.DegradedReason;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.StateListener;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Issue 12, hole 11 (the smaller ones) and the typed degraded reasons, against a real nats-server. */
class ProtocolDetailsTest {
    private NatsServer nats;
    private final Holes h = new Holes();

    @BeforeEach
    void startNats() {
        nats = NatsServer.start();
    }

    @AfterEach
    void stop() {
        h.close();
        nats.close();
    }

    @Test
    void theLeaderMayGoFromEmergencyToScaling() {
        assertThat(ManagerState.EMERGENCY.canMoveTo(ManagerState.SCALING)).isTrue();
    }

    /** Hole 11: a leader that loses its ID deletes the leader key, so the group is not leaderless for a leader TTL. */
    @Test
    void aLeaderThatLosesItsIdFreesTheLeaderKeyAtOnce() throws Exception {
        var ps = Holes.partitions(4);
        java.util.function.Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast("h11-idlost", nats.url(), ps)
                .leaderTtl(Duration.ofSeconds(6)).workerIdTtl(Duration.ofSeconds(2));
        GroupMember a = h.start(config.get(), h.new Owner("a"));
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        h.start(config.get(), h.new Owner("b"));
        BucketNames names = new BucketNames("h11-idlost");
        try (Connection nc = Nats.connect(nats.url())) {
            var leaderKv = nc.keyValue(names.name(Bucket.LEADER));
            byte[] aLeads = leaderKv.get(LeaderElection.KEY).getValue(); // renewals keep these bytes, with new revisions
            // another instance takes a's ID (an operator, or a zombie's late write): a's next renewal fails
            nc.keyValue(names.name(Bucket.IDS)).put(a.workerId(), Codec.encode(new Codec.IdRecord("thief")));
            long stolen = System.nanoTime();
            await().atMost(Duration.ofSeconds(4)).until(() -> {
                var e = leaderKv.get(LeaderElection.KEY);
                return e == null || e.getOperation() != io.nats.client.api.KeyValueOperation.PUT
                        || !java.util.Arrays.equals(e.getValue(), aLeads);
            });
            // well below the 6 s leader TTL the key would otherwise live
            assertThat(Duration.ofNanos(System.nanoTime() - stolen)).isLessThan(Duration.ofSeconds(4));
        }
    }

    /**
     * Hole 11: {@code isLeaseValid()} counts the ID's own expiry, and refused renewals are not only
     * logged. Here the server refuses every write to the IDs bucket (an operator sealed it) while
     * heartbeats still succeed: the ID lapses on the server, so a newcomer could claim it. The worker
     * stops being a safe owner and gives its partitions up; it recovers once the bucket is usable again.
     */
    @Test
    void aWorkerWhoseIdRenewalsAreRefusedIsNoLongerASafeOwner() throws Exception {
        var ps = Holes.partitions(4);
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("h11-idttl", nats.url(), ps).workerIdTtl(Duration.ofSeconds(2)), oa);
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 4);
        String stream = "KV_" + new BucketNames("h11-idttl").name(Bucket.IDS);
        try (Connection nc = Nats.connect(nats.url())) {
            var jsm = nc.jetStreamManagement();
            jsm.updateStream(io.nats.client.api.StreamConfiguration.builder(jsm.getStreamInfo(stream).getConfiguration()).seal().build());
            await().atMost(Duration.ofSeconds(5)).until(() -> !a.isLeaseValid());
            await().atMost(Duration.ofSeconds(2)).until(() -> oa.events.stream().anyMatch(e -> e.startsWith("lost")));
            assertThat(a.degradedReasons()).contains(DegradedReason.KV_REJECTED, DegradedReason.LEASE_STALE);
            jsm.deleteStream(stream); // the operator removes the sealed bucket: the worker creates it again
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> a.isLeaseValid() && oa.owned.size() == 4);
        await().atMost(Duration.ofSeconds(5)).until(() -> a.degradedReasons().isEmpty());
    }

    /**
     * A bucket deleted under a running group (operator error): detected and reported as
     * {@code bucket-missing}, the buckets are created again, the restarted assignment chain is seen
     * ({@code bucket-recreated}) and continues above every applied version; nobody owns twice.
     */
    @Test
    void aDeletedAssignmentBucketIsDetectedCreatedAgainAndTheGroupRecovers() throws Exception {
        var source = new java.util.concurrent.atomic.AtomicReference<>(Holes.partitions(6));
        List<String> reasons = new CopyOnWriteArrayList<>();
        StateListener record = new StateListener() {
            @Override
            public void onStateChange(ManagerState from, ManagerState to) { }

            @Override
            public void onDegraded(DegradedReason reason, String detail) {
                reasons.add(reason.code());
            }
        };
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("deleted", nats.url(), List.of()).partitionSource(source::get), oa);
        await().atMost(Duration.ofSeconds(5)).until(a::isLeader);
        Holes.Owner ob = h.new Owner("b");
        GroupMember b = h.start(Holes.fast("deleted", nats.url(), List.of()).partitionSource(source::get), ob);
        a.addStateListener(record);
        b.addStateListener(record);
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 3 && ob.owned.size() == 3
                && a.assignmentVersion() == b.assignmentVersion());
        long before = a.assignmentVersion();
        try (Connection nc = Nats.connect(nats.url())) {
            nc.keyValueManagement().delete(new BucketNames("deleted").name(Bucket.ASSIGNMENT));
        }
        // a change that needs a publication: the leader meets the missing bucket
        source.set(Holes.partitions(8));
        a.refreshPartitions();
        await().atMost(Duration.ofSeconds(15)).until(() -> reasons.contains("bucket-missing"));
        await().atMost(Duration.ofSeconds(15)).until(() -> oa.owned.size() == 4 && ob.owned.size() == 4
                && a.assignmentVersion() > before && a.assignmentVersion() == b.assignmentVersion());
        await().atMost(Duration.ofSeconds(5)).until(() -> a.degradedReasons().isEmpty() && b.degradedReasons().isEmpty());
        assertThat(h.overlaps).isEmpty();
    }

    /** Hole 11: when revokeAll does not finish on close, the heartbeat and ID stay until the session expires. */
    @Test
    void aCloseWhoseRevokeTimesOutKeepsTheHeartbeatAndTheId() throws Exception {
        var ps = Holes.partitions(4);
        Holes.Owner oa = h.new Owner("a");
        GroupMember leader = h.start(Holes.fast("h11-close", nats.url(), ps).workerIdTtl(Duration.ofSeconds(30)), h.new Owner("leader"));
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        GroupMember a = h.start(Holes.fast("h11-close", nats.url(), ps).workerIdTtl(Duration.ofSeconds(30)), oa);
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 2);
        String id = a.workerId();
        CountDownLatch never = new CountDownLatch(1);
        h.latches.add(never);
        oa.holdRevoke = never; // onRevoked does not return within the close timeout (session + 5 s)
        BucketNames names = new BucketNames("h11-close");
        try (Connection nc = Nats.connect(nats.url())) {
            var idKv = nc.keyValue(names.name(Bucket.IDS));
            Thread closer = new Thread(() -> a.close(false), "closer");
            closer.start();
            closer.join(20_000);
            assertThat(closer.isAlive()).isFalse();
            var e = idKv.get(id);
            assertThat(e != null && e.getOperation() == io.nats.client.api.KeyValueOperation.PUT)
                    .as("the ID of a worker whose onRevoked did not return is kept until it expires").isTrue();
        }
    }

    /** Typed degraded reasons: reported to the StateListener, the metrics and degradedReasons(), in order. */
    @Test
    void degradedReasonsAreReportedWhenTheyStartAndWhenTheyClear() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        List<String> metrics = new CopyOnWriteArrayList<>();
        List<ManagerState[]> transitions = new CopyOnWriteArrayList<>();
        MetricsRecorder recorder = new MetricsRecorder() {
            @Override
            public void degraded(DegradedReason reason, boolean active) {
                metrics.add(reason.code() + "=" + active);
            }
        };
        Holes.Owner oa = h.new Owner("a");
        GroupMember a = h.start(Holes.fast("reasons", nats.url(), Holes.partitions(4)).metrics(recorder), oa);
        a.addStateListener(new StateListener() {
            @Override
            public void onStateChange(ManagerState from, ManagerState to) {
                transitions.add(new ManagerState[] {from, to});
            }

            @Override
            public void onDegraded(DegradedReason reason, String detail) {
                seen.add("+" + reason.code());
            }

            @Override
            public void onRecovered(DegradedReason reason) {
                seen.add("-" + reason.code());
            }
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> oa.owned.size() == 4);
        nats.kill();
        await().atMost(Duration.ofSeconds(5)).until(() -> a.degradedReasons().contains(DegradedReason.KV_UNAVAILABLE)
                && a.degradedReasons().contains(DegradedReason.LEASE_STALE));
        assertThat(a.state()).isEqualTo(ManagerState.DEGRADED);
        nats.restart();
        await().atMost(Duration.ofSeconds(20)).until(() -> a.degradedReasons().isEmpty() && oa.owned.size() == 4
                && a.state() == ManagerState.STABLE);
        await().atMost(Duration.ofSeconds(2)).until(() -> seen.contains("-kv-unavailable") && seen.contains("-lease-stale"));
        assertThat(seen).contains("+kv-unavailable", "+lease-stale");
        assertThat(metrics).contains("kv-unavailable=true", "lease-stale=true", "kv-unavailable=false", "lease-stale=false");
        // listeners see the transitions in order: each one starts where the previous ended
        for (int i = 1; i < transitions.size(); i++) {
            assertThat(transitions.get(i)[0]).as("transition %d", i).isEqualTo(transitions.get(i - 1)[1]);
        }
    }
}
