package dev.parti.benchmarks.scenario;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.MetricsRecorder;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.JetStreamManagement;
import io.nats.client.KeyValue;
import io.nats.client.Nats;
import io.nats.client.api.KeyValueEntry;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Benchmark B6: Parti core only, many workers and partitions on one machine (default 200 workers ×
 * 10 000 partitions). No Kafka. Usage: {@code CoreScaleBench [--repeats N] [--workers N] [--partitions N]
 * [--rest-seconds S] [--out DIR]}; writes {@code b6-<repeat>.json} per repeat and {@code b6-summary.md}
 * (median [min–max] over the repeats) to the output directory (default {@code benchmarks/target/bench}).
 *
 * <p><b>Method, per repeat.</b> A fresh {@code nats-server} (test kit {@link NatsServer}, JetStream, file
 * storage) and a fresh group name. {@code workers} {@link PartiManager}s in this JVM, each with its own
 * NATS connection (Parti opens it from the URL, as a separate process would), all with parti-core's
 * default timings (heartbeat 1 s, session 6 s, worker-ID TTL 30 s, leader lease 3 s, cold-start window
 * 30 s, ...) and the same static {@link PartitionSource} of {@code partitions} partitions. Their
 * {@code start()} calls are issued at once on a pool of {@value #START_THREADS} threads ({@code start()}
 * blocks until the worker has its ID and first heartbeat).
 *
 * <p><b>Metrics.</b>
 * <ul>
 *   <li><i>convergeS</i>: from just before the first {@code start()} call (t0) to the instant the group is
 *   converged: every worker applied the same assignment version, no partition is owned by two workers,
 *   and the union of what they own is exactly the partition list. Detected by polling every 50 ms; the
 *   instant reported is the latest {@code onAssigned} call of that version (so it is not rounded up to
 *   the poll). Target: cold-start window + 2 s. Also reported: when the last {@code start()} returned,
 *   when the first leader was elected (its cold-start window counts from then), when its first round saw the
 *   cold start (first {@code SCALING} state, once its side is built), when it first published, and how many
 *   assignments it published until convergence.</li>
 *   <li><i>serverWritesPerSec.&lt;bucket&gt;</i>: after convergence and a 5 s settle, over
 *   {@code rest-seconds}: the growth of the last sequence of each of the group's KV streams
 *   ({@code KV_parti_<group>_<hash>_<bucket>}: ids, heartbeats, leader, assignment), read with a separate
 *   connection from {@code JetStreamManagement.getStreamInfo}, per second. Every put, update, create and
 *   delete is one stream message; refused compare-and-sets are not. Target: total ≤ 1.1 × workers /
 *   heartbeat interval.</li>
 *   <li><i>clientOpsPerSec.&lt;kind&gt;</i>: over the same interval, the operations Parti reports to
 *   {@link MetricsRecorder#kvOperation} per kind (heartbeat, election, worker-ID renewal, assignment poll,
 *   ...), summed over all workers. One kind can be a read (a follower's election round is one get of
 *   the leader key) or a write; failures are counted separately ({@code clientOpsFailed}).</li>
 *   <li><i>natsInMsgsPerSec / natsOutMsgsPerSec</i>: the server's {@code /varz} message counters over the
 *   same interval (requests, replies and watch deliveries of all connections); <i>natsServerCpuPct</i> and
 *   <i>jvmCpuPct</i>: CPU time of the server process and of this JVM over the interval, in % of one core.</li>
 *   <li><i>heapPerWorkerMB</i>: used heap after full GCs (minimum of three {@code System.gc()} + read) with
 *   every worker running at rest, minus the same before the first worker was created, divided by the
 *   worker count. <i>rssPerWorkerMB</i> does the same with the process's resident set (thread stacks and
 *   direct buffers included). <i>threadsPerWorker</i>: live threads with the workers minus before.</li>
 *   <li><i>closeS</i>: {@code close()} of every worker (leave the group; Parti closes its connection),
 *   issued at once on the same pool, until all returned; <i>threadsAfterClose</i> should be back near
 *   <i>threadsBefore</i>.</li>
 * </ul>
 *
 * <p><b>Diagnostics</b> (JSON only), to explain a slow convergence: {@code convergenceTimeline}, one row a
 * second from t0 (columns {@link #TIMELINE_COLUMNS}: start() calls returned, workers with an assignment,
 * managers that say they lead, this JVM's CPU and GC time in that second, cumulative stale leases acted
 * on, worker IDs lost, DEGRADED entries, publications, 1-minute load average);
 * {@code clientOpsFromFirstPublishToConverged} by kind; CPU seconds and allocated MB per thread kind
 * until converged and per second at rest ({@code threadCpu*}, {@code threadAllocated*}: Parti's
 * {@code parti-<g>-main} / {@code -callbacks} / {@code -lease} threads, jnats' {@code parti-<g>:N}
 * threads, which run the watch handlers, and the rest of the JVM); the same trouble counters during rest.
 *
 * <p>The runner itself is part of the load: the workers share this JVM's heap, GC and the machine's
 * cores with the nats-server (and with whatever else runs on the machine), where separate processes would
 * each have their own JVM. Its own threads ({@code main}: the 50 ms convergence poll, {@code b6-start-N})
 * show up in the per-thread figures.
 */
public final class CoreScaleBench {
    /** Threads issuing the {@code start()} and {@code close()} calls. */
    static final int START_THREADS = 16;
    static final Duration SETTLE_AFTER_CONVERGENCE = Duration.ofSeconds(5);
    static final Duration CONVERGENCE_TIMEOUT = Duration.ofSeconds(180);
    static final Duration POLL = Duration.ofMillis(50);
    static final String[] BUCKETS = {"ids", "heartbeats", "leader", "assignment"};
    private static final double MB = 1024.0 * 1024.0;

    /**
     * {@code --processes P}: the workers share P NATS connections, as P processes with their workers on one shared
     * connection each would (the production default, {@code shareConnection(true)}), round-robin; 0 (the default,
     * the B6 method so far): a connection per worker. P distinct connections come from P distinct inbox prefixes.
     */
    private static int processes = 0;

    private CoreScaleBench() {
    }

    public static void main(String[] args) throws Exception {
        int repeats = 3;
        int workers = 200;
        int partitions = 10_000;
        int restSeconds = 30;
        Path out = Path.of("benchmarks/target/bench");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--partitions" -> partitions = Integer.parseInt(args[++i]);
                case "--rest-seconds" -> restSeconds = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--processes" -> processes = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("Usage: CoreScaleBench [--repeats N] [--workers N] [--partitions N] "
                            + "[--rest-seconds S] [--processes P] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        List<Map<String, Object>> runs = run(out, repeats, workers, partitions, restSeconds);
        boolean failed = runs.stream().anyMatch(r -> r.containsKey("error"));
        System.exit(failed ? 1 : 0);
    }

    /**
     * Runs B6 {@code repeats} times; writes {@code b6-<repeat>.json} after each repeat and
     * {@code b6-summary.md} (rewritten after each repeat). Returns the metrics of every repeat; a failed
     * repeat has an {@code error} entry.
     */
    static List<Map<String, Object>> run(Path out, int repeats, int workers, int partitions, int restSeconds)
            throws IOException {
        Files.createDirectories(out);
        String loadStart = Bench.loadAverage();
        say("B6: " + workers + " workers x " + partitions + " partitions, " + repeats + " repeat(s), rest "
                + restSeconds + " s; load average " + loadStart);
        List<Map<String, Object>> runs = new ArrayList<>();
        for (int r = 1; r <= repeats; r++) {
            Map<String, Object> m;
            try {
                m = runOnce(r, workers, partitions, restSeconds);
            } catch (Exception e) {
                e.printStackTrace();
                m = new LinkedHashMap<>();
                m.put("repeat", r);
                m.put("error", e.toString());
            }
            runs.add(m);
            Files.writeString(out.resolve("b6-" + r + ".json"), Bench.Json.write(m));
            Map<String, Object> headline = new LinkedHashMap<>(m);
            headline.keySet().removeIf(k -> k.startsWith("convergenceTimeline") || k.startsWith("threadCpu")
                    || k.startsWith("threadAllocated"));
            say("b6 #" + r + ": " + headline);
            Files.writeString(out.resolve("b6-summary.md"),
                    summary(runs, workers, partitions, restSeconds, loadStart, Bench.loadAverage()));
        }
        String summary = summary(runs, workers, partitions, restSeconds, loadStart, Bench.loadAverage());
        Files.writeString(out.resolve("b6-summary.md"), summary);
        System.out.println(summary);
        return runs;
    }

    // ------------------------------------------------------------------ one repeat

    private static Map<String, Object> runOnce(int repeat, int workerCount, int partitionCount, int restSeconds)
            throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("scenario", "b6");
        m.put("repeat", repeat);
        m.put("workers", workerCount);
        m.put("partitions", partitionCount);
        m.put("restSeconds", restSeconds);
        m.put("startThreads", START_THREADS);
        m.put("loadAverageStart", Bench.loadAverage());
        m.put("availableProcessors", Runtime.getRuntime().availableProcessors());
        m.put("jvmMaxHeapMB", round(Runtime.getRuntime().maxMemory() / MB));

        String group = "b6-r" + repeat + "-" + Long.toString(System.currentTimeMillis(), 36);
        List<PartiManager> managers = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(START_THREADS, namedDaemon("b6-start"));
        try (NatsServer nats = NatsServer.start(); Connection monitor = Nats.connect(nats.url())) {
            try {
                measure(m, nats, monitor, group, managers, pool, repeat, workerCount, partitionCount, restSeconds);
            } finally {
                // after a failure: close what is left while the server still runs
                for (PartiManager pm : managers) {
                    pool.execute(pm::close);
                }
                pool.shutdown();
                if (!pool.awaitTermination(2, TimeUnit.MINUTES)) {
                    pool.shutdownNow();
                }
            }
        }
        return m;
    }

    /**
     * Cold start, rest, memory and close of one group; fills {@code m}. The managers it starts are added to
     * {@code managers} and removed once closed, so the caller can close them after a failure.
     */
    private static void measure(Map<String, Object> m, NatsServer nats, Connection monitor, String group,
                                List<PartiManager> managers, ExecutorService pool, int repeat, int workerCount,
                                int partitionCount, int restSeconds) throws Exception {
        List<Partition> partitionList = partitions(partitionCount);
        Set<Partition> allPartitions = Set.copyOf(partitionList);
        PartitionSource source = PartitionSource.of(partitionList);
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        KvOperationCounter counter = new KvOperationCounter();
        List<AssignmentProbe> probes = new ArrayList<>();
        JetStreamManagement jsm = monitor.jetStreamManagement();
        m.put("natsServerVersion", monitor.getServerInfo().getVersion());

        long heapBefore = usedHeapAfterGc();
        long rssBefore = residentSetBytes();
        int threadsBefore = threads.getThreadCount();
        m.put("threadsBefore", threadsBefore);

        m.put("processes", processes);
        for (int i = 0; i < workerCount; i++) {
            PartiConfig.Builder b = PartiConfig.builder(group)
                    .natsUrl(nats.url())
                    .partitionSource(source)
                    .metrics(counter);
            if (processes <= 0) {
                b.shareConnection(false); // a connection per worker, as separate processes would have (B6 method)
            } else {
                b.natsOptions(new io.nats.client.Options.Builder().inboxPrefix("_INBOX_P" + (i % processes)).build());
            }
            PartiConfig config = b.build();
            AssignmentProbe probe = new AssignmentProbe();
            probes.add(probe);
            managers.add(new PartiManager(config, probe));
        }

        // ---- cold start
        long gcBefore = gcMillis();
        long cpuBefore = thisJvmCpuNanos();
        long t0 = System.nanoTime();
        List<Future<StartCall>> starts = new ArrayList<>();
        for (PartiManager pm : managers) {
            starts.add(pool.submit(() -> {
                long began = System.nanoTime();
                pm.start();
                return new StartCall(began, System.nanoTime());
            }));
        }
        Convergence conv = awaitConvergence(managers, probes, allPartitions, t0, starts, counter);
        long firstStartReturned = Long.MAX_VALUE;
        long lastStartReturned = Long.MIN_VALUE;
        int failedStarts = 0;
        String firstStartError = null;
        List<Long> startCallNanos = new ArrayList<>();
        for (Future<StartCall> f : starts) {
            try {
                StartCall call = f.get(1, TimeUnit.SECONDS);
                firstStartReturned = Math.min(firstStartReturned, call.returnedNanos());
                lastStartReturned = Math.max(lastStartReturned, call.returnedNanos());
                startCallNanos.add(call.returnedNanos() - call.beganNanos());
            } catch (Exception e) {
                failedStarts++;
                if (firstStartError == null) {
                    firstStartError = e.toString();
                }
            }
        }
        m.put("failedStarts", failedStarts);
        if (firstStartError != null) {
            m.put("firstStartError", firstStartError);
        }
        if (failedStarts < workerCount) {
            m.put("firstStartReturnedS", seconds(firstStartReturned - t0));
            m.put("lastStartReturnedS", seconds(lastStartReturned - t0));
            startCallNanos.sort(null);
            m.put("startCallMedianS", seconds(startCallNanos.get(startCallNanos.size() / 2)));
            m.put("startCallMaxS", seconds(startCallNanos.get(startCallNanos.size() - 1)));
        }
        putIfSet(m, "coldStartWindowOpenedS", counter.firstScalingNanos.get(), t0);
        putIfSet(m, "firstLeaderS", conv.firstLeaderNanos, t0);
        putIfSet(m, "firstPublishS", counter.firstPublishNanos.get(), t0);
        m.put("firstPublishWorkers", counter.firstPublishWorkers.get());
        m.put("publicationsUntilConverged", counter.publications.get());
        counter.trouble().forEach((k, v) -> m.put(k + "UntilConverged", v));
        m.put("gcMsUntilConverged", gcMillis() - gcBefore);
        m.put("jvmCpuSecondsUntilConverged", round((thisJvmCpuNanos() - cpuBefore) / 1e9));
        m.put("threadCpuSecondsUntilConverged", withoutSmall(cpuSecondsByThreadKind(group), 0.01));
        m.put("threadAllocatedMBUntilConverged", withoutSmall(allocatedMBByThreadKind(group), 0.1));
        m.put("clientOpsFromFirstPublishToConverged", conv.opsAfterFirstPublish);
        m.put("convergenceTimelineColumns", TIMELINE_COLUMNS);
        m.put("convergenceTimeline", conv.timeline);
        if (conv.convergedNanos == 0) {
            m.put("error", "not converged within " + CONVERGENCE_TIMEOUT.toSeconds() + " s: " + conv.lastReason);
            say("not converged: " + conv.lastReason + "\n" + threadSummary());
            return;
        }
        m.put("convergeS", seconds(conv.convergedNanos - t0));
        m.put("convergeDetectedS", seconds(conv.detectedNanos - t0));
        m.put("convergedVersion", conv.version);
        m.put("distinctLeadersUntilConverged", conv.leaders.size());
        say("b6 #" + repeat + ": converged at " + m.get("convergeS") + " s (version " + conv.version
                + "), last start() returned at " + m.get("lastStartReturnedS") + " s");

        // ---- at rest
        Bench.sleep(SETTLE_AFTER_CONVERGENCE);
        Map<String, Long> troubleBeforeRest = counter.trouble();
        Map<String, Double> threadCpuBeforeRest = cpuSecondsByThreadKind(group);
        Map<String, Double> allocatedBeforeRest = allocatedMBByThreadKind(group);
        RestSample before = RestSample.take(jsm, group, counter, nats);
        Set<String> leadersAtRest = new HashSet<>();
        Set<Long> versionsAtRest = new HashSet<>();
        long restEnd = before.nanos + Duration.ofSeconds(restSeconds).toNanos();
        while (System.nanoTime() < restEnd) {
            for (PartiManager pm : managers) {
                versionsAtRest.add(pm.assignmentVersion());
                if (pm.isLeader()) {
                    leadersAtRest.add(pm.workerId());
                }
            }
            Bench.sleep(Duration.ofMillis(Math.max(1, Math.min(500, (restEnd - System.nanoTime()) / 1_000_000))));
        }
        RestSample after = RestSample.take(jsm, group, counter, nats);
        double restSecs = (after.nanos - before.nanos) / 1e9;
        Map<String, Double> threadCpuPctAtRest = perSecond(threadCpuBeforeRest, cpuSecondsByThreadKind(group), restSecs / 100);
        m.put("threadCpuPctAtRest", withoutSmall(threadCpuPctAtRest, 0.01));
        Map<String, Double> allocationAtRest = perSecond(allocatedBeforeRest, allocatedMBByThreadKind(group), restSecs);
        m.put("threadAllocatedMBPerSecAtRest", withoutSmall(allocationAtRest, 0.01));
        m.put("allocatedMBPerSecAtRest", round(allocationAtRest.values().stream().mapToDouble(Double::doubleValue).sum()));
        counter.trouble().forEach((k, v) -> m.put(k + "DuringRest", v - troubleBeforeRest.get(k)));
        m.put("restMeasuredS", round(restSecs));
        Map<String, Double> writes = perSecond(before.streamLastSeq, after.streamLastSeq, restSecs);
        for (String b : BUCKETS) {
            m.put("serverWritesPerSec." + b, writes.getOrDefault(b, 0.0));
        }
        writes.forEach((b, v) -> m.putIfAbsent("serverWritesPerSec." + b, v)); // any bucket not foreseen
        m.put("serverWritesPerSec.total", round(writes.values().stream().mapToDouble(Double::doubleValue).sum()));
        m.put("serverWritesTargetPerSec", round(1.1 * workerCount / PartiConfig.DEFAULT_HEARTBEAT_INTERVAL.toMillis() * 1000));
        Map<String, Double> ops = perSecond(before.clientOps, after.clientOps, restSecs);
        double opsTotal = 0;
        for (Map.Entry<String, Double> e : ops.entrySet()) {
            m.put("clientOpsPerSec." + e.getKey(), e.getValue());
            opsTotal += e.getValue();
        }
        m.put("clientOpsPerSec.total", round(opsTotal));
        m.put("clientOpsFailed", after.clientFailures - before.clientFailures);
        m.put("natsInMsgsPerSec", round((after.natsInMsgs - before.natsInMsgs) / restSecs));
        m.put("natsOutMsgsPerSec", round((after.natsOutMsgs - before.natsOutMsgs) / restSecs));
        if (before.natsCpuNanos >= 0 && after.natsCpuNanos >= 0) {
            m.put("natsServerCpuPct", round(100.0 * (after.natsCpuNanos - before.natsCpuNanos) / (after.nanos - before.nanos)));
        }
        m.put("jvmCpuPct", round(100.0 * (after.jvmCpuNanos - before.jvmCpuNanos) / (after.nanos - before.nanos)));
        m.put("leadersDuringRest", leadersAtRest.size());
        m.put("versionsDuringRest", versionsAtRest.size());
        m.put("stableDuringRest", leadersAtRest.size() == 1 && versionsAtRest.equals(Set.of(conv.version)));
        m.put("lostCallbacks", probes.stream().mapToInt(p -> p.lostCallbacks.get()).sum());
        m.put("assignmentRecordBytes", assignmentRecordBytes(monitor, jsm, group));
        recordFigures(m, monitor, jsm, group, managers);

        // ---- memory and threads with every worker running
        long heapWith = usedHeapAfterGc();
        long rssWith = residentSetBytes();
        int threadsWith = threads.getThreadCount();
        m.put("heapBeforeMB", round(heapBefore / MB));
        m.put("heapWithWorkersMB", round(heapWith / MB));
        m.put("heapPerWorkerMB", round((heapWith - heapBefore) / MB / workerCount));
        if (rssBefore > 0 && rssWith > 0) {
            m.put("rssPerWorkerMB", round((rssWith - rssBefore) / MB / workerCount));
        }
        m.put("threadsWithWorkers", threadsWith);
        m.put("threadsPerWorker", round((threadsWith - threadsBefore) / (double) workerCount));
        say("b6 #" + repeat + ": at rest " + m.get("serverWritesPerSec.total") + " writes/s, "
                + m.get("clientOpsPerSec.total") + " client ops/s, heap/worker " + m.get("heapPerWorkerMB") + " MB");

        // ---- close
        long closeStart = System.nanoTime();
        List<Future<?>> closes = new ArrayList<>();
        for (PartiManager pm : managers) {
            closes.add(pool.submit(() -> pm.close()));
        }
        for (Future<?> f : closes) {
            f.get(2, TimeUnit.MINUTES);
        }
        m.put("closeS", seconds(System.nanoTime() - closeStart));
        managers.clear();
        pool.shutdown();
        pool.awaitTermination(10, TimeUnit.SECONDS);
        Bench.waitUntil(Duration.ofSeconds(10), () -> threads.getThreadCount() <= threadsBefore);
        m.put("threadsAfterClose", threads.getThreadCount());
        m.put("loadAverageEnd", Bench.loadAverage());
    }

    /** The partitions {@code topic/0 … topic/(n-1)}. */
    static List<Partition> partitions(int n) {
        List<Partition> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(Partition.of("topic", Integer.toString(i)));
        }
        return out;
    }

    /** When one {@code start()} call began and returned. */
    record StartCall(long beganNanos, long returnedNanos) {
    }

    /** What the convergence wait saw. {@code convergedNanos == 0} when it timed out. */
    static final class Convergence {
        long convergedNanos;
        long detectedNanos;
        long version;
        long firstLeaderNanos;
        final Set<String> leaders = new HashSet<>();
        String lastReason = "not polled";
        /** Client KV operations by kind from the first publication seen to convergence (or the timeout). */
        Map<String, Long> opsAfterFirstPublish = Map.of();
        /** One row per second, columns {@link #TIMELINE_COLUMNS}. */
        final List<List<Object>> timeline = new ArrayList<>();
    }

    static final List<String> TIMELINE_COLUMNS = List.of("s", "startsReturned", "workersWithAssignment", "leaders",
            "jvmCpuPct", "gcMs", "staleLeases", "idLosses", "degradedEntries", "publications", "load1");

    /** Polls the managers every {@link #POLL} until {@link #notConvergedBecause} finds nothing, or the timeout. */
    private static Convergence awaitConvergence(List<PartiManager> managers, List<AssignmentProbe> probes,
                                                Set<Partition> all, long t0, List<Future<StartCall>> starts,
                                                KvOperationCounter counter) {
        Convergence c = new Convergence();
        long deadline = t0 + CONVERGENCE_TIMEOUT.toNanos();
        long lastProgress = t0;
        long lastSample = t0;
        long lastCpu = thisJvmCpuNanos();
        long lastGc = gcMillis();
        Map<String, Long> opsAtFirstPublish = null;
        while (System.nanoTime() < deadline) {
            if (opsAtFirstPublish == null && counter.publications.get() > 0) {
                opsAtFirstPublish = counter.succeededByKind();
            }
            List<WorkerView> views = new ArrayList<>(managers.size());
            for (PartiManager pm : managers) {
                if (pm.isLeader()) {
                    if (c.firstLeaderNanos == 0) {
                        c.firstLeaderNanos = System.nanoTime();
                    }
                    c.leaders.add(pm.workerId());
                }
                views.add(new WorkerView(pm.workerId(), pm.assignmentVersion(), pm.currentAssignment()));
            }
            Optional<String> reason = notConvergedBecause(views, all);
            long now = System.nanoTime();
            if (opsAtFirstPublish != null) {
                Map<String, Long> ops = counter.succeededByKind();
                Map<String, Long> since = new TreeMap<>();
                for (Map.Entry<String, Long> e : ops.entrySet()) {
                    since.put(e.getKey(), e.getValue() - opsAtFirstPublish.getOrDefault(e.getKey(), 0L));
                }
                c.opsAfterFirstPublish = since;
            }
            if (reason.isEmpty()) {
                c.detectedNanos = now;
                c.version = views.get(0).version();
                c.convergedNanos = probes.stream().filter(p -> p.assignedVersion == c.version)
                        .mapToLong(p -> p.assignedAtNanos).max().orElse(now);
                return c;
            }
            c.lastReason = reason.get();
            if (now - lastSample >= 1_000_000_000L) {
                long cpu = thisJvmCpuNanos();
                long gc = gcMillis();
                Map<String, Long> trouble = counter.trouble();
                c.timeline.add(List.of(seconds(now - t0), starts.stream().filter(Future::isDone).count(),
                        views.stream().filter(v -> v.version() > 0).count(),
                        managers.stream().filter(PartiManager::isLeader).count(),
                        round(100.0 * (cpu - lastCpu) / (now - lastSample)), gc - lastGc,
                        trouble.get("staleLeases"), trouble.get("idLosses"), trouble.get("degradedEntries"),
                        counter.publications.get(), Bench.loadAverage().split(" ")[0]));
                lastSample = now;
                lastCpu = cpu;
                lastGc = gc;
            }
            if (now - lastProgress >= 5_000_000_000L) {
                lastProgress = now;
                long started = starts.stream().filter(Future::isDone).count();
                say(String.format(Locale.ROOT, "  %.1f s: %d/%d start() returned; %s; last second %s = %s",
                        (now - t0) / 1e9, started, managers.size(), c.lastReason, TIMELINE_COLUMNS,
                        c.timeline.isEmpty() ? "-" : c.timeline.get(c.timeline.size() - 1)));
            }
            Bench.sleep(POLL);
        }
        return c;
    }

    /** One worker as the convergence check sees it: its ID (null before it has one), applied version and owned partitions. */
    record WorkerView(String workerId, long version, Set<Partition> owned) {
    }

    /**
     * Empty when the group is converged: every worker applied the same, non-zero version, no partition
     * is owned twice, and the partitions owned are exactly {@code all}. Otherwise the first reason found.
     */
    static Optional<String> notConvergedBecause(Collection<WorkerView> workers, Set<Partition> all) {
        if (workers.isEmpty()) {
            return Optional.of("no workers");
        }
        Set<Long> versions = new TreeSet<>();
        int withoutVersion = 0;
        for (WorkerView w : workers) {
            versions.add(w.version());
            if (w.version() == 0) {
                withoutVersion++;
            }
        }
        if (withoutVersion > 0) {
            return Optional.of(withoutVersion + " of " + workers.size() + " workers have no assignment yet");
        }
        if (versions.size() > 1) {
            return Optional.of("workers are on different versions " + versions);
        }
        Map<Partition, String> owner = new java.util.HashMap<>(all.size() * 2);
        for (WorkerView w : workers) {
            for (Partition p : w.owned()) {
                String previous = owner.put(p, w.workerId());
                if (previous != null) {
                    return Optional.of("partition " + p + " owned by " + previous + " and " + w.workerId());
                }
            }
        }
        if (owner.size() != all.size() || !all.containsAll(owner.keySet())) {
            Set<Partition> unowned = new TreeSet<>(all);
            unowned.removeAll(owner.keySet());
            Set<Partition> unknown = new TreeSet<>(owner.keySet());
            unknown.removeAll(all);
            return Optional.of(unowned.size() + " partitions unowned" + (unknown.isEmpty() ? "" : ", "
                    + unknown.size() + " owned partitions not in the list"));
        }
        return Optional.empty();
    }

    /** (after − before) / seconds per key, rounded to 3 decimals; keys missing before count from 0. */
    static Map<String, Double> perSecond(Map<String, ? extends Number> before, Map<String, ? extends Number> after,
                                         double seconds) {
        Map<String, Double> rates = new TreeMap<>();
        after.forEach((k, v) -> {
            Number was = before.get(k);
            rates.put(k, round((v.doubleValue() - (was == null ? 0 : was.doubleValue())) / seconds));
        });
        return rates;
    }

    /** {@code values} without the entries under {@code least} (for readable JSON). */
    static Map<String, Double> withoutSmall(Map<String, Double> values, double least) {
        Map<String, Double> kept = new TreeMap<>(values);
        kept.values().removeIf(v -> v < least);
        return kept;
    }

    // ------------------------------------------------------------------ probes

    /** The listener of one worker: when it last applied a version, and how often it lost partitions. */
    static final class AssignmentProbe implements AssignmentListener {
        volatile long assignedVersion;
        volatile long assignedAtNanos;
        final AtomicInteger lostCallbacks = new AtomicInteger();

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            assignedAtNanos = System.nanoTime();
            assignedVersion = version;
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            lostCallbacks.incrementAndGet();
        }
    }

    /** One {@link MetricsRecorder} shared by every worker: KV operations by kind, publications, first SCALING state. */
    static final class KvOperationCounter implements MetricsRecorder {
        private final Map<String, LongAdder> succeeded = new ConcurrentHashMap<>();
        private final LongAdder failed = new LongAdder();
        final AtomicLong publications = new AtomicLong();
        final AtomicLong firstPublishNanos = new AtomicLong();
        final AtomicInteger firstPublishWorkers = new AtomicInteger();
        final AtomicLong firstScalingNanos = new AtomicLong();
        final LongAdder staleLeases = new LongAdder();
        final LongAdder idLosses = new LongAdder();
        final LongAdder degradedEntries = new LongAdder();

        @Override
        public void kvOperation(String op, boolean ok) {
            if (ok) {
                succeeded.computeIfAbsent(op, k -> new LongAdder()).increment();
            } else {
                failed.increment();
            }
        }

        @Override
        public void assignmentPublished(long version, int partitions, int workers, Duration calculation) {
            publications.incrementAndGet();
            if (firstPublishNanos.compareAndSet(0, System.nanoTime())) {
                firstPublishWorkers.set(workers);
            }
        }

        @Override
        public void stateChanged(ManagerState from, ManagerState to) {
            if (to == ManagerState.SCALING) {
                firstScalingNanos.compareAndSet(0, System.nanoTime());
            } else if (to == ManagerState.CLAIMING_ID && from != ManagerState.INIT) {
                idLosses.increment();
            } else if (to == ManagerState.DEGRADED) {
                degradedEntries.increment();
            }
        }

        @Override
        public void staleLease(Duration age, dev.parti.LossPolicy policy) {
            staleLeases.increment();
        }

        /** Trouble counters: stale leases acted on, worker IDs lost, DEGRADED entered. */
        Map<String, Long> trouble() {
            Map<String, Long> t = new LinkedHashMap<>();
            t.put("staleLeases", staleLeases.sum());
            t.put("idLosses", idLosses.sum());
            t.put("degradedEntries", degradedEntries.sum());
            return t;
        }

        Map<String, Long> succeededByKind() {
            Map<String, Long> snapshot = new TreeMap<>();
            succeeded.forEach((k, v) -> snapshot.put(k, v.sum()));
            return snapshot;
        }

        long failures() {
            return failed.sum();
        }
    }

    /** Counters read at the start and the end of the rest interval. */
    record RestSample(long nanos, Map<String, Long> streamLastSeq, Map<String, Long> clientOps, long clientFailures,
                      long natsInMsgs, long natsOutMsgs, long natsCpuNanos, long jvmCpuNanos) {
        private static final Pattern IN_MSGS = Pattern.compile("\"in_msgs\"\\s*:\\s*(\\d+)");
        private static final Pattern OUT_MSGS = Pattern.compile("\"out_msgs\"\\s*:\\s*(\\d+)");

        static RestSample take(JetStreamManagement jsm, String group, KvOperationCounter counter, NatsServer nats)
                throws Exception {
            long now = System.nanoTime();
            Map<String, Long> ops = counter.succeededByKind();
            long failures = counter.failures();
            Map<String, Long> seqs = new TreeMap<>();
            String prefix = "KV_parti_" + group + "_";
            for (String stream : jsm.getStreamNames()) {
                if (stream.startsWith(prefix)) {
                    String bucket = stream.substring(stream.lastIndexOf('_') + 1);
                    seqs.put(bucket, jsm.getStreamInfo(stream).getStreamState().getLastSequence());
                }
            }
            String varz = nats.monitor("/varz");
            return new RestSample(now, seqs, ops, failures, number(IN_MSGS, varz), number(OUT_MSGS, varz),
                    processCpuNanos(nats.pid().orElse(-1)), thisJvmCpuNanos());
        }

        private static long number(Pattern p, String json) {
            Matcher matcher = p.matcher(json);
            return matcher.find() ? Long.parseLong(matcher.group(1)) : 0;
        }
    }

    // ------------------------------------------------------------------ measurements

    /** The largest value in the group's assignment bucket (the published assignment record), in bytes; -1 if none. */
    private static long assignmentRecordBytes(Connection monitor, JetStreamManagement jsm, String group) {
        try {
            String prefix = "KV_parti_" + group + "_";
            for (String stream : jsm.getStreamNames()) {
                if (stream.startsWith(prefix) && stream.endsWith("_assignment")) {
                    KeyValue kv = monitor.keyValue(stream.substring(3));
                    long largest = -1;
                    for (String key : kv.keys()) {
                        KeyValueEntry e = kv.get(key);
                        if (e != null && e.getValue() != null) {
                            largest = Math.max(largest, e.getValue().length);
                        }
                    }
                    return largest;
                }
            }
        } catch (Exception e) {
            say("reading the assignment record: " + e);
        }
        return -1;
    }

    /**
     * The published record as stored, and what each worker reads and decodes of it (issue 19): its form
     * (inline, or a manifest and pieces), its size in format 1 ({@code assignmentInlineBytes}: what one value
     * would have to carry), the manifest's and the pieces' sizes, the bytes the assignment stream holds, and per
     * worker (every one, by its worker ID) the bytes it reads for one version (the manifest plus its own
     * piece(s)), the time to fetch them over KV and decode its line, and the decode alone (pieces in memory).
     * For comparison, the decode of the same worker's line from the whole record inline. Times: the second of
     * two passes (the first warms the JIT), median and max over the workers; the bench thread, this JVM.
     */
    private static void recordFigures(Map<String, Object> m, Connection monitor, JetStreamManagement jsm, String group,
                                      List<PartiManager> managers) {
        try {
            String prefix = "KV_parti_" + group + "_";
            String stream = null;
            for (String name : jsm.getStreamNames()) {
                if (name.startsWith(prefix) && name.endsWith("_assignment")) {
                    stream = name;
                }
            }
            if (stream == null) {
                return;
            }
            KeyValue kv = monitor.keyValue(stream.substring(3));
            byte[] current = kv.get("current").getValue();
            Map<String, byte[]> pieces = new java.util.HashMap<>();
            dev.parti.internal.ChunkedAssignment.PieceSource remote = key -> {
                try {
                    KeyValueEntry e = kv.get(key);
                    return e == null ? null : e.getValue();
                } catch (IOException | io.nats.client.JetStreamApiException e) {
                    throw new IllegalStateException("reading " + key + ": " + e, e);
                }
            };
            dev.parti.internal.Codec.AssignmentRecord whole = dev.parti.internal.ChunkedAssignment.decode(current, key -> {
                byte[] v = remote.get(key);
                pieces.put(key, v);
                return v;
            });
            byte[] inline = dev.parti.internal.Codec.encode(whole);
            boolean chunked = dev.parti.internal.ChunkedAssignment.isManifest(current);
            m.put("assignmentForm", chunked ? "chunked" : "inline");
            m.put("assignmentInlineBytes", inline.length);
            m.put("assignmentCurrentBytes", current.length);
            m.put("serverMaxPayload", monitor.getServerInfo().getMaxPayload());
            m.put("assignmentStreamBytes", jsm.getStreamInfo(stream).getStreamState().getByteCount());
            if (chunked) {
                List<Integer> sizes = new ArrayList<>();
                pieces.values().forEach(v -> sizes.add(v.length));
                sizes.sort(null);
                m.put("assignmentPieces", sizes.size());
                m.put("assignmentPieceBytesMin", sizes.get(0));
                m.put("assignmentPieceBytesMedian", sizes.get(sizes.size() / 2));
                m.put("assignmentPieceBytesMax", sizes.get(sizes.size() - 1));
            }
            List<String> ids = new ArrayList<>();
            for (PartiManager pm : managers) {
                if (pm.workerId() != null) {
                    ids.add(pm.workerId());
                }
            }
            List<Long> readBytes = new ArrayList<>();
            List<Long> fetchDecodeNanos = new ArrayList<>();
            List<Long> decodeNanos = new ArrayList<>();
            List<Long> inlineDecodeNanos = new ArrayList<>();
            for (int pass = 0; pass < 2; pass++) {
                readBytes.clear();
                fetchDecodeNanos.clear();
                decodeNanos.clear();
                inlineDecodeNanos.clear();
                for (String id : ids) {
                    long[] read = {current.length};
                    long t = System.nanoTime();
                    dev.parti.internal.ChunkedAssignment.decodeOf(current, id, key -> {
                        byte[] v = remote.get(key);
                        read[0] += v == null ? 0 : v.length;
                        return v;
                    });
                    fetchDecodeNanos.add(System.nanoTime() - t);
                    readBytes.add(read[0]);
                    t = System.nanoTime();
                    dev.parti.internal.ChunkedAssignment.decodeOf(current, id, pieces::get);
                    decodeNanos.add(System.nanoTime() - t);
                    t = System.nanoTime();
                    dev.parti.internal.Codec.decodeAssignmentOf(inline, id);
                    inlineDecodeNanos.add(System.nanoTime() - t);
                }
            }
            putMedianMax(m, "perWorkerReadBytes", readBytes, 1);
            putMedianMax(m, "perWorkerFetchAndDecodeMs", fetchDecodeNanos, 1e6);
            putMedianMax(m, "perWorkerDecodeUs", decodeNanos, 1e3);
            putMedianMax(m, "perWorkerDecodeOfWholeInlineRecordUs", inlineDecodeNanos, 1e3);
        } catch (Exception e) {
            say("measuring the assignment record: " + e);
        }
    }

    private static void putMedianMax(Map<String, Object> m, String name, List<Long> values, double unit) {
        if (values.isEmpty()) {
            return;
        }
        List<Long> sorted = new ArrayList<>(values);
        sorted.sort(null);
        m.put(name + "Median", round(sorted.get(sorted.size() / 2) / unit));
        m.put(name + "Max", round(sorted.get(sorted.size() - 1) / unit));
    }

    /** Used heap right after a full GC; the least of three tries, so allocation between GC and read counts little. */
    static long usedHeapAfterGc() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long least = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            least = Math.min(least, memory.getHeapMemoryUsage().getUsed());
            Bench.sleep(Duration.ofMillis(200));
        }
        return least;
    }

    /** VmRSS of this process in bytes, -1 when /proc is not there. */
    static long residentSetBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    /** User + system CPU time of a process from /proc/&lt;pid&gt;/stat (clock ticks of 10 ms), -1 when unknown. */
    static long processCpuNanos(long pid) {
        if (pid < 0) {
            return -1;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // after "pid (comm) ": state is field 0, utime field 11, stime field 12
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long thisJvmCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return -1;
    }

    /** Total collection time of every garbage collector, in ms. */
    static long gcMillis() {
        long ms = 0;
        for (var gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            ms += Math.max(0, gc.getCollectionTime());
        }
        return ms;
    }

    /**
     * CPU seconds used so far by the live threads, summed per kind: the thread name with the group name
     * replaced by {@code <g>} and numbers folded to {@code N} (e.g. {@code parti-<g>-main}, jnats' threads
     * {@code parti-<g>:N}), plus the rest of the process's CPU time (GC, JIT, threads that ended).
     */
    static Map<String, Double> cpuSecondsByThreadKind(String group) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<String, Double> byKind = new TreeMap<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            long cpu = threads.getThreadCpuTime(t.getId());
            if (cpu > 0) {
                byKind.merge(threadKind(t.getName(), group), cpu / 1e9, Double::sum);
            }
        }
        double javaThreads = byKind.values().stream().mapToDouble(Double::doubleValue).sum();
        byKind.put("(JVM itself: GC, JIT; and threads that ended)", Math.max(0, thisJvmCpuNanos() / 1e9 - javaThreads));
        byKind.replaceAll((k, v) -> round(v));
        return byKind;
    }

    /** Heap allocated so far by the live threads, in MB, summed per kind as in {@link #cpuSecondsByThreadKind}. */
    static Map<String, Double> allocatedMBByThreadKind(String group) {
        Map<String, Double> byKind = new TreeMap<>();
        if (ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean threads) {
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                long bytes = threads.getThreadAllocatedBytes(t.getId());
                if (bytes > 0) {
                    byKind.merge(threadKind(t.getName(), group), bytes / MB, Double::sum);
                }
            }
        }
        byKind.replaceAll((k, v) -> round(v));
        return byKind;
    }

    static String threadKind(String threadName, String group) {
        return threadName.replace(group, "<g>").replaceAll("\\d+", "N");
    }

    /** Thread names with the digits folded, counted: what a stuck run is made of. */
    private static String threadSummary() {
        Map<String, Integer> byName = new TreeMap<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            byName.merge(t.getName().replaceAll("\\d+", "N"), 1, Integer::sum);
        }
        return byName.toString();
    }

    // ------------------------------------------------------------------ report

    /** The markdown summary: one row per metric, median [min–max] over the repeats, and the target where there is one. */
    static String summary(List<Map<String, Object>> runs, int workers, int partitions, int restSeconds,
                          String loadStart, String loadEnd) {
        double writesTarget = 1.1 * workers / PartiConfig.DEFAULT_HEARTBEAT_INTERVAL.toMillis() * 1000;
        double convergeTarget = PartiConfig.DEFAULT_COLD_START_WINDOW.toSeconds() + 2;
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"convergeS", "time to converge from cold start (s)", "≤ " + Bench.fmt(convergeTarget)});
        rows.add(new String[] {"lastStartReturnedS", "last start() returned (s)", ""});
        rows.add(new String[] {"startCallMedianS", "one start() call, median over workers (s)", ""});
        rows.add(new String[] {"firstLeaderS", "first leader elected: its cold-start window counts from here (s)", ""});
        rows.add(new String[] {"coldStartWindowOpenedS", "leader's first round saw the cold start (s)", ""});
        rows.add(new String[] {"firstPublishS", "first assignment published (s)", ""});
        rows.add(new String[] {"publicationsUntilConverged", "assignments published until converged", ""});
        rows.add(new String[] {"distinctLeadersUntilConverged", "distinct leaders until converged", ""});
        rows.add(new String[] {"staleLeasesUntilConverged", "stale leases (self-fencing) until converged", ""});
        rows.add(new String[] {"gcMsUntilConverged", "GC time of the workers' JVM until converged (ms)", ""});
        for (String b : BUCKETS) {
            rows.add(new String[] {"serverWritesPerSec." + b, "KV writes/s at rest: " + b, ""});
        }
        rows.add(new String[] {"serverWritesPerSec.total", "**KV writes/s at rest: total**", "≤ " + Bench.fmt(writesTarget)});
        Set<String> kinds = new TreeSet<>();
        for (Map<String, Object> r : runs) {
            for (String k : r.keySet()) {
                if (k.startsWith("clientOpsPerSec.") && !k.equals("clientOpsPerSec.total")) {
                    kinds.add(k);
                }
            }
        }
        for (String k : kinds) {
            rows.add(new String[] {k, "client KV ops/s at rest: " + k.substring("clientOpsPerSec.".length()), ""});
        }
        rows.add(new String[] {"clientOpsPerSec.total", "client KV ops/s at rest: total", ""});
        rows.add(new String[] {"clientOpsFailed", "client KV ops failed at rest", ""});
        rows.add(new String[] {"natsInMsgsPerSec", "nats-server messages in/s at rest", ""});
        rows.add(new String[] {"natsOutMsgsPerSec", "nats-server messages out/s at rest", ""});
        rows.add(new String[] {"natsServerCpuPct", "nats-server CPU at rest (% of a core)", ""});
        rows.add(new String[] {"jvmCpuPct", "workers' JVM CPU at rest (% of a core)", ""});
        rows.add(new String[] {"allocatedMBPerSecAtRest", "workers' heap allocation at rest (MB/s)", ""});
        rows.add(new String[] {"heapPerWorkerMB", "heap per worker (MB)", ""});
        rows.add(new String[] {"rssPerWorkerMB", "resident memory per worker (MB)", ""});
        rows.add(new String[] {"threadsPerWorker", "threads per worker", ""});
        rows.add(new String[] {"assignmentRecordBytes", "largest value in the assignment bucket (bytes)", ""});
        rows.add(new String[] {"assignmentInlineBytes", "assignment record in format 1, whole (bytes)", ""});
        rows.add(new String[] {"assignmentCurrentBytes", "value of key current: the record, or its manifest (bytes)", ""});
        rows.add(new String[] {"assignmentPieces", "pieces of the chunked record", ""});
        rows.add(new String[] {"assignmentPieceBytesMedian", "piece size, median (bytes)", ""});
        rows.add(new String[] {"assignmentPieceBytesMax", "piece size, max (bytes)", "≤ max payload − 256"});
        rows.add(new String[] {"assignmentStreamBytes", "bytes stored in the assignment stream", ""});
        rows.add(new String[] {"perWorkerReadBytesMedian", "bytes one worker reads per version, median", ""});
        rows.add(new String[] {"perWorkerReadBytesMax", "bytes one worker reads per version, max", ""});
        rows.add(new String[] {"perWorkerFetchAndDecodeMsMedian", "one worker: fetch (KV) + decode its line, median (ms)", ""});
        rows.add(new String[] {"perWorkerDecodeUsMedian", "one worker: decode its line, pieces in memory, median (µs)", ""});
        rows.add(new String[] {"perWorkerDecodeOfWholeInlineRecordUsMedian", "same line from the whole record inline, median (µs)", ""});
        rows.add(new String[] {"closeS", "close() of all workers (s)", ""});
        rows.add(new String[] {"threadsBefore", "live threads before the workers", ""});
        rows.add(new String[] {"threadsAfterClose", "live threads after close", ""});

        StringBuilder b = new StringBuilder();
        b.append("### b6: ").append(workers).append(" workers × ").append(partitions)
                .append(" partitions, core only (median [min-max] over repeats)\n\n");
        b.append("| metric | value | target |\n|---|---|---|\n");
        for (String[] row : rows) {
            b.append("| ").append(row[1]).append(" | ").append(Bench.cell(runs, row[0])).append(" | ").append(row[2]).append(" |\n");
        }
        long stable = runs.stream().filter(r -> Boolean.TRUE.equals(r.get("stableDuringRest"))).count();
        b.append("\nOne leader and one assignment version throughout the rest interval in ").append(stable).append(" of ")
                .append(runs.size()).append(" repeats; lost callbacks: ")
                .append(runs.stream().map(r -> String.valueOf(r.getOrDefault("lostCallbacks", "-"))).toList()).append(".\n");
        for (Map<String, Object> r : runs) {
            if (r.containsKey("error")) {
                b.append("\nRepeat ").append(r.get("repeat")).append(" failed: ").append(r.get("error")).append('\n');
            }
        }
        var os = ManagementFactory.getOperatingSystemMXBean();
        long ramBytes = os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getTotalMemorySize() : -1;
        b.append("\nMachine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
                .append(ramBytes > 0 ? String.format(Locale.ROOT, "%.0f GB RAM, ", ramBytes / MB / 1024) : "")
                .append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch"))
                .append(", Java ").append(System.getProperty("java.version"))
                .append(", nats-server ").append(runs.isEmpty() ? "-" : runs.get(0).getOrDefault("natsServerVersion", "-"))
                .append("; load average (1 min, 5 min) ").append(loadStart).append(" at start, ").append(loadEnd)
                .append(" at end.\n");
        b.append("\nCommand: `java ").append(String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()))
                .append(" dev.parti.benchmarks.scenario.CoreScaleBench --repeats ").append(runs.size())
                .append(" --workers ").append(workers).append(" --partitions ").append(partitions)
                .append(" --rest-seconds ").append(restSeconds)
                .append(processes > 0 ? " --processes " + processes : "").append("`\n");
        return b.toString();
    }

    // ------------------------------------------------------------------ helpers

    private static void putIfSet(Map<String, Object> m, String key, long nanos, long t0) {
        if (nanos != 0) {
            m.put(key, seconds(nanos - t0));
        }
    }

    static double seconds(long nanos) {
        return round(nanos / 1e9);
    }

    static double round(double d) {
        return Math.round(d * 1000) / 1000.0;
    }

    private static java.util.concurrent.ThreadFactory namedDaemon(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    private static void say(String s) {
        System.out.println(s);
        System.out.flush();
    }
}
