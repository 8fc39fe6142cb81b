package dev.parti.micrometer;

import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.PartiManager;
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
import java.util.Objects;
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
 *   <tr><td>{@code parti.rebalances}</td><td>counter, tag {@code kind}</td><td>leader: rebalances started; {@code emergency}
 *       (a worker vanished), {@code after-window} (cold start, restart, planned scale), {@code immediate} (graceful leave, partition change)</td></tr>
 *   <tr><td>{@code parti.handoff.duration}</td><td>timer, tag {@code kind}</td><td>leader: from a rebalance's start until every
 *       moved partition was released and handed to its new owner (the leader back in STABLE)</td></tr>
 *   <tr><td>{@code parti.assignments.published}</td><td>counter</td><td>leader: versions published</td></tr>
 *   <tr><td>{@code parti.assignment.publish}</td><td>timer</td><td>leader: time to write one version</td></tr>
 *   <tr><td>{@code parti.assignments.applied}</td><td>counter</td><td>versions this worker applied</td></tr>
 *   <tr><td>{@code parti.partitions.moved}</td><td>counter, tag {@code direction}</td><td>partitions {@code added} to / {@code removed} from this worker</td></tr>
 *   <tr><td>{@code parti.kv.errors}</td><td>counter, tag {@code operation}</td><td>failed KV operations by protocol step
 *       ({@code heartbeat}, {@code election}, {@code worker-ID renewal}, {@code assignment poll}, ...)</td></tr>
 *   <tr><td>{@code parti.degraded.duration}</td><td>timer, tag {@code reason}</td><td>time spent DEGRADED per episode:
 *       {@code stale-lease} (the lease expired first) or {@code nats-unreachable} (a KV call failed first)</td></tr>
 *   <tr><td>{@code parti.stale.leases}</td><td>counter, tag {@code policy}</td><td>times the lease went stale ({@code fence}: partitions given up)</td></tr>
 * </table>
 *
 * <p>Thread-safe: Parti calls the recorder methods from its main, lease and callback threads; they only
 * update atomics and meters. {@link #close()} removes every meter from the registry.
 */
public final class PartiMicrometer implements MetricsRecorder, AutoCloseable {
    static final String KIND_EMERGENCY = "emergency";
    static final String KIND_AFTER_WINDOW = "after-window";
    static final String KIND_IMMEDIATE = "immediate";
    static final String REASON_STALE_LEASE = "stale-lease";
    static final String REASON_NATS = "nats-unreachable";

    private final MeterRegistry registry;
    private final Tags tags;
    private final LongSupplier nanoClock;
    private final List<Meter> meters = new CopyOnWriteArrayList<>();
    private final AtomicReference<ManagerState> state = new AtomicReference<>(ManagerState.INIT);
    private final AtomicReference<PartiManager> manager = new AtomicReference<>();
    /** When the last successful heartbeat write finished (nanos), 0 before the first. */
    private final AtomicLong lastHeartbeatNanos = new AtomicLong();
    /** The failure seen last before a move to DEGRADED: its reason tag. */
    private volatile String lastFailure = REASON_NATS;
    /** Start (nanos) and reason of the current DEGRADED episode; 0 when not degraded. */
    private final AtomicLong degradedSince = new AtomicLong();
    private volatile String degradedReason = REASON_NATS;
    /** Start (nanos) and kind of the rebalance in progress on the leader; 0 when none. */
    private final AtomicLong rebalanceSince = new AtomicLong();
    private volatile String rebalanceKind = KIND_IMMEDIATE;

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
        long now = nanoClock.getAsLong();
        if (to == ManagerState.DEGRADED) {
            degradedReason = lastFailure;
            degradedSince.set(now);
        } else if (from == ManagerState.DEGRADED) {
            long since = degradedSince.getAndSet(0);
            if (since != 0) {
                Timer.builder("parti.degraded.duration").description("Time spent DEGRADED per episode, by the first failure seen")
                        .tags(tags).tag("reason", degradedReason).register(registry).record(now - since, TimeUnit.NANOSECONDS);
                trackTagged("parti.degraded.duration");
            }
            lastFailure = REASON_NATS;
        }
        if ((to == ManagerState.EMERGENCY || to == ManagerState.REBALANCING) && from != ManagerState.DEGRADED) {
            String kind = to == ManagerState.EMERGENCY ? KIND_EMERGENCY
                    : from == ManagerState.SCALING ? KIND_AFTER_WINDOW : KIND_IMMEDIATE;
            Counter.builder("parti.rebalances").description("Rebalances this worker started as leader, by kind")
                    .tags(tags).tag("kind", kind).register(registry).increment();
            trackTagged("parti.rebalances");
            if (rebalanceSince.compareAndSet(0, now)) {
                rebalanceKind = kind;
            }
        } else if (to == ManagerState.STABLE) {
            long since = rebalanceSince.getAndSet(0);
            if (since != 0) {
                Timer.builder("parti.handoff.duration")
                        .description("Leader: from a rebalance's start until every moved partition was handed to its new owner")
                        .tags(tags).tag("kind", rebalanceKind).register(registry).record(now - since, TimeUnit.NANOSECONDS);
                trackTagged("parti.handoff.duration");
            }
        } else if (to == ManagerState.CLAIMING_ID || to == ManagerState.SHUTDOWN) {
            rebalanceSince.set(0); // no longer the leader of that rebalance
        }
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
        if (ok) {
            if ("heartbeat".equals(op)) {
                lastHeartbeatNanos.set(nanoClock.getAsLong());
            }
            return;
        }
        lastFailure = REASON_NATS;
        Counter.builder("parti.kv.errors").description("Failed NATS key-value operations, by protocol step")
                .tags(tags).tag("operation", op).register(registry).increment();
        trackTagged("parti.kv.errors");
    }

    @Override
    public void staleLease(Duration age, LossPolicy policy) {
        lastFailure = REASON_STALE_LEASE;
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
