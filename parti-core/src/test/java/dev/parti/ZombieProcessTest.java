package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import dev.parti.testkit.WorkerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A worker JVM paused with SIGSTOP past its session (a GC-pause zombie), then resumed. */
class ZombieProcessTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static String[] args(String url, String group, String dir, String owner, String count, String... rest) {
        List<String> a = new ArrayList<>(List.of(url, group, dir, owner, count));
        a.addAll(List.of(rest));
        return a.toArray(new String[0]);
    }

    private static Set<Partition> ownedInProcess(TestGroup g) {
        Set<Partition> all = new HashSet<>();
        g.running().forEach(m -> all.addAll(m.manager.currentAssignment()));
        return all;
    }

    @Test
    void aWorkerProcessStoppedPastItsSessionNeverActsAsOwnerAgainWithoutAFreshAssignment() throws Exception {
        OwnershipReport report = pauseAndResume("zombie", "FENCE");
        report.assertClean();
    }

    /** The same pause, with a child that works without checking its lease: the log must catch it. */
    @Test
    void theOwnershipLogCatchesAWorkerThatActsOnAStaleLeaseAfterAPause() throws Exception {
        OwnershipReport report = pauseAndResume("zombie-naive", "FENCE", "naive");
        org.assertj.core.api.Assertions.assertThat(report.overlaps()).isNotEmpty();
    }

    /**
     * The leader's JVM stopped (SIGSTOP: every thread, the lease watchdog included) past its lease while an
     * in-process worker takes over and publishes, then resumed. What it must never do is publish again: in
     * the assignment key's history, every publication after the new leader's first comes from the new leader
     * (epoch never goes back, versions strictly increase), and the ownership log shows no overlap by instance.
     * (Replaces FaultsTest's frozen-main-thread version, which could not fail: the watchdog thread kept running.)
     */
    @Test
    void aLeaderProcessStoppedPastItsLeaseNeverPublishesAgainAfterItsSuccessor() throws Exception {
        for (int attempt = 1; !leaderStoppedPastItsLease("frozen-leader-" + attempt); attempt++) {
            assertThat(attempt).as("attempts where the child JVM still led when it was stopped").isLessThan(5);
        }
    }

    /** False when the slow child JVM lost its lease before it was stopped: not a leader stop, try again. */
    private boolean leaderStoppedPastItsLease(String group) throws Exception {
        try (ChildGroup children = new ChildGroup(group, 12);
             TestGroup g = new TestGroup(group, nats.server().url(), 12, b -> b.lossPolicy(LossPolicy.FENCE))) {
            ChildGroup.Child old = children.start("old", nats.server().url());
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> old.status().map(ChildWorker.Status::leader).orElse(false));
            try (AssignmentHistory history = AssignmentHistory.watch(nats.server().url(), group)) {
                TestGroup.Member next = g.start();
                await().atMost(Duration.ofSeconds(15)).until(() -> next.manager.currentAssignment().size() == 6
                        && old.status().map(s -> s.owned().size() == 6).orElse(false));
                if (!old.status().map(ChildWorker.Status::leader).orElse(false) || next.manager.isLeader()) {
                    return false;
                }
                long t0 = System.nanoTime(); // from a balanced group on: gaps before it are the child JVM starting
                String oldId = old.status().orElseThrow().workerId();
                long oldEpoch = await().atMost(Duration.ofSeconds(5)).until(history::publications, ps -> !ps.isEmpty())
                        .get(history.publications().size() - 1).epoch();

                old.suspend();
                long stoppedAt = System.nanoTime();
                await().atMost(Duration.ofSeconds(5)).until(() -> next.manager.isLeader()
                        && next.manager.currentAssignment().size() == 12);
                // stopped for twice the session: its lease, session and heartbeat are long gone
                await().atMost(Duration.ofSeconds(5)).until(() -> System.nanoTime() - stoppedAt > 2_000_000_000L);
                old.resume();
                await().atMost(Duration.ofSeconds(15)).until(() -> old.status().map(s -> !s.owned().isEmpty()
                        && !s.leader()).orElse(false) && next.manager.isLeader()
                        && next.manager.currentAssignment().size() == 6);

                List<AssignmentHistory.Publication> published = history.assertMonotone();
                String nextId = next.manager.workerId();
                int firstOfNext = -1;
                for (int i = 0; i < published.size(); i++) {
                    if (published.get(i).leaderId().equals(nextId) && published.get(i).epoch() > oldEpoch) {
                        firstOfNext = i;
                        break;
                    }
                }
                System.out.println("[measure] frozen leader " + oldId + " (epoch " + oldEpoch + "), successor " + nextId
                        + ": publications " + published);
                assertThat(firstOfNext).as("the successor published").isGreaterThanOrEqualTo(0);
                assertThat(published.subList(firstOfNext, published.size()))
                        .as("publications after the successor's first: none by the stopped leader %s", oldId)
                        .allSatisfy(p -> assertThat(p.leaderId()).isEqualTo(nextId));
                assertThat(next.manager.isLeader()).isTrue();
                children.check(t0, Duration.ofMillis(1000 + 300 + 1000), true, g.ownership.events()).assertClean();
                return true;
            }
        }
    }

    private OwnershipReport pauseAndResume(String group, String... childArgs) throws Exception {
        Path dir = Files.createTempDirectory("zombie-log");
        try (TestGroup g = new TestGroup(group, nats.server().url(), 12, b -> b.lossPolicy(LossPolicy.FENCE))) {
            long t0 = System.nanoTime();
            TestGroup.Member leader = g.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> leader.manager.isLeader());
            g.start();
            try (WorkerProcess child = WorkerProcess.builder(ChildWorker.class).name("zombie-child")
                    .jvmArgs("-Xmx128m", "-XX:+UseSerialGC")
                    .args(args(nats.server().url(), group, dir.toString(), "child", "12", childArgs)).start()) {
                await().atMost(Duration.ofSeconds(20)).until(() -> ownedInProcess(g).size() == 8);
                // and the child works on its 4 (it applies its line in its own time: a loaded machine had it stopped
                // before, with nothing to act on once resumed)
                await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() ->
                        ChildWorker.Status.read(dir, "child").map(s -> s.owned().size() == 4).orElse(false));

                child.suspend();
                long stoppedAt = System.nanoTime();
                g.ownership.gone("child"); // a stopped process does no work
                await().atMost(Duration.ofSeconds(5)).until(() -> ownedInProcess(g).size() == 12);
                await().atMost(Duration.ofSeconds(5)).until(() -> System.nanoTime() - stoppedAt > 2_000_000_000L);
                child.resume();

                // it fences itself, rejoins, and gets a fresh assignment
                await().atMost(Duration.ofSeconds(15)).until(() -> ownedInProcess(g).size() == 8);
                List<OwnershipEvent> all = new ArrayList<>(g.ownership.events());
                all.addAll(OwnershipLog.read(dir));
                OwnershipReport report = dev.parti.testkit.OwnershipChecker.builder().window(t0, System.nanoTime())
                        .check(all);
                System.out.println("[measure] " + group + " resumed after " + (System.nanoTime() - stoppedAt) / 1_000_000
                        + " ms stopped: overlap " + report.overlapNanos() / 1_000_000 + " ms");
                if (!report.isClean()) {
                    for (OwnershipReport.Overlap o : report.overlaps()) {
                        all.stream().filter(e -> o.partition().equals(e.partition()) || e.partition() == null)
                                .sorted(java.util.Comparator.comparingLong(OwnershipEvent::nanos))
                                .forEach(e -> System.out.println("[events] " + (e.nanos() - t0) / 1_000_000.0 + " ms " + e));
                    }
                    System.out.println(child.logTail(40));
                }
                return report;
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
