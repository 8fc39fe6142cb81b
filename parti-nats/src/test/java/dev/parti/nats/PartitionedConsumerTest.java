package dev.parti.nats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.Partition;
import dev.parti.nats.internal.ServerVersion;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.StreamConfiguration;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The helper on one real nats-server: delivery, order, release, restart of a worker ID, failures, clean close. */
class PartitionedConsumerTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();
    private static Connection nc;

    @BeforeAll
    static void connect() throws Exception {
        nc = Nats.connect(NATS.url());
    }

    @AfterAll
    static void disconnect() throws Exception {
        nc.close();
    }

    private static Set<String> threads(String fragment) {
        Set<String> out = new java.util.TreeSet<>();
        Thread.getAllStackTraces().keySet().forEach(t -> {
            if (t.getName().contains(fragment) && t.isAlive()) {
                out.add(t.getName());
            }
        });
        return out;
    }

    @Test
    void handlesEveryMessageOnceInOrderAndCloseLeavesNoThreadOrConsumer() throws Exception {
        Harness.createStream(nc, "BASIC", "basic.>");
        Map<String, List<Long>> published = Harness.Load.publish(nc, "basic", 8, 800);
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
        try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("basic", NATS.url(), 8).build(), "BASIC",
                SubjectMapping.template("basic.{partition}.>"), Deliveries.recording("a#1", ownership, handled::add))
                .cleanup(ConsumerCleanup.DELETE_ON_CLOSE).build()) {
            c.start();
            assertThat(c.serverVersion()).isEqualTo(ServerVersion.parse(nc.getServerInfo().getVersion()).toString());
            await().atMost(Duration.ofSeconds(20)).until(() -> handled.size() >= 800);
            assertThat(c.status()).hasSize(8).allMatch(s -> s.phase() == PartitionStatus.Phase.RUNNING);
            assertThat(nc.jetStreamManagement().getConsumerNames("BASIC")).containsExactlyInAnyOrderElementsOf(
                    PartitionedConsumer.numbered("orders", 8).stream().map(c::consumerName).toList());
            assertThat(threads("parti-nats-basic-")).isNotEmpty();
        }
        Deliveries.Report report = Deliveries.check(published, handled);
        assertThat(report.missing()).isEmpty();
        assertThat(report.duplicates()).isZero();
        assertThat(report.orderViolations()).isEmpty();
        OwnershipChecker.builder().check(ownership.events()).assertClean();
        await().atMost(Duration.ofSeconds(5)).until(() -> threads("parti-nats-basic-").isEmpty() && threads("parti-basic-").isEmpty());
        // nothing else either: the helper's and Parti's connections (jnats threads) are closed too
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && !before.contains(t))
                .map(Thread::getName)
                .filter(n -> !n.startsWith("awaitility") && !n.startsWith("ForkJoinPool.commonPool")))
                .isEmpty());
        assertThat(nc.jetStreamManagement().getConsumerNames("BASIC")).isEmpty(); // DELETE_ON_CLOSE
    }

    @Test
    void aRestartOfTheSameWorkerIdResumesAfterWhatItAcked() throws Exception {
        Harness.createStream(nc, "RESUME", "resume.>");
        Map<String, List<Long>> first = Harness.Load.publish(nc, "resume", 4, 200);
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        PartitionedConsumer.Builder builder = PartitionedConsumer.builder(
                Harness.parti("resume", NATS.url(), 4).workerId("static-1").build(), "RESUME",
                SubjectMapping.template("resume.{partition}.>"), Deliveries.recording("s#1", ownership, handled::add));
        try (PartitionedConsumer c = builder.build()) {
            c.start();
            await().atMost(Duration.ofSeconds(20)).until(() -> handled.size() >= 200);
            c.close(true); // keeps the worker ID until it expires, and the consumers (KEEP)
        }
        List<String> names = nc.jetStreamManagement().getConsumerNames("RESUME");
        assertThat(names).hasSize(4);
        for (String name : names) {
            ConsumerInfo info = nc.jetStreamManagement().getConsumerInfo("RESUME", name);
            assertThat(info.getNumAckPending()).isZero();
            assertThat(info.getAckFloor().getStreamSequence()).isPositive();
        }
        Map<String, List<Long>> second = Harness.Load.publish(nc, "resume", 4, 100);
        List<Deliveries.Handled> again = Deliveries.memory();
        try (PartitionedConsumer c = PartitionedConsumer.builder(
                Harness.parti("resume", NATS.url(), 4).workerId("static-1").build(), "RESUME",
                SubjectMapping.template("resume.{partition}.>"), Deliveries.recording("s#2", ownership, again::add)).build()) {
            c.start();
            await().atMost(Duration.ofSeconds(20)).until(() -> again.size() >= 100);
            assertThat(c.manager().workerId()).isEqualTo("static-1");
        }
        Deliveries.Report report = Deliveries.check(second, again);
        assertThat(report.missing()).isEmpty();
        assertThat(again).noneMatch(h -> first.get(h.partition()).contains(h.seq())); // nothing acked before came again
        assertThat(report.duplicates()).isZero();
        assertThat(report.orderViolations()).isEmpty();
    }

    @Test
    void anOwnerThatHandledNothingPassesOnThePositionItsConsumerStartedFrom() throws Exception {
        Harness.createStream(nc, "FRESH", "fresh.>");
        Map<String, List<Long>> published = Harness.Load.publish(nc, "fresh", 1, 10);
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        String name = null;
        for (String instance : List.of("a#1", "a#2", "b#1")) {
            try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("fresh", NATS.url(), 1).build(), "FRESH",
                    SubjectMapping.template("fresh.{partition}.>"), Deliveries.recording(instance, ownership, handled::add)).build()) {
                c.start();
                name = c.consumerName(Partition.of("orders", "0"));
                // a#1 handles the 10 messages; a#2 recreates the consumer to start at 11 and gets nothing; b#1 follows
                await().atMost(Duration.ofSeconds(20)).until(() -> handled.size() >= 10 && c.isFullyRunning());
                await().pollDelay(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> true);
            }
        }
        Deliveries.Report report = Deliveries.check(published, handled);
        assertThat(report.missing()).isEmpty();
        assertThat(report.duplicates()).as("nothing is handled again by the owners after the first").isZero();
        assertThat(handled).allMatch(h -> h.instance().equals("a#1"));
        ConsumerInfo info = nc.jetStreamManagement().getConsumerInfo("FRESH", name);
        assertThat(info.getAckFloor().getStreamSequence()).as("what the server reports for a consumer that acked nothing").isZero();
        assertThat(PartitionedConsumer.position(info)).isEqualTo(published.get("orders/0").get(9));
    }

    @Test
    void revocationWaitsForTheRunningHandlerBeforeTheNextOwnerStarts() throws Exception {
        Harness.createStream(nc, "REVOKE", "revoke.>");
        Partition p0 = Partition.of("orders", "0");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        List<Deliveries.Handled> handled = Deliveries.memory();
        OwnershipLog ownership = OwnershipLog.inMemory();
        PartitionHandler recordA = Deliveries.recording("a#1", ownership, handled::add);
        PartitionHandler slowA = (p, m) -> {
            entered.countDown();
            proceed.await(); // the first message blocks until the test lets it go
            recordA.handle(p, m);
        };
        PartitionedConsumer a = PartitionedConsumer.builder(Harness.parti("revoke", NATS.url(), 1).build(), "REVOKE",
                SubjectMapping.template("revoke.{partition}.>"), slowA).revokeTimeout(Duration.ofSeconds(20)).build();
        PartitionedConsumer b = PartitionedConsumer.builder(Harness.parti("revoke", NATS.url(), 1).build(), "REVOKE",
                SubjectMapping.template("revoke.{partition}.>"), Deliveries.recording("b#1", ownership, handled::add)).build();
        try {
            a.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> a.manager().currentAssignment().contains(p0));
            b.start();
            Map<String, List<Long>> published = Harness.Load.publish(nc, "revoke", 1, 20);
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            CompletableFuture<Void> closing = CompletableFuture.runAsync(a::close); // revokes p0 from a
            // while a's handler runs, p0 is not given to b
            await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3))
                    .until(() -> !b.manager().currentAssignment().contains(p0) && !closing.isDone());
            proceed.countDown();
            closing.get(20, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(20)).until(() -> handled.size() >= 20);
            Deliveries.Report report = Deliveries.check(published, handled);
            assertThat(report.missing()).isEmpty();
            assertThat(report.duplicates()).as("the message in flight at the revocation was acked before the release").isZero();
            assertThat(report.orderViolations()).isEmpty();
            assertThat(handled.get(0).instance()).isEqualTo("a#1");
            assertThat(handled.subList(1, handled.size())).allMatch(h -> h.instance().equals("b#1"));
            OwnershipChecker.builder().check(ownership.events()).assertClean();
        } finally {
            proceed.countDown();
            a.close();
            b.close();
        }
    }

    @Test
    void aDeliveryTakenByAnotherPullerRestartsTheConsumerInsteadOfBreakingTheOrder() throws Exception {
        Harness.createStream(nc, "GAP", "gap.>");
        Partition p0 = Partition.of("orders", "0");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        List<Deliveries.Handled> handled = Deliveries.memory();
        PartitionHandler record = Deliveries.recording("a#1", OwnershipLog.inMemory(), handled::add);
        try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("gap", NATS.url(), 1).build(), "GAP",
                SubjectMapping.template("gap.{partition}.>"), (p, m) -> {
                    if (entered.getCount() > 0) {
                        entered.countDown();
                        proceed.await(); // the first message holds its ack slot until the other puller waits
                    }
                    record.handle(p, m);
                }).maxInFlight(2).build()) {
            c.start();
            await().atMost(Duration.ofSeconds(10)).until(c::isFullyRunning);
            List<Long> published = new java.util.ArrayList<>(Harness.Load.publish(nc, "gap", 1, 1).get("orders/0"));
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            published.addAll(Harness.Load.publish(nc, "gap", 1, 3).get("orders/0"));
            // someone else pulls from the partition's consumer and takes a delivery the helper never sees
            io.nats.client.Subscription stolen = nc.subscribe("test.stolen");
            nc.publish("$JS.API.CONSUMER.MSG.NEXT.GAP." + c.consumerName(p0), "test.stolen",
                    "{\"batch\":1,\"expires\":10000000000}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            nc.flush(Duration.ofSeconds(5));
            proceed.countDown();
            io.nats.client.Message taken = stolen.nextMessage(Duration.ofSeconds(10));
            assertThat(taken).isNotNull();
            assertThat(taken.isJetStream()).isTrue();
            // never acked (as if lost on the way): without the gap check the helper would handle the later messages
            // first and this one only after the ack wait (30 s)
            published.addAll(Harness.Load.publish(nc, "gap", 1, 2).get("orders/0")); // deliveries after the gap reveal it
            await().atMost(Duration.ofSeconds(10)).until(() -> handled.size() >= 6);
            Deliveries.Report report = Deliveries.check(Map.of("orders/0", published), handled);
            assertThat(report.missing()).isEmpty();
            assertThat(report.orderViolations()).isEmpty();
            assertThat(handled).extracting(Deliveries.Handled::seq).isSorted();
            assertThat(c.stats().consumerResets()).isPositive();
        }
    }

    @Test
    void persistentConsumerFailuresAreReportedAndRecover() throws Exception {
        Harness.createStream(nc, "FAIL", "fail.0.>"); // orders/1's subject is not in the stream: its consumer is refused
        Map<Partition, Integer> failing = new ConcurrentHashMap<>();
        Map<Partition, Integer> recovered = new ConcurrentHashMap<>();
        PartitionEvents events = new PartitionEvents() {
            @Override
            public void onConsumerFailing(Partition partition, int attempts, Exception lastError) {
                failing.put(partition, attempts);
            }

            @Override
            public void onConsumerRecovered(Partition partition, int attempts) {
                recovered.put(partition, attempts);
            }
        };
        Partition p1 = Partition.of("orders", "1");
        try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("fail", NATS.url(), 2).build(), "FAIL",
                SubjectMapping.template("fail.{partition}.>"), (p, m) -> { })
                .failureThreshold(3).retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200)).events(events).build()) {
            c.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> failing.containsKey(p1));
            assertThat(failing).containsOnlyKeys(p1).containsEntry(p1, 3);
            await().atMost(Duration.ofSeconds(5)).until(() -> c.status().size() == 2);
            assertThat(c.status()).anySatisfy(s -> {
                assertThat(s.partition()).isEqualTo(p1);
                assertThat(s.phase()).isEqualTo(PartitionStatus.Phase.FAILING);
                assertThat(s.failedAttempts()).isGreaterThanOrEqualTo(3);
                assertThat(s.lastError()).isNotBlank();
            });
            assertThat(c.isFullyRunning()).isFalse();
            // the operator sees it where Parti's own faults show
            assertThat(c.manager().degradedReasons()).contains(dev.parti.DegradedReason.EXTERNAL_FAULT);
            assertThat(c.manager().state()).isEqualTo(dev.parti.ManagerState.DEGRADED);
            nc.jetStreamManagement().updateStream(StreamConfiguration.builder(
                    nc.jetStreamManagement().getStreamInfo("FAIL").getConfiguration()).subjects("fail.0.>", "fail.1.>").build());
            await().atMost(Duration.ofSeconds(10)).until(() -> recovered.containsKey(p1));
            await().atMost(Duration.ofSeconds(5)).until(c::isFullyRunning);
            assertThat(c.stats().failedCreations()).isGreaterThanOrEqualTo(3);
            await().atMost(Duration.ofSeconds(5)).until(() -> c.manager().degradedReasons().isEmpty()
                    && c.manager().state() != dev.parti.ManagerState.DEGRADED);
        }
    }

    @Test
    void aConsumerOrStreamDeletedUnderTheHelperIsRecreatedOrReportedThroughTheManager() throws Exception {
        Harness.createStream(nc, "GONE", "gone.>");
        List<Deliveries.Handled> handled = Deliveries.memory();
        Partition p0 = Partition.of("orders", "0");
        try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("gone", NATS.url(), 2).build(), "GONE",
                SubjectMapping.template("gone.{partition}.>"), Deliveries.recording("a#1", OwnershipLog.inMemory(), handled::add))
                .pullExpiry(Duration.ofSeconds(1)).failureThreshold(2).retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
                .build()) {
            c.start();
            Map<String, List<Long>> first = Harness.Load.publish(nc, "gone", 2, 20);
            await().atMost(Duration.ofSeconds(10)).until(() -> handled.size() >= 20);

            // 1. an operator deletes a partition's consumer: found while idle, recreated after the last handled message
            nc.jetStreamManagement().deleteConsumer("GONE", c.consumerName(p0));
            await().atMost(Duration.ofSeconds(10)).until(() -> c.stats().consumerResets() >= 1 && c.isFullyRunning());
            Map<String, List<Long>> second = Harness.Load.publish(nc, "gone", 2, 20);
            await().atMost(Duration.ofSeconds(10)).until(() -> handled.size() >= 40);
            assertThat(c.manager().degradedReasons()).isEmpty();

            // 2. the stream is deleted: the consumers cannot be recreated, and the manager says so
            nc.jetStreamManagement().deleteStream("GONE");
            await().atMost(Duration.ofSeconds(15)).until(() -> c.manager().degradedReasons().contains(dev.parti.DegradedReason.EXTERNAL_FAULT)
                    && c.manager().state() == dev.parti.ManagerState.DEGRADED);
            assertThat(c.status()).anyMatch(s -> s.phase() == PartitionStatus.Phase.FAILING && s.lastError().contains("10059"));

            // 3. the stream is back (new sequences): consumed from its beginning, and the fault clears
            Harness.createStream(nc, "GONE", "gone.>");
            await().atMost(Duration.ofSeconds(10)).until(c::isFullyRunning);
            await().atMost(Duration.ofSeconds(10)).until(() -> c.manager().degradedReasons().isEmpty()
                    && c.manager().state() != dev.parti.ManagerState.DEGRADED);
            Map<String, List<Long>> third = Harness.Load.publish(nc, "gone", 2, 20);
            await().atMost(Duration.ofSeconds(10)).until(() -> handled.size() >= 60);
            List<Deliveries.Handled> before = handled.subList(0, 40);
            Deliveries.Report report = Deliveries.check(first, before);
            assertThat(report.missing()).isEmpty();
            assertThat(Deliveries.check(second, before).missing()).isEmpty();
            assertThat(Deliveries.check(third, handled.subList(40, handled.size())).missing()).isEmpty();
            assertThat(handled).hasSize(60); // nothing handled twice across the deleted consumer
        }
    }

    @Test
    void aPartitionWithSeveralSubjectsNeedsServer210() throws Exception {
        Assumptions.assumeFalse(ServerVersion.parse(nc.getServerInfo().getVersion()).supportsMultiFilter(),
                "this server supports multi-filter consumers");
        Harness.createStream(nc, "MULTI", "multi.>");
        PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("multi", NATS.url(), 2).build(), "MULTI",
                p -> List.of("multi.a." + p.keys().get(1), "multi.b." + p.keys().get(1)), (p, m) -> { }).build();
        assertThatThrownBy(c::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("orders/0").hasMessageContaining("2.10").hasMessageContaining(nc.getServerInfo().getVersion());
        await().atMost(Duration.ofSeconds(5)).until(() -> threads("parti-nats-multi-").isEmpty());
        c.close();
    }

    @Test
    void aFailingHandlerGetsTheSameMessageAgainAfterABackoffWhileTheOtherPartitionsOfItsDispatcherGoOn() throws Exception {
        Harness.createStream(nc, "RETRY", "retry.>");
        Partition p0 = Partition.of("orders", "0");
        List<Deliveries.Handled> handled = Deliveries.memory();
        Map<Long, Integer> attempts = new ConcurrentHashMap<>();
        long[] failedAt = new long[1];
        CountDownLatch failed = new CountDownLatch(1);
        PartitionHandler record = Deliveries.recording("a#1", OwnershipLog.inMemory(), handled::add);
        try (PartitionedConsumer c = PartitionedConsumer.builder(Harness.parti("retry", NATS.url(), 2).build(), "RETRY",
                SubjectMapping.template("retry.{partition}.>"), (p, m) -> {
                    long seq = m.metaData().streamSequence();
                    if (p.equals(p0) && attempts.merge(seq, 1, Integer::sum) == 1 && attempts.size() == 3) {
                        failedAt[0] = System.nanoTime();
                        failed.countDown();
                        throw new IllegalStateException("the third message of orders/0 fails once");
                    }
                    record.handle(p, m);
                }).handlerThreads(1).retryBackoff(Duration.ofSeconds(2), Duration.ofSeconds(2)).build()) {
            c.start();
            await().atMost(Duration.ofSeconds(10)).until(c::isFullyRunning);
            Map<String, List<Long>> first = Harness.Load.publish(nc, "retry", 1, 5); // orders/0 only
            assertThat(failed.await(10, TimeUnit.SECONDS)).isTrue();
            Map<String, List<Long>> other = new java.util.HashMap<>();
            for (int i = 0; i < 5; i++) { // orders/1, on the same (only) dispatcher, while orders/0 waits out its backoff
                io.nats.client.api.PublishAck ack = nc.jetStream().publish("retry.1.x", new byte[] {1});
                other.computeIfAbsent("orders/1", k -> new java.util.ArrayList<>()).add(ack.getSeqno());
            }
            await().atMost(Duration.ofSeconds(15)).until(() -> handled.size() >= 10);
            Deliveries.Report report = Deliveries.check(first, handled.stream().filter(h -> h.partition().equals("orders/0")).toList());
            assertThat(report.missing()).isEmpty();
            assertThat(report.duplicates()).isZero();
            assertThat(handled.stream().filter(h -> h.partition().equals("orders/0")).map(Deliveries.Handled::seq))
                    .isSorted().containsExactlyElementsOf(first.get("orders/0"));
            assertThat(Deliveries.check(other, handled).missing()).isEmpty();
            long retried = handled.stream().filter(h -> h.seq() == first.get("orders/0").get(2)).findFirst().orElseThrow().nanos();
            assertThat(handled.stream().filter(h -> h.partition().equals("orders/1")))
                    .as("orders/1 was handled while orders/0 waited out its backoff")
                    .anyMatch(h -> h.nanos() > failedAt[0] && h.nanos() < retried);
            assertThat(c.stats().handlerFailures()).isEqualTo(1);
            assertThat(attempts.get(first.get("orders/0").get(2))).isEqualTo(2);
        }
    }

    /**
     * What a nats-server before 2.10 does with a multi-filter consumer (a client reaching such a server of a
     * mixed cluster after a reconnect gets past jnats' version check, made when it connected): it ignores
     * {@code filter_subjects} and creates a consumer of the whole stream. The helper checks the consumer the
     * server created and refuses that one ({@code ignoredFilters}), so no other partition's message is handed
     * to the handler; it deletes the consumer and reports the partition failing.
     */
    @Test
    void aServerThatIgnoresMultipleFiltersIsCaughtByTheCreatedConsumersCheck() throws Exception {
        Assumptions.assumeFalse(ServerVersion.parse(nc.getServerInfo().getVersion()).supportsMultiFilter(),
                "this server supports multi-filter consumers");
        Harness.createStream(nc, "MF", "mf.>");
        List<String> wanted = List.of("mf.a.0", "mf.b.0");
        String request = "{\"stream_name\":\"MF\",\"config\":{\"durable_name\":\"mf0\",\"ack_policy\":\"all\","
                + "\"deliver_policy\":\"all\",\"filter_subjects\":[\"mf.a.0\",\"mf.b.0\"]}}";
        io.nats.client.Message reply = nc.request("$JS.API.CONSUMER.DURABLE.CREATE.MF.mf0",
                request.getBytes(java.nio.charset.StandardCharsets.UTF_8), Duration.ofSeconds(5));
        ConsumerInfo created = new ConsumerInfo(reply);
        assertThat(created.getConsumerConfiguration().getFilterSubject()).isNull(); // the hazard: the whole stream
        assertThat(created.getConsumerConfiguration().getFilterSubjects()).isNullOrEmpty();
        assertThat(PartitionedConsumer.ignoredFilters(wanted, created)).contains("without a filter subject").contains("mf.a.0");
        assertThat(PartitionedConsumer.ignoredFilters(List.of("mf.>"), nc.jetStreamManagement().addOrUpdateConsumer("MF",
                io.nats.client.api.ConsumerConfiguration.builder().durable("mf1").filterSubject("mf.>").build()))).isNull();
        nc.jetStreamManagement().deleteConsumer("MF", "mf0");
        nc.jetStreamManagement().deleteConsumer("MF", "mf1");
    }

    @Test
    void badSettingsAreRefusedByName() {
        var parti = Harness.parti("bad", "nats://127.0.0.1:1", 1).build();
        SubjectMapping m = SubjectMapping.template("x.{partition}");
        PartitionHandler h = (p, msg) -> { };
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "A.B", m, h).build()).hasMessageContaining("stream");
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "S", m, h).maxInFlight(0).build()).hasMessageContaining("maxInFlight");
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "S", m, h).consumerPrefix("a.b").build()).hasMessageContaining("consumerPrefix");
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "S", m, h).ackWait(Duration.ofSeconds(5))
                .revokeTimeout(Duration.ofSeconds(5)).build()).hasMessageContaining("ackWait");
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "S", m, h).pullExpiry(Duration.ofMillis(10)).build())
                .hasMessageContaining("pullExpiry");
        assertThatThrownBy(() -> PartitionedConsumer.builder(parti, "S", m, h).retryBackoff(Duration.ZERO, Duration.ZERO))
                .hasMessageContaining("backoff");
    }
}
