package dev.parti;

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
