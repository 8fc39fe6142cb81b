package dev.parti.spring;

import dev.parti.ManagerState;
import dev.parti.PartiManager;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * Readiness and liveness of Parti workers, as Kubernetes probes want them, without any Spring type
 * (Spring Boot applications use {@link PartiHealthIndicator}).
 *
 * <ul>
 *   <li><b>Ready</b>: the worker is a safe owner: its state is {@code STABLE}, {@code SCALING},
 *   {@code REBALANCING} or {@code EMERGENCY} and its lease is valid. Starting ({@code INIT} …
 *   {@code WAITING_ASSIGNMENT}), {@code DEGRADED} (NATS unreachable, lease stale) and {@code SHUTDOWN}
 *   are not ready.</li>
 *   <li><b>Live</b>: the worker has not shut down. A NATS outage does not make it dead: restarting the
 *   process would not bring NATS back, and restarting every pod at once would turn an outage into a
 *   cold start of the whole group. A manager in {@code SHUTDOWN} while the application still runs (for
 *   example after a newer instance took over its static ID) is not live.</li>
 * </ul>
 */
public final class PartiHealth {
    /** What a probe reads of one worker. */
    public interface Source {
        /** The state, or null when the worker does not exist yet (a consumer not subscribed). */
        ManagerState state();

        /** Whether the worker is a safe owner right now. */
        boolean leaseValid();

        /** Details for the health endpoint. */
        Map<String, Object> details();
    }

    /** One probe's answer: ready/live or not, and why. */
    public record Result(boolean ok, String reason, List<Map<String, Object>> workers) { }

    private PartiHealth() { }

    /** A source reading a core {@link PartiManager}. */
    public static Source of(PartiManager manager) {
        Objects.requireNonNull(manager, "manager");
        return new Source() {
            @Override
            public ManagerState state() {
                return manager.state();
            }

            @Override
            public boolean leaseValid() {
                return manager.isLeaseValid();
            }

            @Override
            public Map<String, Object> details() {
                Map<String, Object> d = new LinkedHashMap<>();
                d.put("workerId", manager.workerId());
                d.put("state", manager.state().name());
                d.put("leaseValid", manager.isLeaseValid());
                d.put("leader", manager.isLeader());
                d.put("assignmentVersion", manager.assignmentVersion());
                d.put("ownedPartitions", manager.currentAssignment().size());
                return d;
            }
        };
    }

    /**
     * Sources reading the Parti metrics of Kafka consumers ({@code PartiConsumer.metrics()}, group
     * {@code parti-consumer-metrics}: {@code state}, {@code lease-valid}, {@code is-leader},
     * {@code assignment-version}, {@code assigned-partitions}), keyed by client ID. With Spring Kafka,
     * pass {@code container::metrics} of a listener container: one source per consumer it runs.
     */
    public static Supplier<List<Source>> ofConsumerMetrics(Supplier<Map<String, Map<MetricName, ? extends Metric>>> metricsByClient) {
        Objects.requireNonNull(metricsByClient, "metricsByClient");
        return () -> {
            List<Source> out = new ArrayList<>();
            Map<String, Map<MetricName, ? extends Metric>> all = metricsByClient.get();
            if (all == null) {
                return out;
            }
            all.forEach((client, metrics) -> out.add(consumerSource(client, metrics)));
            return out;
        };
    }

    private static Source consumerSource(String client, Map<MetricName, ? extends Metric> metrics) {
        Map<String, Object> parti = new LinkedHashMap<>();
        metrics.forEach((name, metric) -> {
            if ("parti-consumer-metrics".equals(name.group())) {
                parti.put(name.name(), metric.metricValue());
            }
        });
        return new Source() {
            @Override
            public ManagerState state() {
                Object s = parti.get("state");
                if (s == null || "NONE".equals(s.toString())) {
                    return null;
                }
                try {
                    return ManagerState.valueOf(s.toString());
                } catch (IllegalArgumentException e) {
                    return null;
                }
            }

            @Override
            public boolean leaseValid() {
                Object v = parti.get("lease-valid");
                return v instanceof Number n && n.doubleValue() == 1;
            }

            @Override
            public Map<String, Object> details() {
                Map<String, Object> d = new LinkedHashMap<>();
                d.put("clientId", client);
                d.put("state", String.valueOf(parti.getOrDefault("state", "NONE")));
                d.put("leaseValid", leaseValid());
                d.put("leader", parti.get("is-leader") instanceof Number n && n.doubleValue() == 1);
                d.put("assignmentVersion", parti.get("assignment-version"));
                d.put("ownedPartitions", parti.get("assigned-partitions"));
                return d;
            }
        };
    }

    /** Whether one worker is ready, with the reason when not. */
    static String notReadyReason(Source s) {
        ManagerState state = s.state();
        if (state == null) {
            return "not started";
        }
        switch (state) {
            case STABLE:
            case SCALING:
            case REBALANCING:
            case EMERGENCY:
                return s.leaseValid() ? null : "lease not valid";
            case DEGRADED:
                return "degraded: NATS unreachable or lease stale";
            case SHUTDOWN:
                return "shut down";
            default:
                return "starting (" + state + ")";
        }
    }

    /** Ready when every worker is ready (and there is at least one). */
    public static Result readiness(List<Source> sources) {
        List<Map<String, Object>> details = new ArrayList<>();
        String reason = sources.isEmpty() ? "no Parti worker" : null;
        for (Source s : sources) {
            details.add(s.details());
            String why = notReadyReason(s);
            if (why != null && reason == null) {
                reason = why;
            }
        }
        return new Result(reason == null, reason, details);
    }

    /** Live unless a worker shut down. Workers not started yet (or not subscribed) are live. */
    public static Result liveness(List<Source> sources) {
        List<Map<String, Object>> details = new ArrayList<>();
        String reason = null;
        for (Source s : sources) {
            details.add(s.details());
            if (s.state() == ManagerState.SHUTDOWN && reason == null) {
                reason = "a Parti worker shut down";
            }
        }
        return new Result(reason == null, reason, details);
    }
}
