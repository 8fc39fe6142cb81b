package dev.parti.kafka;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;

/**
 * A {@code metric.reporters} class for tests: keeps every metric it is told about, per {@code client.id},
 * in a static map (reporters are created by the client from their class name).
 */
public final class RecordingReporter implements MetricsReporter {
    /** client.id → metric name → the metric last reported under it. */
    static final Map<String, Map<MetricName, KafkaMetric>> SEEN = new ConcurrentHashMap<>();
    private volatile String clientId = "?";

    @Override
    public void configure(Map<String, ?> configs) {
        Object id = configs.get("client.id");
        clientId = id == null ? "?" : id.toString();
    }

    private Map<MetricName, KafkaMetric> mine() {
        return SEEN.computeIfAbsent(clientId, k -> new ConcurrentHashMap<>());
    }

    @Override
    public void init(List<KafkaMetric> metrics) {
        metrics.forEach(this::metricChange);
    }

    @Override
    public void metricChange(KafkaMetric metric) {
        mine().put(metric.metricName(), metric);
    }

    @Override
    public void metricRemoval(KafkaMetric metric) {
        mine().remove(metric.metricName(), metric);
    }

    @Override
    public void close() {
    }

    /** The value of the metric {@code group}/{@code name} that reporters of {@code clientId} saw, or null. */
    static Object value(String clientId, String group, String name) {
        for (Map.Entry<MetricName, KafkaMetric> e : SEEN.getOrDefault(clientId, Map.of()).entrySet()) {
            if (e.getKey().group().equals(group) && e.getKey().name().equals(name)) {
                return e.getValue().metricValue();
            }
        }
        return null;
    }
}
