package dev.parti.examples;

import dev.parti.spring.PartiConsumerFactory;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.MessageListener;

/**
 * Spring Kafka on Parti: a {@link ConcurrentMessageListenerContainer} whose consumers come from
 * {@link PartiConsumerFactory} (module {@code dev.parti:parti-spring}), so the container's members are
 * {@code PartiConsumer}s. The listener code, the container and its commit handling are Spring's; only the
 * consumer factory changes. In a Spring Boot application the same factory is a bean:
 *
 * <pre>{@code
 * @Bean
 * ConsumerFactory<String, String> consumerFactory(KafkaProperties kafka) {
 *     Map<String, Object> props = kafka.buildConsumerProperties();
 *     props.put("parti.nats.url", "nats://nats:4222");
 *     return new PartiConsumerFactory<>(props);
 * }
 * }</pre>
 *
 * and every {@code @KafkaListener} of the default container factory runs on Parti.
 */
public final class SpringExample {
    private SpringExample() {
    }

    /** The consumer factory: Spring's {@code DefaultKafkaConsumerFactory} settings plus {@code parti.nats.url}. */
    public static PartiConsumerFactory<String, String> consumerFactory(String bootstrap, String natsUrl,
                                                                        Map<String, Object> extra) {
        Map<String, Object> props = new HashMap<>();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("auto.offset.reset", "earliest");
        props.put("parti.nats.url", natsUrl);
        props.putAll(extra);
        return new PartiConsumerFactory<>(props);
    }

    /**
     * A started container with {@code concurrency} consumers in group {@code group} on {@code topic},
     * handing every record to {@code listener}; the container commits after each batch (Spring's default
     * {@code AckMode.BATCH}).
     */
    public static ConcurrentMessageListenerContainer<String, String> container(
            PartiConsumerFactory<String, String> factory, String topic, String group, int concurrency,
            MessageListener<String, String> listener) {
        ContainerProperties props = new ContainerProperties(topic);
        props.setGroupId(group);
        props.setMessageListener(listener);
        ConcurrentMessageListenerContainer<String, String> container = new ConcurrentMessageListenerContainer<>(factory, props);
        container.setConcurrency(concurrency);
        container.setBeanName("parti-spring-example");
        container.start();
        return container;
    }

    /** Consumes {@code topic} for 30 s with two container threads and prints each record. */
    public static void main(String[] args) throws InterruptedException {
        if (args.length != 4) {
            System.err.println("usage: SpringExample <bootstrap-servers> <nats-url> <topic> <group>");
            System.exit(2);
        }
        ConcurrentMessageListenerContainer<String, String> c = container(consumerFactory(args[0], args[1], Map.of()),
                args[2], args[3], 2, (ConsumerRecord<String, String> r) ->
                        System.out.println(Thread.currentThread().getName() + " " + r.partition() + "@" + r.offset()));
        Thread.sleep(30_000);
        c.stop();
    }
}
