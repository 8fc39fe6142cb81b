package dev.parti.examples;

import dev.parti.kafka.PartiConsumer;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * An ordinary {@code KafkaConsumer} application, moved to Parti by changing one line.
 *
 * <p>The application ({@link OrderApp}) is what a team already runs: a poll loop that processes
 * records, tracks its positions, commits them after each batch and, in a
 * {@link ConsumerRebalanceListener}, commits before a partition is taken away. Nothing in it knows
 * about Parti. The swap is in {@link #newConsumer(Properties)}:
 *
 * <pre>{@code
 * -   return new KafkaConsumer<>(props);
 * +   return new PartiConsumer<>(props);
 * }</pre>
 *
 * plus one setting, {@code parti.nats.url}. The group ID, the listener, the commits and the offsets
 * already stored in Kafka stay as they are.
 *
 * <p>Run: {@code java dev.parti.examples.SwapExample <bootstrap-servers> <nats-url> <topic> <group>}.
 */
public final class SwapExample {
    private SwapExample() {
    }

    /** The consumer the application uses: the one line that changes. */
    static Consumer<String, String> newConsumer(Properties props) {
        return new PartiConsumer<>(props); // was: new KafkaConsumer<>(props)
    }

    /** The old line, kept for the rollback (and for the test that compares both). */
    static Consumer<String, String> newKafkaConsumer(Properties props) {
        return new KafkaConsumer<>(props);
    }

    /**
     * The application's settings; {@code parti.nats.url} is the only addition ({@code natsUrl} null leaves
     * it out, as for the rollback; a {@code KafkaConsumer} given it would only log it as an unknown key).
     */
    static Properties settings(String bootstrap, String group, String natsUrl) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        if (natsUrl != null) {
            props.put("parti.nats.url", natsUrl);
        }
        return props;
    }

    /** The existing application: process, commit after each batch, commit on revocation. */
    public static final class OrderApp implements AutoCloseable {
        private final Consumer<String, String> consumer;
        private final Map<TopicPartition, OffsetAndMetadata> positions = new HashMap<>();
        private final java.util.function.Consumer<ConsumerRecord<String, String>> processor;

        /**
         * @param consumer  any {@link Consumer}: a {@code KafkaConsumer} or a {@code PartiConsumer}
         * @param processor what to do with each record
         */
        public OrderApp(Consumer<String, String> consumer, java.util.function.Consumer<ConsumerRecord<String, String>> processor) {
            this.consumer = consumer;
            this.processor = processor;
        }

        /** Subscribes to {@code topic} and polls until {@code done} holds. */
        public void run(String topic, BooleanSupplier done) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    commit(); // hand the exact position over to the next owner
                    partitions.forEach(positions::remove);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    // nothing to restore: the positions come from the offsets committed in Kafka
                }
            });
            while (!done.getAsBoolean()) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    processor.accept(r);
                    positions.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                commit();
            }
        }

        private void commit() {
            if (!positions.isEmpty()) {
                consumer.commitSync(Map.copyOf(positions));
            }
        }

        /** Closes the consumer (its listener commits what was processed). */
        @Override
        public void close() {
            consumer.close();
        }
    }

    /** Consumes {@code topic} for 30 s with the swapped consumer and prints each record. */
    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: SwapExample <bootstrap-servers> <nats-url> <topic> <group>");
            System.exit(2);
        }
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        try (OrderApp app = new OrderApp(newConsumer(settings(args[0], args[3], args[1])),
                r -> System.out.println(r.partition() + "@" + r.offset() + " " + r.value()))) {
            app.run(args[2], () -> System.nanoTime() > end);
        }
    }
}
