package dev.parti.benchmarks.scenario;

import dev.parti.kafka.PartiAssignor;
import dev.parti.kafka.PartiConsumer;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.testkit.OwnershipLog;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One benchmark consumer: subscribes to the topic, commits after every batch and in
 * {@code onPartitionsRevoked}, records acquire/release into an {@link OwnershipLog} directory and every
 * consumed batch into {@code <consumedDir>/<name>.consumed} (per batch: nanoTime, count, then
 * {@code partition << 40 | offset} per record; flushed per batch, before the commit, so a kill -9 leaves
 * what was processed but not committed on disk).
 *
 * <p>Runs on a thread of the runner ({@link #start()}) or alone in a child JVM ({@link #main(String[])}).
 *
 * <p>{@link #staticMember(boolean) A static member} sets {@code group.instance.id = <group>-<name>}; it closes
 * with {@code close(timeout)} (Kafka: {@code DEFAULT}, which for a static member does not leave the group, on
 * both protocols), and as a PartiConsumer with {@code REMAIN_IN_GROUP} explicitly. A restarted worker (same
 * name, {@link #instance(int) instance} 2, 3, ...) writes its batches to {@code <name>~<instance>.consumed}.
 */
public final class BenchWorker implements Runnable {
    /** The implementations compared. */
    /** {@code parti.migration.join.wait.ms} of {@link Impl#PARTI_MIGRATING_SURGE}: longer than any swap of the bench. */
    static final long SURGE_JOIN_WAIT_MS = 30_000;

    public enum Impl {
        PARTI("parti", "PartiConsumer (defaults)"),
        EAGER("eager", "Kafka classic eager RangeAssignor"),
        COOP("coop", "Kafka classic CooperativeStickyAssignor"),
        CONSUMER("consumer", "Kafka group.protocol=consumer"),
        /** The old fleet of a migration to Parti: classic protocol with PartiAssignor (migration guide, step 1). */
        CLASSIC_PARTI("classic-parti", "Kafka classic PartiAssignor"),
        /** A PartiConsumer with {@code parti.migration=kafka-to-parti}: joins a Kafka-run group and moves it to Parti. */
        PARTI_MIGRATING("parti-migrating", "PartiConsumer parti.migration=kafka-to-parti"),
        /**
         * {@link #PARTI_MIGRATING} joining an old fleet on CooperativeStickyAssignor (migration step 1 skipped): the old
         * fleet's settings plus the Parti keys.
         */
        PARTI_MIGRATING_COOP("parti-migrating-coop", "PartiConsumer parti.migration=kafka-to-parti, CooperativeStickyAssignor kept"),
        /**
         * {@link #PARTI_MIGRATING} deferring its Kafka join to the group's next rebalance ({@code
         * parti.migration.join.wait.ms} {@value #SURGE_JOIN_WAIT_MS}): the newcomer of a surge deployment.
         */
        PARTI_MIGRATING_SURGE("parti-migrating-surge", "PartiConsumer parti.migration=kafka-to-parti, parti.migration.join.wait.ms"),
        /** A PartiConsumer with {@code parti.migration=parti-to-kafka}: runs on Parti, then moves the group back to Kafka. */
        PARTI_ROLLBACK("parti-rollback", "PartiConsumer parti.migration=parti-to-kafka"),
        /**
         * PartiConsumer with crash detection by proof of death ({@code parti.disconnect.events}), on a nats-server whose
         * application account imports its client DISCONNECT events ({@link #POD_SUBJECT}); not in the default set.
         */
        PARTI_POD("parti-pod", "PartiConsumer + proof of death (parti.disconnect.events)");

        /** The implementations a scenario compares when {@code --impls} is not given. */
        static final List<Impl> COMPARED = List.of(PARTI, EAGER, COOP, CONSUMER);

        final String id;
        final String label;

        Impl(String id, String label) {
            this.id = id;
            this.label = label;
        }

        /** Whether this implementation is a {@code PartiConsumer} (the others are {@code KafkaConsumer}s). */
        boolean partiConsumer() {
            return this == PARTI || this == PARTI_MIGRATING || this == PARTI_MIGRATING_COOP || this == PARTI_MIGRATING_SURGE
                    || this == PARTI_ROLLBACK
                    || this == PARTI_POD;
        }

        static Impl of(String id) {
            for (Impl i : values()) {
                if (i.id.equals(id)) {
                    return i;
                }
            }
            throw new IllegalArgumentException("unknown implementation " + id);
        }
    }

    /**
     * Kafka session timeout used by the benchmark: 10 s (the anchor settings) unless the system property
     * {@code bench.kafka.session.ms} says otherwise ({@code scripts/bench --kafka-session-ms 45000}).
     */
    /** The account of the nats-server {@link Impl#PARTI_POD} runs on, and the subject of its DISCONNECT events. */
    static final String POD_ACCOUNT = "BENCH";
    static final String POD_SUBJECT = "$SYS.ACCOUNT." + POD_ACCOUNT + ".DISCONNECT";

    static int kafkaSessionMs() {
        return Integer.getInteger("bench.kafka.session.ms", 10_000);
    }

    static final int KAFKA_HEARTBEAT_MS = 3_000;

    private final Impl impl;
    private final String bootstrap;
    private final String natsUrl;
    private final String topic;
    private final String group;
    private final String name;
    private final Path ownershipDir;
    private final Path consumedDir;
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile boolean stop;
    private volatile Consumer<byte[], byte[]> consumer;
    private volatile Metric partiIsLeader;
    private boolean staticMember;
    private String instanceId;
    private int instance = 1;
    private Thread thread;
    /** The join path of this consumer, System.nanoTime(), 0 until reached: run() began, consumer constructed and subscribed. */
    volatile long runNanos;
    volatile long subscribedNanos;
    /** The first onPartitionsAssigned with partitions, and the first non-empty batch. */
    volatile long firstAssignedNanos;
    volatile long firstRecordNanos;

    public BenchWorker(Impl impl, String bootstrap, String natsUrl, String topic, String group, String name,
                       Path ownershipDir, Path consumedDir) {
        this.impl = impl;
        this.bootstrap = bootstrap;
        this.natsUrl = natsUrl;
        this.topic = topic;
        this.group = group;
        this.name = name;
        this.ownershipDir = ownershipDir;
        this.consumedDir = consumedDir;
    }

    /** args: impl bootstrap natsUrl topic group name ownershipDir consumedDir */
    public static void main(String[] args) throws Exception {
        BenchWorker w = new BenchWorker(Impl.of(args[0]), args[1], args[2], args[3], args[4], args[5],
                Path.of(args[6]), Path.of(args[7]));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> w.stop(Duration.ofSeconds(10))));
        w.run();
    }

    public String name() {
        return name;
    }

    /** With {@code group.instance.id = <group>-<name>} (static membership); set before {@link #start()}. */
    public BenchWorker staticMember(boolean on) {
        this.staticMember = on;
        return this;
    }

    /**
     * With {@code group.instance.id = id}: a replacement that takes over a stopped static member's ID under a name of
     * its own; set before {@link #start()}, instead of {@link #staticMember(boolean)}.
     */
    public BenchWorker instanceId(String id) {
        this.instanceId = id;
        return this;
    }

    /** The n-th consumer with this name in the run (1 for the first; a restart is 2, 3, ...); set before {@link #start()}. */
    public BenchWorker instance(int n) {
        this.instance = n;
        return this;
    }

    /**
     * Whether this worker is the Parti leader of its group right now: PartiConsumer's {@code is-leader}
     * metric (group {@code parti-consumer-metrics}); false for KafkaConsumer and when not running.
     */
    public boolean isPartiLeader() {
        Metric m = partiIsLeader;
        return m != null && m.metricValue() instanceof Number n && n.intValue() == 1;
    }

    public BenchWorker start() {
        thread = new Thread(this, "bench-" + name);
        thread.start();
        return this;
    }

    /** Asks the loop to stop and waits for the consumer to close. */
    public void stop(Duration max) {
        stop = true;
        Consumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        try {
            done.await(max.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Map<String, Object> kafkaProps(Impl impl, String bootstrap, String group, String clientId) {
        Map<String, Object> p = new HashMap<>();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("client.id", clientId);
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", false);
        switch (impl) {
            case EAGER -> {
                p.put("group.protocol", "classic");
                p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
                p.put("session.timeout.ms", kafkaSessionMs());
                p.put("heartbeat.interval.ms", KAFKA_HEARTBEAT_MS);
            }
            case COOP, PARTI_MIGRATING_COOP -> {
                p.put("group.protocol", "classic");
                p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
                p.put("session.timeout.ms", kafkaSessionMs());
                p.put("heartbeat.interval.ms", KAFKA_HEARTBEAT_MS);
            }
            case CONSUMER -> p.put("group.protocol", "consumer"); // session timeout is the broker's group.consumer.session.timeout.ms
            case CLASSIC_PARTI, PARTI_MIGRATING, PARTI_MIGRATING_SURGE, PARTI_ROLLBACK -> {
                // PartiConsumer's migrating member runs the classic protocol with MigrationAssignor until the switch
                p.put("group.protocol", "classic");
                p.put("partition.assignment.strategy", PartiAssignor.class.getName());
                p.put(PartiAssignor.WORKER_ID_CONFIG, clientId);
                p.put("session.timeout.ms", kafkaSessionMs());
                p.put("heartbeat.interval.ms", KAFKA_HEARTBEAT_MS);
            }
            case PARTI, PARTI_POD -> { }
        }
        return p;
    }

    static Consumer<byte[], byte[]> create(Impl impl, String bootstrap, String natsUrl, String group, String clientId) {
        return create(impl, bootstrap, natsUrl, group, clientId, null);
    }

    static Consumer<byte[], byte[]> create(Impl impl, String bootstrap, String natsUrl, String group, String clientId,
                                           String groupInstanceId) {
        Map<String, Object> p = kafkaProps(impl, bootstrap, group, clientId);
        if (groupInstanceId != null) {
            p.put("group.instance.id", groupInstanceId);
        }
        if (impl.partiConsumer()) {
            p.put("parti.nats.url", natsUrl);
            if (impl == Impl.PARTI_POD) {
                p.put(PartiConsumerConfig.DISCONNECT_EVENTS_CONFIG, POD_SUBJECT);
            }
            if (impl == Impl.PARTI_MIGRATING || impl == Impl.PARTI_MIGRATING_COOP || impl == Impl.PARTI_MIGRATING_SURGE) {
                p.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI);
            }
            if (impl == Impl.PARTI_MIGRATING_SURGE) {
                p.put(PartiConsumerConfig.MIGRATION_JOIN_WAIT_MS_CONFIG, Long.toString(SURGE_JOIN_WAIT_MS));
            }
            if (impl == Impl.PARTI_ROLLBACK) {
                p.put(PartiConsumerConfig.MIGRATION_CONFIG, PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA);
            }
            return new PartiConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        }
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    @Override
    public void run() {
        runNanos = System.nanoTime();
        try (OwnershipLog log = OwnershipLog.inDirectory(ownershipDir);
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(
                     Files.newOutputStream(consumedDir.resolve(name + (instance > 1 ? "~" + instance : "") + ".consumed")),
                     1 << 16))) {
            Consumer<byte[], byte[]> c = create(impl, bootstrap, natsUrl, group, name,
                    staticMember ? group + "-" + name : instanceId);
            consumer = c;
            if (impl.partiConsumer()) {
                for (Map.Entry<MetricName, ? extends Metric> e : c.metrics().entrySet()) {
                    if (e.getKey().name().equals("is-leader") && e.getKey().group().equals("parti-consumer-metrics")) {
                        partiIsLeader = e.getValue();
                    }
                }
            }
            try {
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        if (!partitions.isEmpty()) {
                            try {
                                c.commitSync(Duration.ofSeconds(5));
                            } catch (KafkaException e) {
                                System.err.println(name + ": commit on revoke failed: " + e);
                            }
                        }
                        for (TopicPartition tp : partitions) {
                            log.released(name, tp.toString());
                        }
                    }

                    @Override
                    public void onPartitionsLost(Collection<TopicPartition> partitions) {
                        for (TopicPartition tp : partitions) {
                            log.released(name, tp.toString());
                        }
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        if (!partitions.isEmpty() && firstAssignedNanos == 0) {
                            firstAssignedNanos = System.nanoTime();
                        }
                        for (TopicPartition tp : partitions) {
                            log.acquired(name, tp.toString());
                        }
                    }
                });
                subscribedNanos = System.nanoTime();
                while (!stop) {
                    ConsumerRecords<byte[], byte[]> batch;
                    try {
                        batch = c.poll(Duration.ofMillis(200));
                    } catch (WakeupException e) {
                        continue;
                    }
                    if (batch.isEmpty()) {
                        continue;
                    }
                    if (firstRecordNanos == 0) {
                        firstRecordNanos = System.nanoTime();
                    }
                    out.writeLong(System.nanoTime());
                    out.writeInt(batch.count());
                    for (ConsumerRecord<byte[], byte[]> r : batch) {
                        out.writeLong(((long) r.partition() << 40) | r.offset());
                    }
                    out.flush();
                    try {
                        c.commitSync(Duration.ofSeconds(5));
                    } catch (RebalanceInProgressException | WakeupException e) {
                        // revoked or closing: onPartitionsRevoked commits what was processed
                    } catch (KafkaException | IllegalStateException e) {
                        System.err.println(name + ": commit failed: " + e);
                    }
                }
            } finally {
                try {
                    if (impl == Impl.PARTI && staticMember) {
                        c.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.REMAIN_IN_GROUP)
                                .withTimeout(Duration.ofSeconds(10)));
                    } else {
                        c.close(Duration.ofSeconds(10));
                    }
                } catch (RuntimeException e) {
                    System.err.println(name + ": close failed: " + e);
                }
                log.gone(name);
                consumer = null;
                partiIsLeader = null;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            done.countDown();
        }
    }
}
