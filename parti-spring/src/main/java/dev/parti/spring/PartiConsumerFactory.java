package dev.parti.spring;

import dev.parti.kafka.PartiConsumer;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.serialization.Deserializer;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;

/**
 * A Spring Kafka {@link ConsumerFactory} whose consumers are {@link PartiConsumer}s: listener
 * containers ({@code ConcurrentMessageListenerContainer}, {@code @KafkaListener}) then get their
 * partitions from Parti over NATS instead of from Kafka's group coordinator, and keep committing their
 * offsets to Kafka under the same {@code group.id}.
 *
 * <p>Use it where you would use {@link DefaultKafkaConsumerFactory}, with {@code parti.nats.url} (and
 * any other {@code parti.*} key of {@link dev.parti.kafka.PartiConsumerConfig}) added to the
 * configuration map:
 *
 * <pre>{@code
 * Map<String, Object> props = new HashMap<>(kafkaProperties);
 * props.put("parti.nats.url", "nats://nats:4222");
 * ConsumerFactory<String, String> factory = new PartiConsumerFactory<>(props);
 * ConcurrentKafkaListenerContainerFactory<String, String> containers = new ConcurrentKafkaListenerContainerFactory<>();
 * containers.setConsumerFactory(factory);
 * }</pre>
 *
 * <p>Everything {@link DefaultKafkaConsumerFactory} does before creating a consumer still happens
 * (group ID and client ID overrides from the container, property overrides, post-processors); only the
 * final {@code new KafkaConsumer(...)} is replaced by {@code new PartiConsumer(...)}. Deserializer
 * instances or suppliers given to this factory are handed to the consumer; unless
 * {@link #setConfigureDeserializers(boolean)} turned it off they are first configured with the consumer's
 * settings, as Spring does. Consumer-factory listeners ({@link ConsumerFactory.Listener}, used for
 * Micrometer client metrics) are not notified for these consumers.
 *
 * @param <K> key type
 * @param <V> value type
 */
public class PartiConsumerFactory<K, V> extends DefaultKafkaConsumerFactory<K, V> {
    private boolean configure = true;

    /** A factory whose deserializers come from {@code key.deserializer} / {@code value.deserializer}. */
    public PartiConsumerFactory(Map<String, Object> configs) {
        super(configs);
    }

    /** A factory with deserializer instances (either may be null to use the configured class). */
    public PartiConsumerFactory(Map<String, Object> configs, Deserializer<K> keyDeserializer, Deserializer<V> valueDeserializer) {
        super(configs, keyDeserializer, valueDeserializer);
    }

    /** A factory with deserializer suppliers (either may be null to use the configured class). */
    public PartiConsumerFactory(Map<String, Object> configs, Supplier<Deserializer<K>> keyDeserializerSupplier,
                                Supplier<Deserializer<V>> valueDeserializerSupplier) {
        super(configs, keyDeserializerSupplier, valueDeserializerSupplier);
    }

    @Override
    public void setConfigureDeserializers(boolean configureDeserializers) {
        super.setConfigureDeserializers(configureDeserializers);
        this.configure = configureDeserializers;
    }

    /** Creates a {@link PartiConsumer} from the final configuration Spring computed. */
    @Override
    protected Consumer<K, V> createRawConsumer(Map<String, Object> configProps) {
        Deserializer<K> key = getKeyDeserializer();
        Deserializer<V> value = getValueDeserializer();
        if (configure) {
            if (key != null) {
                key.configure(configProps, true);
            }
            if (value != null) {
                value.configure(configProps, false);
            }
        }
        return new PartiConsumer<>(configProps, key, value);
    }
}
