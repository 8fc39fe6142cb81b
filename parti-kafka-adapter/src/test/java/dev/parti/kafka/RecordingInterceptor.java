package dev.parti.kafka;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/** A consumer interceptor that records, per {@code client.id}, the values it saw consumed and the offsets it saw committed. */
public final class RecordingInterceptor implements ConsumerInterceptor<String, String> {
    static final Map<String, List<String>> CONSUMED = new ConcurrentHashMap<>();
    static final Map<String, List<Map<TopicPartition, OffsetAndMetadata>>> COMMITTED = new ConcurrentHashMap<>();

    private String clientId = "?";

    @Override
    public void configure(Map<String, ?> configs) {
        clientId = String.valueOf(configs.get(ConsumerConfig.CLIENT_ID_CONFIG));
    }

    @Override
    public ConsumerRecords<String, String> onConsume(ConsumerRecords<String, String> records) {
        List<String> sink = CONSUMED.computeIfAbsent(clientId, k -> new CopyOnWriteArrayList<>());
        records.forEach(r -> sink.add(r.value()));
        return records;
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
        COMMITTED.computeIfAbsent(clientId, k -> new CopyOnWriteArrayList<>()).add(Map.copyOf(offsets));
    }

    @Override
    public void close() {
    }
}
