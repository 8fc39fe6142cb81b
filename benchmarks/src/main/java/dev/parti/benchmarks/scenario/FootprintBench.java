package dev.parti.benchmarks.scenario;

import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Benchmark B7, the footprint of many consumers in one JVM: {@code n} {@link PartiConsumer}s of one group beside
 * {@code n} {@code KafkaConsumer}s (classic protocol, Kafka's defaults) of another group, in the same run, on one
 * Kafka broker (test kit {@link KafkaBroker}, child JVM) and one {@code nats-server}. Usage: {@code FootprintBench
 * [--counts 1,10,100] [--impls kafka,parti] [--rest-seconds S] [--out DIR]}; writes {@code footprint.json} and
 * {@code footprint-summary.md} to the output directory (default {@code benchmarks/target/bench}).
 *
 * <p><b>Method, per implementation and count.</b> A fresh topic of {@code max(20, 2 n)} partitions and a fresh
 * group. Before: three full GCs (run with {@code -XX:+UseSerialGC}), the live threads and the used heap, and the
 * JVM's idle CPU over {@value #IDLE_SECONDS} s. Then {@code n} consumers, each created, subscribed and polled
 * ({@code poll(100 ms)} in a loop, as a listener container does) on a thread of its own named {@code poll-loop-i}
 * (the user's thread: not counted). Parti runs its defaults (heartbeat 1 s, session 6 s) except a cold-start window
 * of 2 s and a planned-scale window of 1 s (the benchmark measures the cost at rest, not convergence). Once every
 * consumer has partitions and together they hold the whole topic, plus 3 s:
 * <ul>
 *   <li><i>threads</i>: live threads now minus before, without the {@code poll-loop-i} threads, and their names
 *   with digits folded to {@code N} (so {@code parti-g-main} ×10 shows as one line with its count);</li>
 *   <li><i>heap</i>: used heap after three full GCs minus before, per consumer;</li>
 *   <li><i>NATS connections</i>: {@code num_connections} of the server's {@code /connz} (the benchmark holds
 *   none);</li>
 *   <li><i>Admin clients</i>: registered {@code kafka.admin.client:type=app-info} MBeans;</li>
 *   <li><i>CPU at rest</i>: the JVM's process CPU time over {@code rest-seconds}, minus the idle rate measured
 *   before, per consumer, in ms of CPU per second (10 = 1 % of a core).</li>
 * </ul>
 * Then every consumer is closed (on its own thread) and the threads, connections and Admin clients left
 * behind are counted once they have settled (up to 20 s).
 */
public final class FootprintBench {
    private static final int IDLE_SECONDS = 3;
    private static final Pattern DIGITS = Pattern.compile("\\d+");

    private final KafkaBroker broker;
    private final NatsServer nats;
    private final long restSeconds;
    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    private final MBeanServer mbeans = ManagementFactory.getPlatformMBeanServer();
    private final java.lang.management.ThreadMXBean threadMx = ManagementFactory.getThreadMXBean();
    /** Most threads added seen while at rest (sampled in {@link #cpuRate}); live threads not counted in {@link #peakBase}. */
    private int peakAtRest;
    private int peakBase = Integer.MAX_VALUE / 2;

    private FootprintBench(KafkaBroker broker, NatsServer nats, long restSeconds) {
        this.broker = broker;
        this.nats = nats;
        this.restSeconds = restSeconds;
    }

    /** One measurement. */
    record Result(String impl, int consumers, int partitions, double convergeS, int threadsAdded,
                  Map<String, Integer> threadNames, double heapPerConsumerMb, int natsConnections, int adminClients,
                  double cpuMsPerSecPerConsumer, int threadsLeft, int natsConnectionsLeft, int adminClientsLeft,
                  int peakJoining, int peakAtRest) {
        double threadsPerConsumer() {
            return threadsAdded / (double) consumers;
        }
    }

    public static void main(String[] args) throws Exception {
        List<Integer> counts = List.of(1, 10, 100);
        List<String> impls = List.of("kafka", "parti");
        long rest = 10;
        Path out = Path.of("benchmarks/target/bench");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--counts" -> counts = parseInts(args[++i]);
                case "--impls" -> impls = List.of(args[++i].split(","));
                case "--rest-seconds" -> rest = Long.parseLong(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("Unknown argument " + args[i]
                        + "; usage: FootprintBench [--counts 1,10,100] [--impls kafka,parti] [--rest-seconds S] [--out DIR]");
            }
        }
        for (String impl : impls) {
            if (!impl.equals("kafka") && !impl.equals("parti")) {
                throw new IllegalArgumentException("--impls: unknown implementation '" + impl + "' (kafka, parti)");
            }
        }
        Files.createDirectories(out);
        List<Result> results = new ArrayList<>();
        try (NatsServer nats = NatsServer.start(); KafkaBroker broker = KafkaBroker.start()) {
            FootprintBench bench = new FootprintBench(broker, nats, rest);
            for (int n : counts) {
                for (String impl : impls) {
                    Result r = bench.run(impl, n);
                    results.add(r);
                    System.out.println(r);
                }
            }
        }
        Files.writeString(out.resolve("footprint.json"), json(results));
        Files.writeString(out.resolve("footprint-summary.md"), summary(results, rest));
        System.out.println(summary(results, rest));
    }

    private static List<Integer> parseInts(String s) {
        List<Integer> out = new ArrayList<>();
        for (String p : s.split(",")) {
            out.add(Integer.parseInt(p.trim()));
        }
        return out;
    }

    private Result run(String impl, int n) throws Exception {
        int partitions = Math.max(20, 2 * n);
        String run = impl + "-" + n + "-" + System.nanoTime() % 100_000;
        String topic = "fp-" + run;
        String group = "fp-" + run;
        broker.createTopic(topic, partitions);

        Set<Thread> before = settle();
        long heapBefore = heapAfterGc();
        double idleCpuMsPerSec = cpuRate(IDLE_SECONDS);

        List<Loop> loops = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Loop loop = new Loop(impl, group, topic, i);
            loops.add(loop);
            loop.thread.start();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        int base = before.size() + n; // the poll loops are the user's threads: not counted
        int peakJoining = 0;
        peakAtRest = 0;
        peakBase = base;
        while (true) {
            int total = 0;
            boolean all = true;
            for (Loop l : loops) {
                if (l.failure.get() != null) {
                    throw new IllegalStateException(impl + " consumer " + l.index + " failed", l.failure.get());
                }
                int size = l.assigned.get();
                total += size;
                all &= size > 0;
            }
            peakJoining = Math.max(peakJoining, threadMx.getThreadCount() - base);
            if (all && total == partitions) {
                break;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(impl + " x" + n + ": not converged in 180 s (" + total + " of "
                        + partitions + " partitions held)");
            }
            Thread.sleep(50);
        }
        double convergeS = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(3_000);

        Map<String, Integer> names = new TreeMap<>();
        int added = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && !before.contains(t) && !t.getName().startsWith("poll-loop-")) {
                added++;
                names.merge(fold(t.getName(), group), 1, Integer::sum);
            }
        }
        long heap = heapAfterGc() - heapBefore;
        int connections = natsConnections();
        int admins = adminClients();
        double cpu = cpuRate(restSeconds) - idleCpuMsPerSec;

        for (Loop l : loops) {
            l.stop();
        }
        for (Loop l : loops) {
            l.thread.join(30_000);
        }
        int left = -1;
        long settleDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < settleDeadline) {
            left = 0;
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.isAlive() && !before.contains(t) && !t.getName().startsWith("poll-loop-")) {
                    left++;
                }
            }
            if (left == 0 && natsConnections() == 0 && adminClients() == 0) {
                break;
            }
            Thread.sleep(200);
        }
        return new Result(impl, n, partitions, convergeS, added, names, heap / 1e6 / n, connections, admins, cpu / n,
                left, natsConnections(), adminClients(), peakJoining, peakAtRest);
    }

    /** A thread name with the group and client ids replaced and digits folded, so like threads count together. */
    private static String fold(String name, String group) {
        String s = name.replace(group, "<group>");
        s = s.replaceAll("consumer-<group>-\\d+", "<client>");
        Matcher m = DIGITS.matcher(s);
        return m.replaceAll("N");
    }

    private Set<Thread> settle() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(300);
        }
        Set<Thread> live = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive()) {
                live.add(t);
            }
        }
        return live;
    }

    private long heapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }

    /**
     * The JVM's CPU over {@code seconds}, in ms of CPU per second; meanwhile the live thread count is sampled every
     * 100 ms (a cheap counter, no stack walk) for {@link #peakAtRest}: threads lent to a consumer's task only while
     * it runs come and go between two snapshots.
     */
    private double cpuRate(long seconds) throws InterruptedException {
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < end) {
            peakAtRest = Math.max(peakAtRest, threadMx.getThreadCount() - peakBase);
            Thread.sleep(Math.max(1, Math.min(100, (end - System.nanoTime()) / 1_000_000)));
        }
        long cpu1 = os.getProcessCpuTime();
        long t1 = System.nanoTime();
        return (cpu1 - cpu0) / 1e6 / ((t1 - t0) / 1e9);
    }

    private int natsConnections() {
        String connz = nats.monitor("/connz");
        Matcher m = Pattern.compile("\"num_connections\"\\s*:\\s*(\\d+)").matcher(connz);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    private int adminClients() throws Exception {
        return mbeans.queryNames(new ObjectName("kafka.admin.client:type=app-info,id=*"), null).size();
    }

    /** One consumer on its own polling thread, as a listener container runs it. */
    private final class Loop {
        final int index;
        final Thread thread;
        final AtomicInteger assigned = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final CountDownLatch created = new CountDownLatch(1);
        volatile Consumer<byte[], byte[]> consumer;
        volatile boolean stop;

        Loop(String impl, String group, String topic, int index) {
            this.index = index;
            this.thread = new Thread(() -> {
                try (Consumer<byte[], byte[]> c = create(impl, group, index)) {
                    consumer = c;
                    created.countDown();
                    c.subscribe(List.of(topic));
                    while (!stop) {
                        try {
                            c.poll(Duration.ofMillis(100));
                        } catch (WakeupException e) {
                            // stop requested
                        }
                        assigned.set(c.assignment().size());
                    }
                } catch (Throwable t) {
                    failure.set(t);
                } finally {
                    created.countDown();
                }
            }, "poll-loop-" + index);
            thread.setDaemon(true);
        }

        void stop() throws InterruptedException {
            stop = true;
            created.await();
            Consumer<byte[], byte[]> c = consumer;
            if (c != null) {
                c.wakeup();
            }
        }
    }

    private Consumer<byte[], byte[]> create(String impl, String group, int index) {
        Map<String, Object> p = new HashMap<>();
        p.put("bootstrap.servers", broker.bootstrapServers());
        p.put("group.id", group);
        p.put("client.id", group + "-c" + index);
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", false);
        if (impl.equals("parti")) {
            p.put("parti.nats.url", nats.url());
            p.put("parti.cold.start.window.ms", 2_000);
            p.put("parti.planned.scale.window.ms", 1_000);
            p.put("parti.rebalance.cooldown.ms", 500);
            return new PartiConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        }
        p.put("group.protocol", "classic");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    private static String json(List<Result> results) {
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            sb.append(String.format(Locale.ROOT, "  {\"impl\": \"%s\", \"consumers\": %d, \"partitions\": %d, \"convergeS\": %.2f, "
                            + "\"threadsAdded\": %d, \"heapPerConsumerMb\": %.3f, \"natsConnections\": %d, \"adminClients\": %d, "
                            + "\"cpuMsPerSecPerConsumer\": %.3f, \"threadsLeft\": %d, \"natsConnectionsLeft\": %d, "
                            + "\"adminClientsLeft\": %d, \"peakThreadsJoining\": %d, \"peakThreadsAtRest\": %d, \"threadNames\": {",
                    r.impl(), r.consumers(), r.partitions(), r.convergeS(), r.threadsAdded(), r.heapPerConsumerMb(),
                    r.natsConnections(), r.adminClients(), r.cpuMsPerSecPerConsumer(), r.threadsLeft(),
                    r.natsConnectionsLeft(), r.adminClientsLeft(), r.peakJoining(), r.peakAtRest()));
            int j = 0;
            for (Map.Entry<String, Integer> e : r.threadNames().entrySet()) {
                sb.append(j++ == 0 ? "" : ", ").append('"').append(e.getKey().replace("\\", "\\\\").replace("\"", "\\\""))
                        .append("\": ").append(e.getValue());
            }
            sb.append("}}").append(i + 1 < results.size() ? ",\n" : "\n");
        }
        return sb.append("]\n").toString();
    }

    private static String summary(List<Result> results, long rest) {
        StringBuilder sb = new StringBuilder();
        sb.append("# B7: footprint of n consumers of one group in one JVM\n\n");
        sb.append("CPU at rest over ").append(rest).append(" s, minus the idle JVM; heap after full GCs (SerialGC).\n\n");
        sb.append("| impl | consumers | threads added | per consumer | peak at rest (per consumer) | peak joining (per consumer) "
                + "| heap per consumer (MB) | NATS connections | Admin clients "
                + "| CPU at rest per consumer (ms/s) | left after close (threads / NATS / Admin) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Result r : results) {
            sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %.2f | %d (%.2f) | %d (%.2f) | %.3f | %d | %d | %.2f | %d / %d / %d |%n",
                    r.impl(), r.consumers(), r.threadsAdded(), r.threadsPerConsumer(),
                    r.peakAtRest(), r.peakAtRest() / (double) r.consumers(), r.peakJoining(),
                    r.peakJoining() / (double) r.consumers(), r.heapPerConsumerMb(),
                    r.natsConnections(), r.adminClients(), r.cpuMsPerSecPerConsumer(), r.threadsLeft(),
                    r.natsConnectionsLeft(), r.adminClientsLeft()));
        }
        sb.append("\nThreads added (names folded: digits as N, the group as <group>):\n");
        for (Result r : results) {
            sb.append("\n- ").append(r.impl()).append(" x").append(r.consumers()).append(": ");
            List<String> parts = new ArrayList<>();
            r.threadNames().forEach((k, v) -> parts.add("`" + k + "` ×" + v));
            sb.append(String.join(", ", parts));
        }
        sb.append('\n');
        return sb.toString();
    }
}
