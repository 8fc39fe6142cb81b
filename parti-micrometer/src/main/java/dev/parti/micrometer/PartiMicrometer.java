package dev.parti.micrometer;

import dev.parti.DegradedReason;
import dev.parti.KvErrorKind;
import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.PartiManager;
import dev.parti.RebalanceKind;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * Parti's measurements as Micrometer meters. It is the {@link MetricsRecorder} of one {@link PartiManager}
 * (pass it to {@code PartiConfig.Builder.metrics}) and, once {@link #bindTo bound} to that manager, reads
 * its state for the gauges:
 *
 * <pre>{@code
 * PartiMicrometer meters = new PartiMicrometer(registry, Tags.of("group", "orders"));
 * PartiManager parti = new PartiManager(PartiConfig.builder("orders")...metrics(meters).build(), listener);
 * meters.bindTo(parti);
 * parti.start();
 * }</pre>
 *
 * <table>
 *   <caption>Meters (every one carries the tags given to the constructor)</caption>
 *   <tr><th>name</th><th>type</th><th>meaning</th></tr>
 *   <tr><td>{@code parti.state}</td><td>gauge, tag {@code state}</td><td>1 for the manager's current state, 0 for the others</td></tr>
 *   <tr><td>{@code parti.leader}</td><td>gauge</td><td>1 while this worker holds the leader lease</td></tr>
 *   <tr><td>{@code parti.lease.valid}</td><td>gauge</td><td>1 while this worker is a safe owner (recent heartbeat)</td></tr>
 *   <tr><td>{@code parti.assignment.version}</td><td>gauge</td><td>the assignment version applied last</td></tr>
 *   <tr><td>{@code parti.partitions.owned}</td><td>gauge</td><td>partitions this worker owns now</td></tr>
 *   <tr><td>{@code parti.heartbeat.age}</td><td>time gauge</td><td>time since the last successful heartbeat write (NaN before the first)</td></tr>
 *   <tr><td>{@code parti.rebalances}</td><td>counter, tag {@code kind}</td><td>leader: rebalances started, by
 *       {@link RebalanceKind#code() kind}: {@code cold-start}, {@code restart}, {@code planned-scale}, {@code emergency}
 *       (a worker vanished), {@code leave} (a graceful leave), {@code partitions} (the partitions changed),
 *       {@code metadata} (a worker's metadata changed), {@code requested} ({@code PartiManager.requestRebalance()})</td></tr>
 *   <tr><td>{@code parti.handoff.duration}</td><td>timer, tag {@code kind}</td><td>leader: from a rebalance's start until every
 *       worker's heartbeat reports owning all its partitions of the new assignment (moved ones only after their old
 *       owner released them)</td></tr>
 *   <tr><td>{@code parti.assignments.published}</td><td>counter</td><td>leader: versions published</td></tr>
 *   <tr><td>{@code parti.assignment.publish}</td><td>timer</td><td>leader: time to write one version</td></tr>
 *   <tr><td>{@code parti.assignments.applied}</td><td>counter</td><td>versions this worker applied</td></tr>
 *   <tr><td>{@code parti.partitions.moved}</td><td>counter, tag {@code direction}</td><td>partitions {@code added} to / {@code removed} from this worker</td></tr>
 *   <tr><td>{@code parti.kv.errors}</td><td>counter, tags {@code operation}, {@code kind}</td><td>failed KV operations by protocol step
 *       ({@code heartbeat}, {@code election}, {@code worker-ID renewal}, {@code assignment poll}, ...) and
 *       {@link KvErrorKind#code() kind} ({@code unavailable}, {@code permission-denied}, {@code cas-conflict},
 *       {@code bucket-missing}, {@code lease-lost}, {@code rejected}, {@code unexpected})</td></tr>
 *   <tr><td>{@code parti.degraded}</td><td>gauge, tag {@code reason}</td><td>1 while that {@link DegradedReason#code() reason}
 *       holds (several can at once), 0 otherwise</td></tr>
 *   <tr><td>{@code parti.degraded.duration}</td><td>timer, tag {@code reason}</td><td>how long each reason held, recorded when it
 *       clears: {@code kv-unavailable}, {@code lease-stale}, {@code bucket-missing}, {@code kv-rejected}, ...</td></tr>
 *   <tr><td>{@code parti.stale.leases}</td><td>counter, tag {@code policy}</td><td>times the lease went stale ({@code fence}: partitions given up)</td></tr>
 * </table>
 *
 * <p>Thread-safe: Parti calls the recorder methods from its main, lease and callback threads; they only
 * update atomics and meters. {@link #close()} removes every meter from the registry.
 */
public final class PartiMicrometer implements MetricsRecorder, AutoCloseable {

    private final MeterRegistry registry;
    private final Tags tags;
    private final LongSupplier nanoClock;
    private final List<Meter> meters = new CopyOnWriteArrayList<>();
    private final AtomicReference<ManagerState> state = new AtomicReference<>(ManagerState.INIT);
    private final AtomicReference<PartiManager> manager = new AtomicReference<>();
    /** When the last successful heartbeat write finished (nanos), 0 before the first. */
    private final AtomicLong lastHeartbeatNanos = new AtomicLong();
    /** Per degraded reason that holds now: when it started (nanos). */
    private final Map<DegradedReason, Long> degradedSince = new ConcurrentHashMap<>();

    private final Counter published;
    private final Timer publish;
    private final Counter applied;
    private final Counter added;
    private final Counter removed;

    /** Meters with {@code tags} (for example {@code group} and {@code worker}) in {@code registry}. */
    public PartiMicrometer(MeterRegistry registry, Iterable<Tag> tags) {
        this(registry, tags, System::nanoTime);
    }

    PartiMicrometer(MeterRegistry registry, Iterable<Tag> tags, LongSupplier nanoClock) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.tags = Tags.of(Objects.requireNonNull(tags, "tags"));
        this.nanoClock = nanoClock;
        for (ManagerState s : ManagerState.values()) {
            add(Gauge.builder("parti.state", state, r -> r.get() == s ? 1 : 0)
                    .description("1 for the Parti manager's current state, 0 for the others")
                    .tags(this.tags).tag("state", s.name()).register(registry));
        }
        for (DegradedReason r : DegradedReason.values()) {
            add(Gauge.builder("parti.degraded", degradedSince, m -> m.containsKey(r) ? 1 : 0)
                    .description("1 while this degraded reason holds, 0 otherwise")
                    .tags(this.tags).tag("reason", r.code()).register(registry));
        }
        add(TimeGauge.builder("parti.heartbeat.age", lastHeartbeatNanos, TimeUnit.NANOSECONDS, last -> {
            long t = last.get();
            return t == 0 ? Double.NaN : nanoClock.getAsLong() - t;
        }).description("Time since this worker's last successful heartbeat write").tags(this.tags).register(registry));
        published = add(Counter.builder("parti.assignments.published").description("Assignment versions this worker published as leader")
                .tags(this.tags).register(registry));
        publish = add(Timer.builder("parti.assignment.publish").description("Time the leader took to write one assignment version")
                .tags(this.tags).register(registry));
        applied = add(Counter.builder("parti.assignments.applied").description("Assignment versions this worker applied")
                .tags(this.tags).register(registry));
        added = add(Counter.builder("parti.partitions.moved").description("Partitions added to or removed from this worker")
                .tags(this.tags).tag("direction", "added").register(registry));
        removed = add(Counter.builder("parti.partitions.moved").description("Partitions added to or removed from this worker")
                .tags(this.tags).tag("direction", "removed").register(registry));
    }

    /**
     * Registers the gauges that read {@code m}: leadership, lease, assignment version, owned partitions.
     * Call once, with the manager this recorder was configured into.
     *
     * @throws IllegalStateException when already bound
     */
    public PartiMicrometer bindTo(PartiManager m) {
        Objects.requireNonNull(m, "manager");
        if (!manager.compareAndSet(null, m)) {
            throw new IllegalStateException("PartiMicrometer is already bound to a manager; use one per PartiManager");
        }
        add(Gauge.builder("parti.leader", m, x -> x.isLeader() ? 1 : 0)
                .description("1 while this worker holds the Parti leader lease").tags(tags).register(registry));
        add(Gauge.builder("parti.lease.valid", m, x -> x.isLeaseValid() ? 1 : 0)
                .description("1 while this worker is a safe owner (its last heartbeat is recent enough)").tags(tags).register(registry));
        add(Gauge.builder("parti.assignment.version", m, PartiManager::assignmentVersion)
                .description("The assignment version this worker applied last").tags(tags).register(registry));
        add(Gauge.builder("parti.partitions.owned", m, x -> x.currentAssignment().size())
                .description("Partitions this worker owns now").tags(tags).register(registry));
        return this;
    }

    private <M extends Meter> M add(M meter) {
        meters.add(meter);
        return meter;
    }

    // ------------------------------------------------------------------ MetricsRecorder

    @Override
    public void stateChanged(ManagerState from, ManagerState to) {
        state.set(to);
    }

    @Override
    public void degraded(DegradedReason reason, boolean active) {
        long now = nanoClock.getAsLong();
        if (active) {
            degradedSince.putIfAbsent(reason, now);
            return;
        }
        Long since = degradedSince.remove(reason);
        if (since != null) {
            Timer.builder("parti.degraded.duration").description("How long each degraded reason held, recorded when it clears")
                    .tags(tags).tag("reason", reason.code()).register(registry).record(now - since, TimeUnit.NANOSECONDS);
            trackTagged("parti.degraded.duration");
        }
    }

    @Override
    public void rebalanceStarted(RebalanceKind kind) {
        Counter.builder("parti.rebalances").description("Rebalances this worker started as leader, by kind")
                .tags(tags).tag("kind", kind.code()).register(registry).increment();
        trackTagged("parti.rebalances");
    }

    @Override
    public void handoffCompleted(RebalanceKind kind, Duration latency) {
        Timer.builder("parti.handoff.duration")
                .description("Leader: from a rebalance's start until every moved partition was handed to its new owner")
                .tags(tags).tag("kind", kind.code()).register(registry).record(latency);
        trackTagged("parti.handoff.duration");
    }

    @Override
    public void assignmentPublished(long version, int partitions, int workers, Duration calculation) {
        published.increment();
        publish.record(calculation);
    }

    @Override
    public void assignmentApplied(long version, int addedCount, int removedCount) {
        applied.increment();
        added.increment(addedCount);
        removed.increment(removedCount);
    }

    @Override
    public void kvOperation(String op, boolean ok) {
        if (ok && "heartbeat".equals(op)) {
            lastHeartbeatNanos.set(nanoClock.getAsLong());
        }
    }

    @Override
    public void kvError(String operation, KvErrorKind kind) {
        Counter.builder("parti.kv.errors").description("Failed NATS key-value operations, by protocol step and kind")
                .tags(tags).tag("operation", operation).tag("kind", kind.code()).register(registry).increment();
        trackTagged("parti.kv.errors");
    }

    @Override
    public void staleLease(Duration age, LossPolicy policy) {
        Counter.builder("parti.stale.leases").description("Times this worker's lease went stale")
                .tags(tags).tag("policy", policy.name().toLowerCase(Locale.ROOT)).register(registry).increment();
        trackTagged("parti.stale.leases");
    }

    /** Remembers meters registered lazily (one per tag value) so that {@link #close()} removes them too. */
    private void trackTagged(String name) {
        for (Meter m : registry.find(name).tags(tags).meters()) {
            if (!meters.contains(m)) {
                meters.add(m);
            }
        }
    }

    /** Removes every meter of this binder from the registry. */
    @Override
    public void close() {
        for (Meter m : meters) {
            registry.remove(m);
        }
        meters.clear();
    }
}
