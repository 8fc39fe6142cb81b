package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Deposing a leader proved dead, against a real nats-server's KV: a follower deletes the leader key only for the
 * connection the leader's heartbeat names, the deposed leader's renewal then loses its compare-and-set, and a leader
 * that stepped down on a disconnect gives its key back (compare-and-set on its own revision) at its next round, or
 * leaves alone a key somebody else holds by then.
 */
class DeadLeaderCheckTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static KvGateway kv(Connection nc, String group) {
        KvGateway kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
        // TTLs far longer than the test: nothing here may depend on a key expiring
        kv.provision(Map.of(Bucket.IDS, Duration.ofSeconds(60), Bucket.HEARTBEATS, Duration.ofSeconds(60), Bucket.LEADER,
                Duration.ofSeconds(60)), 1);
        return kv;
    }

    private static LeaderElection election(KvGateway kv, String id, String instance) {
        return new LeaderElection(kv, System::nanoTime, Duration.ofSeconds(30), Duration.ofSeconds(1), id, instance);
    }

    private static void beat(KvGateway kv, String id, String instance, String connection, String writes) {
        kv.create(Bucket.HEARTBEATS, id, Codec.encode(new Heartbeat(instance, 0, Set.of(), false, 1, Map.of(), 0, Set.of(),
                connection, writes)));
    }

    @Test
    void aFollowerDeposesOnlyForTheLeadersConnectionAndTheDeposedLeaderLosesItsRenewal() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = kv(nc, "pod-depose");
            LeaderElection leader = election(kv, "w-0", "l-1");
            assertThat(leader.tick()).isTrue();
            beat(kv, "w-0", "l-1", "S:1", "S:9");
            DeadLeaderCheck follower = new DeadLeaderCheck(kv, "f-1", Duration.ofSeconds(6).toNanos());
            DeathWatch watch = new DeathWatch("x", 0, Duration.ofSeconds(6).toNanos(), System::nanoTime, delay -> { });
            long now = System.nanoTime();

            assertThat(follower.depose("S:2", watch, now)).as("another connection closed").isFalse();
            assertThat(kv.get(Bucket.LEADER, LeaderElection.KEY)).isNotNull();
            assertThat(new DeadLeaderCheck(kv, "l-1", 1).depose("S:1", watch, now)).as("the leader itself asking").isFalse();
            assertThat(follower.depose("S:1", watch, now)).as("its writes connection was not reported closed").isFalse();
            assertThat(kv.get(Bucket.LEADER, LeaderElection.KEY)).isNotNull();
            assertThat(watch.due(now)).isEmpty();

            assertThat(watch.onDropped("S:9", now)).as("the proof waited for it").isTrue();
            assertThat(watch.due(now)).containsExactly("S:1");
            assertThat(follower.depose("S:1", watch, now)).isTrue();
            assertThat(kv.get(Bucket.LEADER, LeaderElection.KEY)).as("deleted").isNull();
            assertThat(follower.depose("S:1", watch, now)).as("nothing left to depose").isFalse();

            leader.tick(); // its renewal finds the key gone
            assertThat(leader.isLeader()).isFalse();
            LeaderElection next = election(kv, "w-1", "f-1");
            assertThat(next.tick()).as("an election at once, not after the TTL").isTrue();
            assertThat(next.epoch()).isGreaterThan(leader.epoch());
        }
    }

    @Test
    void aLeaderThatSteppedDownOnADisconnectWritesNothingAsLeaderAndGivesItsKeyBackOnlyIfStillItsOwn() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = kv(nc, "pod-step-down");
            LeaderElection leader = election(kv, "w-0", "l-1");
            assertThat(leader.tick()).isTrue();
            long firstEpoch = leader.epoch();
            leader.stepDownOnDisconnect();
            assertThat(leader.isLeader()).isFalse();
            assertThat(leader.leaseValid()).isFalse();
            // back: the next round deletes its own key (its revision) and runs an election, a new term
            assertThat(leader.tick()).isTrue();
            assertThat(leader.epoch()).isGreaterThan(firstEpoch);

            // stepped down again, and meanwhile a follower deposed it and another member leads: that key stays
            leader.stepDownOnDisconnect();
            KvGateway.Entry own = kv.get(Bucket.LEADER, LeaderElection.KEY);
            kv.delete(Bucket.LEADER, LeaderElection.KEY, own.revision());
            LeaderElection other = election(kv, "w-1", "o-1");
            assertThat(other.tick()).isTrue();
            assertThat(leader.tick()).isFalse();
            assertThat(Codec.decodeLeader(kv.get(Bucket.LEADER, LeaderElection.KEY).value()).instance()).isEqualTo("o-1");
            assertThat(List.of(other.isLeader(), leader.isLeader())).containsExactly(true, false);
        }
    }
}
