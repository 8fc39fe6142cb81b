package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.PartiConsumer;
import dev.parti.spring.PartiConsumerFactory;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;

/** A Spring Kafka listener container whose consumers are PartiConsumers (parti-spring's PartiConsumerFactory). */
class SpringExampleTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Test
    void aListenerContainerOnPartiConsumersSplitsTheTopicConsumesEverythingOnceAndCommits() throws Exception {
        String topic = Kit.unique("spring");
        String group = Kit.unique("spring-group");
        KAFKA.broker().createTopic(topic, 4);
        Kit.produce(KAFKA.bootstrapServers(), topic, 4, 0, 100);

        Map<String, Object> extra = new HashMap<>(Kit.partiFast(NATS.url()));
        extra.remove("parti.nats.url");
        PartiConsumerFactory<String, String> factory = SpringExample.consumerFactory(KAFKA.bootstrapServers(), NATS.url(), extra);
        try (Consumer<String, String> probe = factory.createConsumer("probe-group", "probe")) {
            assertThat(probe).isInstanceOf(PartiConsumer.class);
        }

        List<String> got = new CopyOnWriteArrayList<>();
        ConcurrentMessageListenerContainer<String, String> container =
                SpringExample.container(factory, topic, group, 2, r -> got.add(r.value()));
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> got.size() >= 100
                    && container.getContainers().stream().allMatch(c -> c.getAssignedPartitions() != null
                    && c.getAssignedPartitions().size() == 2));
            Kit.produce(KAFKA.bootstrapServers(), topic, 4, 100, 20);
            await().atMost(Duration.ofSeconds(60)).until(() -> got.size() >= 120);
            // the container's commits land in Kafka under the group: end offsets 30 per partition
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                    Map<TopicPartition, OffsetAndMetadata> committed =
                            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                    assertThat(committed).hasSize(4);
                    committed.values().forEach(o -> assertThat(o.offset()).isEqualTo(30));
                });
            }
        } finally {
            container.stop();
        }
        assertThat(got).containsExactlyInAnyOrderElementsOf(Kit.values(0, 120));
    }
}
