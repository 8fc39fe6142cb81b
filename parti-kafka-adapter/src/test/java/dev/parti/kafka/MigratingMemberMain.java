package dev.parti.kafka;

import dev.parti.testkit.OwnershipLog;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * One member of a migrating group for {@link RollingMigrationCrashTest} and {@link RollingRollbackCrashTest}, in this
 * JVM (a thread) or in a child JVM (its {@code main}, so that it can be killed with SIGKILL). It appends every record it processes to its ledger
 * file ({@code partition offset} per line, and {@code # PHASE <phase>} lines, flushed after every poll, so before any commit of it), records ownership in a shared {@link
 * OwnershipLog} directory (instance = member name), commits what it processed in {@code onPartitionsRevoked}, and
 * prints {@code PHASE <phase>} when its migration phase changes and {@code LEADER true|false} when its Parti side
 * becomes or stops being the Parti group's leader (both also as {@code #} lines in its ledger). In a child JVM,
 * SIGTERM stops it like {@code running} set to false: it commits what it processed and closes its consumer.
 */
final class MigratingMemberMain {
    private MigratingMemberMain() {
    }

    /**
     * System property of a child started held ({@link MigrationCrashSupport.Child#startHeld}): a file whose appearance
     * starts the member. Until then the JVM has started and warmed up (see {@link #warmUp}), prints {@code HELD}, and
     * touches nothing of the member's group.
     */
    static final String START_WHEN = "parti.test.start.when";

    /** Args: config file (key=value lines; with parti.nats.url a migrating PartiConsumer), topic, name, log dir, ledger. */
    public static void main(String[] args) throws Exception {
        Map<String, Object> config = new HashMap<>();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                config.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        String startWhen = System.getProperty(START_WHEN);
        if (startWhen != null) {
            // a restart of a killed instance, timed by the test: what a JVM, class loading and first connections cost
            // is paid before it, by clients of its own that join no group and are closed
            warmUp(config);
            System.out.println("HELD");
            Path go = Path.of(startWhen);
            // a child JVM hears from the test through this file only
            org.awaitility.Awaitility.await("released by the test").atMost(java.time.Duration.ofMinutes(5))
                    .pollInterval(java.time.Duration.ofMillis(2)).until(() -> Files.exists(go));
            System.out.println("RELEASED");
        }
        AtomicBoolean running = new AtomicBoolean(true);
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.set(false); // SIGTERM (WorkerProcess.stop): end like a graceful application shutdown
            try {
                main.join(20_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "member-shutdown"));
        run(config, args[1], args[2], Path.of(args[3]), Path.of(args[4]), running, new AtomicReference<>());
        System.out.println("STOPPED");
    }

    /**
     * A held child's warm-up: a Kafka consumer without a group, an admin client and a NATS connection, each used once
     * and closed (nothing of the member's group is touched).
     */
    private static void warmUp(Map<String, Object> config) throws Exception {
        Map<String, Object> plain = new HashMap<>();
        plain.put("bootstrap.servers", config.get("bootstrap.servers"));
        plain.put("key.deserializer", org.apache.kafka.common.serialization.StringDeserializer.class);
        plain.put("value.deserializer", org.apache.kafka.common.serialization.StringDeserializer.class);
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(plain);
             org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                     Map.of("bootstrap.servers", config.get("bootstrap.servers")))) {
            c.listTopics(Duration.ofSeconds(30));
            admin.describeCluster().nodes().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
        Object nats = config.get("parti.nats.url");
        if (nats != null) {
            io.nats.client.Nats.connect(nats.toString()).close();
        }
    }

    /**
     * What a member does after each non-empty batch, once the batch is in its ledger (flushed): given the consumer and
     * the next offset of each partition of the batch. Runs on the member's polling thread.
     */
    interface AfterBatch {
        void processed(Consumer<String, String> consumer, Map<TopicPartition, OffsetAndMetadata> batch);
    }

    /** Consumes until {@code running} is false, then commits and closes. */
    static void run(Map<String, Object> config, String topic, String name, Path logDir, Path ledgerFile,
                    AtomicBoolean running, AtomicReference<Consumer<String, String>> created) throws IOException {
        run(config, topic, name, logDir, ledgerFile, running, created, null);
    }

    /** Like {@link #run(Map, String, String, Path, Path, AtomicBoolean, AtomicReference)}, with {@code afterBatch} (or null). */
    static void run(Map<String, Object> config, String topic, String name, Path logDir, Path ledgerFile,
                    AtomicBoolean running, AtomicReference<Consumer<String, String>> created, AfterBatch afterBatch)
            throws IOException {
        run(config, topic, name, logDir, ledgerFile, running, created, afterBatch, null);
    }

    /**
     * Like {@link #run(Map, String, String, Path, Path, AtomicBoolean, AtomicReference, AfterBatch)}, running {@code
     * afterSubscribe} (or nothing, when null) on the polling thread between {@code subscribe()} and the first {@code
     * poll()}: a classic Kafka consumer sends its join at its first poll, so a test can hold a member there.
     */
    static void run(Map<String, Object> config, String topic, String name, Path logDir, Path ledgerFile,
                    AtomicBoolean running, AtomicReference<Consumer<String, String>> created, AfterBatch afterBatch,
                    Runnable afterSubscribe) throws IOException {
        try (OwnershipLog log = OwnershipLog.inDirectory(logDir);
             BufferedWriter ledger = Files.newBufferedWriter(ledgerFile, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                     StandardOpenOption.APPEND);
             Consumer<String, String> consumer = config.containsKey("parti.nats.url")
                     ? new PartiConsumer<>(config) : new KafkaConsumer<>(config)) {
            created.set(consumer);
            Map<TopicPartition, Long> processed = new HashMap<>();
            Runnable flush = () -> {
                try {
                    ledger.flush();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            };
            ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    flush.run();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
                    for (TopicPartition tp : partitions) {
                        Long next = processed.remove(tp);
                        if (next != null) {
                            offsets.put(tp, new OffsetAndMetadata(next));
                        }
                    }
                    if (!offsets.isEmpty()) {
                        consumer.commitSync(offsets);
                    }
                    partitions.forEach(tp -> log.released(name, tp.toString()));
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    partitions.forEach(tp -> {
                        processed.remove(tp);
                        log.released(name, tp.toString());
                        try {
                            // what it processed since its last commit will be processed again: the crash tests allow it
                            ledger.write("# LOST " + tp.partition() + "\n");
                        } catch (IOException e) {
                            throw new IllegalStateException(e);
                        }
                    });
                    flush.run();
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    partitions.forEach(tp -> log.acquired(name, tp.toString()));
                }
            };
            consumer.subscribe(List.of(topic), listener);
            if (afterSubscribe != null) {
                afterSubscribe.run();
            }
            Object lastPhase = null;
            boolean lastLeader = false;
            while (running.get()) {
                Map<TopicPartition, OffsetAndMetadata> batch = new LinkedHashMap<>();
                long pollCalled = System.nanoTime();
                ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(50));
                if (!polled.isEmpty()) {
                    // when poll() returned and when it was called: a test that pauses this JVM tells records handed out
                    // before the pause (processed after it perhaps) from records handed out after it. A pause can land
                    // between poll() returning and this line, so a poll that spans the pause may have returned before it
                    ledger.write("# POLLED " + System.nanoTime() + " " + pollCalled + "\n");
                }
                for (ConsumerRecord<String, String> r : polled) {
                    ledger.write(r.partition() + " " + r.offset() + "\n");
                    processed.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                    batch.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                flush.run(); // what the test reads while members run
                if (afterBatch != null && !batch.isEmpty()) {
                    afterBatch.processed(consumer, batch);
                }
                Object phase = consumer instanceof PartiConsumer<String, String> p
                        ? (p.rollbackPhase() != null ? p.rollbackPhase() : p.migrationPhase()) : "KAFKA_CONSUMER";
                if (phase != lastPhase) {
                    ledger.write("# PHASE " + phase + "\n"); // where in its ledger the member changed phase
                    System.out.println("PHASE " + phase);
                    lastPhase = phase;
                }
                boolean leader = consumer instanceof PartiConsumer<String, String> p && p.partiManager() != null
                        && p.partiManager().isLeader();
                if (leader != lastLeader) {
                    ledger.write("# LEADER " + leader + "\n");
                    System.out.println("LEADER " + leader);
                    lastLeader = leader;
                }
            }
            flush.run();
            Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
            processed.forEach((tp, next) -> offsets.put(tp, new OffsetAndMetadata(next)));
            try {
                consumer.commitSync(offsets); // on shutdown, like applications do; close() revokes (and commits) the rest
                processed.clear();
            } catch (org.apache.kafka.common.errors.RebalanceInProgressException
                     | org.apache.kafka.clients.consumer.CommitFailedException e) {
                // in the middle of a Kafka rebalance: onPartitionsRevoked during close() commits instead
            }
        }
    }
}
