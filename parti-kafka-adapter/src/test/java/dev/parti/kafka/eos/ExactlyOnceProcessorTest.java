package dev.parti.kafka.eos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.TcpProxy;
import dev.parti.testkit.WorkerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Exactly-once consume–transform–produce on PartiConsumer against a real broker and nats-server: every
 * input {@code v-i} appears as {@code out-v-i} exactly once in the output read with {@code read_committed},
 * across a scale-out and a graceful close, a kill -9, a SIGSTOPped zombie and a NATS cut under {@code hold}.
 */
class ExactlyOnceProcessorTest {
    static final int PARTITIONS = 4;
    static final Duration WAIT = Duration.ofSeconds(60);
    static final AtomicInteger SEQ = new AtomicInteger();

    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    final String group = "eos-" + SEQ.incrementAndGet() + "-" + Long.toString(System.nanoTime() % 100_000, 36);
    final String in = group + "-in";
    final String out = group + "-out";

    @Test
    void everyRecordOnceAcrossAScaleOutAndAGracefulClose() throws Exception {
        topics();
        try (EosWorker a = worker("a", NATS.server().url(), "fence").start()) {
            produce(0, 200);
            awaitOutput(200);
            int before = a.events.size();
            try (EosWorker b = worker("b", NATS.server().url(), "fence").start()) {
                produce(200, 200); // while b joins and partitions move
                awaitEvent(b, 0, "ASSIGNED [" + in);
                awaitEvent(a, before, "REVOKED [" + in);
                produce(400, 100);
                awaitOutput(500);
                assertThat(b.events).as("b processed records after the scale-out").anyMatch(e -> e.startsWith("COMMITTED"));
                int closing = b.events.size();
                a.close(); // graceful: revoke, producers closed, partitions move to b
                produce(500, 100);
                awaitEvent(b, closing, "ASSIGNED [" + in);
                awaitOutput(600);
            }
        }
        assertExactlyOnce(600);
        assertThat(Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("parti-eos-open-" + group) || n.contains("| " + group + ":")))
                .as("threads of the processors' producers and opening pools after close").isEmpty();
    }

    @Test
    void everyRecordOnceWhenAWorkerIsKilled() throws Exception {
        topics();
        try (WorkerProcess child = child("victim", NATS.server().url(), "fence");
             EosWorker a = worker("a", NATS.server().url(), "fence").start();
             Load load = new Load()) {
            await().atMost(WAIT).until(() -> log(child).contains("EVENT COMMITTED") && a.has("COMMITTED"));
            int killedAt = a.events.size();
            child.kill(); // kill -9, most likely inside a transaction: records keep arriving
            awaitEvent(a, killedAt, "ASSIGNED [" + in); // a took the victim's partitions over under load
            int produced = load.stop();
            awaitOutput(produced);
            assertExactlyOnce(produced);
        }
    }

    @Test
    void aZombieResumedAfterItsPartitionsMovedIsFencedAndPublishesNothing() throws Exception {
        topics();
        Path go = Files.createTempFile("eos-go", "");
        Files.delete(go);
        try (WorkerProcess zombie = child("zombie", NATS.server().url(), "fence", "v-30", go.toString())) {
            produce(0, 60);
            await().atMost(WAIT).until(() -> log(zombie).contains("EVENT HOLDING"));
            zombie.suspend(); // frozen inside the transaction of v-30's partition, past its session
            try (EosWorker b = worker("b", NATS.server().url(), "fence").start()) {
                awaitOutput(60); // b took every partition over, fencing the zombie's producers
                Files.createFile(go);
                zombie.resume(); // its late commitTransaction must fail
                TopicPartition held = new TopicPartition(in, 30 % PARTITIONS);
                await().atMost(WAIT).until(() -> log(zombie).contains("EVENT FENCED " + held));
                String afterHold = log(zombie).substring(log(zombie).indexOf("EVENT HOLDING"));
                assertThat(afterHold).doesNotContain("EVENT COMMITTED " + held + " ");
                produce(60, 40); // the zombie rejoins as a new member; processing goes on exactly once
                awaitOutput(100);
            }
            assertExactlyOnce(100);
            // the zombie's output reached the log, in a transaction that read_committed readers never see
            assertThat(read(false).stream().filter("out-v-30"::equals).count()).isGreaterThanOrEqualTo(2);
        } finally {
            Files.deleteIfExists(go);
        }
    }

    @Test
    void everyRecordOnceWhenAHoldMemberIsCutOffFromNats() throws Exception {
        topics();
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", NATS.server().port());
             EosWorker a = worker("a", proxy.url("nats"), "hold").start();
             EosWorker b = worker("b", NATS.server().url(), "hold").start();
             Load load = new Load()) {
            await().atMost(WAIT).until(() -> a.has("COMMITTED") && b.has("COMMITTED"));
            int cutAt = a.events.size();
            proxy.cut(); // a keeps its partitions (hold) and keeps processing until b's producers fence it
            int fencedAt = awaitEvent(a, cutAt, "FENCED");
            assertThat(a.events.subList(cutAt, fencedAt)).as("a committed while cut off, before it was fenced")
                    .anyMatch(e -> e.startsWith("COMMITTED"));
            proxy.restore();
            awaitEvent(a, fencedAt, "LOST", "REVOKED [" + in); // a learns it lost its partitions
            int produced = load.stop();
            awaitOutput(produced);
            assertExactlyOnce(produced);
        }
    }

    @Test
    void misuseIsRefusedByName() {
        Map<String, Object> c = EosWorker.consumerConfig(KAFKA.bootstrapServers(), NATS.server().url(), group, "fence");
        Map<String, Object> uncommitted = new HashMap<>(c);
        uncommitted.remove("isolation.level");
        assertThatThrownBy(() -> ExactlyOnceProcessor.checkConsumerConfig(uncommitted))
                .isInstanceOf(ConfigException.class).hasMessageContaining("isolation.level");
        Map<String, Object> autoCommit = new HashMap<>(c);
        autoCommit.put("enable.auto.commit", true);
        assertThatThrownBy(() -> ExactlyOnceProcessor.checkConsumerConfig(autoCommit))
                .isInstanceOf(ConfigException.class).hasMessageContaining("enable.auto.commit");
        try (PartiConsumer<String, String> consumer = new PartiConsumer<>(c)) {
            assertThatThrownBy(() -> ExactlyOnceProcessor.builder(consumer,
                    Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "transactional.id", "mine")))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("transactional.id");
            assertThatThrownBy(() -> ExactlyOnceProcessor.builder(consumer,
                    Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "enable.idempotence", "false")))
                    .isInstanceOf(ConfigException.class).hasMessageContaining("enable.idempotence");
            // records of a partition the processor did not open (consumer subscribed without its listener)
            topics();
            produce(0, 4);
            try (var eos = ExactlyOnceProcessor.<String, String, String, String>builder(consumer,
                    Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "key.serializer", StringSerializer.class,
                            "value.serializer", StringSerializer.class)).build()) {
                assertThat(eos.transactionalId(new TopicPartition(in, 3))).isEqualTo(group + ":" + in + ":3");
                consumer.subscribe(List.of(in));
                List<ConsumerRecord<String, String>> seen = new ArrayList<>();
                await().atMost(WAIT).until(() -> {
                    var records = consumer.poll(Duration.ofMillis(100));
                    records.forEach(seen::add);
                    if (records.isEmpty()) {
                        return false;
                    }
                    assertThatThrownBy(() -> eos.process(records, (r, o) -> o.send(new ProducerRecord<>(out, r.value()))))
                            .isInstanceOf(IllegalStateException.class).hasMessageContaining("no transactional producer");
                    return true;
                });
            }
        }
        assertThat(read(true)).isEmpty();
    }

    /**
     * What the guide's Misuse section warns against, shown on the broker: with PartiConsumer.groupMetadata()
     * (generation −1) a stale member's transactional offsets are accepted after the new owner's, and rewind
     * the group. If PartiConsumer.groupMetadata() ever carries a marker the broker refuses, this test fails:
     * update migration-guide/exactly-once.md#misuse then.
     */
    @Test
    void theSingleProducerRecipeWithPartiGroupMetadataIsNotFencedByTheBroker() throws Exception {
        topics();
        TopicPartition tp = new TopicPartition(in, 0);
        Map<String, Object> c = EosWorker.consumerConfig(KAFKA.bootstrapServers(), NATS.server().url(), group, "fence");
        try (PartiConsumer<String, String> consumer = new PartiConsumer<>(c);
             KafkaProducer<String, String> owner = transactional(group + "-owner");
             KafkaProducer<String, String> zombie = transactional(group + "-zombie")) {
            var metadata = consumer.groupMetadata();
            owner.beginTransaction(); // the new owner has processed up to offset 2
            owner.sendOffsetsToTransaction(Map.of(tp, new org.apache.kafka.clients.consumer.OffsetAndMetadata(2)), metadata);
            owner.commitTransaction();
            zombie.beginTransaction(); // the old owner resumes and commits its stale position: accepted, nothing fences it
            zombie.sendOffsetsToTransaction(Map.of(tp, new org.apache.kafka.clients.consumer.OffsetAndMetadata(1)), metadata);
            zombie.commitTransaction();
            try (var admin = org.apache.kafka.clients.admin.Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
                assertThat(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                        .get(tp).offset()).as("the group was rewound by the stale member").isEqualTo(1);
            }
        }
    }

    private KafkaProducer<String, String> transactional(String id) {
        KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", KAFKA.bootstrapServers(),
                "transactional.id", id), new StringSerializer(), new StringSerializer());
        p.initTransactions();
        return p;
    }

    // ---- helpers

    private EosWorker worker(String name, String natsUrl, String policy) {
        return new EosWorker(name, KAFKA.bootstrapServers(), natsUrl, group, in, out, policy, null, null, false);
    }

    private WorkerProcess child(String name, String natsUrl, String policy, String... hold) {
        List<String> args = new ArrayList<>(List.of(KAFKA.bootstrapServers(), natsUrl, group, in, out, policy));
        args.addAll(List.of(hold));
        return WorkerProcess.builder(EosWorker.class).name(name).jvmArgs("-Xmx192m")
                .args(args.toArray(String[]::new)).start();
    }

    /** Waits for an event of {@code w} at index ≥ {@code from} starting with one of {@code prefixes}; its index. */
    private static int awaitEvent(EosWorker w, int from, String... prefixes) {
        AtomicInteger found = new AtomicInteger(-1);
        await().atMost(WAIT).until(() -> {
            List<String> e = w.events;
            for (int i = from; i < e.size(); i++) {
                for (String p : prefixes) {
                    if (e.get(i).startsWith(p)) {
                        found.set(i);
                        return true;
                    }
                }
            }
            return false;
        });
        return found.get();
    }

    private static String log(WorkerProcess w) {
        try {
            return Files.readString(w.logFile());
        } catch (java.io.IOException e) {
            return "";
        }
    }

    private void topics() {
        if (!topicExists()) {
            KAFKA.broker().createTopic(in, PARTITIONS);
            KAFKA.broker().createTopic(out, PARTITIONS);
        }
    }

    private boolean topicExists() {
        try (var admin = org.apache.kafka.clients.admin.Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
            return admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(in);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private KafkaProducer<String, String> producer() {
        // one request in flight: see Fixtures#produce (an idempotent producer stuck on a topic just created)
        return new KafkaProducer<>(Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "acks", "all", "linger.ms", 0,
                "max.in.flight.requests.per.connection", 1),
                new StringSerializer(), new StringSerializer());
    }

    /** Produces {@code v-from … v-(from+count-1)}, record i to partition i % PARTITIONS. */
    private void produce(int from, int count) {
        try (KafkaProducer<String, String> p = producer()) {
            for (int i = from; i < from + count; i++) {
                p.send(new ProducerRecord<>(in, i % PARTITIONS, "k-" + i, "v-" + i));
            }
            p.flush();
        }
    }

    /** Produces v-0, v-1, … continuously (about 100 records/s) on a named thread until {@link #stop()}. */
    private final class Load implements AutoCloseable {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicInteger produced = new AtomicInteger();
        private final Thread thread = new Thread(this::run, "eos-test-load");

        Load() {
            thread.start();
        }

        private void run() {
            try (KafkaProducer<String, String> p = producer()) {
                while (running.get()) {
                    int i = produced.get();
                    for (int k = 0; k < 4; k++, i++) {
                        p.send(new ProducerRecord<>(in, i % PARTITIONS, "k-" + i, "v-" + i)).get(30, TimeUnit.SECONDS);
                    }
                    produced.set(i);
                    Thread.sleep(40); // paces the load; nothing waits on it
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        int stop() throws InterruptedException {
            running.set(false);
            thread.join(30_000);
            return produced.get();
        }

        @Override
        public void close() throws InterruptedException {
            stop();
        }
    }

    private void awaitOutput(int count) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).until(() -> read(true).size() >= count);
    }

    private void assertExactlyOnce(int count) {
        List<String> values = read(true);
        Map<String, Long> counts = values.stream().collect(Collectors.groupingBy(v -> v, Collectors.counting()));
        assertThat(counts.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey))
                .as("duplicated outputs").isEmpty();
        assertThat(counts.keySet()).as("outputs")
                .containsExactlyInAnyOrderElementsOf(IntStream.range(0, count).mapToObj(i -> "out-v-" + i).toList());
    }

    /** Every value of the output topic, read with read_committed or read_uncommitted. */
    private List<String> read(boolean committed) {
        Map<String, Object> c = Map.of("bootstrap.servers", KAFKA.bootstrapServers(),
                "isolation.level", committed ? "read_committed" : "read_uncommitted", "enable.auto.commit", false);
        try (KafkaConsumer<String, String> reader = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> parts = IntStream.range(0, PARTITIONS).mapToObj(p -> new TopicPartition(out, p)).toList();
            reader.assign(parts);
            reader.seekToBeginning(parts);
            Map<TopicPartition, Long> end = reader.endOffsets(parts);
            List<String> values = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (parts.stream().anyMatch(tp -> reader.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + out + " to " + end);
                }
                for (ConsumerRecord<String, String> r : reader.poll(Duration.ofMillis(100))) {
                    values.add(r.value());
                }
            }
            return values;
        }
    }
}
