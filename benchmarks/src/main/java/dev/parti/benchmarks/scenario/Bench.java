package dev.parti.benchmarks.scenario;

import dev.parti.benchmarks.scenario.BenchWorker.Impl;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.WorkerProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Scenario benchmarks B2 (scale-out 3 -> 4), B3 (kill -9 of 1 of 4 child JVMs), B4 (part: graceful close of 1 of 4) and B5 (poll throughput)
 * on one Kafka broker and one nats-server, PartiConsumer against KafkaConsumer's three group protocols in
 * the same run. Usage: {@code scripts/bench [b2] [b3] [b4] [b5] [--repeats N] [--impls parti,eager,coop,consumer]
 * [--out DIR] [--b5-records N]}. Writes JSON per run, an SVG timeline per scenario and summary.md to the
 * output directory (default benchmarks/target/bench).
 */
public final class Bench {
    static final int PARTITIONS = 48;
    static final int RATE = 2000;
    static final long SECOND = 1_000_000_000L;

    private final Path out;
    private final int repeats;
    private final List<Impl> impls;
    private final int b5Records;
    private NatsServer nats;
    private KafkaBroker kafka;
    private int seq;
    /** scenario -> impl -> runs (metrics). */
    private final Map<String, Map<Impl, List<Map<String, Object>>>> results = new LinkedHashMap<>();
    private final Map<String, List<Timeline.Panel>> panels = new LinkedHashMap<>();

    Bench(Path out, int repeats, List<Impl> impls, int b5Records) {
        this.out = out;
        this.repeats = repeats;
        this.impls = impls;
        this.b5Records = b5Records;
    }

