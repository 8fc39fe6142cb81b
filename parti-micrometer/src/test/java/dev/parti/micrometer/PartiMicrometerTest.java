package dev.parti.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.WorkerProcess;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Micrometer binder's meters after real rebalances, a real crash ({@code kill -9} of a member's JVM) and a real
 * NATS outage (a real nats-server).
 */
class PartiMicrometerTest {
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private record Worker(PartiManager manager, MeterRegistry registry, PartiMicrometer meters) { }

    private static List<Partition> partitions(int n) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ps.add(Partition.of("t", Integer.toString(i)));
        }
        return ps;
    }

    private Worker start(String group, String url, List<Partition> ps) {
        MeterRegistry registry = new SimpleMeterRegistry();
        PartiMicrometer meters = new PartiMicrometer(registry, Tags.of("group", group));
        PartiManager m = new PartiManager(timings(PartiConfig.builder(group).natsUrl(url).partitionSource(() -> ps))
                .metrics(meters).build(), new AssignmentListener() { });
        meters.bindTo(m);
        toClose.add(m);
        toClose.add(meters);
        m.start();
        return new Worker(m, registry, meters);
    }

    /** The fast timings of every member of these tests (the child JVM's {@link GroupMemberMain} too). */
    static PartiConfig.Builder timings(PartiConfig.Builder b) {
        return b.heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(1000))
                .leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300))
                .rebalanceCooldown(Duration.ofMillis(100)).startupTimeout(Duration.ofSeconds(10));
    }

    private static double gauge(Worker w, String name) {
        return w.registry().get(name).gauge().value();
    }

    private static double count(Worker w, String name, String tag, String value) {
        var c = w.registry().find(name).tag(tag, value).counter();
        return c == null ? 0 : c.count();
    }

    private static io.micrometer.core.instrument.Timer timer(Worker w, String name, String kind) {
        return w.registry().find(name).tag("kind", kind).timer();
    }

    private static double degradedGauge(Worker w, String reason) {
        return w.registry().get("parti.degraded").tag("reason", reason).gauge().value();
    }

    private static boolean balanced(List<Worker> ws, int partitions) {
        int owned = 0;
        for (Worker w : ws) {
            if (w.manager().state() != ManagerState.STABLE) {
                return false;
            }
            owned += w.manager().currentAssignment().size();
        }
        return owned == partitions;
    }

    @Test
    void metersAfterAScaleOutAndACrashRebalance() {
        try (NatsServer nats = NatsServer.start()) {
            List<Partition> ps = partitions(6);
            Worker a = start("metered", nats.url(), ps);
            Worker b = start("metered", nats.url(), ps);
            await().atMost(Duration.ofSeconds(10)).until(() -> balanced(List.of(a, b), 6));
            Worker leader = a.manager().isLeader() ? a : b;
            assertThat(leader.manager().isLeader()).isTrue();
            assertThat(List.of(a, b).stream().mapToDouble(w -> count(w, "parti.rebalances", "kind", "cold-start")).sum())
                    .as("the group's start").isGreaterThanOrEqualTo(1);
            // the third member runs in a child JVM, so that its crash below is a real one (kill -9)
            WorkerProcess c = WorkerProcess.builder(GroupMemberMain.class).name("metered-victim")
                    .args(nats.url(), "metered", "6").start();
            toClose.add(c);
            await().atMost(Duration.ofSeconds(20)).until(() -> balanced(List.of(a, b), 4)
                    && a.manager().currentAssignment().size() == 2 && b.manager().currentAssignment().size() == 2);
            // c joining a running group: a planned scale, handed over once a and b released what c gets
            await().atMost(Duration.ofSeconds(5)).until(() -> timer(leader, "parti.handoff.duration", "planned-scale") != null);
            System.out.println("after the scale-out, leader's handoffs: " + leader.registry().find("parti.handoff.duration").timers().stream()
                    .map(x -> x.getId().getTag("kind") + "=" + x.count() + "/" + x.totalTime(TimeUnit.MILLISECONDS) + "ms").toList()
                    + ", rebalances: " + leader.registry().find("parti.rebalances").counters().stream()
                    .map(x -> x.getId().getTag("kind") + "=" + x.count()).toList());
            assertThat(count(leader, "parti.rebalances", "kind", "planned-scale")).isGreaterThanOrEqualTo(1);
            assertThat(timer(leader, "parti.handoff.duration", "planned-scale").count()).isGreaterThanOrEqualTo(1);
            assertThat(timer(leader, "parti.handoff.duration", "planned-scale").totalTime(TimeUnit.MILLISECONDS)).isPositive();

            // a crashed worker: its heartbeat expires without a leave (an emergency rebalance on the leader)
            c.kill();
            List<Worker> rest = List.of(a, b);
            await().atMost(Duration.ofSeconds(10)).until(() -> balanced(rest, 6));
            await().atMost(Duration.ofSeconds(10)).until(() -> count(leader, "parti.rebalances", "kind", "emergency") >= 1
                    && timer(leader, "parti.handoff.duration", "emergency") != null);

            var handoff = timer(leader, "parti.handoff.duration", "emergency");
            assertThat(handoff.count()).isGreaterThanOrEqualTo(1);
            assertThat(handoff.totalTime(TimeUnit.MILLISECONDS)).isPositive();
            System.out.println("leader's rebalances: " + leader.registry().find("parti.rebalances").counters().stream()
                    .map(x -> x.getId().getTag("kind") + "=" + x.count()).toList() + ", handoffs: "
                    + leader.registry().find("parti.handoff.duration").timers().stream()
                    .map(x -> x.getId().getTag("kind") + "=" + x.count() + "/" + x.max(TimeUnit.MILLISECONDS) + "ms max").toList());
            assertThat(leader.registry().get("parti.assignments.published").counter().count()).isGreaterThanOrEqualTo(3);
            assertThat(leader.registry().get("parti.assignment.publish").timer().count())
                    .isEqualTo((long) leader.registry().get("parti.assignments.published").counter().count());
            for (Worker w : rest) {
                assertThat(gauge(w, "parti.leader")).isEqualTo(w == leader ? 1 : 0);
                assertThat(w.registry().get("parti.state").tag("state", "STABLE").gauge().value()).isEqualTo(1);
                assertThat(w.registry().get("parti.state").tag("state", "DEGRADED").gauge().value()).isZero();
                assertThat(gauge(w, "parti.lease.valid")).isEqualTo(1);
                assertThat(gauge(w, "parti.assignment.version")).isEqualTo(w.manager().assignmentVersion());
                assertThat(gauge(w, "parti.partitions.owned")).isEqualTo(w.manager().currentAssignment().size()).isEqualTo(3);
                assertThat(w.registry().get("parti.heartbeat.age").timeGauge().value(TimeUnit.MILLISECONDS)).isBetween(0.0, 1000.0);
                assertThat(w.registry().get("parti.assignments.applied").counter().count()).isGreaterThanOrEqualTo(1);
                assertThat(w.registry().find("parti.degraded").gauges()).hasSize(dev.parti.DegradedReason.values().length)
                        .allSatisfy(g -> assertThat(g.value()).isZero());
                assertThat(count(w, "parti.partitions.moved", "direction", "added")
                        - count(w, "parti.partitions.moved", "direction", "removed")).isEqualTo(3);
                if (w != leader) {
                    assertThat(w.registry().find("parti.rebalances").counters()).isEmpty();
                    assertThat(w.registry().get("parti.assignments.published").counter().count()).isZero();
                }
            }
            leader.meters().close();
            assertThat(leader.registry().getMeters()).isEmpty();
        }
    }

    @Test
    void degradedTimeAndKvErrorsDuringARealNatsOutage() {
        try (NatsServer nats = NatsServer.start()) {
            Worker w = start("outage", nats.url(), partitions(2));
            await().atMost(Duration.ofSeconds(10)).until(() -> balanced(List.of(w), 2));
            nats.stop();
            await().atMost(Duration.ofSeconds(10)).until(() -> w.manager().state() == ManagerState.DEGRADED);
            assertThat(w.registry().get("parti.state").tag("state", "DEGRADED").gauge().value()).isEqualTo(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> w.registry().find("parti.kv.errors").counters().stream()
                    .mapToDouble(c -> c.count()).sum() >= 1 && count(w, "parti.stale.leases", "policy", "fence") >= 1);
            assertThat(gauge(w, "parti.lease.valid")).isZero();
            assertThat(gauge(w, "parti.partitions.owned")).isZero(); // fence: gave everything up
            await().atMost(Duration.ofSeconds(5)).until(() -> degradedGauge(w, "kv-unavailable") == 1 && degradedGauge(w, "lease-stale") == 1);
            System.out.println("KV errors in the outage: " + w.registry().find("parti.kv.errors").counters().stream()
                    .map(c -> c.getId().getTag("operation") + "/" + c.getId().getTag("kind") + "=" + c.count()).toList());
            assertThat(w.registry().find("parti.kv.errors").tag("kind", "unavailable").counters())
                    .as("KV calls that got no answer").isNotEmpty();
            nats.restart();
            await().atMost(Duration.ofSeconds(20)).until(() -> balanced(List.of(w), 2));
            await().atMost(Duration.ofSeconds(5)).until(() -> degradedGauge(w, "kv-unavailable") == 0 && degradedGauge(w, "lease-stale") == 0);
            for (String reason : List.of("kv-unavailable", "lease-stale")) {
                var held = w.registry().get("parti.degraded.duration").tag("reason", reason).timer();
                assertThat(held.count()).as(reason).isGreaterThanOrEqualTo(1);
                assertThat(held.totalTime(TimeUnit.MILLISECONDS)).as(reason).isPositive();
            }
            assertThat(w.registry().find("parti.kv.errors").counters()).allSatisfy(c -> {
                assertThat(c.getId().getTag("operation")).isNotBlank();
                assertThat(c.getId().getTag("kind")).isIn("unavailable", "bucket-missing", "rejected");
                assertThat(c.count()).isPositive();
            });
            System.out.println("KV errors during the outage: " + w.registry().find("parti.kv.errors").counters().stream()
                    .map(c -> c.getId().getTag("operation") + "/" + c.getId().getTag("kind") + "=" + c.count()).toList()
                    + ", degraded: " + w.registry().find("parti.degraded.duration").timers().stream()
                    .map(t -> t.getId().getTag("reason") + "=" + t.totalTime(TimeUnit.MILLISECONDS) + "ms").toList());
        }
    }

    @Test
    void bindingTwiceIsRefused() {
        PartiMicrometer meters = new PartiMicrometer(new SimpleMeterRegistry(), Tags.empty());
        PartiManager m = new PartiManager(PartiConfig.builder("g").natsUrl("nats://127.0.0.1:1")
                .partitionSource(List::of).metrics(meters).build(), new AssignmentListener() { });
        meters.bindTo(m);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> meters.bindTo(m))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already bound");
        m.close();
    }
}
