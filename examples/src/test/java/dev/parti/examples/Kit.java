package dev.parti.examples;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/** Helpers shared by the examples' tests. */
final class Kit {
    private static final AtomicInteger SEQ = new AtomicInteger();

    private Kit() {
    }

    static String unique(String prefix) {
        return prefix + "-" + SEQ.incrementAndGet() + "-" + Long.toString(System.nanoTime() % 100_000, 36);
    }

    /** Parti timings for tests: sub-second, robust on a loaded 2-core machine. */
    static Map<String, Object> partiFast(String natsUrl) {
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

    static Properties withFastParti(Properties p, String natsUrl) {
        p.putAll(partiFast(natsUrl));
        return p;
    }

    /** Produces values {@code v-from … v-(from+count-1)}, value i on partition {@code i % partitions}. */
    static void produce(String bootstrap, String topic, int partitions, int from, int count) {
        // one request in flight: on a topic just created, a first batch refused with NOT_LEADER_OR_FOLLOWER while later
        // batches went ahead left the idempotent producer retrying OUT_OF_ORDER_SEQUENCE_NUMBER for 2 minutes (seen once;
        // KAFKA-15591)
        Map<String, Object> p = Map.of("bootstrap.servers", bootstrap, "linger.ms", 0, "acks", "all",
                "max.in.flight.requests.per.connection", 1);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            List<Future<?>> sent = new ArrayList<>();
            for (int i = from; i < from + count; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, i % partitions, "k-" + i, "v-" + i)));
            }
            for (Future<?> f : sent) {
                f.get(30, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new AssertionError("producing to " + topic + " failed", e);
        }
    }

    static List<String> values(int from, int count) {
        List<String> out = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            out.add("v-" + i);
        }
        return out;
    }
}
