package dev.parti.spring;

import dev.parti.PartiManager;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * A Spring Boot {@link HealthIndicator} for Parti workers, by the rules of {@link PartiHealth}: the
 * readiness indicator is {@code UP} while every worker is a safe owner and {@code OUT_OF_SERVICE}
 * otherwise (starting, degraded, shut down); the liveness indicator is {@code UP} unless a worker shut
 * down ({@code DOWN}). Details list each worker's state, lease, leadership, version and partitions.
 *
 * <pre>{@code
 * @Bean HealthIndicator partiReadiness(KafkaListenerEndpointRegistry registry) {
 *     return PartiHealthIndicator.readiness(() -> registry.getListenerContainer("orders").metrics());
 * }
 * // application.properties: management.endpoint.health.group.readiness.include=readinessState,partiReadiness
 * }</pre>
 *
 * <p>Needs {@code org.springframework.boot:spring-boot-health} (an optional dependency of this module).
 */
public final class PartiHealthIndicator implements HealthIndicator {
    private final boolean readiness;
    private final Supplier<List<PartiHealth.Source>> sources;

    private PartiHealthIndicator(boolean readiness, Supplier<List<PartiHealth.Source>> sources) {
        this.readiness = readiness;
        this.sources = sources;
    }

    /** Readiness of one core worker. */
    public static PartiHealthIndicator readiness(PartiManager manager) {
        PartiHealth.Source s = PartiHealth.of(manager);
        return new PartiHealthIndicator(true, () -> List.of(s));
    }

    /** Liveness of one core worker. */
    public static PartiHealthIndicator liveness(PartiManager manager) {
        PartiHealth.Source s = PartiHealth.of(manager);
        return new PartiHealthIndicator(false, () -> List.of(s));
    }

    /** Readiness of the {@code PartiConsumer}s whose metrics {@code metricsByClient} returns (e.g. {@code container::metrics}). */
    public static PartiHealthIndicator readiness(Supplier<Map<String, Map<MetricName, ? extends Metric>>> metricsByClient) {
        return new PartiHealthIndicator(true, PartiHealth.ofConsumerMetrics(Objects.requireNonNull(metricsByClient, "metricsByClient")));
    }

    /** Liveness of the {@code PartiConsumer}s whose metrics {@code metricsByClient} returns. */
    public static PartiHealthIndicator liveness(Supplier<Map<String, Map<MetricName, ? extends Metric>>> metricsByClient) {
        return new PartiHealthIndicator(false, PartiHealth.ofConsumerMetrics(Objects.requireNonNull(metricsByClient, "metricsByClient")));
    }

    @Override
    public Health health() {
        List<PartiHealth.Source> all = sources.get();
        PartiHealth.Result r = readiness ? PartiHealth.readiness(all) : PartiHealth.liveness(all);
        Health.Builder b = r.ok() ? Health.up() : readiness ? Health.outOfService() : Health.down();
        if (r.reason() != null) {
            b.withDetail("reason", r.reason());
        }
        return b.withDetail("workers", r.workers()).build();
    }
}
