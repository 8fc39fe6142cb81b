package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Two members of the pricing application, one leaving halfway: every order priced exactly once in the committed output. */
class ExactlyOnceExampleTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Test
    void twoMembersOneLeavingHalfwayPriceEveryOrderExactlyOnce() throws Exception {
        String in = Kit.unique("orders");
        String out = Kit.unique("priced");
        String group = Kit.unique("pricing");
        KAFKA.broker().createTopic(in, 4);
        KAFKA.broker().createTopic(out, 4);
        Map<String, Object> consumer = ExactlyOnceExample.consumerSettings(KAFKA.bootstrapServers(), NATS.url(), group);
        consumer.putAll(Kit.partiFast(NATS.url()));
        Map<String, Object> producer = ExactlyOnceExample.producerSettings(KAFKA.bootstrapServers());

        AtomicBoolean firstDone = new AtomicBoolean();
        AtomicBoolean secondDone = new AtomicBoolean();
        CompletableFuture<Long> first = CompletableFuture.supplyAsync(
                () -> ExactlyOnceExample.run(consumer, producer, in, out, firstDone::get), r -> new Thread(r, "pricing-1").start());
        Kit.produce(KAFKA.bootstrapServers(), in, 4, 0, 100);
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOutput(out).size() >= 100);
        CompletableFuture<Long> second = CompletableFuture.supplyAsync(
                () -> ExactlyOnceExample.run(consumer, producer, in, out, secondDone::get), r -> new Thread(r, "pricing-2").start());
        Kit.produce(KAFKA.bootstrapServers(), in, 4, 100, 100);
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOutput(out).size() >= 200);
        firstDone.set(true); // the first member leaves; its partitions move to the second
        long pricedByFirst = first.get(60, TimeUnit.SECONDS);
        Kit.produce(KAFKA.bootstrapServers(), in, 4, 200, 100);
        await().atMost(Duration.ofSeconds(60)).until(() -> committedOutput(out).size() >= 300);
        secondDone.set(true);
        long pricedBySecond = second.get(60, TimeUnit.SECONDS);

        List<String> expected = Kit.values(0, 300).stream().map(ExactlyOnceExample::price).toList();
        assertThat(committedOutput(out)).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(pricedByFirst + pricedBySecond).isEqualTo(300);
        assertThat(pricedBySecond).isPositive();
    }

    private static List<String> committedOutput(String topic) {
        Map<String, Object> c = Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "isolation.level", "read_committed");
        try (KafkaConsumer<String, String> reader = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> parts = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
                    new TopicPartition(topic, 2), new TopicPartition(topic, 3));
            reader.assign(parts);
            reader.seekToBeginning(parts);
            Map<TopicPartition, Long> end = reader.endOffsets(parts);
            List<String> values = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (parts.stream().anyMatch(tp -> reader.position(tp) < end.get(tp)) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : reader.poll(Duration.ofMillis(100))) {
                    values.add(r.value());
                }
            }
            return values;
        }
    }
}
