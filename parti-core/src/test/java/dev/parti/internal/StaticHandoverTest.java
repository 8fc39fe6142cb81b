package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, goal 1: a static member restarted in the same JVM. Its closed predecessor is known to have stopped
 * (its {@code close()} returned with its threads ended) after reporting everything released, so the new instance
 * takes the ID and the heartbeat over with one compare-and-set each on the revisions the predecessor left, and
 * owes nobody a takeover wait. Anything written to either key since makes the usual claim and takeover run, with
 * all their checks. Against a real nats-server.
 */
class StaticHandoverTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final Set<Partition> HELD = Set.of(Partition.of("t", "0"), Partition.of("t", "1"));
    private final Holes h = new Holes();

    @AfterEach
    void close() {
        h.close();
    }

    /** The KV calls made through the returned view, by name. */
    private static Kv counting(Kv kv, List<String> calls) {
        return (Kv) Proxy.newProxyInstance(Kv.class.getClassLoader(), new Class<?>[] {Kv.class}, (p, m, args) -> {
            calls.add(m.getName() + (args != null && args.length > 0 && args[0] instanceof Bucket b ? " " + b : ""));
            try {
                return m.invoke(kv, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    /** A static instance "closed" that held {@link #HELD}, then reported it released: its ID and heartbeat revisions. */
    private static long[] closedInstance(KvGateway kv, String id) {
        WorkerIdClaimer claimer = new WorkerIdClaimer(kv, id, 8, "closed");
        claimer.claim();
        Heartbeater beats = new Heartbeater(kv, System::nanoTime);
        beats.reset(id, true);
        beats.beat(new Codec.Heartbeat("closed", 3, HELD, false, 1), System.nanoTime());
        beats.beat(new Codec.Heartbeat("closed", 3, Set.of(), false, 1), System.nanoTime());
        return new long[] {claimer.revision(), beats.revision()};
    }

    @Test
    void theNextInstanceTakesTheIdAndTheHeartbeatOverWithOneWriteEachAndNoWait() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "handover-1", Duration.ofSeconds(2));
            long[] left = closedInstance(kv, "orders-1");
            // the leader published a version addressed to the closed instance after its last heartbeat: without the
            // knowledge that it stopped, the next instance must assume it applied it and wait a session
            kv.create(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, Codec.encode(new Codec.AssignmentRecord(4, "orders-9", 0,
                    Map.of("orders-1", List.copyOf(HELD)), Map.of("orders-1", "closed"))));

            List<String> calls = new ArrayList<>();
            WorkerIdClaimer claimer = new WorkerIdClaimer(counting(kv, calls), "orders-1", 8, "next");
            claimer.claim(left[0]);
            Heartbeater beats = new Heartbeater(counting(kv, calls), System::nanoTime);
            beats.reset("orders-1", true);
            beats.takeOverFromClosedInstance(left[1]);
            beats.beat(new Codec.Heartbeat("next", 0, Set.of(), false, 1), System.nanoTime());

            assertThat(calls).as("one compare-and-set on each key").containsExactly("update IDS", "update HEARTBEATS");
            assertThat(claimer.claimedFromClosedInstance()).isTrue();
            assertThat(beats.takeDisplacedHolder()).as("no takeover wait: the predecessor is known stopped").isFalse();
            assertThat(beats.inherited()).isEmpty();

            // the same start without the handover: three calls for the ID, and a wait for the unacknowledged version
            long[] again = closedInstance(kv, "orders-2");
            kv.update(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, Codec.encode(new Codec.AssignmentRecord(5, "orders-9", 0,
                    Map.of("orders-2", List.copyOf(HELD)), Map.of("orders-2", "closed"))), kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).revision());
            calls.clear();
            WorkerIdClaimer usual = new WorkerIdClaimer(counting(kv, calls), "orders-2", 8, "next");
            usual.claim();
            Heartbeater usualBeats = new Heartbeater(counting(kv, calls), System::nanoTime);
            usualBeats.reset("orders-2", true);
            usualBeats.beat(new Codec.Heartbeat("next", 0, Set.of(), false, 1), System.nanoTime());
            assertThat(calls.size()).as("the usual claim and takeover (revisions %s unused)", again[0]).isGreaterThanOrEqualTo(6);
            assertThat(usualBeats.takeDisplacedHolder()).as("the usual takeover waits for the unacknowledged version").isTrue();
        }
    }

    @Test
    void aHeartbeatWrittenSinceThePredecessorClosedMakesTheUsualTakeoverDecide() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "handover-2", Duration.ofSeconds(2));
            long[] left = closedInstance(kv, "orders-1");
            // another instance of the member (another process) wrote since, reporting partitions held
            kv.update(Bucket.HEARTBEATS, "orders-1", Codec.encode(new Codec.Heartbeat("elsewhere", 3, HELD, false, 1)), left[1]);

            WorkerIdClaimer claimer = new WorkerIdClaimer(kv, "orders-1", 8, "next");
            claimer.claim(left[0]);
            Heartbeater beats = new Heartbeater(kv, System::nanoTime);
            beats.reset("orders-1", true);
            beats.takeOverFromClosedInstance(left[1]);
            beats.beat(new Codec.Heartbeat("next", 0, Set.of(), false, 1), System.nanoTime());

            assertThat(beats.takeDisplacedHolder()).as("the other instance may own: wait for its session").isTrue();
            assertThat(beats.inherited()).isEqualTo(HELD);
        }
    }

    @Test
    void onlyAStaticMembersCloseThatStaysInTheGroupLeavesAHandoverAndTheNextStartUsesIt() {
        var ps = Holes.partitions(4);
        Supplier<PartiConfig.Builder> config = () -> Holes.fast("handover-3", nats.url(), ps);
        String key = StaticHandovers.key(nats.url(), "handover-3", "orders-0");
        Holes.Owner first = h.new Owner("orders-0#1");
        GroupMember member = h.start(config.get().workerId("orders-0"), first);
        await().atMost(Duration.ofSeconds(10)).until(() -> first.owned.size() == 4);
        var before = Set.copyOf(first.owned);

        member.close(true);
        assertThat(StaticHandovers.JVM.peek(key)).as("a close staying in the group leaves its revisions").isNotNull();
        Holes.Owner second = h.new Owner("orders-0#2");
        GroupMember returned = h.start(config.get().workerId("orders-0"), second);
        assertThat(StaticHandovers.JVM.peek(key)).as("the next start took them").isNull();
        await().atMost(Duration.ofSeconds(10)).until(() -> second.owned.size() == 4);
        assertThat(second.owned).isEqualTo(before);
        assertThat(h.overlaps).as("partitions owned by two instances at once").isEmpty();

        returned.close(false);
        assertThat(StaticHandovers.JVM.peek(key)).as("leaving the group leaves nothing to take over").isNull();
    }
}
