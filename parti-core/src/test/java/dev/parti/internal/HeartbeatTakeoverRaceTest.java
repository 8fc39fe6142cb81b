package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A new instance of a static ID takes the heartbeat over from the older one, which keeps heartbeating until the
 * takeover lands. Found by CI (FaultsTest, once): the older instance wrote between the newer one's read of the key
 * and its update, the update lost its compare-and-set, and the exception escaped {@code start()}. Against a real
 * nats-server; the older instance's write is made, for real, at exactly that moment.
 */
class HeartbeatTakeoverRaceTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    @Test
    void aHeartbeatOfTheOlderInstanceBetweenTheReadAndTheTakeoverDoesNotFailTheTakeover() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "takeover-race", Duration.ofSeconds(2));
            Set<Partition> held = Set.of(Partition.of("t", "0"));
            long[] olderRevision = {kv.create(Bucket.HEARTBEATS, "orders-1",
                    Codec.encode(new Codec.Heartbeat("older", 3, held, false, 1)))};

            // the older instance heartbeats right after each of the first two reads of the key by the newer one
            AtomicInteger racedReads = new AtomicInteger();
            Kv racing = (Kv) Proxy.newProxyInstance(Kv.class.getClassLoader(), new Class<?>[] {Kv.class}, (p, m, args) -> {
                Object result;
                try {
                    result = m.invoke(kv, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
                if (m.getName().equals("get") && args[0] == Bucket.HEARTBEATS && racedReads.incrementAndGet() <= 2) {
                    olderRevision[0] = kv.update(Bucket.HEARTBEATS, "orders-1",
                            Codec.encode(new Codec.Heartbeat("older", 3, held, false, 1)), olderRevision[0]);
                }
                return result;
            });

            Heartbeater newer = new Heartbeater(racing, System::nanoTime);
            newer.reset("orders-1", true);
            newer.beat(new Codec.Heartbeat("newer", 0, Set.of(), false, 1), System.nanoTime());

            assertThat(racedReads.get()).as("the takeover read the key again after each lost race").isEqualTo(3);
            assertThat(Codec.decodeHeartbeat(kv.get(Bucket.HEARTBEATS, "orders-1").value()).instance()).isEqualTo("newer");
            assertThat(newer.takeDisplacedHolder()).as("the older instance reported partitions: the newer one waits").isTrue();
            assertThat(newer.inherited()).isEqualTo(held);
            // the older instance's next heartbeat now fails: it stops
            assertThatThrownBy(() -> kv.update(Bucket.HEARTBEATS, "orders-1",
                    Codec.encode(new Codec.Heartbeat("older", 3, held, false, 1)), olderRevision[0]))
                    .isInstanceOf(CasConflictException.class);
        }
    }
}
