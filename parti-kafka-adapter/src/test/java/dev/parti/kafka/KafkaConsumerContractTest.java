package dev.parti.kafka;

import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * The contract against the reference: a classic-protocol {@link KafkaConsumer} with the
 * cooperative-sticky assignor (the protocol whose callback semantics PartiConsumer keeps), short
 * sessions so rebalances are quick.
 */
class KafkaConsumerContractTest extends ConsumerContract {
    @Override
    Map<String, Object> implementationConfig() {
        return map("partition.assignment.strategy", CooperativeStickyAssignor.class.getName(),
                "heartbeat.interval.ms", 200,
                "session.timeout.ms", 3000);
    }

    @Override
    Consumer<String, String> re2jConsumer(String group) {
        Map<String, Object> m = Fixtures.consumerBase(bootstrap(), group);
        m.put("group.protocol", "consumer"); // the broker evaluates the RE2J pattern (KIP-848)
        return new KafkaConsumer<>(m);
    }

    @Override
    Consumer<String, String> create(Map<String, Object> config) {
        return new KafkaConsumer<>(config);
    }
}
