package dev.parti.kafka;

import dev.parti.testkit.NatsServerExtension;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract against {@link PartiConsumer} with Parti's default strategy, on a real nats-server. */
class PartiConsumerContractTest extends ConsumerContract {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Override
    Map<String, Object> implementationConfig() {
        return Fixtures.partiFast(NATS.url());
    }

    @Override
    Consumer<String, String> create(Map<String, Object> config) {
        return new PartiConsumer<>(config);
    }
}
