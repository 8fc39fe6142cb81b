package dev.parti.kafka.internal;

import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.PartiManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.metrics.Gauge;
import org.apache.kafka.common.metrics.JmxReporter;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.KafkaMetricsContext;
import org.apache.kafka.common.metrics.MetricConfig;
import org.apache.kafka.common.metrics.Metrics;
import org.apache.kafka.common.metrics.MetricsContext;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.Avg;
import org.apache.kafka.common.metrics.stats.CumulativeSum;
import org.apache.kafka.common.metrics.stats.Max;
import org.apache.kafka.common.metrics.stats.Meter;
import org.apache.kafka.common.metrics.stats.WindowedCount;
import org.apache.kafka.common.utils.Time;

/**
 * Parti's own measurements of one consumer, as Kafka metrics in the group {@value #GROUP} (tag
 * {@code client-id}), merged into {@code PartiConsumer.metrics()}. It is the {@link MetricsRecorder}
 * of every membership of the consumer: counters are updated from Parti's threads (lock-free), gauges
 * read the current membership when asked.
 *
 * <p>Exported as {@code KafkaConsumer} exports its own: the registry has the consumer's {@code
 * metric.reporters} (fresh instances, configured with the consumer's settings; by default Kafka's {@code
 * JmxReporter}) under the JMX prefix {@code kafka.consumer}, so JMX shows {@code
 * kafka.consumer:type=parti-consumer-metrics,client-id=…} and a user's reporter sees every metric here.
 * The inner consumer's other {@code consumer-coordinator-metrics} (commit latency and rate, …) are
 * mirrored here too, so the one JMX bean {@code kafka.consumer:type=consumer-coordinator-metrics,client-id=…}
 * this registry registers (after the inner consumer's, which it replaces) holds all of that group.
 *
 * <p>It also fills the rebalance part of Kafka's own group {@value #COORDINATOR_GROUP} from Parti's
 * rebalances, under the names {@code KafkaConsumer} uses ({@code rebalance-latency-avg/max/total},
 * {@code rebalance-total}, {@code rebalance-rate-per-hour}, {@code failed-rebalance-total}, {@code
 * failed-rebalance-rate-per-hour}, {@code last-rebalance-seconds-ago}, {@code assigned-partitions},
 * {@code partition-assigned/revoked/lost-latency-avg/max}): in {@code PartiConsumer.metrics()} these
 * replace the inner consumer's, which stay empty because it never joins a Kafka group. A rebalance
 * here is one Parti assignment version reaching this member: it starts when its first change is
 * queued for the polling thread and completes when {@code onPartitionsAssigned} returned; a loss
 * ({@code onPartitionsLost}) counts as a failed rebalance. Recorded on the polling thread.
 */
final class PartiMetrics implements MetricsRecorder, AutoCloseable {
    static final String GROUP = "parti-consumer-metrics";
    static final String COORDINATOR_GROUP = "consumer-coordinator-metrics";
    private static final String JMX_PREFIX = "kafka.consumer";
    /** The consumer keys the registry is configured with (defined once: a copy of the consumer's definitions). */
    private static final ConfigDef REPORTING_CONFIG = reportingConfig();

    private final Metrics metrics;
    private final Map<String, String> tags;
    private final AtomicLong applied = new AtomicLong();
    private final AtomicLong partitionsAdded = new AtomicLong();
    private final AtomicLong partitionsRemoved = new AtomicLong();
    private final AtomicLong staleLeases = new AtomicLong();
    private final AtomicLong kvFailures = new AtomicLong();
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong pollIntervalExceeded = new AtomicLong();
    private final Sensor rebalance;
    private final Sensor failedRebalance;
    private final Sensor partitionsAssigned;
    private final Sensor partitionsRevoked;
    private final Sensor partitionsLost;
    private volatile long lastRebalanceEndMs = -1;

    /** Not exported (no reporter). @param assignedPartitions how many partitions the user holds now (any thread) */
    PartiMetrics(String clientId, Supplier<PartiManager> current, IntSupplier assignedPartitions) {
        this(clientId, null, Map.of(), current, assignedPartitions);
    }

