package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The assignment a group's workers left when it last ran on Parti, retired when none of them is live (a rolling
 * migration's switch does it): the next leader then starts cold, with no remembered placement, instead of taking the
 * new instances of the old IDs for restarted workers. Against a real nats-server.
 */
class LeftoverAssignmentTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final Partition X = Partition.of("t", "x");
    private static final Partition Y = Partition.of("t", "y");

    @Test
    void withNoLiveWorkerTheAssignmentIsRetiredAndTheNextLeaderStartsFromNoPlacement() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = buckets(nc, "leftover-retired");
            new AssignmentPublisher(kv).publish(Map.of("A", List.of(X), "B", List.of(Y)), Map.of("A", "a-1", "B", "b-1"),
                    "A", 3, () -> true);

            LeftoverAssignment.Outcome o = LeftoverAssignment.retireUnlessLive(kv, "test");
            assertThat(o.liveWorkers()).isEmpty();
            assertThat(o.retiredFrom()).isEqualTo(1);
            assertThat(o.retiredVersion()).as("versions keep increasing").isEqualTo(2);
            AssignmentRecord now = new AssignmentPublisher(kv).load();
            assertThat(now.version()).isEqualTo(2);
            assertThat(now.owners()).as("no worker holds anything").isEmpty();

            // the old IDs come back as new instances: the next leader's first assignment starts from no placement
            kv.create(Bucket.HEARTBEATS, "A", Codec.encode(new Heartbeat("a-2", 0, Set.of(), false, 1)));
            kv.create(Bucket.HEARTBEATS, "B", Codec.encode(new Heartbeat("b-2", 0, Set.of(), false, 1)));
            List<Request> requests = new CopyOnWriteArrayList<>();
            AtomicLong clock = new AtomicLong(1_000_000_000L);
            AssignmentPublisher publisher = new AssignmentPublisher(kv);
            Calculator leader = new Calculator(Holes.fast("leftover-retired", nats.url(), List.of(X, Y))
                    .strategy(recording(requests)).build(), clock::get, publisher, "A", s -> { }, () -> true);
            leader.begin(4, clock.get(), kv.entries(Bucket.HEARTBEATS), false);
            Holes.tickUntil(leader, clock, publisher, r -> r.version() > 2);
            assertThat(requests).as("an assignment was computed").isNotEmpty();
            assertThat(requests.get(0).previous()).as("the retired placement is not remembered").isEmpty();
            assertThat(publisher.current().version()).isGreaterThan(2);
        }
    }

    @Test
    void aGroupWithALiveWorkerKeepsItsAssignment() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = buckets(nc, "leftover-live");
            new AssignmentPublisher(kv).publish(Map.of("A", List.of(X, Y)), Map.of("A", "a-1"), "A", 1, () -> true);
            long revision = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).revision();
            kv.create(Bucket.HEARTBEATS, "A", Codec.encode(new Heartbeat("a-1", 1, Set.of(X, Y), false, 1)));

            LeftoverAssignment.Outcome o = LeftoverAssignment.retireUnlessLive(kv, "test");
            assertThat(o.liveWorkers()).containsExactly("A");
            assertThat(o.retiredVersion()).isZero();
            assertThat(kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).revision()).as("nothing written").isEqualTo(revision);
            assertThat(new AssignmentPublisher(kv).load().owners()).containsKey("A");
        }
    }

    /**
     * A leader began between the read of the assignment and the read of the heartbeats (its heartbeat came after the
     * listing): it fenced the chain, so the retirement loses its compare-and-set and the leader's record stands.
     */
    @Test
    void aLeaderThatBeganMeanwhileKeepsItsAssignment() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = buckets(nc, "leftover-raced");
            new AssignmentPublisher(kv).publish(Map.of("A", List.of(X, Y)), Map.of("A", "a-1"), "A", 1, () -> true);
            LeftoverAssignment.Outcome o = LeftoverAssignment.retireUnlessLive(new AssignmentPublisher(kv), () -> {
                AssignmentPublisher leader = new AssignmentPublisher(kv); // began between the two reads
                leader.load();
                assertThat(leader.fence("B", 2, () -> true)).isTrue();
                return kv.keys(Bucket.HEARTBEATS);
            }, "test");
            assertThat(o.retiredVersion()).as("the retirement lost its compare-and-set").isZero();
            AssignmentRecord now = new AssignmentPublisher(kv).load();
            assertThat(now.epoch()).as("the fencing leader's record").isEqualTo(2);
            assertThat(now.owners()).containsKey("A");
        }
    }

    private static KvGateway buckets(Connection nc, String group) {
        KvGateway kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
        kv.provision(Holes.fastTtls(), 1);
        return kv;
    }

    /** Round robin, recording every request. */
    private static AssignmentStrategy recording(List<Request> requests) {
        AssignmentStrategy roundRobin = new dev.parti.strategy.RoundRobin();
        return new AssignmentStrategy() {
            @Override
            public String name() {
                return "recording";
            }

            @Override
            public Map<String, List<Partition>> assign(Request request) {
                requests.add(request);
                return roundRobin.assign(request);
            }
        };
    }
}
