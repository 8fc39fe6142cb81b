package dev.parti.kafka;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Small helpers shared by the adapter's integration tests (public for the tests of the adapter's other packages). */
public final class Fixtures {
    private static final AtomicInteger SEQ = new AtomicInteger();

    private Fixtures() {
    }

    /** A name unique in this JVM run (topics and groups must not be shared between tests). */
    static String unique(String prefix) {
        return prefix + "-" + SEQ.incrementAndGet() + "-" + Long.toString(System.nanoTime() % 100_000, 36);
    }

    /** The settings every consumer of these tests shares. */
    static Map<String, Object> consumerBase(String bootstrap, String group) {
        Map<String, Object> m = new HashMap<>();
        m.put("bootstrap.servers", bootstrap);
        if (group != null) {
            m.put("group.id", group);
        }
        m.put("key.deserializer", StringDeserializer.class.getName());
        m.put("value.deserializer", StringDeserializer.class.getName());
        m.put("auto.offset.reset", "earliest");
        m.put("enable.auto.commit", false);
        m.put("fetch.max.wait.ms", 100);
        return m;
    }

    /** Fast Parti timings, robust on a loaded 2-core machine. */
    public static Map<String, Object> partiFast(String natsUrl) {
        Map<String, Object> m = new HashMap<>();
        m.put("parti.nats.url", natsUrl);
        m.put("parti.heartbeat.interval.ms", 100);
        m.put("parti.session.timeout.ms", 2000);
        m.put("parti.leader.ttl.ms", 1000);
        m.put("parti.worker.id.ttl.ms", 4000);
        m.put("parti.cold.start.window.ms", 300);
        m.put("parti.planned.scale.window.ms", 300);
        m.put("parti.rebalance.cooldown.ms", 100);
        m.put("parti.startup.timeout.ms", 15000);
        return m;
    }

    /** Produces records {@code v-from … v-(from+count-1)}, record i on partition {@code i % partitions}. */
    static void produce(String bootstrap, String topic, int partitions, int from, int count) {
        produce(bootstrap, topic, partitions, from, count, -1);
    }

    /** Like {@link #produce(String, String, int, int, int)} with timestamps {@code t0 + i * 1000} when t0 ≥ 0. */
    static void produce(String bootstrap, String topic, int partitions, int from, int count, long t0) {
        // one request in flight: on a topic just created, a first batch refused with NOT_LEADER_OR_FOLLOWER while later
        // batches went ahead left the idempotent producer retrying OUT_OF_ORDER_SEQUENCE_NUMBER for 2 minutes (seen once;
        // KAFKA-15591)
        Map<String, Object> p = Map.of("bootstrap.servers", bootstrap, "linger.ms", 0, "acks", "all",
                "max.in.flight.requests.per.connection", 1);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (int i = from; i < from + count; i++) {
                Long ts = t0 < 0 ? null : t0 + i * 1000L;
                sent.add(producer.send(new ProducerRecord<>(topic, i % partitions, ts, "k-" + i, "v-" + i)));
            }
            for (java.util.concurrent.Future<?> f : sent) {
                f.get(30, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new AssertionError("producing to " + topic + " failed", e);
        }
    }

    static Set<TopicPartition> partitions(String topic, int n) {
        Set<TopicPartition> out = new TreeSet<>(dev.parti.kafka.internal.KafkaPartitions.ORDER);
        for (int i = 0; i < n; i++) {
            out.add(new TopicPartition(topic, i));
        }
        return out;
    }

    static Admin admin(String bootstrap) {
        return Admin.create(Map.of("bootstrap.servers", bootstrap));
    }

    static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) {
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError(e.getCause());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Polls {@code consumer} on this thread until {@code done} holds, collecting records into {@code sink}
     * (may be null); fails after {@code timeout}.
     */
    static void pollUntil(Consumer<String, String> consumer, Duration timeout, List<ConsumerRecord<String, String>> sink,
                          BooleanSupplier done) {
        await().atMost(timeout).pollInSameThread().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1))
                .until(() -> {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        if (sink != null) {
                            sink.add(r);
                        }
                    }
                    return done.getAsBoolean();
                });
    }

    /** Fails if two consumers ever owned the same partition at once, according to their listeners. */
    static void assertNoOverlap(dev.parti.testkit.OwnershipLog log) {
        List<dev.parti.testkit.OwnershipEvent> events = log.events();
        if (events.isEmpty()) {
            throw new AssertionError("no ownership recorded");
        }
        dev.parti.testkit.OwnershipReport report = dev.parti.testkit.OwnershipChecker.builder()
                .maxGap(Duration.ofHours(1))
                .window(events.get(0).nanos(), System.nanoTime())
                .check(events);
        if (!report.overlaps().isEmpty()) {
            throw new AssertionError("overlapping owners: " + report);
        }
    }

    /** Values of {@code records}, in order. */
    static List<String> values(List<ConsumerRecord<String, String>> records) {
        List<String> out = new ArrayList<>();
        records.forEach(r -> out.add(r.value()));
        return out;
    }

    /** {@code v-from … v-(from+count-1)}. */
    static List<String> expectedValues(int from, int count) {
        List<String> out = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            out.add("v-" + i);
        }
        return out;
    }
}
