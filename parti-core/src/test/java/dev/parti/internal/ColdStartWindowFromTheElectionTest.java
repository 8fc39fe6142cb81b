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

    /**
     * A strategy that says every worker it waits for is there ({@link dev.parti.AssignmentStrategy#coldStartComplete})
     * ends the cold start's window at once; one still waiting for a worker leaves it to run out.
     */
    @Test
    void aStrategyCountingEveryWorkerItWaitsForEndsTheColdStartWindowAtOnce() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            AtomicLong now = new AtomicLong(1_000_000_000L);
            Fixture f = new Fixture(nc, "cold-complete", now, expecting(2));
            f.calculator.begin(1, now.get(), f.kv.entries(Bucket.HEARTBEATS), false);
            f.calculator.tick();
            assertThat(f.publisher.current()).as("published in the first round: both workers it waits for are live")
                    .isNotNull();
            assertThat(f.publisher.current().owners().keySet()).containsExactlyInAnyOrder("A", "B");

            long elected = now.get();
            Fixture waiting = new Fixture(nc, "cold-incomplete", now, expecting(3));
            waiting.calculator.begin(1, elected, waiting.kv.entries(Bucket.HEARTBEATS), false);
            waiting.calculator.tick();
            now.set(elected + WINDOW.toNanos() - 1);
            waiting.calculator.tick();
            assertThat(waiting.publisher.current()).as("a third worker is awaited: the window runs").isNull();
            now.set(elected + WINDOW.toNanos());
            waiting.calculator.tick();
            assertThat(waiting.publisher.current()).as("published once the window is over").isNotNull();
        }
    }

    /** Round robin, with a cold start complete once {@code workers} workers are live. */
    private static dev.parti.AssignmentStrategy expecting(int workers) {
        dev.parti.AssignmentStrategy roundRobin = new dev.parti.strategy.RoundRobin();
        return new dev.parti.AssignmentStrategy() {
            @Override
            public String name() {
                return "expecting-" + workers;
            }

            @Override
            public java.util.Map<String, List<Partition>> assign(Request request) {
                return roundRobin.assign(request);
            }

            @Override
            public boolean coldStartComplete(List<dev.parti.Worker> live) {
                return live.size() >= workers;
            }
        };
    }

    /** Two workers' heartbeats, no assignment yet, and the calculator of a leader N. */
    private static final class Fixture {
        final KvGateway kv;
        final AssignmentPublisher publisher;
        final Calculator calculator;

        Fixture(Connection nc, String group, AtomicLong now) {
            this(nc, group, now, null);
        }

        Fixture(Connection nc, String group, AtomicLong now, dev.parti.AssignmentStrategy strategy) {
            kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            List<Partition> ps = List.of(Partition.of("t", "x"), Partition.of("t", "y"));
            kv.create(Bucket.HEARTBEATS, "A", Codec.encode(new Heartbeat("a-1", 0, Set.of(), false, 1)));
            kv.create(Bucket.HEARTBEATS, "B", Codec.encode(new Heartbeat("b-1", 0, Set.of(), false, 1)));
            dev.parti.PartiConfig.Builder builder = Holes.fast(group, nats.url(), ps).coldStartWindow(WINDOW);
            if (strategy != null) {
                builder.strategy(strategy);
            }
            dev.parti.PartiConfig config = builder.build();
            publisher = new AssignmentPublisher(kv);
            calculator = new Calculator(config, now::get, publisher, "A", s -> { }, () -> true);
        }
    }
}
