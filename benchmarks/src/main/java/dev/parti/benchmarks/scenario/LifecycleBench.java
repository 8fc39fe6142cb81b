package dev.parti.benchmarks.scenario;

import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The wall and CPU time of a static member's life cycle in a warm JVM, the cost b4r's rolling restart pays per member:
 * {@code new PartiConsumer(props)} against {@code new KafkaConsumer(props)} (classic protocol,
 * CooperativeStickyAssignor, the props of {@link BenchWorker}), {@code subscribe(topics, listener)}, and {@code
 * close(REMAIN_IN_GROUP)} of a consumer that owns partitions (its listener commits on revoke, as b4r's does). Usage:
 * {@code LifecycleBench [--iterations N] [--warmup W] [--impls parti,coop] [--rate R] [--construct-loop N]
 * [--no-sampling] [--out DIR]}.
 *
 * <p>Per implementation: a topic of 12 partitions ({@value #DEFAULT_RATE_PER_TOPIC} records/s written to it by default, b4r's
 * rate per partition; {@code --rate}: another rate) and a group with one companion member polling on its own thread
 * the whole run (as b4r's three other members: the JVM's shared clients stay open). Each iteration creates the
 * measured member under the same {@code group.instance.id}, subscribes, polls until it owns partitions and 200 ms
 * more, then closes it with {@code REMAIN_IN_GROUP}; the next iteration starts at once (as b4r restarts). The
 * implementations alternate iteration by iteration, so both see the same load. The first {@code W} iterations
 * (default 2) are not counted. The calling thread's CPU time is measured beside the wall time (steadier on a shared
 * machine). After the life cycles, {@code N} constructions alone per implementation (default 200, after as many
 * unmeasured), each closed at once: their CPU time.
 *
 * <p>Phases: a sampler thread ({@code lifecycle-sampler}) takes the measuring thread's stack every 0.5 ms during
 * construction, {@code subscribe()} and {@code close()}, and counts each {@code dev.parti}/{@code org.apache.kafka}
 * frame once per sample (inclusive), plus the first other frame they call (e.g. {@code Thread.join}); a frame's
 * share of a phase's samples estimates its share of that phase's wall time (safepoint-biased, enough to rank).
 * Writes {@code lifecycle.csv} and {@code lifecycle-summary.md} to the output directory (default {@code
 * benchmarks/target/bench}).
 */
public final class LifecycleBench {
    private static final int PARTITIONS = 12;
    private static final int DEFAULT_RATE_PER_TOPIC = 500;
    private static final List<String> PHASES = List.of("construct", "subscribe", "close");
    private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

    private final KafkaBroker kafka;
    private final NatsServer nats;
    private final Sampler sampler;

    private LifecycleBench(KafkaBroker kafka, NatsServer nats, Sampler sampler) {
        this.kafka = kafka;
        this.nats = nats;
        this.sampler = sampler;
    }

    /** One measured life cycle, in ms. */
    record Sample(String impl, int iteration, double constructMs, double subscribeMs, double assignedMs, double closeMs,
                  double constructCpuMs, double subscribeCpuMs, double closeCpuMs) {
    }

    public static void main(String[] args) throws Exception {
        int iterations = 25;
        int warmup = 2;
        List<String> impls = List.of("coop", "parti");
        boolean sampling = true;
        int rate = DEFAULT_RATE_PER_TOPIC;
        int constructLoop = 200;
        Path out = Path.of("benchmarks/target/bench");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--impls" -> impls = List.of(args[++i].split(","));
                case "--no-sampling" -> sampling = false;
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--construct-loop" -> constructLoop = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("Unknown argument " + args[i] + "; usage: LifecycleBench "
                        + "[--iterations N] [--warmup W] [--impls parti,coop] [--rate R] [--construct-loop N] [--no-sampling] [--out DIR]");
            }
        }
        Files.createDirectories(out);
        String loadStart = Bench.loadAverage();
        List<Sample> samples = new ArrayList<>();
        Map<String, List<Double>> constructCpu = new LinkedHashMap<>();
        Sampler sampler = new Sampler(sampling);
        sampler.start();
        try (NatsServer nats = NatsServer.start();
             KafkaBroker kafka = KafkaBroker.builder().jvmArgs("-Xmx768m").start()) {
            LifecycleBench bench = new LifecycleBench(kafka, nats, sampler);
            Map<String, Companion> companions = new LinkedHashMap<>();
            for (String impl : impls) {
                kafka.createTopic(topic(impl), PARTITIONS);
            }
            Producer producer = new Producer(kafka.bootstrapServers(), impls.stream().map(LifecycleBench::topic).toList(), rate);
            producer.start();
            for (String impl : impls) {
                companions.put(impl, bench.companion(impl));
            }
            for (int it = 0; it < warmup + iterations; it++) {
                for (String impl : impls) {
                    sampler.counting = it >= warmup;
                    Sample s = bench.lifecycle(impl, companions.get(impl), it);
                    System.out.printf(Locale.ROOT, "%s #%d: construct %.1f ms, subscribe %.2f ms, assigned after %.0f ms, close %.1f ms%s%n",
                            impl, it, s.constructMs(), s.subscribeMs(), s.assignedMs(), s.closeMs(), it < warmup ? " (warm-up)" : "");
                    if (it >= warmup) {
                        samples.add(s);
                    }
                }
            }
            for (Companion c : companions.values()) {
                c.stop();
            }
            producer.shutdown();
            sampler.counting = false;
            for (int round = 0; round < 2; round++) { // the first round warms up
                for (String impl : impls) {
                    List<Double> cpu = bench.constructLoop(impl, constructLoop);
                    if (round == 1) {
                        constructCpu.put(impl, cpu);
                    }
                }
            }
        } finally {
            sampler.shutdown();
        }
        String summary = summary(samples, impls, sampler, loadStart, Bench.loadAverage(), iterations, warmup, constructCpu);
        StringBuilder csv = new StringBuilder("impl,iteration,construct_ms,subscribe_ms,assigned_ms,close_ms,"
                + "construct_cpu_ms,subscribe_cpu_ms,close_cpu_ms\n");
        for (Sample s : samples) {
            csv.append(String.format(Locale.ROOT, "%s,%d,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f,%.3f%n", s.impl(), s.iteration(),
                    s.constructMs(), s.subscribeMs(), s.assignedMs(), s.closeMs(), s.constructCpuMs(), s.subscribeCpuMs(),
                    s.closeCpuMs()));
        }
        Files.writeString(out.resolve("lifecycle.csv"), csv);
        Files.writeString(out.resolve("lifecycle-summary.md"), summary);
        System.out.println(summary);
    }

    private static BenchWorker.Impl implOf(String name) {
        return switch (name) {
            case "parti" -> BenchWorker.Impl.PARTI;
            case "coop" -> BenchWorker.Impl.COOP;
            case "eager" -> BenchWorker.Impl.EAGER;
            default -> throw new IllegalArgumentException("--impls: unknown implementation '" + name + "' (parti, coop, eager)");
        };
    }

    private static String topic(String impl) {
        return "lifecycle-" + impl;
    }

    private static String group(String impl) {
        return "lifecycle-" + impl;
    }

    private Consumer<byte[], byte[]> create(String impl, String clientId) {
        return BenchWorker.create(implOf(impl), kafka.bootstrapServers(), nats.url(), group(impl), clientId,
                group(impl) + "-" + clientId);
    }

    private Companion companion(String impl) throws InterruptedException {
        Companion c = new Companion(impl);
        c.thread.start();
        if (!c.started.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException(impl + " companion got no partitions in 120 s");
        }
        if (c.failure.get() != null) {
            throw new IllegalStateException(impl + " companion failed", c.failure.get());
        }
        return c;
    }

    private Sample lifecycle(String impl, Companion companion, int iteration) {
        if (companion.failure.get() != null) {
            throw new IllegalStateException(impl + " companion failed", companion.failure.get());
        }
        String name = "member";
        long c0 = CPU.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        sampler.arm(impl, "construct");
        Consumer<byte[], byte[]> c = create(impl, name);
        long t1 = System.nanoTime();
        long c1 = CPU.getCurrentThreadCpuTime();
        sampler.arm(impl, "subscribe");
        c.subscribe(List.of(topic(impl)), new CommittingListener(c, name));
        long t2 = System.nanoTime();
        long c2 = CPU.getCurrentThreadCpuTime();
        sampler.disarm();
        long deadline = t2 + TimeUnit.SECONDS.toNanos(120);
        while (c.assignment().isEmpty()) {
            if (System.nanoTime() > deadline) {
                c.close(Duration.ZERO);
                throw new IllegalStateException(impl + " #" + iteration + ": no partitions in 120 s");
            }
            c.poll(Duration.ofMillis(20));
        }
        long t3 = System.nanoTime();
        long settle = t3 + TimeUnit.MILLISECONDS.toNanos(200);
        while (System.nanoTime() < settle) {
            c.poll(Duration.ofMillis(20));
        }
        if (c.assignment().isEmpty()) {
            throw new IllegalStateException(impl + " #" + iteration + ": lost its partitions before close");
        }
        long c4 = CPU.getCurrentThreadCpuTime();
        long t4 = System.nanoTime();
        sampler.arm(impl, "close");
        c.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.REMAIN_IN_GROUP));
        long t5 = System.nanoTime();
        long c5 = CPU.getCurrentThreadCpuTime();
        sampler.disarm();
        return new Sample(impl, iteration, ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(t5 - t4), ms(c1 - c0), ms(c2 - c1),
                ms(c5 - c4));
    }

    /**
     * {@code n} constructions and closes of a consumer that never subscribes, one after the other: the calling thread's
     * CPU time of each construction, in ms (many more samples than the life cycles give, for a steadier median).
     */
    private List<Double> constructLoop(String impl, int n) {
        List<Double> cpu = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long c0 = CPU.getCurrentThreadCpuTime();
            Consumer<byte[], byte[]> c = create(impl, "loop");
            cpu.add(ms(CPU.getCurrentThreadCpuTime() - c0));
            c.close(Duration.ZERO);
        }
        return cpu;
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    /**
     * Writes {@code rate} records/s to each topic (by default b4r's rate per partition), so fetches return at once
     * as in b4r: on an idle topic a consumer's close waits for its outstanding fetch ({@code fetch.max.wait.ms}).
     */
    private static final class Producer extends Thread {
        private final String bootstrap;
        private final List<String> topics;
        private final int rate;
        private volatile boolean done;

        Producer(String bootstrap, List<String> topics, int rate) {
            super("lifecycle-producer");
            setDaemon(true);
            this.bootstrap = bootstrap;
            this.topics = topics;
            this.rate = rate;
        }

        @Override
        public void run() {
            Map<String, Object> p = Map.of("bootstrap.servers", bootstrap, "linger.ms", 5, "acks", "1");
            byte[] value = new byte[100];
            try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                long start = System.nanoTime();
                long sent = 0;
                while (!done) {
                    long due = (System.nanoTime() - start) * rate / 1_000_000_000L;
                    for (; sent < due; sent++) {
                        for (String t : topics) {
                            pr.send(new ProducerRecord<>(t, (int) (sent % PARTITIONS), null, value));
                        }
                    }
                    LockSupport.parkNanos(5_000_000);
                }
            }
        }

        void shutdown() throws InterruptedException {
            done = true;
            join(30_000);
        }
    }

    /** Commits on revoke, as b4r's members do. */
    private static final class CommittingListener implements ConsumerRebalanceListener {
        private final Consumer<byte[], byte[]> consumer;
        private final String name;

        CommittingListener(Consumer<byte[], byte[]> consumer, String name) {
            this.consumer = consumer;
            this.name = name;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                try {
                    consumer.commitSync(Duration.ofSeconds(5));
                } catch (KafkaException e) {
                    System.err.println(name + ": commit on revoke failed: " + e);
                }
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }
    }

    /** The group's other member, polling on {@code lifecycle-companion-<impl>} until stopped. */
    private final class Companion {
        final Thread thread;
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        /** Counted down once the companion owns partitions, or when it failed. */
        final java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
        volatile Consumer<byte[], byte[]> consumer;
        volatile boolean stop;

        Companion(String impl) {
            thread = new Thread(() -> {
                try (Consumer<byte[], byte[]> c = create(impl, "companion")) {
                    consumer = c;
                    c.subscribe(List.of(topic(impl)), new CommittingListener(c, "companion"));
                    while (!stop) {
                        try {
                            c.poll(Duration.ofMillis(100));
                        } catch (WakeupException e) {
                            // stop requested
                        }
                        if (!c.assignment().isEmpty()) {
                            started.countDown();
                        }
                    }
                } catch (Throwable t) {
                    failure.set(t);
                    started.countDown();
                }
            }, "lifecycle-companion-" + impl);
            thread.setDaemon(true);
        }

        void stop() throws InterruptedException {
            stop = true;
            Consumer<byte[], byte[]> c = consumer;
            if (c != null) {
                c.wakeup();
            }
            thread.join(60_000);
        }
    }

    /**
     * Samples one thread's stack every 0.5 ms while armed; counts, per implementation and phase, the samples and
     * each interesting frame once per sample.
     */
    private static final class Sampler extends Thread {
        private final boolean enabled;
        private volatile Thread target;
        private volatile String key;
        volatile boolean counting;
        private volatile boolean done;
        private final Map<String, Integer> sampleCounts = new HashMap<>(); // guarded by this
        private final Map<String, Map<String, Integer>> frames = new HashMap<>(); // guarded by this

        Sampler(boolean enabled) {
            super("lifecycle-sampler");
            setDaemon(true);
            this.enabled = enabled;
        }

        void arm(String impl, String phase) {
            target = Thread.currentThread();
            key = impl + " " + phase;
        }

        void disarm() {
            key = null;
        }

        void shutdown() throws InterruptedException {
            done = true;
            join(5_000);
        }

        @Override
        public void run() {
            while (!done) {
                String k = key;
                Thread t = target;
                if (enabled && k != null && t != null && counting) {
                    StackTraceElement[] stack = t.getStackTrace();
                    if (k.equals(key)) { // still the same phase after the walk
                        record(k, stack);
                    }
                }
                LockSupport.parkNanos(500_000);
            }
        }

        private synchronized void record(String k, StackTraceElement[] stack) {
            sampleCounts.merge(k, 1, Integer::sum);
            Map<String, Integer> counts = frames.computeIfAbsent(k, x -> new HashMap<>());
            Set<String> seen = new HashSet<>();
            boolean calleeTaken = false;
            for (int i = 0; i < stack.length; i++) {
                String cls = stack[i].getClassName();
                boolean interesting = cls.startsWith("dev.parti.") && !cls.startsWith("dev.parti.benchmarks.")
                        || cls.startsWith("org.apache.kafka.");
                if (!interesting) {
                    continue;
                }
                if (!calleeTaken && i > 0) {
                    calleeTaken = true;
                    seen.add("(top) " + name(stack[i - 1]));
                }
                calleeTaken = true;
                seen.add(name(stack[i]));
            }
            for (String s : seen) {
                counts.merge(s, 1, Integer::sum);
            }
        }

        private static String name(StackTraceElement e) {
            String cls = e.getClassName();
            return cls.substring(cls.lastIndexOf('.') + 1) + "." + e.getMethodName();
        }

        synchronized int samples(String k) {
            return sampleCounts.getOrDefault(k, 0);
        }

        synchronized List<Map.Entry<String, Integer>> top(String k, int n) {
            return frames.getOrDefault(k, Map.of()).entrySet().stream()
                    .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                    .limit(n).toList();
        }
    }

    private static double median(List<Double> values) {
        List<Double> v = new ArrayList<>(values);
        v.sort(Double::compare);
        int n = v.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    private static double percentile(List<Double> values, double p) {
        List<Double> v = new ArrayList<>(values);
        v.sort(Double::compare);
        return v.isEmpty() ? Double.NaN : v.get((int) Math.min(v.size() - 1, Math.round(p * (v.size() - 1))));
    }

    private static String summary(List<Sample> samples, List<String> impls, Sampler sampler, String loadStart,
                                  String loadEnd, int iterations, int warmup, Map<String, List<Double>> constructCpu) {
        StringBuilder b = new StringBuilder("# Static member life cycle, warm JVM (LifecycleBench)\n\n");
        b.append(String.format(Locale.ROOT, "%d measured iterations per implementation after %d warm-up ones; load average "
                + "at start %s, at end %s. Median (p10-p90) in ms; wall time, and the CPU time of the calling thread (steadier on "
                + "a loaded machine; a close's waits and its other threads are not in it).%n%n", iterations, warmup, loadStart, loadEnd));
        b.append("| impl | construct | subscribe() | close(REMAIN_IN_GROUP) | construct+subscribe | subscribe to assigned "
                + "| construct, CPU | subscribe(), CPU | close, CPU |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (String impl : impls) {
            List<Sample> mine = samples.stream().filter(s -> s.impl().equals(impl)).toList();
            b.append("| ").append(impl);
            for (java.util.function.ToDoubleFunction<Sample> f : List.<java.util.function.ToDoubleFunction<Sample>>of(
                    Sample::constructMs, Sample::subscribeMs, Sample::closeMs, s -> s.constructMs() + s.subscribeMs(),
                    Sample::assignedMs, Sample::constructCpuMs, Sample::subscribeCpuMs, Sample::closeCpuMs)) {
                List<Double> v = mine.stream().map(f::applyAsDouble).toList();
                b.append(String.format(Locale.ROOT, " | %.2f (%.2f-%.2f)", median(v), percentile(v, 0.1), percentile(v, 0.9)));
            }
            b.append(" |\n");
        }
        b.append("\nConstruction alone (then close(0), never subscribed; after a warm-up round), CPU time of the calling thread, ms:\n\n");
        constructCpu.forEach((impl, v) -> b.append(String.format(Locale.ROOT, "- %s: median %.3f (p10 %.3f, p90 %.3f) over %d%n",
                impl, median(v), percentile(v, 0.1), percentile(v, 0.9), v.size())));
        b.append("\nSampled frames (inclusive share of the phase's samples; `(top)` = first frame called outside "
                + "dev.parti/org.apache.kafka):\n");
        for (String impl : impls) {
            for (String phase : PHASES) {
                String k = impl + " " + phase;
                int n = sampler.samples(k);
                if (n == 0) {
                    continue;
                }
                b.append("\n").append(k).append(" (").append(n).append(" samples):\n\n");
                for (Map.Entry<String, Integer> e : sampler.top(k, 30)) {
                    b.append(String.format(Locale.ROOT, "- %5.1f %% %s%n", 100.0 * e.getValue() / n, e.getKey()));
                }
            }
        }
        return b.toString();
    }
}