    public static void main(String[] args) throws Exception {
        List<String> scenarios = new ArrayList<>();
        int repeats = 3;
        Path out = Path.of("benchmarks/target/bench");
        List<Impl> impls = List.of(Impl.values());
        int b5Records = 400_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--b5-records" -> b5Records = Integer.parseInt(args[++i]);
                case "--kafka-session-ms" -> System.setProperty("bench.kafka.session.ms", args[++i]);
                case "--impls" -> impls = Arrays.stream(args[++i].split(",")).map(Impl::of).toList();
                case "b2", "b3", "b4", "b5" -> scenarios.add(args[i]);
                default -> {
                    System.err.println("Usage: scripts/bench [b2] [b3] [b4] [b5] [--repeats N] [--impls parti,eager,coop,consumer] "
                            + "[--b5-records N] [--kafka-session-ms MS] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        if (scenarios.isEmpty()) {
            scenarios = List.of("b2", "b3", "b4", "b5");
        }
        Files.createDirectories(out);
        Bench bench = new Bench(out, repeats, impls, b5Records);
        int rc = bench.run(scenarios);
        System.exit(rc);
    }

    int run(List<String> scenarios) throws Exception {
        say("load average at start: " + loadAverage() + "; Kafka session timeout " + BenchWorker.kafkaSessionMs() + " ms");
        String loadStart = loadAverage();
        nats = NatsServer.start();
        kafka = KafkaBroker.builder()
                .property("group.consumer.min.session.timeout.ms", "1000")
                .property("group.consumer.session.timeout.ms", Integer.toString(BenchWorker.kafkaSessionMs()))
                .jvmArgs("-Xmx768m", "-XX:TieredStopAtLevel=4")
                .start();
        say("nats " + nats.url() + ", kafka " + kafka.bootstrapServers());
        try {
            for (int r = 1; r <= repeats; r++) {
                for (String s : scenarios) {
                    if (s.equals("b5")) {
                        continue;
                    }
                    for (Impl impl : impls) {
                        Map<String, Object> m;
                        try {
                            m = s.equals("b2") ? scaleOut(impl, r) : s.equals("b3") ? crash(impl, r) : gracefulClose(impl, r);
                        } catch (Exception e) {
                            e.printStackTrace();
                            m = new LinkedHashMap<>(Map.of("error", e.toString()));
                        }
                        m.put("kafkaSessionMs", BenchWorker.kafkaSessionMs());
                        m.put("scenario", s);
                        m.put("impl", impl.id);
                        m.put("repeat", r);
                        m.put("loadAverage", loadAverage());
                        results.computeIfAbsent(s, k -> new LinkedHashMap<>()).computeIfAbsent(impl, k -> new ArrayList<>()).add(m);
                        Files.writeString(out.resolve(s + "-" + impl.id + "-" + r + ".json"), Json.write(m));
                        say(s + " " + impl.id + " #" + r + ": " + m);
                        writeReports(loadStart);
                    }
                }
            }
            if (scenarios.contains("b5")) {
                throughput();
            }
        } finally {
            kafka.close();
            nats.close();
        }
        System.out.println(writeReports(loadStart));
        return 0;
    }

    private String writeReports(String loadStart) throws IOException {
        for (Map.Entry<String, List<Timeline.Panel>> e : panels.entrySet()) {
            Files.writeString(out.resolve(e.getKey() + "-timeline.svg"), Timeline.render(title(e.getKey()), e.getValue()));
        }
        String summary = summary(loadStart, loadAverage());
        Files.writeString(out.resolve("summary.md"), summary);
        return summary;
    }

    private static String title(String scenario) {
        return switch (scenario) {
            case "b2" -> "B2 scale-out 3 -> 4, 48 partitions, ~2000 records/s (first repeat; red = no owner)";
            case "b3" -> "B3 kill -9 of 1 of 4 consumers (first repeat; red = no owner)";
            case "b4" -> "B4 (part) graceful close() of 1 of 4 consumers (first repeat; red = no owner)";
            default -> scenario;
        };
    }

    // ------------------------------------------------------------------ B2

    private Map<String, Object> scaleOut(Impl impl, int repeat) throws Exception {
        Run run = new Run("b2", impl, repeat);
        List<BenchWorker> workers = new ArrayList<>();
        try {
            run.startProducer();
            for (int i = 1; i <= 3; i++) {
                workers.add(run.thread("w" + i).start());
            }
            if (!run.awaitStable(3, Duration.ofSeconds(90))) {
                throw new IllegalStateException("3 consumers not balanced within 90 s");
            }
            long t0 = System.nanoTime();
            workers.add(run.thread("w4").start());
            boolean ok = waitUntil(Duration.ofSeconds(60), () -> run.stableFor(4, 3 * SECOND));
            long end = System.nanoTime();
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            List<Runs.Batch> batches = Runs.consumed(run.consumedDir);
            Set<String> parts = Runs.partitionNames(run.topic, PARTITIONS);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("balanced", ok);
            long first = Runs.firstRecord(batches, "w4", t0);
            m.put("firstRecordS", first < 0 ? null : (first - t0) / 1e9);
            long since = Runs.balancedSince(ev, t0, end, PARTITIONS, 4);
            m.put("balancedS", since < 0 ? null : (since - t0) / 1e9);
            m.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, t0, end));
            m.put("moved", Runs.moved(ev, t0, end));
            m.put("duplicates", Runs.duplicates(batches, t0, end));
            m.put("rounds", Runs.rounds(ev, t0, end, SECOND / 2));
            m.put("overlaps", Runs.overlaps(ev, parts, t0, end));
            m.put("windowS", (end - t0) / 1e9);
            if (repeat == 1) {
                panels.computeIfAbsent("b2", k -> new ArrayList<>()).add(new Timeline.Panel(impl.label, ev, run.topic,
                        PARTITIONS, t0 - 3 * SECOND, end, Map.of("w4 starts", t0)));
            }
            return m;
        } finally {
            for (BenchWorker w : workers) {
                w.stop(Duration.ofSeconds(15));
            }
            run.close();
        }
    }

    // ------------------------------------------------------------------ B3

    private Map<String, Object> crash(Impl impl, int repeat) throws Exception {
        Run run = new Run("b3", impl, repeat);
        List<WorkerProcess> procs = new ArrayList<>();
        try (OwnershipLog parentLog = OwnershipLog.inDirectory(run.ownDir)) {
            run.startProducer();
            for (int i = 1; i <= 4; i++) {
                procs.add(run.process("w" + i));
            }
            if (!run.awaitStable(4, Duration.ofSeconds(120))) {
                throw new IllegalStateException("4 consumers not balanced within 120 s");
            }
            String victim = "w2";
            Map<String, String> before = Runs.ownersAt(Runs.ownership(run.ownDir), System.nanoTime());
            List<Integer> victimParts = new ArrayList<>();
            before.forEach((p, w) -> {
                if (w.equals(victim)) {
                    victimParts.add(Integer.parseInt(p.substring(p.lastIndexOf('-') + 1)));
                }
            });
            long tKill = System.nanoTime();
            procs.get(1).kill();
            parentLog.record(OwnershipEvent.gone(victim, tKill));
            boolean ok = waitUntil(Duration.ofSeconds(75),
                    () -> Runs.allConsumedAgain(Runs.consumed(run.consumedDir), victimParts, victim, tKill) > 0);
            sleep(Duration.ofSeconds(2));
            long end = System.nanoTime();
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            List<Runs.Batch> batches = Runs.consumed(run.consumedDir);
            Set<String> parts = Runs.partitionNames(run.topic, PARTITIONS);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("recovered", ok);
            m.put("victimPartitions", victimParts.size());
            long again = Runs.allConsumedAgain(batches, victimParts, victim, tKill);
            m.put("consumedAgainS", again < 0 ? null : (again - tKill) / 1e9);
            m.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, tKill, end));
            m.put("duplicates", Runs.duplicates(batches, tKill, end));
            m.put("overlaps", Runs.overlaps(ev, parts, tKill, end));
            m.put("windowS", (end - tKill) / 1e9);
            if (repeat == 1) {
                panels.computeIfAbsent("b3", k -> new ArrayList<>()).add(new Timeline.Panel(impl.label, ev, run.topic,
                        PARTITIONS, tKill - 3 * SECOND, end, Map.of("kill -9 w2", tKill)));
            }
            return m;
        } finally {
            for (WorkerProcess p : procs) {
                p.stop(Duration.ofSeconds(15));
                p.close();
            }
            run.close();
        }
    }

    // ------------------------------------------------------------------ B4 (part): one graceful close

    private Map<String, Object> gracefulClose(Impl impl, int repeat) throws Exception {
        Run run = new Run("b4", impl, repeat);
        List<BenchWorker> workers = new ArrayList<>();
        try {
            run.startProducer();
            for (int i = 1; i <= 4; i++) {
                workers.add(run.thread("w" + i).start());
            }
            if (!run.awaitStable(4, Duration.ofSeconds(90))) {
                throw new IllegalStateException("4 consumers not balanced within 90 s");
            }
            String victim = "w2";
            Map<String, String> before = Runs.ownersAt(Runs.ownership(run.ownDir), System.nanoTime());
            List<Integer> victimParts = new ArrayList<>();
            before.forEach((p, w) -> {
                if (w.equals(victim)) {
                    victimParts.add(Integer.parseInt(p.substring(p.lastIndexOf('-') + 1)));
                }
            });
            long tClose = System.nanoTime();
            workers.get(1).stop(Duration.ofSeconds(30));
            long closed = System.nanoTime();
            boolean ok = waitUntil(Duration.ofSeconds(60),
                    () -> Runs.allConsumedAgain(Runs.consumed(run.consumedDir), victimParts, victim, tClose) > 0);
            sleep(Duration.ofSeconds(2));
            long end = System.nanoTime();
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            List<Runs.Batch> batches = Runs.consumed(run.consumedDir);
            Set<String> parts = Runs.partitionNames(run.topic, PARTITIONS);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("recovered", ok);
            m.put("victimPartitions", victimParts.size());
            m.put("closeCallS", (closed - tClose) / 1e9);
            long again = Runs.allConsumedAgain(batches, victimParts, victim, tClose);
            m.put("consumedAgainS", again < 0 ? null : (again - tClose) / 1e9);
            m.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, tClose, end));
            m.put("moved", Runs.moved(ev, tClose, end));
            m.put("duplicates", Runs.duplicates(batches, tClose, end));
            m.put("rounds", Runs.rounds(ev, tClose, end, SECOND / 2));
            m.put("overlaps", Runs.overlaps(ev, parts, tClose, end));
            if (repeat == 1) {
                panels.computeIfAbsent("b4", k -> new ArrayList<>()).add(new Timeline.Panel(impl.label, ev, run.topic,
                        PARTITIONS, tClose - 3 * SECOND, end, Map.of("w2.close()", tClose)));
            }
            return m;
        } finally {
            for (BenchWorker w : workers) {
                w.stop(Duration.ofSeconds(15));
            }
            run.close();
        }
    }

    // ------------------------------------------------------------------ B5

    private void throughput() throws Exception {
        String topic = "b5-" + System.currentTimeMillis() % 100000;
        kafka.createTopic(topic, PARTITIONS);
        byte[] value = new byte[100];
        long t = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers(),
                "linger.ms", 20, "batch.size", 262144, "acks", "1"), new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < b5Records; i++) {
                p.send(new ProducerRecord<>(topic, i % PARTITIONS, null, value));
            }
            p.flush();
        }
        say(String.format(Locale.ROOT, "b5: pre-filled %,d records in %.1f s", b5Records, (System.nanoTime() - t) / 1e9));
        for (int r = 1; r <= repeats; r++) {
            for (String kind : List.of("kafka-assign", "parti")) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("scenario", "b5");
                m.put("impl", kind);
                m.put("repeat", r);
                try {
                    m.putAll(drain(kind, topic, r));
                } catch (Exception e) {
                    e.printStackTrace();
                    m.put("error", e.toString());
                }
                m.put("loadAverage", loadAverage());
                Files.writeString(out.resolve("b5-" + kind + "-" + r + ".json"), Json.write(m));
                results.computeIfAbsent("b5", k -> new LinkedHashMap<>())
                        .computeIfAbsent(kind.equals("parti") ? Impl.PARTI : Impl.EAGER, k -> new ArrayList<>()).add(m);
                say("b5 " + kind + " #" + r + ": " + m);
                writeReports(loadAverage());
            }
        }
    }

    private Map<String, Object> drain(String kind, String topic, int repeat) {
        Consumer<byte[], byte[]> c;
        String group = "b5-" + kind + "-" + repeat + "-" + System.nanoTime() % 100000;
        if (kind.equals("parti")) {
            c = BenchWorker.create(Impl.PARTI, kafka.bootstrapServers(), nats.url(), group, "b5-parti");
            c.subscribe(List.of(topic));
        } else {
            Map<String, Object> p = BenchWorker.kafkaProps(Impl.EAGER, kafka.bootstrapServers(), group, "b5-kafka");
            c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
        }
        try {
            long total = 0;
            long count = 0; // records after the first batch: measured from the first batch on, joining is not throughput
            long first = -1;
            long last = -1;
            long deadline = System.nanoTime() + 180 * SECOND;
            while (total < b5Records && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                if (!recs.isEmpty()) {
                    total += recs.count();
                    if (first < 0) {
                        first = System.nanoTime();
                    } else {
                        count += recs.count();
                    }
                    last = System.nanoTime();
                }
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("records", count);
            m.put("complete", total >= b5Records);
            m.put("seconds", (last - first) / 1e9);
            m.put("recordsPerS", count / Math.max(1e-9, (last - first) / 1e9));
            return m;
        } finally {
            c.close(Duration.ofSeconds(10));
        }
    }

    // ------------------------------------------------------------------ one run: topic, producer, workers

    private final class Run {
        final Impl impl;
        final String topic;
        final String group;
        final Path ownDir;
        final Path consumedDir;
        private volatile boolean stop;
        private Thread producer;
        final AtomicLong produced = new AtomicLong();

        Run(String scenario, Impl impl, int repeat) throws IOException {
            this.impl = impl;
            String id = scenario + "-" + impl.id + "-" + repeat + "-" + (++seq);
            this.topic = "t-" + id;
            this.group = "g-" + id;
            Path dir = out.resolve("runs").resolve(id);
            this.ownDir = dir.resolve("ownership");
            this.consumedDir = dir.resolve("consumed");
            Files.createDirectories(ownDir);
            Files.createDirectories(consumedDir);
            kafka.createTopic(topic, PARTITIONS);
        }

        void startProducer() {
            producer = new Thread(() -> {
                Map<String, Object> p = Map.of("bootstrap.servers", kafka.bootstrapServers(), "linger.ms", 5, "acks", "1");
                byte[] value = new byte[100];
                try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                    long start = System.nanoTime();
                    long sent = 0;
                    while (!stop) {
                        long due = (System.nanoTime() - start) * RATE / SECOND;
                        while (sent < due) {
                            pr.send(new ProducerRecord<>(topic, (int) (sent % PARTITIONS), null, value));
                            sent++;
                        }
                        produced.set(sent);
                        Thread.sleep(5);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "bench-producer");
            producer.setDaemon(true);
            producer.start();
        }

        BenchWorker thread(String name) {
            return new BenchWorker(impl, kafka.bootstrapServers(), nats.url(), topic, group, name, ownDir, consumedDir);
        }

        WorkerProcess process(String name) {
            return WorkerProcess.builder(BenchWorker.class).name(name)
                    .jvmArgs("-Xmx160m", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                            "-Dbench.kafka.session.ms=" + BenchWorker.kafkaSessionMs())
                    .args(impl.id, kafka.bootstrapServers(), nats.url(), topic, group, name, ownDir.toString(),
                            consumedDir.toString())
                    .start();
        }

        /** Balanced over {@code workers} with no ownership change for {@code quietNanos}. */
        boolean stableFor(int workers, long quietNanos) {
            List<OwnershipEvent> ev = Runs.ownership(ownDir);
            long now = System.nanoTime();
            return now - Runs.lastEventNanos(ev) > quietNanos && Runs.balancedAt(ev, now, PARTITIONS, workers);
        }

        boolean awaitStable(int workers, Duration max) {
            return waitUntil(max, () -> stableFor(workers, 3 * SECOND));
        }

        void close() {
            stop = true;
            if (producer != null) {
                try {
                    producer.join(10_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    // ------------------------------------------------------------------ summary

    private String summary(String loadStart, String loadEnd) {
        StringBuilder b = new StringBuilder();
        b.append("Machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
                .append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch"))
                .append(", Java ").append(System.getProperty("java.version"))
                .append("; load average at start ").append(loadStart).append(", at end ").append(loadEnd).append("\n");
        b.append("Each cell: median [min-max] over the repeats (n = repeats that produced the figure).\n\n");
        for (Map.Entry<String, Map<Impl, List<Map<String, Object>>>> s : results.entrySet()) {
            List<String> metrics = new ArrayList<>();
            for (List<Map<String, Object>> runs : s.getValue().values()) {
                for (Map<String, Object> m : runs) {
                    m.forEach((k, v) -> {
                        if (v instanceof Number && !k.equals("repeat") && !k.equals("kafkaSessionMs") && !metrics.contains(k)) {
                            metrics.add(k);
                        }
                    });
                }
            }
            b.append("### ").append(s.getKey()).append("\n\n| metric |");
            List<Impl> cols = new ArrayList<>(s.getValue().keySet());
            for (Impl i : cols) {
                b.append(' ').append(s.getKey().equals("b5") ? (i == Impl.PARTI ? "PartiConsumer" : "KafkaConsumer assign()")
                        : i.label).append(" |");
            }
            b.append("\n|---|").append("---|".repeat(cols.size())).append('\n');
            for (String metric : metrics) {
                b.append("| ").append(metric).append(" |");
                for (Impl i : cols) {
                    b.append(' ').append(cell(s.getValue().get(i), metric)).append(" |");
                }
                b.append('\n');
            }
            b.append('\n');
        }
        return b.toString();
    }

    static String cell(List<Map<String, Object>> runs, String metric) {
        List<Double> v = new ArrayList<>();
        for (Map<String, Object> m : runs) {
            if (m.get(metric) instanceof Number n) {
                v.add(n.doubleValue());
            }
        }
        if (v.isEmpty()) {
            return "-";
        }
        v.sort(null);
        double med = v.size() % 2 == 1 ? v.get(v.size() / 2) : (v.get(v.size() / 2 - 1) + v.get(v.size() / 2)) / 2;
        String missing = v.size() < runs.size() ? " (n=" + v.size() + "/" + runs.size() + ")" : " (n=" + v.size() + ")";
        return fmt(med) + " [" + fmt(v.get(0)) + "-" + fmt(v.get(v.size() - 1)) + "]" + missing;
    }

    static String fmt(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            return String.format(Locale.ROOT, "%,d", (long) d);
        }
        return String.format(Locale.ROOT, Math.abs(d) >= 100 ? "%,.0f" : "%.2f", d);
    }

    // ------------------------------------------------------------------ helpers

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim().split(" ", 4)[0]
                    + " " + Files.readString(Path.of("/proc/loadavg")).trim().split(" ")[1];
        } catch (IOException | RuntimeException e) {
            return String.format(Locale.ROOT, "%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }

    static boolean waitUntil(Duration max, BooleanSupplier done) {
        long deadline = System.nanoTime() + max.toNanos();
        while (System.nanoTime() < deadline) {
            if (done.getAsBoolean()) {
                return true;
            }
            sleep(Duration.ofMillis(250));
        }
        return done.getAsBoolean();
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    /** Minimal JSON writer for maps, lists, numbers, strings, booleans and null. */
    static final class Json {
        static String write(Object o) {
            StringBuilder b = new StringBuilder();
            write(b, o);
            return b.append('\n').toString();
        }

        private static void write(StringBuilder b, Object o) {
            if (o == null) {
                b.append("null");
            } else if (o instanceof Number || o instanceof Boolean) {
                b.append(o);
            } else if (o instanceof Map<?, ?> m) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) {
                        b.append(", ");
                    }
                    first = false;
                    write(b, String.valueOf(e.getKey()));
                    b.append(": ");
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (o instanceof Collection<?> c) {
                b.append('[');
                boolean first = true;
                for (Object x : c) {
                    if (!first) {
                        b.append(", ");
                    }
                    first = false;
                    write(b, x);
                }
                b.append(']');
            } else {
                b.append('"').append(o.toString().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")).append('"');
            }
        }
    }
}
