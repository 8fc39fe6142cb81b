package dev.parti.kafka.eos;

import dev.parti.kafka.PartiConsumer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A consume–transform–produce worker for the tests: a {@link PartiConsumer} with an
 * {@link ExactlyOnceProcessor} that maps {@code v-i} to {@code out-v-i}. Runs on its own named thread
 * ({@link #start}) or as the main class of a child JVM ({@link #main}), reporting events as lines
 * ({@code ASSIGNED}, {@code REVOKED}, {@code LOST}, {@code COMMITTED tp n}, {@code FENCED tp}, {@code HOLDING},
 * {@code ERROR}) to a queue or to stdout.
 *
 * <p>With a hold value, the transaction holding that record (only the first time) sends its output and
 * offsets, then (just before {@code commitTransaction}) prints {@code HOLDING} and blocks until the go file
 * exists: the worker is then inside an open transaction, where a test can freeze it (SIGSTOP).
 */
final class EosWorker implements Runnable, AutoCloseable {
    final String name;
    final List<String> events = new CopyOnWriteArrayList<>();
    private final Map<String, Object> consumerConfig;
    private final String bootstrap;
    private final String inTopic;
    private final String outTopic;
    private final String holdValue;
    private final Path goFile;
    private final boolean toStdout;
    private volatile boolean running = true;
    private boolean held;
    private TopicPartition holdIn;
    private java.util.concurrent.Future<?> holdSent;
    private Thread thread;

    EosWorker(String name, String bootstrap, String natsUrl, String group, String inTopic, String outTopic,
              String lossPolicy, String holdValue, Path goFile, boolean toStdout) {
        this.name = name;
        this.bootstrap = bootstrap;
        this.inTopic = inTopic;
        this.outTopic = outTopic;
        this.holdValue = holdValue;
        this.goFile = goFile;
        this.toStdout = toStdout;
        this.consumerConfig = consumerConfig(bootstrap, natsUrl, group, lossPolicy);
    }

    /** Child JVM entry: bootstrap natsUrl group inTopic outTopic lossPolicy [holdValue goFile]. Runs until killed. */
    public static void main(String[] a) {
        EosWorker w = new EosWorker(System.getProperty("parti.worker.name", "child"), a[0], a[1], a[2], a[3], a[4], a[5],
                a.length > 6 ? a[6] : null, a.length > 7 ? Path.of(a[7]) : null, true);
        w.run();
    }

    static Map<String, Object> consumerConfig(String bootstrap, String natsUrl, String group, String lossPolicy) {
        Map<String, Object> m = new HashMap<>();
        m.put("bootstrap.servers", bootstrap);
        m.put("group.id", group);
        m.put("key.deserializer", StringDeserializer.class.getName());
        m.put("value.deserializer", StringDeserializer.class.getName());
        m.put("auto.offset.reset", "earliest");
        m.put("enable.auto.commit", "false");
        m.put("isolation.level", "read_committed");
        m.put("fetch.max.wait.ms", 100);
        m.put("parti.nats.url", natsUrl);
        m.put("parti.heartbeat.interval.ms", 100);
        m.put("parti.session.timeout.ms", 2000);
        m.put("parti.leader.ttl.ms", 1000);
        m.put("parti.worker.id.ttl.ms", 4000);
        m.put("parti.cold.start.window.ms", 300);
        m.put("parti.planned.scale.window.ms", 300);
        m.put("parti.rebalance.cooldown.ms", 100);
        m.put("parti.startup.timeout.ms", 20000);
        m.put("parti.coordinator.loss.policy", lossPolicy);
        return m;
    }

    EosWorker start() {
        thread = new Thread(this, "eos-worker-" + name);
        thread.start();
        return this;
    }

    boolean has(String prefix) {
        return events.stream().anyMatch(e -> e.startsWith(prefix));
    }

    @Override
    public void run() {
        ExactlyOnceProcessor.checkConsumerConfig(consumerConfig);
        Map<String, Object> producer = Map.of("bootstrap.servers", bootstrap, "linger.ms", 5,
                "transaction.timeout.ms", 30_000);
        try (PartiConsumer<String, String> consumer = new PartiConsumer<>(consumerConfig);
             ExactlyOnceProcessor<String, String, String, String> eos = ExactlyOnceProcessor
                     .<String, String, String, String>builder(consumer, producer)
                     .serializers(StringSerializer::new, StringSerializer::new)
                     .build()) {
            eos.beforeCommit = tp -> {
                if (tp.equals(holdIn)) {
                    holdIn = null;
                    hold();
                }
            };
            eos.subscribe(List.of(inTopic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    report("REVOKED " + partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    report("ASSIGNED " + partitions);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    report("LOST " + partitions);
                }
            });
            while (running) {
                ProcessResult r;
                try {
                    r = eos.process(consumer.poll(Duration.ofMillis(100)), (in, out) -> {
                        var sent = out.send(new ProducerRecord<>(outTopic, in.key(), "out-" + in.value()));
                        if (!held && in.value().equals(holdValue)) {
                            held = true;
                            holdSent = sent;
                            holdIn = new TopicPartition(in.topic(), in.partition());
                        }
                    });
                } catch (RuntimeException e) {
                    report("ERROR " + e);
                    continue;
                }
                r.committed().forEach((tp, n) -> report("COMMITTED " + tp + " " + n));
                r.fenced().forEach(tp -> report("FENCED " + tp));
                r.retried().forEach(tp -> report("RETRIED " + tp));
            }
        }
        report("CLOSED");
    }

    private void hold() {
        try {
            holdSent.get(30, java.util.concurrent.TimeUnit.SECONDS); // the output is in the log, uncommitted
            report("HOLDING");
            while (!Files.exists(goFile)) {
                Thread.sleep(10);
            }
            report("RELEASED");
        } catch (Exception e) {
            throw new IllegalStateException("hold failed", e);
        }
    }

    private void report(String event) {
        events.add(event);
        if (toStdout) {
            System.out.println("EVENT " + event);
            System.out.flush();
        }
    }

    /** Stops the loop and closes gracefully (revokes, closes producers), waiting for the thread. */
    @Override
    public void close() throws InterruptedException {
        running = false;
        if (thread != null) {
            thread.join(30_000);
            if (thread.isAlive()) {
                throw new IllegalStateException("worker " + name + " did not stop");
            }
        }
    }
}