    /**
     * @param consumerConfig     the inner consumer's settings: {@code metric.reporters} and {@code metrics.*}
     *                           are read from it (null: no reporter)
     * @param inner              the inner consumer's metrics: its other {@code consumer-coordinator-metrics} are mirrored
     * @param assignedPartitions how many partitions the user holds now (any thread)
     */
    PartiMetrics(String clientId, Map<String, ?> consumerConfig, Map<MetricName, ? extends org.apache.kafka.common.Metric> inner,
                 Supplier<PartiManager> current, IntSupplier assignedPartitions) {
        Exported exported = consumerConfig == null ? null : exported(clientId, consumerConfig);
        this.metrics = exported == null ? new Metrics() : exported.metrics();
        this.tags = Map.of("client-id", clientId);
        rebalance = metrics.sensor("parti-rebalance-latency");
        rebalance.add(coordinator("rebalance-latency-avg", "The average time taken for a group to complete a rebalance"),
                new Avg());
        rebalance.add(coordinator("rebalance-latency-max", "The max time taken for a group to complete a rebalance"),
                new Max());
        rebalance.add(coordinator("rebalance-latency-total", "The total number of milliseconds spent in rebalances"),
                new CumulativeSum());
        rebalance.add(new Meter(TimeUnit.HOURS, new WindowedCount(),
                coordinator("rebalance-rate-per-hour", "The number of rebalances per hour"),
                coordinator("rebalance-total", "The total number of rebalances")));
        failedRebalance = metrics.sensor("parti-failed-rebalance");
        failedRebalance.add(new Meter(TimeUnit.HOURS, new WindowedCount(),
                coordinator("failed-rebalance-rate-per-hour", "The number of failed rebalances per hour"),
                coordinator("failed-rebalance-total", "The total number of failed rebalances")));
        metrics.addMetric(coordinator("last-rebalance-seconds-ago", "The number of seconds since the last rebalance event"),
                (Gauge<Long>) (config, now) -> lastRebalanceEndMs < 0 ? -1L : TimeUnit.MILLISECONDS.toSeconds(now - lastRebalanceEndMs));
        metrics.addMetric(coordinator("assigned-partitions", "The number of partitions currently assigned to this consumer"),
                (Gauge<Integer>) (config, now) -> assignedPartitions.getAsInt());
        partitionsAssigned = callbackSensor("assigned");
        partitionsRevoked = callbackSensor("revoked");
        partitionsLost = callbackSensor("lost");
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
        inner.forEach((name, metric) -> {
            if (COORDINATOR_GROUP.equals(name.group()) && !metrics.metrics().containsKey(name)) {
                if (metric instanceof KafkaMetric k && k.isMeasurable()) {
                    metrics.addMetric(name, (org.apache.kafka.common.metrics.Measurable) (config, now) -> {
                        Object v = k.metricValue();
                        return v instanceof Number n ? n.doubleValue() : Double.NaN;
                    });
                } else {
                    metrics.addMetric(name, (Gauge<Object>) (config, now) -> metric.metricValue());
                }
            }
        });
        // Kafka's JmxReporter joins last: it registers each bean once with every attribute, where joining first it
        // registers a bean again for every metric added (most of this constructor's time)
        if (exported != null) {
            for (MetricsReporter r : exported.jmx()) {
                r.contextChange(exported.context());
                metrics.addReporter(r);
            }
        }
    }

    private static ConfigDef reportingConfig() {
        ConfigDef def = new ConfigDef();
        ConfigDef consumerDef = ConsumerConfig.configDef();
        for (String key : List.of(CommonClientConfigs.METRIC_REPORTER_CLASSES_CONFIG, CommonClientConfigs.METRICS_NUM_SAMPLES_CONFIG,
                CommonClientConfigs.METRICS_SAMPLE_WINDOW_MS_CONFIG, CommonClientConfigs.METRICS_RECORDING_LEVEL_CONFIG)) {
            def.define(consumerDef.configKeys().get(key));
        }
        return def;
    }

    /** A registry, its context and Kafka's {@code JmxReporter}s, not added to it yet (see {@link #exported}). */
    private record Exported(Metrics metrics, MetricsContext context, List<MetricsReporter> jmx) {
    }

    /**
     * A registry exported like {@code KafkaConsumer}'s: its {@code metric.reporters}, JMX prefix {@code kafka.consumer}.
     * Kafka's {@code JmxReporter}s are left out, to be added once every metric is (the same beans result); other
     * reporters are in from the start, as in {@code KafkaConsumer}.
     */
    private static Exported exported(String clientId, Map<String, ?> consumerConfig) {
        AbstractConfig config = new AbstractConfig(REPORTING_CONFIG, consumerConfig, false);
        List<MetricsReporter> reporters = new ArrayList<>();
        List<MetricsReporter> jmx = new ArrayList<>();
        for (MetricsReporter r : CommonClientConfigs.metricsReporters(clientId, config)) {
            (r.getClass() == JmxReporter.class ? jmx : reporters).add(r);
        }
        MetricConfig metricConfig = new MetricConfig()
                .samples(config.getInt(CommonClientConfigs.METRICS_NUM_SAMPLES_CONFIG))
                .timeWindow(config.getLong(CommonClientConfigs.METRICS_SAMPLE_WINDOW_MS_CONFIG), TimeUnit.MILLISECONDS)
                .tags(Map.of("client-id", clientId));
        MetricsContext context = new KafkaMetricsContext(JMX_PREFIX,
                config.originalsWithPrefix(CommonClientConfigs.METRICS_CONTEXT_PREFIX));
        return new Exported(new Metrics(metricConfig, reporters, Time.SYSTEM, context), context, jmx);
    }

    private MetricName coordinator(String name, String doc) {
        return metrics.metricName(name, COORDINATOR_GROUP, doc, tags);
    }

    private Sensor callbackSensor(String kind) {
        Sensor sensor = metrics.sensor("parti-partition-" + kind + "-latency");
        sensor.add(coordinator("partition-" + kind + "-latency-avg",
                "The average time taken for a partition-" + kind + " rebalance listener callback"), new Avg());
        sensor.add(coordinator("partition-" + kind + "-latency-max",
                "The max time taken for a partition-" + kind + " rebalance listener callback"), new Max());
        return sensor;
    }

    /** Polling thread: a rebalance completed after {@code latencyMs}. */
    void rebalanceCompleted(long latencyMs) {
        long now = System.currentTimeMillis();
        rebalance.record(latencyMs, now);
        lastRebalanceEndMs = now;
    }

    /** Polling thread: partitions were lost. */
    void rebalanceFailed() {
        long now = System.currentTimeMillis();
        failedRebalance.record(1, now);
        lastRebalanceEndMs = now;
    }

    /** Polling thread: a listener callback ({@code assigned}, {@code revoked}, {@code lost}) took {@code ms}. */
    void callback(String kind, long ms) {
        switch (kind) {
            case "assigned" -> partitionsAssigned.record(ms);
            case "revoked" -> partitionsRevoked.record(ms);
            default -> partitionsLost.record(ms);
        }
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
