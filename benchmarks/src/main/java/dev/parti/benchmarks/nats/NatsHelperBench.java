package dev.parti.benchmarks.nats;

import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.nats.PartitionEvents;
import dev.parti.nats.PartitionStatus;
import dev.parti.nats.PartitionedConsumer;
import dev.parti.nats.SubjectMapping;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.ConsumeOptions;
import io.nats.client.JetStream;
import io.nats.client.JetStreamManagement;
import io.nats.client.MessageConsumer;
import io.nats.client.Nats;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.PublishAck;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Benchmark of {@link PartitionedConsumer} (parti-nats), in one run on one nats-server started by the
 * test kit:
 * <ol>
 *   <li><b>throughput</b>: messages/s through the helper (one worker owning every partition, a handler
 *   that only counts) against a plain JetStream pull consumer on the whole stream (one durable, {@code
 *   consume()}, ack per message), both draining the same pre-published messages; the clock runs from the
 *   first handled message to the last, so the helper's join and cold-start window are not counted;
 *   alternating order, median of the repeats, ratio helper / plain;</li>
 *   <li><b>cost at 1 000 partitions</b>: creating one single-filter durable consumer per partition
 *   (wall time, nats-server resident memory before and after), then the helper taking all 1 000
 *   partitions (time until every consumer runs, client heap and threads, idle protocol messages per
 *   second at the server), against one plain consumer on the whole stream.</li>
 * </ol>
 * Usage: {@code NatsHelperBench [--messages N] [--partitions P] [--repeats R] [--cost-partitions C]
 * [--idle-seconds S] [--out DIR] [--handler-threads H] [--max-in-flight M]}; writes {@code DIR/nats-summary.md}.
 */
public final class NatsHelperBench {
    private NatsHelperBench() {
    }

    /** The helper's handlerThreads in the throughput runs; 0 for its default. */
    private static int helperThreads;
    /** Per partition: the helper's maxInFlight and the per-partition consumers' max ack pending, in the throughput runs. */
    private static int maxInFlight = PartitionedConsumer.DEFAULT_MAX_IN_FLIGHT;

