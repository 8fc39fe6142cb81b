package dev.parti.kafka;

import static dev.parti.kafka.Fixtures.pollUntil;
import static dev.parti.kafka.Fixtures.unique;
import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code allow.auto.create.topics} on a broker with {@code auto.create.topics.enable=true}, for
 * {@code KafkaConsumer} (the reference) and {@code PartiConsumer} alike: subscribing to a missing topic
 * creates it when allowed, and never when not.
 */
class AutoCreateTopicsTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension(KafkaBroker.builder().property("auto.create.topics.enable", "true"));
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    enum Kind { KAFKA, PARTI }

    private static Consumer<String, String> consumer(Kind kind, String group, boolean allow) {
        Map<String, Object> m = Fixtures.consumerBase(KAFKA.bootstrapServers(), group);
        m.put("allow.auto.create.topics", allow);
        if (kind == Kind.KAFKA) {
            m.put("partition.assignment.strategy", CooperativeStickyAssignor.class.getName());
            return new KafkaConsumer<>(m);
        }
        m.putAll(Fixtures.partiFast(NATS.url()));
        return new PartiConsumer<>(m);
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void aMissingSubscribedTopicIsCreatedOnlyWhenAllowed(Kind kind) throws Exception {
        String allowed = unique("auto-yes");
        String refused = unique("auto-no");
        try (Admin admin = Fixtures.admin(KAFKA.bootstrapServers())) {
            try (Consumer<String, String> c = consumer(kind, unique("g-no"), false)) {
                c.subscribe(List.of(refused));
                long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
                pollUntil(c, Duration.ofSeconds(30), null, () -> System.nanoTime() - until > 0);
                assertThat(c.assignment()).isEmpty();
            }
            assertThat(Fixtures.get(admin.listTopics().names())).doesNotContain(refused);
            try (Consumer<String, String> c = consumer(kind, unique("g-yes"), true)) {
                c.subscribe(List.of(allowed));
                pollUntil(c, Duration.ofSeconds(30), null, () -> c.assignment().equals(java.util.Set.of(new TopicPartition(allowed, 0))));
            }
            assertThat(Fixtures.get(admin.listTopics().names())).contains(allowed);
        }
    }
}
