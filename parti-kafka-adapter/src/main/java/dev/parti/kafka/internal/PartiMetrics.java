package dev.parti.kafka.internal;

import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.PartiManager;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.Gauge;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.Metrics;

/**
 * Parti's own measurements of one consumer, as Kafka metrics in the group {@value #GROUP} (tag
 * {@code client-id}), merged into {@code PartiConsumer.metrics()}. It is the {@link MetricsRecorder}
 * of every membership of the consumer: counters are updated from Parti's threads (lock-free), gauges
 * read the current membership when asked. No reporter is attached (nothing is exported by itself).
 */
final class PartiMetrics implements MetricsRecorder, AutoCloseable {
    static final String GROUP = "parti-consumer-metrics";

    private final Metrics metrics = new Metrics();
    private final Map<String, String> tags;
    private final AtomicLong applied = new AtomicLong();
    private final AtomicLong partitionsAdded = new AtomicLong();
    private final AtomicLong partitionsRemoved = new AtomicLong();
    private final AtomicLong staleLeases = new AtomicLong();
    private final AtomicLong kvFailures = new AtomicLong();
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong pollIntervalExceeded = new AtomicLong();

    PartiMetrics(String clientId, Supplier<PartiManager> current) {
        this.tags = Map.of("client-id", clientId);
        counter("assignments-applied-total", "Parti assignment versions applied by this member", applied);
        counter("partitions-added-total", "Partitions gained through Parti assignments", partitionsAdded);
        counter("partitions-removed-total", "Partitions given up through Parti assignments", partitionsRemoved);
        counter("stale-lease-total", "Times this member's lease went stale (NATS unreachable too long)", staleLeases);
        counter("kv-failure-total", "NATS key-value operations of this member that failed", kvFailures);
        counter("assignments-published-total", "Assignments this member published as Parti leader", published);
        counter("poll-interval-exceeded-total", "Times max.poll.interval.ms was exceeded and the member left", pollIntervalExceeded);
        gauge("assignment-version", "The Parti assignment version applied last (0 before the first)", () -> {
            PartiManager m = current.get();
            return m == null ? 0L : m.assignmentVersion();
        });
        gauge("assigned-partitions", "Partitions this member owns in Parti's view", () -> {
            PartiManager m = current.get();
            return m == null ? 0 : m.currentAssignment().size();
        });
        gauge("lease-valid", "1 while this member is a safe owner (recent heartbeat), else 0", () -> {
            PartiManager m = current.get();
            return m != null && m.isLeaseValid() ? 1 : 0;
        });
        gauge("is-leader", "1 while this member is the Parti leader of its group, else 0", () -> {
            PartiManager m = current.get();
            return m != null && m.isLeader() ? 1 : 0;
        });
        gauge("state", "The Parti manager state (NONE when not subscribed)", () -> {
            PartiManager m = current.get();
            return m == null ? "NONE" : m.state().name();
        });
    }

    /** The metrics, keyed by name. */
    Map<MetricName, KafkaMetric> metrics() {
        return metrics.metrics();
    }

    void pollIntervalExceeded() {
        pollIntervalExceeded.incrementAndGet();
    }

    private void counter(String name, String doc, AtomicLong value) {
        metrics.addMetric(metrics.metricName(name, GROUP, doc, tags), (Gauge<Long>) (config, now) -> value.get());
    }

    private <T> void gauge(String name, String doc, Supplier<T> value) {
        metrics.addMetric(metrics.metricName(name, GROUP, doc, tags), (Gauge<T>) (config, now) -> value.get());
    }

    @Override
    public void stateChanged(ManagerState from, ManagerState to) {
        // read through the "state" gauge
    }

    @Override
    public void assignmentPublished(long version, int partitions, int workers, Duration calculation) {
        published.incrementAndGet();
    }

    @Override
    public void assignmentApplied(long version, int added, int removed) {
        applied.incrementAndGet();
        partitionsAdded.addAndGet(added);
        partitionsRemoved.addAndGet(removed);
    }

    @Override
    public void kvOperation(String op, boolean ok) {
        if (!ok) {
            kvFailures.incrementAndGet();
        }
    }

    @Override
    public void staleLease(Duration age, LossPolicy policy) {
        staleLeases.incrementAndGet();
    }

    @Override
    public void close() {
        metrics.close();
    }
}
