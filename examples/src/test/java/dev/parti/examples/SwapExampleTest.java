package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The unchanged application runs on the swapped consumer: two instances split the topic, each record processed once. */
class SwapExampleTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Test
    void theSwappedConsumerIsAPartiConsumerAndTwoInstancesSplitTheWorkWithoutDuplicates() throws Exception {
        String topic = Kit.unique("orders");
        String group = Kit.unique("orders-app");
        KAFKA.broker().createTopic(topic, 4);
        Kit.produce(KAFKA.bootstrapServers(), topic, 4, 0, 200);

        List<String> processed = new CopyOnWriteArrayList<>();
        Map<String, Set<Integer>> partitionsSeen = new ConcurrentHashMap<>();
        AtomicBoolean done = new AtomicBoolean();
        List<Thread> apps = new CopyOnWriteArrayList<>();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        for (String name : List.of("app-1", "app-2")) {
            Thread t = new Thread(() -> {
                Consumer<String, String> consumer = SwapExample.newConsumer(
                        Kit.withFastParti(SwapExample.settings(KAFKA.bootstrapServers(), group, null), NATS.url()));
                assertThat(consumer).isInstanceOf(PartiConsumer.class);
                try (SwapExample.OrderApp app = new SwapExample.OrderApp(consumer, r -> {
                    processed.add(r.value());
                    partitionsSeen.computeIfAbsent(name, k -> ConcurrentHashMap.newKeySet()).add(r.partition());
                })) {
                    app.run(topic, done::get);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, name);
            apps.add(t);
            t.start();
        }
        // both instances consume (the group has split the partitions) and everything is processed
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60))
                .until(() -> processed.size() >= 200 && partitionsSeen.size() == 2 || !failures.isEmpty());
        Kit.produce(KAFKA.bootstrapServers(), topic, 4, 200, 40);
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60))
                .until(() -> partitionsSeen.size() == 2 && processed.size() >= 240 || !failures.isEmpty());
        done.set(true);
        for (Thread t : apps) {
            t.join(30_000);
        }
        assertThat(failures).isEmpty();
        assertThat(partitionsSeen.get("app-1")).doesNotContainAnyElementsOf(partitionsSeen.get("app-2"));
        assertThat(processed).containsExactlyInAnyOrderElementsOf(Kit.values(0, 240));
    }
}
