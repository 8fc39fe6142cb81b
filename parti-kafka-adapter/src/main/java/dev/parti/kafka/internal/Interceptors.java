package dev.parti.kafka.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The user's {@code interceptor.classes}, run by this consumer instead of the inner one, so that
 * {@code onConsume} sees exactly the records {@code poll()} returns (after records of partitions this
 * member no longer owns were dropped) and {@code onCommit} the commits this consumer made. As in
 * {@code KafkaConsumer}, an exception of an interceptor is logged and ignored. Polling thread only.
 */
final class Interceptors<K, V> implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Interceptors.class);

    private final List<ConsumerInterceptor<K, V>> interceptors;

    @SuppressWarnings("unchecked")
    Interceptors(ConsumerSettings settings, String clientId) {
        List<ConsumerInterceptor<K, V>> list = new ArrayList<>();
        for (Object i : settings.kafka.getConfiguredInstances(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG,
                ConsumerInterceptor.class, Map.of(ConsumerConfig.CLIENT_ID_CONFIG, clientId))) {
            list.add((ConsumerInterceptor<K, V>) i);
        }
        this.interceptors = List.copyOf(list);
    }

    ConsumerRecords<K, V> onConsume(ConsumerRecords<K, V> records) {
        ConsumerRecords<K, V> out = records;
        for (ConsumerInterceptor<K, V> i : interceptors) {
            try {
                out = i.onConsume(out);
            } catch (RuntimeException e) {
                log.warn("Error executing interceptor onConsume callback", e);
            }
        }
        return out;
    }

    void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
        if (offsets.isEmpty()) {
            return;
        }
        for (ConsumerInterceptor<K, V> i : interceptors) {
            try {
                i.onCommit(offsets);
            } catch (RuntimeException e) {
                log.warn("Error executing interceptor onCommit callback", e);
            }
        }
    }

    boolean isEmpty() {
        return interceptors.isEmpty();
    }

    @Override
    public void close() {
        for (ConsumerInterceptor<K, V> i : interceptors) {
            Utils.closeQuietly(i, "consumer interceptor");
        }
    }
}