    public static void main(String[] args) throws Exception {
        int messages = 200_000;
        int partitions = 16;
        int repeats = 5;
        int costPartitions = 1_000;
        int idleSeconds = 10;
        int handlerThreads = 0; // 0: the helper's default
        int inFlight = PartitionedConsumer.DEFAULT_MAX_IN_FLIGHT;
        Path out = Path.of("benchmarks/target/bench");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--messages" -> messages = Integer.parseInt(args[++i]);
                case "--partitions" -> partitions = Integer.parseInt(args[++i]);
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--cost-partitions" -> costPartitions = Integer.parseInt(args[++i]);
                case "--idle-seconds" -> idleSeconds = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--handler-threads" -> handlerThreads = Integer.parseInt(args[++i]);
                case "--max-in-flight" -> inFlight = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (known: --messages --partitions --repeats --cost-partitions --idle-seconds --out --handler-threads --max-in-flight)");
            }
        }
        StringBuilder md = new StringBuilder();
        try (NatsServer nats = NatsServer.start(); Connection nc = Nats.connect(nats.url())) {
            String version = nc.getServerInfo().getVersion();
            md.append("# parti-nats benchmark\n\nnats-server ").append(version).append(", ")
                    .append(Runtime.getRuntime().availableProcessors()).append(" cores, load average before: ")
                    .append(loadAverage()).append("\n\n");
            helperThreads = handlerThreads;
            maxInFlight = inFlight;
            throughput(nats, nc, messages, partitions, repeats, md);
            if (costPartitions > 0) { // 0: throughput only
                cost(nats, nc, costPartitions, idleSeconds, md);
            }
            md.append("\nload average after: ").append(loadAverage()).append('\n');
        }
        Files.createDirectories(out);
        Files.writeString(out.resolve("nats-summary.md"), md.toString());
        System.out.println(md);
        System.out.println("written: " + out.resolve("nats-summary.md"));
    }

    // ---------------------------------------------------------------- throughput

    /** One drain of the pre-published messages: rate, and CPU time of the client JVM and of nats-server per message. */
    private record Run(double rate, double clientMicros, double serverMicros) {
    }

    private interface Contender {
        Run run(int repeat) throws Exception;
    }

    private static void throughput(NatsServer nats, Connection nc, int messages, int partitions, int repeats, StringBuilder md)
            throws Exception {
        JetStreamManagement jsm = nc.jetStreamManagement();
        jsm.addStream(StreamConfiguration.builder().name("BENCH").subjects("bench.>").storageType(StorageType.File).build());
        publish(nc.jetStream(), "bench", partitions, messages);
        long pid = nats.pid().orElseThrow();
        List<String> names = List.of("plain", "plain per partition", "helper");
        List<Contender> contenders = List.of(
                r -> plainRate(pid, nc, "plain" + r, messages, partitions),
                r -> plainPerPartitionRate(pid, nc, "pp" + r, messages, partitions),
                r -> helperRate(pid, nats, "helper" + r, messages, partitions));
        for (int c = 0; c < contenders.size(); c++) {
            contenders.get(c).run(-1 - c); // warm-up, not counted: JIT and the server's caches, for each in turn
        }
        List<List<Run>> runs = new ArrayList<>();
        contenders.forEach(c -> runs.add(new ArrayList<>()));
        for (int r = 0; r < repeats; r++) {
            StringBuilder line = new StringBuilder("repeat " + (r + 1) + ":");
            for (int k = 0; k < contenders.size(); k++) {
                int c = (r + k) % contenders.size(); // rotating order
                Run run = contenders.get(c).run(r);
                runs.get(c).add(run);
            }
            for (int c = 0; c < contenders.size(); c++) {
                Run run = runs.get(c).get(r);
                line.append(String.format(Locale.ROOT, " %s %.0f msg/s (client %.1f µs, server %.1f µs per msg);",
                        names.get(c), run.rate(), run.clientMicros(), run.serverMicros()));
            }
            System.out.println(line);
        }
        double mp = median(runs.get(0), Run::rate);
        double mpp = median(runs.get(1), Run::rate);
        double mh = median(runs.get(2), Run::rate);
        md.append("## Throughput: ").append(messages).append(" messages, ").append(partitions).append(" partitions, ")
                .append(repeats).append(" repeats (rotating order, after one unmeasured warm-up drain each)\n\n")
                .append("| consumer | median msg/s | median client CPU µs/msg (first to last message) | median nats-server CPU µs/msg (same window) | all repeats (msg/s) |\n")
                .append("|---|---:|---:|---:|---|\n");
        String[] labels = {
            "plain JetStream pull consumer (1 durable on `bench.>`, consume(), ack each)",
            "plain per-partition pull consumers (" + partitions + " durables on `bench.<p>.>`, consume() on one dispatcher, the helper's acks: policy all, every 32nd or when caught up)",
            "PartitionedConsumer (1 worker, " + partitions + " per-partition durables, "
                    + (helperThreads > 0 ? helperThreads : Math.max(2, Runtime.getRuntime().availableProcessors())) + " handler threads, maxInFlight "
                    + maxInFlight + ")"};
        for (int c = 0; c < labels.length; c++) {
            md.append(String.format(Locale.ROOT, "| %s | %.0f | %.1f | %.1f | %s |%n", labels[c], median(runs.get(c), Run::rate),
                    median(runs.get(c), Run::clientMicros), median(runs.get(c), Run::serverMicros), rates(runs.get(c))));
        }
        md.append(String.format(Locale.ROOT, "%nRatio helper / plain (medians): **%.2f**; helper / plain per partition: %.2f%n%n",
                mh / mp, mh / mpp));
    }

    /**
     * The measured window of one drain, from the first message handled to the last: wall time, CPU time of
     * this JVM and of nats-server (setup and teardown, such as the helper joining its group, are outside it).
     */
    private static final class Window {
        private static final com.sun.management.OperatingSystemMXBean OS =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        private final long serverPid;
        private volatile long t0;
        private volatile long t1;
        private volatile long client0;
        private volatile long client1;
        private volatile long server0;
        private volatile long server1;

        Window(long serverPid) {
            this.serverPid = serverPid;
        }

        void first() {
            t0 = System.nanoTime();
            client0 = OS.getProcessCpuTime();
            server0 = cpuNanos(serverPid);
        }

        void last() {
            t1 = System.nanoTime();
            client1 = OS.getProcessCpuTime();
            server1 = cpuNanos(serverPid);
        }

        Run run(int messages) {
            return new Run((messages - 1) / ((t1 - t0) / 1e9), (client1 - client0) / 1e3 / messages, (server1 - server0) / 1e3 / messages);
        }
    }

    /** utime + stime of a process, from /proc (clock ticks of 10 ms). */
    private static long cpuNanos(long pid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
    }

    private static Run plainPerPartitionRate(long serverPid, Connection nc, String name, int messages, int partitions) throws Exception {
        JetStreamManagement jsm = nc.jetStreamManagement();
        AtomicLong count = new AtomicLong();
        Window window = new Window(serverPid);
        CountDownLatch done = new CountDownLatch(1);
        io.nats.client.Dispatcher dispatcher = nc.createDispatcher();
        List<MessageConsumer> consumers = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            jsm.addOrUpdateConsumer("BENCH", ConsumerConfiguration.builder().durable(name + "-" + p).filterSubject("bench." + p + ".>")
                    .deliverPolicy(DeliverPolicy.All).ackPolicy(AckPolicy.All)
                    .maxAckPending(maxInFlight).build());
        }
        for (int p = 0; p < partitions; p++) {
            consumers.add(nc.getStreamContext("BENCH").getConsumerContext(name + "-" + p).consume(
                    ConsumeOptions.builder().batchSize(256).build(), dispatcher, msg -> {
                        if (msg.metaData().pendingCount() == 0 || msg.metaData().consumerSequence() % 32 == 0) {
                            msg.ack(); // the helper's ack scheme: ack policy all, every 32 or when caught up
                        }
                        long n = count.incrementAndGet();
                        if (n == 1) {
                            window.first();
                        }
                        if (n == messages) {
                            window.last();
                            done.countDown();
                        }
                    }));
        }
        if (!done.await(300, TimeUnit.SECONDS)) {
            throw new IllegalStateException("plain per-partition consumers handled only " + count.get() + " of " + messages);
        }
        for (MessageConsumer mc : consumers) {
            mc.close();
        }
        nc.closeDispatcher(dispatcher);
        for (int p = 0; p < partitions; p++) {
            jsm.deleteConsumer("BENCH", name + "-" + p);
        }
        return window.run(messages);
    }

    private static void publish(JetStream js, String prefix, int partitions, int messages) throws Exception {
        byte[] payload = "0123456789abcdef".getBytes(StandardCharsets.UTF_8);
        List<CompletableFuture<PublishAck>> window = new ArrayList<>();
        for (int i = 0; i < messages; i++) {
            window.add(js.publishAsync(prefix + "." + (i % partitions) + ".x", payload));
            if (window.size() == 2_000) {
                for (CompletableFuture<PublishAck> f : window) {
                    f.get(30, TimeUnit.SECONDS);
                }
                window.clear();
            }
        }
        for (CompletableFuture<PublishAck> f : window) {
            f.get(30, TimeUnit.SECONDS);
        }
    }

    private static Run plainRate(long serverPid, Connection nc, String name, int messages, int partitions) throws Exception {
        JetStreamManagement jsm = nc.jetStreamManagement();
        jsm.addOrUpdateConsumer("BENCH", ConsumerConfiguration.builder().durable(name).filterSubject("bench.>")
                .deliverPolicy(DeliverPolicy.All).ackPolicy(AckPolicy.Explicit)
                .maxAckPending((long) partitions * PartitionedConsumer.DEFAULT_MAX_IN_FLIGHT).build());
        AtomicLong count = new AtomicLong();
        Window window = new Window(serverPid);
        CountDownLatch done = new CountDownLatch(1);
        MessageConsumer mc = nc.getStreamContext("BENCH").getConsumerContext(name).consume(
                ConsumeOptions.builder().batchSize(256).build(), msg -> {
                    msg.ack();
                    long n = count.incrementAndGet();
                    if (n == 1) {
                        window.first();
                    }
                    if (n == messages) {
                        window.last();
                        done.countDown();
                    }
                });
        if (!done.await(300, TimeUnit.SECONDS)) {
            throw new IllegalStateException("plain consumer handled only " + count.get() + " of " + messages);
        }
        mc.close();
        jsm.deleteConsumer("BENCH", name);
        return window.run(messages);
    }

    private static PartiConfig.Builder fast(String group, String url, List<Partition> ps) {
        return PartiConfig.builder(group).natsUrl(url).partitionSource(PartitionSource.of(ps))
                .heartbeatInterval(Duration.ofMillis(200)).sessionTimeout(Duration.ofSeconds(2))
                .leaderTtl(Duration.ofMillis(1_000)).workerIdTtl(Duration.ofSeconds(5))
                .coldStartWindow(Duration.ofMillis(200)).plannedScaleWindow(Duration.ofMillis(200))
                .rebalanceCooldown(Duration.ofMillis(100));
    }

    private static Run helperRate(long serverPid, NatsServer nats, String group, int messages, int partitions) throws Exception {
        AtomicLong count = new AtomicLong();
        Window window = new Window(serverPid);
        CountDownLatch done = new CountDownLatch(1);
        try (PartitionedConsumer c = PartitionedConsumer.builder(fast(group, nats.url(), PartitionedConsumer.numbered("orders", partitions)).build(),
                "BENCH", SubjectMapping.template("bench.{partition}.>"), (p, msg) -> {
                    long n = count.incrementAndGet();
                    if (n == 1) {
                        window.first();
                    }
                    if (n == messages) {
                        window.last();
                        done.countDown();
                    }
                }).consumerPrefix(group).cleanup(dev.parti.nats.ConsumerCleanup.DELETE_ON_CLOSE)
                .handlerThreads(helperThreads > 0 ? helperThreads : Math.max(2, Runtime.getRuntime().availableProcessors()))
                .maxInFlight(maxInFlight).build()) {
            c.start();
            if (!done.await(300, TimeUnit.SECONDS)) {
                throw new IllegalStateException("helper handled only " + count.get() + " of " + messages);
            }
        }
        return window.run(messages);
    }

    // ---------------------------------------------------------------- cost at many partitions

    private static void cost(NatsServer nats, Connection nc, int n, int idleSeconds, StringBuilder md) throws Exception {
        JetStreamManagement jsm = nc.jetStreamManagement();
        jsm.addStream(StreamConfiguration.builder().name("COST").subjects("cost.>").storageType(StorageType.File).build());
        long pid = nats.pid().orElseThrow();
        md.append("## Cost of ").append(n).append(" partitions (one single-filter durable consumer each)\n\n");

        // 1. raw consumer creation
        settle();
        long rss0 = rss(pid);
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            jsm.addOrUpdateConsumer("COST", ConsumerConfiguration.builder().durable("raw-" + i).filterSubject("cost." + i + ".>")
                    .ackPolicy(AckPolicy.Explicit).maxAckPending(PartitionedConsumer.DEFAULT_MAX_IN_FLIGHT).build());
        }
        double createMs = (System.nanoTime() - t0) / 1e6;
        settle();
        long rss1 = rss(pid);
        t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            jsm.deleteConsumer("COST", "raw-" + i);
        }
        double deleteMs = (System.nanoTime() - t0) / 1e6;
        md.append(String.format(Locale.ROOT, "| what | value |%n|---|---:|%n"
                        + "| create %d durables (sequential JetStream API calls) | %.0f ms (%.2f ms each) |%n"
                        + "| delete them | %.0f ms |%n"
                        + "| nats-server resident memory before → after creating | %.1f MiB → %.1f MiB (%+.1f KiB per consumer) |%n",
                n, createMs, createMs / n, deleteMs, rss0 / 1048576.0, rss1 / 1048576.0, (rss1 - rss0) / 1024.0 / n));

        // 2. one plain consumer on the whole stream, pulling and idle
        settle();
        long rssPlain0 = rss(pid);
        MessageConsumer plain;
        jsm.addOrUpdateConsumer("COST", ConsumerConfiguration.builder().durable("plain-all").filterSubject("cost.>")
                .ackPolicy(AckPolicy.Explicit).build());
        plain = nc.getStreamContext("COST").getConsumerContext("plain-all").consume(msg -> msg.ack());
        double plainIdle = idleMessagesPerSecond(nats, idleSeconds);
        plain.close();
        jsm.deleteConsumer("COST", "plain-all");

        // 3. the helper taking all n partitions
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long heap0 = rt.totalMemory() - rt.freeMemory();
        int threads0 = Thread.activeCount();
        long rssH0 = rss(pid);
        List<Long> acquired = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime();
        PartitionedConsumer c = PartitionedConsumer.builder(fast("cost", nats.url(), PartitionedConsumer.numbered("orders", n)).build(),
                "COST", SubjectMapping.template("cost.{partition}.>"), (p, msg) -> { })
                .events(new PartitionEvents() {
                    @Override
                    public void onAcquired(Partition partition, String consumerName, long startSequence) {
                        acquired.add(System.nanoTime());
                    }
                }).cleanup(dev.parti.nats.ConsumerCleanup.DELETE_ON_CLOSE).build();
        double helperIdle;
        double allRunningMs;
        double acquireSpanMs;
        long heap1;
        int threads1;
        long rssH1;
        double closeMs;
        try {
            c.start();
            while (c.status().size() < n || c.status().stream().anyMatch(s -> s.phase() != PartitionStatus.Phase.RUNNING)) {
                Thread.sleep(20);
            }
            allRunningMs = (System.nanoTime() - start) / 1e6;
            synchronized (acquired) {
                acquireSpanMs = (Collections.max(acquired) - Collections.min(acquired)) / 1e6;
            }
            settle();
            System.gc();
            heap1 = rt.totalMemory() - rt.freeMemory();
            threads1 = Thread.activeCount();
            rssH1 = rss(pid);
            helperIdle = idleMessagesPerSecond(nats, idleSeconds);
        } finally {
            long t = System.nanoTime();
            c.close();
            closeMs = (System.nanoTime() - t) / 1e6;
        }
        md.append(String.format(Locale.ROOT,
                "| PartitionedConsumer: start() → all %d consumers running (Parti join + %d ms cold-start window + creation) | %.0f ms |%n"
                        + "| … first → last consumer acquired (info + create + consume per partition, one thread) | %.0f ms (%.2f ms each) |%n"
                        + "| … client heap after GC, before → with %d partitions | %.1f MiB → %.1f MiB |%n"
                        + "| … client threads (JVM-wide) | %d → %d |%n"
                        + "| … nats-server resident memory | %.1f MiB → %.1f MiB |%n"
                        + "| … idle protocol messages/s at the server (pull expiry %d s, heartbeats) | %.0f |%n"
                        + "| … close() (release and delete %d consumers) | %.0f ms |%n"
                        + "| plain consumer on `cost.>` (1 durable), idle protocol messages/s | %.0f (resident memory before: %.1f MiB) |%n",
                n, 200, allRunningMs, acquireSpanMs, acquireSpanMs / n, n, heap0 / 1048576.0, heap1 / 1048576.0, threads0, threads1,
                rssH0 / 1048576.0, rssH1 / 1048576.0, PartitionedConsumer.DEFAULT_PULL_EXPIRY.toSeconds(), helperIdle, n, closeMs,
                plainIdle, rssPlain0 / 1048576.0));
    }

    /** Protocol messages in and out of the server per second over {@code seconds}, from its /varz. */
    private static double idleMessagesPerSecond(NatsServer nats, int seconds) throws InterruptedException {
        long a = varz(nats, "in_msgs") + varz(nats, "out_msgs");
        long t = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        long b = varz(nats, "in_msgs") + varz(nats, "out_msgs");
        return (b - a) / ((System.nanoTime() - t) / 1e9);
    }

    private static long varz(NatsServer nats, String field) {
        String json = nats.monitor("/varz");
        int i = json.indexOf("\"" + field + "\"");
        if (i < 0) {
            throw new IllegalStateException("no " + field + " in /varz");
        }
        int colon = json.indexOf(':', i);
        int end = colon + 1;
        while (end < json.length() && (Character.isWhitespace(json.charAt(end)) || Character.isDigit(json.charAt(end)))) {
            end++;
        }
        return Long.parseLong(json.substring(colon + 1, end).trim());
    }

    private static long rss(long pid) throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.substring(6).trim().split("\\s+")[0]) * 1024L;
            }
        }
        return -1;
    }

    private static void settle() throws InterruptedException {
        Thread.sleep(1_000); // let the server finish background work before reading its memory
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    private static double median(List<Run> runs, java.util.function.ToDoubleFunction<Run> f) {
        List<Double> s = new ArrayList<>();
        runs.forEach(r -> s.add(f.applyAsDouble(r)));
        Collections.sort(s);
        int m = s.size() / 2;
        return s.size() % 2 == 1 ? s.get(m) : (s.get(m - 1) + s.get(m)) / 2;
    }

    private static String rates(List<Run> runs) {
        StringBuilder b = new StringBuilder();
        for (Run r : runs) {
            b.append(b.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f", r.rate()));
        }
        return b.toString();
    }
}
