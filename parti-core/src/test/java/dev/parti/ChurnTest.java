package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipReport;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Workers join and leave every few hundred milliseconds for a minute: every move goes through the
 * two-phase handoff, and the ownership log shows no overlap (by instance) and no gap beyond invariant 7's
 * bound. Most workers are in-process and leave gracefully; two are worker JVMs, and a crash is a kill -9 of
 * one of them (a new instance takes its place).
 */
class ChurnTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    /** Invariant 7 with these timings: session 1 s + planned window 300 ms + 1 s. */
    private static final Duration LIVENESS_BOUND = Duration.ofMillis(1000 + 300 + 1000);

    @Test
    void aMinuteOfJoinsAndLeavesMakesAThousandHandoffsWithoutOverlapOrLongGaps() throws Exception {
        ScheduledExecutorService driver = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "churn-driver"));
        AtomicInteger joins = new AtomicInteger();
        AtomicInteger leaves = new AtomicInteger();
        AtomicInteger crashes = new AtomicInteger();
        Random random = new Random(42);
        try (TestGroup g = new TestGroup("churn-60s", nats.server().url(), 24, b -> b);
             ChildGroup children = new ChildGroup("churn-60s", 24)) {
            g.startAll(4);
            await().atMost(Duration.ofSeconds(10)).until(() -> g.leader() != null);
            children.start("x", nats.server().url());
            children.start("y", nats.server().url());
            awaitAllOwnedOnce(g, children);
            long t0 = System.nanoTime();
            driver.scheduleWithFixedDelay(() -> {
                List<TestGroup.Member> live = g.running();
                double dice = random.nextDouble();
                if (live.size() <= 3 || live.size() < 7 && dice < 0.5) {
                    g.start();
                    joins.incrementAndGet();
                } else {
                    // never the leader: leader failover has its own tests, here we want handoffs
                    List<TestGroup.Member> followers = live.stream().filter(m -> !m.manager.isLeader()).toList();
                    TestGroup.Member victim = followers.get(random.nextInt(followers.size()));
                    List<ChildGroup.Child> crashable = children.live().stream()
                            .filter(c -> c.status().map(s -> !s.leader()).orElse(false)).toList();
                    if (dice > 0.95 && !crashable.isEmpty()) {
                        // a crash: kill -9 of a worker JVM; its partitions wait for the session to expire
                        ChildGroup.Child dead = crashable.get(random.nextInt(crashable.size()));
                        dead.kill();
                        children.start(dead.slot, nats.server().url());
                        crashes.incrementAndGet();
                    } else {
                        victim.manager.close();
                        leaves.incrementAndGet();
                    }
                }
            }, 0, 250, TimeUnit.MILLISECONDS);

            long churnStart = System.nanoTime();
            await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500)).until(() ->
                    System.nanoTime() - churnStart >= 60_000_000_000L
                            && ChildGroup.handoffs(children.events(g.ownership.events()), t0) >= 1000);
            driver.shutdown();
            assertThat(driver.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
            awaitSettled(g, children);

            int handoffs = ChildGroup.handoffs(children.events(g.ownership.events()), t0);
            OwnershipReport report = children.check(t0, LIVENESS_BOUND, true, g.ownership.events());
            System.out.printf("[measure] churn: %d s, %d joins, %d leaves, %d crashes, %d handoffs; "
                            + "overlap %d ms; longest unowned gap %d ms%n",
                    (System.nanoTime() - churnStart) / 1_000_000_000L, joins.get(), leaves.get(), crashes.get(),
                    handoffs, report.overlapNanos() / 1_000_000, report.longestGapNanos() / 1_000_000);
            assertThat(handoffs).isGreaterThanOrEqualTo(1000);
            report.assertClean();
        } finally {
            driver.shutdownNow();
        }
    }

    /** Every partition owned by exactly one live worker, in-process or child, and an in-process leader. */
    private static void awaitAllOwnedOnce(TestGroup g, ChildGroup children) {
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> allOwnedOnce(g, children));
    }

    /**
     * The group at rest after the churn: every partition owned once, every live worker (a child restarted by the last
     * crash too) owning some, for a whole second. Checked at a moment when a handoff is still under way (a join's
     * window, then the move), the log would show its partitions unowned at the end, though nothing is wrong.
     */
    private static void awaitSettled(TestGroup g, ChildGroup children) {
        await().atMost(Duration.ofSeconds(30)).during(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(50))
                .until(() -> allOwnedOnce(g, children)
                        && g.running().stream().noneMatch(m -> m.manager.currentAssignment().isEmpty())
                        && children.live().stream().allMatch(c -> c.status().map(s -> !s.owned().isEmpty()).orElse(false)));
    }

    private static boolean allOwnedOnce(TestGroup g, ChildGroup children) {
        List<String> all = new java.util.ArrayList<>();
        g.running().forEach(m -> m.manager.currentAssignment().forEach(p -> all.add(p.id())));
        children.live().forEach(c -> c.status().ifPresent(s -> all.addAll(s.owned())));
        return all.size() == 24 && new java.util.HashSet<>(all).size() == 24 && g.leader() != null;
    }
}
