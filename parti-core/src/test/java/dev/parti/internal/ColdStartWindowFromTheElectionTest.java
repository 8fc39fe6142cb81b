package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A cold start's window counts from the leader's election, not from its first round: the leader's side is built in
 * between (the chain fenced, every heartbeat and the partitions read), which took 0.1 to 0.4 s in B6 at 1 000 workers
 * and 100 000 partitions, and the workers gather meanwhile all the same. The calculator runs against a real
 * nats-server (real heartbeat keys, real publications) with a clock of the test's.
 */
class ColdStartWindowFromTheElectionTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final Duration WINDOW = Duration.ofSeconds(2);
    private static final Duration BUILD = Duration.ofMillis(400);

    @Test
    void aColdStartSeenInTheTermsFirstRoundPublishesOneWindowAfterTheElection() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            AtomicLong now = new AtomicLong(1_000_000_000L);
            long elected = now.get();
            Fixture f = new Fixture(nc, "cold-from-election", now);
            now.addAndGet(BUILD.toNanos()); // building the leader's side
            f.calculator.begin(1, elected, f.kv.entries(Bucket.HEARTBEATS), false);
            f.calculator.tick();
            assertThat(f.publisher.current()).as("nothing published inside the window").isNull();

            now.set(elected + WINDOW.toNanos() - 1);
            f.calculator.tick();
            assertThat(f.publisher.current()).as("still inside the window, by a nanosecond").isNull();

            now.set(elected + WINDOW.toNanos());
            f.calculator.tick();
            assertThat(f.publisher.current()).as("published once the window since the election is over").isNotNull();
            assertThat(f.publisher.current().owners().keySet()).containsExactlyInAnyOrder("A", "B");
        }
    }

    /** The same steps without the election's time: the window counts from the first round, a build later. */
    @Test
    void aTermBegunWithoutItsElectionTimeCountsTheWindowFromItsFirstRound() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            AtomicLong now = new AtomicLong(1_000_000_000L);
            long elected = now.get();
            Fixture f = new Fixture(nc, "cold-from-first-round", now);
            now.addAndGet(BUILD.toNanos());
            f.calculator.begin(1, f.kv.entries(Bucket.HEARTBEATS), false);
            f.calculator.tick();
            now.set(elected + WINDOW.toNanos());
            f.calculator.tick();
            assertThat(f.publisher.current()).as("a window after the election, the first round's window is not over")
                    .isNull();
            now.set(elected + BUILD.toNanos() + WINDOW.toNanos());
            f.calculator.tick();
            assertThat(f.publisher.current()).isNotNull();
        }
    }

    /** Two workers' heartbeats, no assignment yet, and the calculator of a leader N. */
    private static final class Fixture {
        final KvGateway kv;
        final AssignmentPublisher publisher;
        final Calculator calculator;

        Fixture(Connection nc, String group, AtomicLong now) {
            kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            List<Partition> ps = List.of(Partition.of("t", "x"), Partition.of("t", "y"));
            kv.create(Bucket.HEARTBEATS, "A", Codec.encode(new Heartbeat("a-1", 0, Set.of(), false, 1)));
            kv.create(Bucket.HEARTBEATS, "B", Codec.encode(new Heartbeat("b-1", 0, Set.of(), false, 1)));
            dev.parti.PartiConfig config = Holes.fast(group, nats.url(), ps).coldStartWindow(WINDOW).build();
            publisher = new AssignmentPublisher(kv);
            calculator = new Calculator(config, now::get, publisher, "A", s -> { }, () -> true);
        }
    }
}
