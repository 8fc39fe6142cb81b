package dev.parti.nats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.Partition;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.TcpProxy;
import dev.parti.testkit.WorkerProcess;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Workers under a steady publish load through planned scaling (2 → 3 → 2), a kill -9 of a worker JVM and a
 * kill -9 + restart of nats-server. After each: every published message handled at least once, no two
 * handler calls of one partition at the same time in any two instances (ownership log of handler calls),
 * first handlings in stream order per partition, and duplicates bounded by what could be in flight.
 */
class FaultToleranceTest {
    private static final Logger log = LoggerFactory.getLogger(FaultToleranceTest.class);
    private static final int PARTITIONS = 12;
    private static final int MAX_IN_FLIGHT = 16;

    private NatsServer nats;
    private Connection nc;
    private final List<PartitionedConsumer> workers = new ArrayList<>();

    @BeforeEach
    void startServer() throws Exception {
        nats = NatsServer.start();
        nc = Nats.connect(Options.builder().server(nats.url()).maxReconnects(-1).reconnectWait(Duration.ofMillis(100)).build());
        Harness.createStream(nc, "ORDERS", "orders.>");
    }

    @AfterEach
    void stop() throws Exception {
        workers.forEach(PartitionedConsumer::close);
        nc.close();
        nats.close();
    }

    /** Each handler call works about 0.2 ms (inside its recorded ownership), so that handoffs meet calls in progress. */
    static final long WORK_NANOS = 200_000;

    private PartitionedConsumer worker(String group, PartitionHandler handler) {
        return worker(group, nats.url(), handler);
    }

