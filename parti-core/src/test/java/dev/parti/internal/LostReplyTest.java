package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.Entry;
import dev.parti.internal.WorkerIdClaimer.IdLostException;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A write that reached the server while its reply was lost (a connection cut mid-request) leaves the
 * key one revision ahead of what the writer knows. Its next compare-and-set fails on its own write:
 * that must not count as losing the worker ID, the heartbeat or the leadership. The lost write is
 * reproduced here by writing the writer's own value with the key's revision from a second connection.
 */
class LostReplyTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final AtomicLong GROUPS = new AtomicLong();

    /** The writer under test and a second client that lands the writer's lost request, on one fresh group. */
    private static final class TwoClients implements AutoCloseable {
        final Connection writerConnection;
        final Connection otherConnection;
        final KvGateway kv;
        final KvGateway other;

        TwoClients(String prefix) throws Exception {
            String group = prefix + "-" + GROUPS.incrementAndGet();
            writerConnection = Nats.connect(nats.server().url());
            otherConnection = Nats.connect(nats.server().url());
            kv = gateway(writerConnection, group);
            other = gateway(otherConnection, group);
        }

        @Override
        public void close() throws InterruptedException {
            writerConnection.close();
            otherConnection.close();
        }
    }

    private static KvGateway gateway(Connection nc, String group) {
        return TestBuckets.provisioned(nc, group, Duration.ofSeconds(2));
    }

    /** Writes {@code key}'s current value again, as the writer's lost request did. */
    private static void landOwnWriteWithoutReply(KvGateway other, Bucket b, String key) {
        Entry e = other.get(b, key);
        other.update(b, key, e.value(), e.revision());
    }

    @Test
    void aHeartbeatWhoseReplyWasLostIsStillOursAndTheNextBeatSucceeds() throws Exception {
        try (TwoClients c = new TwoClients("lost-hb")) {
            KvGateway kv = c.kv;
            KvGateway other = c.other;
            Heartbeater hb = new Heartbeater(kv, System::nanoTime);
            hb.reset("w-0", false);
            hb.beat(new Codec.Heartbeat("instance-a", 1, Set.of(), false, 1), System.nanoTime());
            landOwnWriteWithoutReply(other, Bucket.HEARTBEATS, "w-0");

            hb.beat(new Codec.Heartbeat("instance-a", 2, Set.of(), false, 1), System.nanoTime());

            assertThat(Codec.decodeHeartbeat(other.get(Bucket.HEARTBEATS, "w-0").value()).appliedVersion()).isEqualTo(2);
        }
    }

    @Test
    void aHeartbeatWrittenByAnotherInstanceStillMeansTheIdIsLost() throws Exception {
        try (TwoClients c = new TwoClients("lost-hb-other")) {
            KvGateway kv = c.kv;
            KvGateway other = c.other;
            Heartbeater hb = new Heartbeater(kv, System::nanoTime);
            hb.reset("w-0", false);
            hb.beat(new Codec.Heartbeat("instance-a", 1, Set.of(), false, 1), System.nanoTime());
            Entry e = other.get(Bucket.HEARTBEATS, "w-0");
            other.update(Bucket.HEARTBEATS, "w-0", Codec.encode(new Codec.Heartbeat("instance-b", 0, Set.of(), false, 1)), e.revision());

            assertThatThrownBy(() -> hb.beat(new Codec.Heartbeat("instance-a", 2, Set.of(), false, 1), System.nanoTime()))
                    .isInstanceOf(IdLostException.class).hasMessageContaining("another instance");
        }
    }

    @Test
    void anIdRenewalWhoseReplyWasLostKeepsTheId() throws Exception {
        try (TwoClients c = new TwoClients("lost-id")) {
            KvGateway kv = c.kv;
            KvGateway other = c.other;
            WorkerIdClaimer claimer = new WorkerIdClaimer(kv, null, 10, "instance-a");
            String id = claimer.claim();
            landOwnWriteWithoutReply(other, Bucket.IDS, id);

            claimer.renew();
            claimer.renew();

            assertThat(claimer.id()).isEqualTo(id);
            WorkerIdClaimer intruder = new WorkerIdClaimer(other, id, 10, "instance-b");
            intruder.claim(); // a static claim takes the key over, as a newer instance of a static member does
            assertThatThrownBy(claimer::renew).isInstanceOf(IdLostException.class);
        }
    }

    @Test
    void aLeaderRenewalWhoseReplyWasLostKeepsTheLeadershipAndItsEpoch() throws Exception {
        try (TwoClients c = new TwoClients("lost-leader")) {
            KvGateway kv = c.kv;
            KvGateway other = c.other;
            LeaderElection election = new LeaderElection(kv, System::nanoTime, Duration.ofSeconds(30), Duration.ofSeconds(1), "w-0", "instance-a");
            assertThat(election.tick()).isTrue();
            long epoch = election.epoch();
            landOwnWriteWithoutReply(other, Bucket.LEADER, LeaderElection.KEY);

            election.tick();

            assertThat(election.isLeader()).isTrue();
            assertThat(election.leaseValid()).isTrue();
            assertThat(election.epoch()).isEqualTo(epoch);
        }
    }
}
