package dev.parti.examples;

import dev.parti.kafka.PartiConsumer;
import dev.parti.kafka.eos.ExactlyOnceProcessor;
import dev.parti.kafka.eos.ProcessResult;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * An exactly-once consume–transform–produce application on {@link PartiConsumer}: it reads orders, prices
 * them and writes the result to another topic, so that a {@code read_committed} reader of the output sees
 * every order priced exactly once, whatever happens to the members (scale-out, restarts, crashes, a member
 * paused past its session, a NATS outage under the {@code hold} policy).
 *
 * <p>Compared with a transactional {@code KafkaConsumer} application ({@code one producer},
 * {@code sendOffsetsToTransaction(offsets, consumer.groupMetadata())}), the transactions move into
 * {@link ExactlyOnceProcessor}: it keeps one transactional producer per input partition, opened and closed by
 * the rebalance listener, and commits the output and the input offsets of each partition in one
 * transaction.
 *
 * <p>Run: {@code java dev.parti.examples.ExactlyOnceExample <bootstrap-servers> <nats-url> <in-topic> <out-topic> <group>}.
 */
public final class ExactlyOnceExample {
    private ExactlyOnceExample() {
    }

    /** The consumer settings: a PartiConsumer reading committed data, never auto-committing. */
    static Map<String, Object> consumerSettings(String bootstrap, String natsUrl, String group) {
        Map<String, Object> c = new HashMap<>();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", group);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        c.put("auto.offset.reset", "earliest");
        c.put("isolation.level", "read_committed");   // required
        c.put("enable.auto.commit", "false");          // required
        c.put("parti.nats.url", natsUrl);
        return c;
    }

    /** The output producers' settings; the transactional ids are set per input partition by the processor. */
    static Map<String, Object> producerSettings(String bootstrap) {
        return Map.of("bootstrap.servers", bootstrap,
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName());
    }

    /** The business logic: prices an order. */
    static String price(String order) {
        return "priced:" + order;
    }

    /**
     * Runs one member of the pricing application until {@code done} holds, then closes (the partitions move
     * to the other members).
     *
     * @return the number of orders this member priced in committed transactions
     */
    public static long run(Map<String, Object> consumerSettings, Map<String, Object> producerSettings,
                           String inTopic, String outTopic, BooleanSupplier done) {
        ExactlyOnceProcessor.checkConsumerConfig(consumerSettings);
        long priced = 0;
        try (PartiConsumer<String, String> consumer = new PartiConsumer<>(consumerSettings);
             ExactlyOnceProcessor<String, String, String, String> eos =
                     ExactlyOnceProcessor.<String, String, String, String>builder(consumer, producerSettings).build()) {
            eos.subscribe(List.of(inTopic));
            while (!done.getAsBoolean()) {
                ProcessResult result = eos.process(consumer.poll(Duration.ofMillis(200)),
                        (order, out) -> out.send(new ProducerRecord<>(outTopic, order.key(), price(order.value()))));
                priced += result.recordsCommitted();
            }
        }
        return priced;
    }

    /** Runs one member for 60 s and prints how many orders it priced. */
    public static void main(String[] args) {
        if (args.length != 5) {
            System.err.println("usage: ExactlyOnceExample <bootstrap-servers> <nats-url> <in-topic> <out-topic> <group>");
            System.exit(2);
        }
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        long priced = run(consumerSettings(args[0], args[1], args[4]), producerSettings(args[0]), args[2], args[3],
                () -> System.nanoTime() > end);
        System.out.println("priced " + priced + " orders");
    }
}