    private PartitionedConsumer worker(String group, String url, PartitionHandler handler) {
        PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti(group, url, PARTITIONS).build(), "ORDERS",
                SubjectMapping.template("orders.{partition}.>"), handler)
                .maxInFlight(MAX_IN_FLIGHT).pullExpiry(Duration.ofSeconds(2)).revokeTimeout(Duration.ofSeconds(5))
                .ackWait(Duration.ofSeconds(6)).build();
        workers.add(c);
        c.start();
        return c;
    }

    private static long running(List<PartitionedConsumer> cs) {
        return cs.stream().mapToLong(c -> c.status().stream().filter(s -> s.phase() == PartitionStatus.Phase.RUNNING).count()).sum();
    }

    private static void awaitProgress(Supplier<Integer> handled, int more) {
        int from = handled.get();
        await().atMost(Duration.ofSeconds(20)).until(() -> handled.get() >= from + more);
    }

    @Test
    void scaleTwoThreeTwoUnderLoad() throws Exception {
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        Deliveries.Report report;
        try (Harness.Load load = new Harness.Load(nc, "orders", PARTITIONS, 0)) {
            PartitionedConsumer a = worker("scale", Deliveries.recording("a#1", ownership, handled::add, WORK_NANOS));
            PartitionedConsumer b = worker("scale", Deliveries.recording("b#1", ownership, handled::add, WORK_NANOS));
            await().atMost(Duration.ofSeconds(15)).until(() -> running(List.of(a, b)) == PARTITIONS && a.status().size() > 0 && b.status().size() > 0);
            awaitProgress(handled::size, 500);
            PartitionedConsumer c = worker("scale", Deliveries.recording("c#1", ownership, handled::add, WORK_NANOS));
            await().atMost(Duration.ofSeconds(15)).until(() -> running(List.of(a, b, c)) == PARTITIONS && c.status().size() > 0
                    && a.status().size() > 0 && b.status().size() > 0);
            awaitProgress(handled::size, 500);
            c.close(); // 3 -> 2, under load
            await().atMost(Duration.ofSeconds(15)).until(() -> running(List.of(a, b)) == PARTITIONS);
            awaitProgress(handled::size, 500);
            load.stop();
            await().atMost(Duration.ofSeconds(20)).until(() -> Deliveries.check(load.published, handled).missing().isEmpty());
            report = Deliveries.check(load.published, handled);
            log.info("scale 2-3-2: published {}, {}; stats a={} b={} c={}", load.count, report, a.stats(), b.stats(), c.stats());
        }
        assertThat(report.missing()).isEmpty();
        assertThat(report.orderViolations()).isEmpty();
        assertThat(report.duplicates()).as("graceful handoffs wait for in-flight acks: nothing is handled twice").isZero();
        OwnershipChecker.builder().check(ownership.events()).assertClean();
    }

    @Test
    void killMinusNineOfAWorkerJvm(@TempDir Path dir) throws Exception {
        Path ownershipDir = dir.resolve("ownership");
        Path handledDir = dir.resolve("handled");
        Deliveries.Report report;
        try (OwnershipLog ownership = OwnershipLog.inDirectory(ownershipDir);
             Harness.Load load = new Harness.Load(nc, "orders", PARTITIONS, 0)) {
            PartitionedConsumer a = worker("kill", Deliveries.recording("a#1", ownership, Deliveries.file(handledDir, "a#1"), WORK_NANOS));
            await().atMost(Duration.ofSeconds(15)).until(() -> running(List.of(a)) == PARTITIONS);
            try (WorkerProcess child = WorkerProcess.builder(NatsChildWorker.class).name("nats-child")
                    .jvmArgs("-Xmx128m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                    .args(nats.url(), "kill", "ORDERS", "orders", Integer.toString(PARTITIONS), ownershipDir.toString(),
                            handledDir.toString(), "child#1", Integer.toString(MAX_IN_FLIGHT))
                    .start()) {
                await().atMost(Duration.ofSeconds(30)).until(() -> Deliveries.read(handledDir).stream()
                        .filter(h -> h.instance().equals("child#1")).count() >= 300);
                long childPartitions = Deliveries.read(handledDir).stream().filter(h -> h.instance().equals("child#1"))
                        .map(Deliveries.Handled::partition).distinct().count();
                child.kill();
                ownership.gone("child#1");
                log.info("killed the child, which handled {} partitions; its log:\n{}", childPartitions, child.logTail(5));
                await().atMost(Duration.ofSeconds(20)).until(() -> a.status().size() == PARTITIONS && running(List.of(a)) == PARTITIONS);
                awaitProgress(() -> {
                    try {
                        return Deliveries.read(handledDir).size();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, 300);
                load.stop();
                await().atMost(Duration.ofSeconds(30)).until(() -> Deliveries.check(load.published, Deliveries.read(handledDir)).missing().isEmpty());
                report = Deliveries.check(load.published, Deliveries.read(handledDir));
                log.info("kill -9: published {}, {}; stats a={}", load.count, report, a.stats());
                a.close(); // before the ownership log closes
                assertThat(report.duplicates()).as("at most what the killed worker had fetched and not acked")
                        .isLessThanOrEqualTo(childPartitions * MAX_IN_FLIGHT);
            }
            assertThat(report.missing()).isEmpty();
            assertThat(report.orderViolations()).isEmpty();
            OwnershipChecker.builder().check(ownership.events()).assertClean();
        }
    }

    @Test
    void natsServerRestartedUnderLoad() throws Exception {
        Outage outage = serverOutage("restart", false);
        assertThat(outage.report().duplicates()).as("at most what was fetched and not acked when the server stopped")
                .isLessThanOrEqualTo((long) PARTITIONS * MAX_IN_FLIGHT);
    }

    @Test
    void natsServerKilledAndRestartedUnderLoad() throws Exception {
        Outage outage = serverOutage("crash", true);
        // A kill -9 of nats-server loses the acks it had not yet written to its consumer store (acks still queued
        // in the server, at most maxInFlight a partition, and those processed since its last consumer-state write):
        // the recovered ack floors are below what was handled. Only those messages may be handled again.
        log.info("nats-server kill -9: {} duplicates; {} messages were handled above the recovered ack floors "
                + "(maxInFlight x partitions = {})", outage.report().duplicates(), outage.aboveRecoveredFloors(),
                PARTITIONS * MAX_IN_FLIGHT);
        assertThat(outage.report().duplicates())
                .as("only messages handled above the ack floors the killed server recovered are handled again")
                .isLessThanOrEqualTo(outage.aboveRecoveredFloors());
    }

    /** What a server outage left: the deliveries report and, after a kill -9, how many handled messages the server's recovered ack floors do not cover. */
    private record Outage(Deliveries.Report report, long aboveRecoveredFloors) {
    }

    /**
     * Two workers under load; the server stops (gracefully or kill -9) and comes back; checks what must hold
     * either way. After a kill -9 the workers reach the server through a proxy that refuses them until the
     * test has read every partition consumer's ack floor as the restarted server recovered it from its store.
     */
    private Outage serverOutage(String group, boolean kill) throws Exception {
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        Deliveries.Report report;
        long aboveFloors = 0;
        try (Harness.Load load = new Harness.Load(nc, "orders", PARTITIONS, 0);
             TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port())) {
            String url = kill ? proxy.url("nats") : nats.url();
            PartitionedConsumer a = worker(group, url, Deliveries.recording("a#1", ownership, handled::add, WORK_NANOS));
            PartitionedConsumer b = worker(group, url, Deliveries.recording("b#1", ownership, handled::add, WORK_NANOS));
            await().atMost(Duration.ofSeconds(15)).until(() -> running(List.of(a, b)) == PARTITIONS && a.status().size() > 0 && b.status().size() > 0);
            awaitProgress(handled::size, 500);
            if (kill) {
                nats.kill();
                proxy.refuse(); // the workers stay away until the recovered floors are read
                nats.restart();
                Map<String, Long> floors = recoveredFloors(a);
                // keep them away past their lease (fence): the partitions are given out again, and may move
                await().atMost(Duration.ofSeconds(10)).until(() -> !a.manager().isLeaseValid() && !b.manager().isLeaseValid());
                long restoreNanos = System.nanoTime();
                proxy.restore();
                Map<String, java.util.Set<Long>> above = new java.util.HashMap<>();
                for (Deliveries.Handled h : handled) {
                    if (h.nanos() < restoreNanos && h.seq() > floors.get(h.partition())) {
                        above.computeIfAbsent(h.partition(), k -> new java.util.HashSet<>()).add(h.seq());
                    }
                }
                aboveFloors = above.values().stream().mapToLong(java.util.Set::size).sum();
                log.info("recovered ack floors {}; handled above them before the workers came back: {}", floors, aboveFloors);
            } else {
                nats.restart();
            }
            awaitProgress(handled::size, 500);
            await().atMost(Duration.ofSeconds(20)).until(() -> running(List.of(a, b)) == PARTITIONS);
            load.stop();
            await().atMost(Duration.ofSeconds(30)).until(() -> Deliveries.check(load.published, handled).missing().isEmpty());
            report = Deliveries.check(load.published, handled);
            log.info("nats-server {}: published {}, {}; stats a={} b={}", kill ? "kill -9 and restart" : "restart",
                    load.count, report, a.stats(), b.stats());
            a.close(); // while the proxy still forwards
            b.close();
        }
        assertThat(report.missing()).isEmpty();
        assertThat(report.orderViolations()).isEmpty();
        OwnershipChecker.builder().check(ownership.events()).assertClean();
        return new Outage(report, aboveFloors);
    }

    /** Each partition consumer's ack floor (stream sequence) as the restarted server has it; 0 for a consumer it does not have. */
    private Map<String, Long> recoveredFloors(PartitionedConsumer names) {
        Map<String, Long> floors = new java.util.HashMap<>();
        await().atMost(Duration.ofSeconds(20)).ignoreExceptions().untilAsserted(() -> {
            JetStreamManagement jsm = nc.jetStreamManagement();
            jsm.getStreamInfo("ORDERS"); // JetStream is back
            for (Partition p : PartitionedConsumer.numbered("orders", PARTITIONS)) {
                long floor = 0;
                try {
                    floor = PartitionedConsumer.position(jsm.getConsumerInfo("ORDERS", names.consumerName(p)));
                } catch (JetStreamApiException e) {
                    if (e.getApiErrorCode() != 10014) { // consumer not found: it was being recreated at the kill
                        throw e;
                    }
                }
                floors.put(p.id(), floor);
            }
        });
        return floors;
    }
}
