package dev.parti.examples;

import dev.parti.AssignmentListener;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Parti without Kafka: a fixed set of work shards (here "tenants" whose mailboxes must be polled by
 * exactly one worker) distributed among the workers of a group, rebalanced when workers come and go.
 *
 * <p>Each {@link ShardWorker} runs a {@link PartiManager}; its {@link AssignmentListener} starts a
 * periodic task for every shard it gains and stops it for every shard it loses. Parti's two-phase
 * handoff means a shard's new owner starts only after the old owner's {@code onRevoked} returned (or
 * its session expired), so a tenant is never polled by two workers at once.
 *
 * <p>Run: {@code java dev.parti.examples.CoreOnlyExample <nats-url>} starts three workers in one JVM,
 * prints who owns what, stops one and prints again.
 */
public final class CoreOnlyExample {
    private CoreOnlyExample() {
    }

    /** The shards: {@code tenant/0 … tenant/(n-1)}. */
    public static List<Partition> shards(int n) {
        List<Partition> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(Partition.of("tenant", Integer.toString(i)));
        }
        return out;
    }

    /** One worker: owns some shards and works on them every {@code tick}. */
    public static final class ShardWorker implements AutoCloseable {
        private final PartiManager parti;
        private final ScheduledExecutorService pool = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shard-worker-ticks");
            t.setDaemon(true);
            return t;
        });
        private final Map<Partition, ScheduledFuture<?>> running = new ConcurrentHashMap<>();
        private final AtomicLong ticks = new AtomicLong();

        /**
         * @param natsUrl NATS server
         * @param group   the group's name (its buckets derive from it)
         * @param shards  the work to distribute
         * @param tick    how often each owned shard is worked on
         * @param tune    adjusts the config (timings); identity for the defaults
         */
        public ShardWorker(String natsUrl, String group, List<Partition> shards, Duration tick,
                           java.util.function.UnaryOperator<PartiConfig.Builder> tune) {
            PartiConfig config = tune.apply(PartiConfig.builder(group)
                    .natsUrl(natsUrl)
                    .partitionSource(PartitionSource.of(shards))).build();
            this.parti = new PartiManager(config, new AssignmentListener() {
                @Override
                public void onAssigned(Set<Partition> added, long version) {
                    for (Partition p : added) {
                        running.put(p, pool.scheduleAtFixedRate(() -> work(p), 0, tick.toMillis(), TimeUnit.MILLISECONDS));
                    }
                }

                @Override
                public void onRevoked(Set<Partition> removed, long version) {
                    for (Partition p : removed) {
                        ScheduledFuture<?> f = running.remove(p);
                        if (f != null) {
                            f.cancel(false); // a tick in progress finishes; no new one starts
                        }
                    }
                }
            });
        }

        /** Joins the group. */
        public ShardWorker start() {
            parti.start();
            return this;
        }

        private void work(Partition shard) {
            ticks.incrementAndGet(); // poll the tenant's mailbox, run its jobs, ...
        }

        /** The shards this worker works on now. */
        public Set<Partition> shards() {
            return new TreeSet<>(running.keySet());
        }

        /** Ticks run so far, over all shards. */
        public long ticks() {
            return ticks.get();
        }

        /** The Parti manager (worker ID, state, leader). */
        public PartiManager manager() {
            return parti;
        }

        /** Leaves the group (its shards move at once) and stops its tasks. */
        @Override
        public void close() {
            parti.close();
            pool.shutdownNow();
        }
    }

    /** Three workers, twelve shards; one leaves after a while. */
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: CoreOnlyExample <nats-url>");
            System.exit(2);
        }
        List<Partition> shards = shards(12);
        List<ShardWorker> workers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            workers.add(new ShardWorker(args[0], "tenants", shards, Duration.ofSeconds(1),
                    b -> b.coldStartWindow(Duration.ofSeconds(2)).plannedScaleWindow(Duration.ofSeconds(1))).start());
        }
        Thread.sleep(5000);
        workers.forEach(w -> System.out.println(w.manager().workerId() + " " + w.shards()));
        workers.remove(2).close();
        Thread.sleep(3000);
        workers.forEach(w -> System.out.println(w.manager().workerId() + " " + w.shards()));
        workers.forEach(ShardWorker::close);
    }
}
