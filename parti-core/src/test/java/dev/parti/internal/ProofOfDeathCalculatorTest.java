package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The leader's side of proof of death, step by step on a virtual clock (the assignment chain on a real nats-server):
 * a worker counts as stopped only if the heartbeat read after the grace still names the closed connection; then its
 * partitions go to another worker at once, without its release; a worker that wrote a heartbeat over a new connection
 * is untouched, and one that comes back over a new connection is live again.
 */
class ProofOfDeathCalculatorTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final Partition X = Partition.of("t", "x");
    private static final Partition Y = Partition.of("t", "y");

    private static Heartbeat hb(String instance, long applied, Set<Partition> owned, String connection) {
        return new Heartbeat(instance, applied, owned, false, 1, Map.of(), 0, Set.of(), connection);
    }

    private static KvGateway.Entry beat(String id, long revision, Heartbeat h) {
        return new KvGateway.Entry(id, Codec.encode(h), revision, false);
    }

    /** A leader N over workers A (connection S:1, owns X) and B (S:2, owns Y), both at version 1. */
    private record Group(Calculator n, AssignmentPublisher publisher, AtomicLong now) { }

    private static Group group(String name, Connection nc) {
        KvGateway kv = new KvGateway(nc, new BucketNames(name), Duration.ofSeconds(2));
        kv.provision(Holes.fastTtls(), 1);
        AssignmentPublisher old = new AssignmentPublisher(kv);
        old.publish(Map.of("A", List.of(X), "B", List.of(Y)), "old", 1);
        AtomicLong now = new AtomicLong(1_000_000_000L);
        AssignmentPublisher mine = new AssignmentPublisher(kv);
        Calculator n = new Calculator(Holes.fast(name, nats.url(), List.of(X, Y)).build(), now::get, mine, "N", s -> { },
                () -> true);
        n.begin(2, List.of(beat("A", 11, hb("a-1", 1, Set.of(X), "S:1")), beat("B", 12, hb("b-1", 1, Set.of(Y), "S:2"))),
                false);
        now.addAndGet(Duration.ofSeconds(2).toNanos()); // past the recovery grace
        n.tick();
        return new Group(n, mine, now);
    }

    @Test
    void aWorkerWhoseHeartbeatStillNamesTheClosedConnectionIsStoppedAndItsPartitionsMoveWithoutItsRelease() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            Group g = group("pod-calc-stopped", nc);
            assertThat(g.n().liveWorkers(g.now().get())).containsExactly("A", "B");
            assertThat(g.n().workersOn("S:1", g.now().get())).containsExactly("A");
            assertThat(g.n().workersOn("S:9", g.now().get())).isEmpty();

            g.n().onConnectionClosed("A", "S:1", beat("A", 13, hb("a-1", 2, Set.of(X), "S:1")), g.now().get());
            assertThat(g.n().liveWorkers(g.now().get())).containsExactly("B");
            g.n().tick();
            // A's last heartbeat still reports X held: only the proof lets X go to B now (no release, no session)
            assertThat(g.publisher().current().of("B")).contains(X, Y);
            assertThat(g.publisher().current().of("A")).isEmpty();
            assertThat(g.n().workersOn("S:1", g.now().get())).as("counted once").isEmpty();

            // the same instance back over a new connection (fenced, owning nothing): live again
            g.now().addAndGet(Duration.ofMillis(100).toNanos());
            g.n().onHeartbeat(new KvGateway.Entry("A", Codec.encode(new Heartbeat("a-1", 2, Set.of(), true, 1, Map.of(), 0,
                    Set.of(), "S:3")), 14, false), g.now().get());
            assertThat(g.n().liveWorkers(g.now().get())).containsExactly("A", "B");
        }
    }

    @Test
    void aWorkerThatAlreadyWroteOverANewConnectionIsNotStopped() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            Group g = group("pod-calc-reconnected", nc);
            long published = g.publisher().current().version();
            // the leader's view still names S:1, but the read after the grace finds a heartbeat over S:7
            g.n().onConnectionClosed("A", "S:1", beat("A", 13, hb("a-1", published, Set.of(X), "S:7")), g.now().get());
            assertThat(g.n().liveWorkers(g.now().get())).containsExactly("A", "B");
            g.n().tick();
            assertThat(g.publisher().current().of("A")).containsExactly(X);
            assertThat(g.publisher().current().of("B")).containsExactly(Y);
            // a key found gone leaves the decision to the ordinary expiry path
            g.n().onConnectionClosed("B", "S:2", null, g.now().get());
            assertThat(g.n().liveWorkers(g.now().get())).containsExactly("A", "B");
        }
    }

    /**
     * A new leader N (the previous one, L, was killed): A and B heartbeat, L's last heartbeat still names the closed
     * connection S:9. Inside N's recovery grace, the replayed proof ends the grace at once and L's partition moves.
     */
    private static Calculator newLeaderAfterAKilledLeader(String name, Connection nc, AtomicLong now, boolean afterOutage,
                                                          boolean withC) {
        KvGateway kv = new KvGateway(nc, new BucketNames(name), Duration.ofSeconds(2));
        kv.provision(Holes.fastTtls(), 1);
        Partition z = Partition.of("t", "z");
        Partition w = Partition.of("t", "w");
        java.util.Map<String, List<Partition>> owners = new java.util.HashMap<>(Map.of("A", List.of(X), "B", List.of(Y),
                "L", List.of(z)));
        if (withC) {
            owners.put("C", List.of(w)); // published, but no heartbeat found by N's scan
        }
        new AssignmentPublisher(kv).publish(owners, "L", 1);
        Calculator n = new Calculator(Holes.fast(name, nats.url(), withC ? List.of(X, Y, z, w) : List.of(X, Y, z)).build(),
                now::get, new AssignmentPublisher(kv), "B", s -> { }, () -> true);
        n.begin(2, List.of(beat("A", 11, hb("a-1", 1, Set.of(X), "S:1")), beat("B", 12, hb("b-1", 1, Set.of(Y), "S:2")),
                beat("L", 13, hb("l-1", 1, Set.of(z), "S:9"))), afterOutage);
        return n;
    }

    /** A reader of the group's published assignment (its buckets exist already). */
    private static AssignmentPublisher view(String name, Connection nc) {
        KvGateway kv = new KvGateway(nc, new BucketNames(name), Duration.ofSeconds(2));
        kv.provision(Holes.fastTtls(), 1);
        return new AssignmentPublisher(kv);
    }

    @Test
    void aNewLeaderCountingTheDeadLeaderStoppedByProofEndsItsRecoveryGraceAndMovesOnlyItsPartitions() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            AtomicLong now = new AtomicLong(1_000_000_000L);
            Calculator n = newLeaderAfterAKilledLeader("pod-calc-new-leader", nc, now, false, false);
            AssignmentPublisher view = view("pod-calc-new-leader", nc);
            n.tick(); // inside the grace, nothing proved: nothing moves
            view.load();
            assertThat(view.current().of("L")).containsExactly(Partition.of("t", "z"));
            n.onConnectionClosed("L", "S:9", beat("L", 13, hb("l-1", 1, Set.of(Partition.of("t", "z")), "S:9")), now.get());
            n.tick();
            view.load();
            assertThat(view.current().of("L")).as("the dead leader's partition moved inside the grace").isEmpty();
            assertThat(view.current().of("A")).contains(X);
            assertThat(view.current().of("B")).contains(Y);
        }
    }

    @Test
    void theRecoveryGraceStillHoldsWhenAKnownWorkerIsMissingOrAfterAnOutage() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            for (boolean outage : new boolean[] {false, true}) {
                String name = "pod-calc-grace-" + outage;
                AtomicLong now = new AtomicLong(1_000_000_000L);
                Calculator n = newLeaderAfterAKilledLeader(name, nc, now, outage, !outage);
                AssignmentPublisher view = view(name, nc);
                n.onConnectionClosed("L", "S:9", beat("L", 13, hb("l-1", 1, Set.of(Partition.of("t", "z")), "S:9")),
                        now.get());
                n.tick();
                view.load();
                assertThat(view.current().of("L")).as(outage ? "after an outage" : "C has no heartbeat yet")
                        .containsExactly(Partition.of("t", "z"));
            }
        }
    }
}
