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
 * Scenario benchmarks B2 (scale-out 3 -> 4), B3 (kill -9 of 1 of 4 child JVMs), B4 (graceful close of 1 of 4,
 * and a rolling restart of all 4) and B5 (poll throughput) on one Kafka broker and one nats-server,
 * PartiConsumer against KafkaConsumer's three group protocols in the same run. Usage: {@code scripts/bench
 * [b2] [b3] [b4] [b4c] [b4l] [b4r] [b5] [--repeats N] [--impls parti,parti-pod,eager,coop,consumer] [--out DIR]
 * [--b5-records N]}; {@code b4} is {@code b4c b4l b4r}:
 * <ul>
 *   <li>{@code b4c}: {@code w2} of 4 calls {@code close()} (output files {@code b4-*}); records which worker
 *   was Parti's leader.</li>
 *   <li>{@code b4l}: PartiConsumer only: the worker that is Parti's leader calls {@code close()} (for Kafka it
 *   would be {@code b4c} again: no client-side leader whose departure differs).</li>
 *   <li>{@code b4r}: rolling restart of the 4, each implementation without and with {@code group.instance.id}
 *   (PartiConsumer static: {@code close(REMAIN_IN_GROUP)}).</li>
 * </ul>
 * Writes JSON per run, an SVG timeline per scenario and summary.md to the output directory (default
 * benchmarks/target/bench).
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
    /** With {@code --impls parti-pod}: a nats-server whose account imports its client DISCONNECT events. */
    private NatsServer natsPod;
    private KafkaBroker kafka;
    private int seq;
    /** scenario -> column (variant label) -> runs (metrics). */
    private final Map<String, Map<String, List<Map<String, Object>>>> results = new LinkedHashMap<>();
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
        List<Impl> impls = Impl.COMPARED;
        int b5Records = 8_000_000; // a drain of a few seconds: 400 000 records took 0.09 s
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--b5-records" -> b5Records = Integer.parseInt(args[++i]);
                case "--kafka-session-ms" -> System.setProperty("bench.kafka.session.ms", args[++i]);
                case "--impls" -> impls = Arrays.stream(args[++i].split(",")).map(Impl::of).toList();
                case "b2", "b3", "b5" -> scenarios.add(args[i]);
                case "b4" -> scenarios.addAll(List.of("b4", "b4l", "b4r"));
                case "b4c" -> scenarios.add("b4"); // the single close keeps its output names b4-*
                case "b3l", "b4l", "b4r", "mig", "migstatic", "migcoop", "migsurge", "migback" -> scenarios.add(args[i]);
                default -> {
                    System.err.println("Usage: scripts/bench [b2] [b3] [b3l] [b4] [b4c] [b4l] [b4r] [b5] [mig] [migstatic] [migcoop] [migsurge] [migback] [--repeats N] "
                            + "[--impls parti,parti-pod,eager,coop,consumer] [--b5-records N] [--kafka-session-ms MS] [--out DIR]\n"
                            + "  b3l: kill -9 of Parti's leader of 4 (PartiConsumer only: parti, parti-pod); b4 = b4c b4l b4r; b4c: w2 of 4 closes; b4l: Parti's leader of 4 closes (PartiConsumer only); "
                            + "b4r: rolling restart of 4, without and with group.instance.id; mig: online migration of 4 "
                            + "classic KafkaConsumers, one at a time, to PartiConsumer (parti) and to group.protocol=consumer (consumer); "
                            + "migstatic: mig with static members, each new one taking over a stopped old one's group.instance.id; "
                            + "migcoop: mig with both old fleets on CooperativeStickyAssignor (no migration step 1 on Parti's side); "
                            + "migsurge: mig with a deployment's readiness instead of balance between start and stop, the "
                            + "PartiConsumers deferring their Kafka join (parti.migration.join.wait.ms); "
                            + "migback: the way back, 4 PartiConsumers to classic KafkaConsumers (parti) beside KIP-848's "
                            + "downgrade, 4 group.protocol=consumer members to classic ones (consumer)");
                    System.exit(2);
                }
            }
        }
        if (scenarios.isEmpty()) {
            scenarios = List.of("b2", "b3", "b4", "b4l", "b4r", "b5");
        }
        scenarios = scenarios.stream().distinct().toList();
        Files.createDirectories(out);
        Bench bench = new Bench(out, repeats, impls, b5Records);
        int rc = bench.run(scenarios);
        System.exit(rc);
    }

    int run(List<String> scenarios) throws Exception {
        say("load average at start: " + loadAverage() + "; Kafka session timeout " + BenchWorker.kafkaSessionMs() + " ms");
        String loadStart = loadAverage();
        nats = NatsServer.start();
        if (impls.contains(Impl.PARTI_POD)) {
            natsPod = NatsServer.builder().config(NatsServer.disconnectEventsConfig(BenchWorker.POD_ACCOUNT, "bench",
                    "bench-pw", true)).start();
        }
        kafka = KafkaBroker.builder()
                .property("group.consumer.min.session.timeout.ms", "1000")
                .property("group.consumer.session.timeout.ms", Integer.toString(BenchWorker.kafkaSessionMs()))
                // KIP-848's online upgrade of a classic group (mig); explicit rather than the broker's default
                .property("group.consumer.migration.policy", "bidirectional")
                .jvmArgs("-Xmx768m", "-XX:TieredStopAtLevel=4")
                .start();
        say("nats " + nats.url() + ", kafka " + kafka.bootstrapServers());
        try {
            for (int r = 1; r <= repeats; r++) {
                for (String s : scenarios) {
                    if (s.equals("b5")) {
                        continue;
                    }
                    for (Variant v : variants(s)) {
                        Map<String, Object> m;
                        try {
                            m = switch (s) {
                                case "b2" -> scaleOut(v.impl(), r);
                                case "b3" -> crash(v.impl(), r, false);
                                case "b3l" -> crash(v.impl(), r, true);
                                case "b4" -> gracefulClose(v.impl(), r, false);
                                case "b4l" -> gracefulClose(v.impl(), r, true);
                                case "b4r" -> rollingRestart(v, r);
                                case "mig" -> onlineMigration(v.impl(), r, false, false);
                                case "migsurge" -> onlineMigration(v.impl(), r, false, false, true);
                                case "migstatic" -> onlineMigration(v.impl(), r, true, false);
                                case "migcoop" -> onlineMigration(v.impl(), r, false, true);
                                case "migback" -> onlineRollback(v.impl(), r);
                                default -> throw new IllegalArgumentException(s);
                            };
                        } catch (Exception e) {
                            e.printStackTrace();
                            m = new LinkedHashMap<>(Map.of("error", e.toString()));
                        }
                        m.put("kafkaSessionMs", BenchWorker.kafkaSessionMs());
                        m.put("scenario", s);
                        m.put("impl", v.impl().id);
                        m.put("variant", v.id());
                        m.put("repeat", r);
                        m.put("loadAverage", loadAverage());
                        String label = s.equals("mig") || s.equals("migstatic") || s.equals("migcoop") || s.equals("migsurge")
                                ? migrationLabel(v.impl(), s.equals("migcoop")) + (v.staticMember() ? ", static" : "")
                                        + (s.equals("migsurge") ? (v.impl() == Impl.PARTI ? ", join deferred" : "")
                                                + ", stop once quiet 2 s" : "")
                                : s.equals("migback") ? rollbackLabel(v.impl()) : v.label();
                        results.computeIfAbsent(s, k -> new LinkedHashMap<>()).computeIfAbsent(label, k -> new ArrayList<>()).add(m);
                        Files.writeString(out.resolve(s + "-" + v.id() + "-" + r + ".json"), Json.write(m));
                        say(s + " " + v.id() + " #" + r + ": " + m);
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
            if (natsPod != null) {
                natsPod.close();
            }
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
            case "b3l" -> "B3 kill -9 of Parti's leader of 4 consumers (first repeat; red = no owner)";
            case "b4" -> "B4 graceful close() of w2 of 4 consumers (first repeat; red = no owner)";
            case "b4l" -> "B4 graceful close() of Parti's leader of 4 consumers (first repeat; red = no owner)";
            case "b4r" -> "B4 rolling restart of 4 consumers: close wi, start wi again, wait balanced (first repeat; red = no owner)";
            case "mig" -> "Online migration of 4 classic KafkaConsumers, one at a time: start ni, wait balanced, stop wi (first repeat; red = no owner)";
            case "migstatic" -> "Online migration of 4 static classic KafkaConsumers, one at a time: stop wi, start ni under its group.instance.id, wait balanced (first repeat; red = no owner)";
            case "migcoop" -> "Online migration of 4 classic KafkaConsumers on CooperativeStickyAssignor (both sides), one at a time: start ni, wait balanced, stop wi (first repeat; red = no owner)";
            case "migsurge" -> "Online migration of 4 classic KafkaConsumers, one at a time: start ni, wait until quiet 2 s, stop wi; PartiConsumers defer their Kafka join (first repeat; red = no owner)";
            case "migback" -> "The way back: 4 PartiConsumers (or consumer-protocol members) to classic KafkaConsumers, one at a time (first repeat; red = no owner)";
            default -> scenario;
        };
    }

    /** One column of a scenario: an implementation, with or without static membership ({@code group.instance.id}). */
    record Variant(Impl impl, boolean staticMember) {
        String id() {
            return impl.id + (staticMember ? "-static" : "");
        }

        String label() {
            if (!staticMember) {
                return impl.label;
            }
            return impl == Impl.PARTI ? "PartiConsumer group.instance.id + close(REMAIN_IN_GROUP)" : impl.label + " + group.instance.id";
        }
    }

    private List<Variant> variants(String scenario) {
        List<Variant> v = new ArrayList<>();
        for (Impl i : impls) {
            switch (scenario) {
                case "b4l" -> {
                    if (i == Impl.PARTI) {
                        v.add(new Variant(i, false));
                    }
                }
                case "b3l" -> {
                    if (i == Impl.PARTI || i == Impl.PARTI_POD) {
                        v.add(new Variant(i, false));
                    }
                }
                case "b4r" -> {
                    v.add(new Variant(i, false));
                    v.add(new Variant(i, true));
                }
                case "mig", "migstatic", "migcoop", "migsurge", "migback" -> {
                    // mig: the destinations, Parti and KIP-848's consumer protocol; migback: where the way back starts
                    if (i == Impl.PARTI || i == Impl.CONSUMER) {
                        v.add(new Variant(i, scenario.equals("migstatic")));
                    }
                }
                default -> v.add(new Variant(i, false));
            }
        }
        return v;
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

    /**
     * B3: {@code kill -9} of {@code w2}, or with {@code killLeader} ({@code b3l}, PartiConsumer only) of the consumer
     * that is Parti's leader, found from the children's logs once the group is balanced.
     */
    private Map<String, Object> crash(Impl impl, int repeat, boolean killLeader) throws Exception {
        String scenario = killLeader ? "b3l" : "b3";
        Run run = new Run(scenario, impl, repeat);
        List<WorkerProcess> procs = new ArrayList<>();
        try (OwnershipLog parentLog = OwnershipLog.inDirectory(run.ownDir)) {
            run.startProducer();
            for (int i = 1; i <= 4; i++) {
                procs.add(run.process("w" + i));
            }
            if (!run.awaitStable(4, Duration.ofSeconds(120))) {
                throw new IllegalStateException("4 consumers not balanced within 120 s");
            }
            int victimIndex = 1;
            if (killLeader) {
                List<Integer> leading = new ArrayList<>();
                for (int i = 0; i < procs.size(); i++) {
                    if (ledParti(procs.get(i))) {
                        leading.add(i);
                    }
                }
                if (leading.size() != 1) {
                    throw new IllegalStateException("not exactly one Parti leader among the consumers: " + leading);
                }
                victimIndex = leading.get(0);
            }
            String victim = "w" + (victimIndex + 1);
            WorkerProcess victimProc = procs.get(victimIndex);
            List<Integer> victimParts = Runs.partitionsOwnedBy(Runs.ownership(run.ownDir), victim, System.nanoTime());
            long tKill = System.nanoTime();
            victimProc.kill();
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
            m.put("victim", victim);
            m.put("victimPartitions", victimParts.size());
            long again = Runs.allConsumedAgain(batches, victimParts, victim, tKill);
            m.put("consumedAgainS", again < 0 ? null : (again - tKill) / 1e9);
            m.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, tKill, end));
            m.put("duplicates", Runs.duplicates(batches, tKill, end));
            m.put("overlaps", Runs.overlaps(ev, parts, tKill, end));
            m.put("windowS", (end - tKill) / 1e9);
            if (impl == Impl.PARTI_POD || impl == Impl.PARTI) {
                // a killed leader is replaced by a follower's proof (parti-pod) or by election after its lease (parti)
                m.put("victimLedParti", ledParti(victimProc));
            }
            if (repeat == 1) {
                panels.computeIfAbsent(scenario, k -> new ArrayList<>()).add(new Timeline.Panel(impl.label, ev, run.topic,
                        PARTITIONS, tKill - 3 * SECOND, end, Map.of("kill -9 " + victim, tKill)));
            }
            return m;
        } finally {
            for (WorkerProcess p : procs) {
                p.stop(Duration.ofSeconds(15));
                if (impl == Impl.PARTI_POD) { // kept beside the run's ownership log: what the leader made of the kill
                    Files.writeString(run.ownDir.resolveSibling(p.name() + ".log"), p.logTail(400));
                }
                p.close();
            }
            run.close();
        }
    }

    /** Whether a PartiConsumer child leads now by its log: its last "is leader of group" line after its last step-down. */
    private static boolean ledParti(WorkerProcess p) {
        String log = p.logTail(2000);
        return log.lastIndexOf(" is leader of group ") > log.lastIndexOf(" steps down as leader of group ");
    }

    // ------------------------------------------------------------------ B4: one graceful close

    /**
     * 4 balanced consumers, one calls {@code close()}: {@code w2}, or with {@code closeLeader} (PartiConsumer) the
     * worker that is Parti's leader. Records which worker was Parti's leader at the close and at the end.
     */
    private Map<String, Object> gracefulClose(Impl impl, int repeat, boolean closeLeader) throws Exception {
        String scenario = closeLeader ? "b4l" : "b4";
        Run run = new Run(scenario, impl, repeat);
        List<BenchWorker> workers = new ArrayList<>();
        try {
            run.startProducer();
            for (int i = 1; i <= 4; i++) {
                workers.add(run.thread("w" + i).start());
            }
            if (!run.awaitStable(4, Duration.ofSeconds(90))) {
                throw new IllegalStateException("4 consumers not balanced within 90 s");
            }
            String leader = partiLeader(workers);
            String victim = closeLeader && leader != null && !leader.contains(",") ? leader : "w2";
            List<Integer> victimParts = Runs.partitionsOwnedBy(Runs.ownership(run.ownDir), victim, System.nanoTime());
            long tClose = System.nanoTime();
            workers.get(Integer.parseInt(victim.substring(1)) - 1).stop(Duration.ofSeconds(30));
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
            m.put("victim", victim);
            if (impl == Impl.PARTI) {
                m.put("partiLeader", leader); // at the close; null if none was found
                m.put("partiLeaderWasVictim", victim.equals(leader));
                m.put("partiLeaderAtEnd", partiLeader(workers));
            }
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
                String title = impl.label + (impl == Impl.PARTI ? " (leader " + leader + ")" : "");
                panels.computeIfAbsent(scenario, k -> new ArrayList<>()).add(new Timeline.Panel(title, ev, run.topic,
                        PARTITIONS, tClose - 3 * SECOND, end, Map.of(victim + ".close()", tClose)));
            }
            return m;
        } finally {
            for (BenchWorker w : workers) {
                w.stop(Duration.ofSeconds(15));
            }
            run.close();
        }
    }

    /** The names of the workers that are Parti's leader now (comma-separated if several), or null. */
    private static String partiLeader(List<BenchWorker> workers) {
        List<String> l = workers.stream().filter(BenchWorker::isPartiLeader).map(BenchWorker::name).toList();
        return l.isEmpty() ? null : String.join(",", l);
    }

    // ------------------------------------------------------------------ B4: rolling restart of 4

    /** Seconds from {@code from} to {@code to}, null when {@code to} was never reached (0). */
    private static Double since(long from, long to) {
        return to == 0 ? null : (to - from) / 1e9;
    }

    /** After the last restart the sequence runs at least this long: past Parti's 6 s and Kafka's 10 s session. */
    static final long ROLL_TAIL = 12 * SECOND;

    /**
     * 4 balanced consumers; for w1..w4 in turn: {@code close()}, start a new consumer with the same name (and the
     * same {@code group.instance.id} for a static variant) at once, wait until balanced (12 each) and no
     * ownership change for 2 s. The sequence ends when the 4th restart is balanced and quiet, and no earlier
     * than {@link #ROLL_TAIL} after its close (so a late reaction to the old instance's session expiry is seen).
     */
    private Map<String, Object> rollingRestart(Variant v, int repeat) throws Exception {
        Run run = new Run("b4r", v, repeat);
        List<BenchWorker> workers = new ArrayList<>();
        List<BenchWorker> all = new ArrayList<>();
        try {
            run.startProducer();
            for (int i = 1; i <= 4; i++) {
                workers.add(run.thread("w" + i).start());
            }
            all.addAll(workers);
            if (!run.awaitStable(4, Duration.ofSeconds(90))) {
                throw new IllegalStateException("4 consumers not balanced within 90 s");
            }
            long t0 = System.nanoTime();
            List<Runs.Close> closes = new ArrayList<>();
            List<Long> stepEnds = new ArrayList<>();
            List<String> leaders = new ArrayList<>();
            List<Boolean> stepOk = new ArrayList<>();
            Map<String, Long> marks = new LinkedHashMap<>();
            List<BenchWorker> returned = new ArrayList<>();
            List<Long> closeWallMs = new ArrayList<>();
            for (int i = 1; i <= 4; i++) {
                String name = "w" + i;
                leaders.add(partiLeader(workers));
                long tClose = System.nanoTime();
                closeWallMs.add(System.currentTimeMillis());
                workers.get(i - 1).stop(Duration.ofSeconds(40));
                long closed = System.nanoTime();
                BenchWorker again = run.thread(name).instance(2).start();
                workers.set(i - 1, again);
                returned.add(again);
                all.add(again);
                closes.add(new Runs.Close(name, tClose, closed));
                marks.put(name + " close", tClose);
                boolean ok = waitUntil(Duration.ofSeconds(90), () -> run.stableFor(4, 2 * SECOND));
                if (i == 4) {
                    sleep(Duration.ofNanos(Math.max(0, ROLL_TAIL - (System.nanoTime() - tClose))));
                    ok = waitUntil(Duration.ofSeconds(60), () -> run.stableFor(4, 2 * SECOND));
                }
                stepOk.add(ok);
                stepEnds.add(System.nanoTime());
                say("b4r " + v.id() + " #" + repeat + ": " + name + " restarted, balanced " + ok + " after "
                        + String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - tClose) / 1e9));
            }
            long end = System.nanoTime();
            String leaderAtEnd = partiLeader(workers);
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            List<Runs.Batch> batches = Runs.consumed(run.consumedDir);
            Set<String> parts = Runs.partitionNames(run.topic, PARTITIONS);
            long half = SECOND / 2;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("balanced", !stepOk.contains(false));
            rollingFigures(m, ev, batches, parts, t0, end, closes);
            m.put("acquisitions", Runs.acquisitions(ev, t0, end));
            double balancedAgain = 0;
            List<Map<String, Object>> steps = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Runs.Close c = closes.get(i);
                long stepEnd = stepEnds.get(i);
                Map<String, Object> st = new LinkedHashMap<>();
                st.put("worker", c.worker());
                // the returning consumer's join path, from the close() call of its predecessor (issue 19)
                BenchWorker j = returned.get(i);
                st.put("joinRunS", since(c.from(), j.runNanos));
                st.put("joinSubscribedS", since(c.from(), j.subscribedNanos));
                st.put("joinAssignedS", since(c.from(), j.firstAssignedNanos));
                st.put("joinFirstRecordS", since(c.from(), j.firstRecordNanos));
                say(String.format(Locale.ROOT, "[measure] b4r %s #%d %s: close() took %.3f s; since close() began: new consumer subscribed "
                        + "%s s, onPartitionsAssigned %s s, first record %s s (close() began at wall clock %d ms)", v.id(), repeat,
                        c.worker(), (c.to() - c.from()) / 1e9, st.get("joinSubscribedS"), st.get("joinAssignedS"),
                        st.get("joinFirstRecordS"), closeWallMs.get(i)));
                st.put("balanced", stepOk.get(i));
                if (v.impl() == Impl.PARTI) {
                    st.put("partiLeader", leaders.get(i));
                }
                st.put("closeCallS", (c.to() - c.from()) / 1e9);
                long since = Runs.balancedSince(ev, c.from(), stepEnd, PARTITIONS, 4);
                st.put("balancedAgainS", since < 0 ? null : (since - c.from()) / 1e9);
                if (since >= 0) {
                    balancedAgain += (since - c.from()) / 1e9;
                }
                st.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, c.from(), stepEnd));
                st.put("rounds", Runs.rounds(ev, c.from(), stepEnd, half));
                st.put("rebalanceRounds", Runs.rebalanceRounds(ev, c.from(), stepEnd, half, closes));
                st.put("handovers", Runs.handovers(ev, c.from(), stepEnd));
                st.put("acquisitions", Runs.acquisitions(ev, c.from(), stepEnd));
                steps.add(st);
            }
            m.put("sumBalancedAgainS", balancedAgain);
            if (v.impl() == Impl.PARTI) {
                m.put("restartedLeader", (int) java.util.stream.IntStream.range(0, 4)
                        .filter(i -> ("w" + (i + 1)).equals(leaders.get(i))).count());
                m.put("partiLeaders", leaders);
                m.put("partiLeaderAtEnd", leaderAtEnd);
            }
            if (v.impl() == Impl.PARTI && v.staticMember()) {
                m.put("targetMovedNothing", (int) m.get("moved") == 0 && (int) m.get("handovers") == 0);
                m.put("targetAtMostOneRebalancePerRestart", (int) m.get("rebalanceRounds") <= 4);
            }
            m.put("steps", steps);
            if (repeat == 1) {
                panels.computeIfAbsent("b4r", k -> new ArrayList<>()).add(new Timeline.Panel(v.label(), ev, run.topic,
                        PARTITIONS, t0 - 3 * SECOND, end, marks));
            }
            return m;
        } finally {
            for (BenchWorker w : all) {
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
        // warm-up, not measured: one drain of the whole topic with each consumer, so the measured pairs run with a warm JIT
        for (String kind : List.of("kafka-assign", "parti")) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("scenario", "b5");
            m.put("impl", kind);
            m.put("warmup", true);
            try {
                m.putAll(drain(kind, topic, 0));
            } catch (Exception e) {
                e.printStackTrace();
                m.put("error", e.toString());
            }
            m.put("loadAverage", loadAverage());
            Files.writeString(out.resolve("b5-" + kind + "-warmup.json"), Json.write(m));
            say("b5 warm-up " + kind + " (not measured): " + m);
        }
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
                        .computeIfAbsent(kind.equals("parti") ? "PartiConsumer" : "KafkaConsumer assign()", k -> new ArrayList<>()).add(m);
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

    // ------------------------------------------------------------------ mig: online migration, one member at a time

    /** The column of a migration run: from the old fleet to {@code to}. */
    private static String migrationLabel(Impl to, boolean fromCoop) {
        return to == Impl.PARTI
                ? "classic " + (fromCoop ? "CooperativeStickyAssignor" : "PartiAssignor") + " -> PartiConsumer parti.migration=kafka-to-parti"
                : "classic CooperativeStickyAssignor -> group.protocol=consumer (KIP-848 online upgrade)";
    }

    /**
     * Issue 16's benchmark: a live group of 4 classic {@code KafkaConsumer}s under load moved, one member at a time,
     * to Parti ({@code to = PARTI}: the old fleet runs PartiAssignor, the new members are PartiConsumers with
     * {@code parti.migration=kafka-to-parti}) or to Kafka's consumer protocol ({@code to = CONSUMER}: the old fleet
     * runs CooperativeStickyAssignor, the new members {@code group.protocol=consumer}, KIP-848's online upgrade).
     * For i = 1..4: start {@code ni}, wait until 5 members are balanced and quiet for 2 s, stop {@code wi}, wait
     * until 4 are balanced and quiet for 2 s. Both sides roll the same way; the new member starts first, as a
     * deployment with a surge instance does. Figures: partition-seconds without an owner, ownership-change rounds
     * (per swap), records processed twice, overlaps, and per swap the time to balanced after the start and
     * after the stop; the last swap of the Parti side includes its switch from Kafka to Parti. With {@code staticSwap}
     * the members are static and each swap stops {@code wi} first (a static member's close does not leave the group),
     * then starts {@code ni} under {@code wi}'s {@code group.instance.id}, and waits until 4 are balanced.
     */
    private Map<String, Object> onlineMigration(Impl to, int repeat, boolean staticSwap, boolean fromCoop) throws Exception {
        return onlineMigration(to, repeat, staticSwap, fromCoop, false);
    }

    /**
     * {@link #onlineMigration(Impl, int, boolean, boolean)}; with {@code surge} ({@code migsurge}) each swap waits after
     * the start only as a deployment waits for readiness (the new member up and the group's ownership quiet for 2 s,
     * whoever owns what), and the PartiConsumers defer their Kafka join ({@link Impl#PARTI_MIGRATING_SURGE}): they
     * enter the rebalance of the stopped member's leave.
     */
    private Map<String, Object> onlineMigration(Impl to, int repeat, boolean staticSwap, boolean fromCoop, boolean surge)
            throws Exception {
        Impl from = to == Impl.PARTI && !fromCoop ? Impl.CLASSIC_PARTI : Impl.COOP;
        Impl joining = to != Impl.PARTI ? Impl.CONSUMER : fromCoop ? Impl.PARTI_MIGRATING_COOP
                : surge ? Impl.PARTI_MIGRATING_SURGE : Impl.PARTI_MIGRATING;
        String scenario = staticSwap ? "migstatic" : fromCoop ? "migcoop" : surge ? "migsurge" : "mig";
        Run run = new Run(scenario, new Variant(to, staticSwap), repeat);
        List<BenchWorker> all = new ArrayList<>();
        try {
            run.startProducer();
            List<BenchWorker> old = startFleet(run, "w", from, all);
            long t0 = System.nanoTime();
            Map<String, Long> marks = new LinkedHashMap<>();
            String label = scenario + " " + to.id + " #" + repeat;
            Rolled rolled = staticSwap ? rollStatic(run, old, "n", joining, all, marks, label)
                    : roll(run, old, "n", joining, all, marks, label, surge);
            // the end state: Parti runs the group alone (the switch follows the last stop), or the broker runs it
            // with the consumer protocol; the figures include the way there
            long lastStop = rolled.swaps().get(3).stop();
            boolean ended = waitUntil(Duration.ofSeconds(90), () -> to == Impl.PARTI ? kafkaMembers(run.group) == 0
                    : consumerProtocolGroup(run.group));
            long tEnded = System.nanoTime();
            ended &= waitUntil(Duration.ofSeconds(60), () -> run.stableFor(4, 2 * SECOND));
            long end = System.nanoTime();
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            Map<String, Object> m = rollFigures(run, ev, t0, end, List.of(rolled), label);
            m.put("endState", ended);
            m.put("endStateAfterLastStopS", (tEnded - lastStop) / 1e9);
            long balancedAtEnd = Runs.balancedSince(ev, tEnded, end, PARTITIONS, 4);
            m.put("balancedAfterLastStopS", balancedAtEnd < 0 ? null : (balancedAtEnd - lastStop) / 1e9);
            m.put("kafkaMembersAtEnd", kafkaMembers(run.group));
            m.put("endsOnConsumerProtocol", to == Impl.CONSUMER ? consumerProtocolGroup(run.group) : null);
            firstRepeatPanel(scenario, migrationLabel(to, fromCoop), repeat, ev, run, t0, end, marks);
            return m;
        } finally {
            stopAll(all, run);
        }
    }

    private static String rollbackLabel(Impl from) {
        return from == Impl.PARTI
                ? "PartiConsumer -> parti.migration=parti-to-kafka -> classic PartiAssignor (two rolling deployments)"
                : "group.protocol=consumer -> classic CooperativeStickyAssignor (KIP-848 downgrade)";
    }

    /**
     * The way back, beside KIP-848's: a group of 4 PartiConsumers under load moved, one member at a time, to plain
     * classic {@code KafkaConsumer}s with PartiAssignor ({@code from = PARTI}, the migration guide's rolling rollback:
     * a first rolling deployment of PartiConsumers with {@code parti.migration=parti-to-kafka}, after whose last stop the
     * group switches to Kafka by itself, then a second one to KafkaConsumers), or a group of 4 {@code
     * group.protocol=consumer} members moved to classic CooperativeStickyAssignor members ({@code from = CONSUMER}:
     * KIP-848's downgrade, one rolling deployment; the broker converts the group once no consumer-protocol member is
     * left). Same roll as {@link #onlineMigration}: start the new member, wait until 5 are balanced and quiet for 2 s,
     * stop the old one, wait until 4 are. Figures over the whole way, per deployment, and per swap.
     */
    private Map<String, Object> onlineRollback(Impl from, int repeat) throws Exception {
        String label = "migback " + from.id + " #" + repeat;
        Run run = new Run("migback", from, repeat);
        List<BenchWorker> all = new ArrayList<>();
        try {
            run.startProducer();
            List<BenchWorker> old = startFleet(run, "w", from, all);
            long t0 = System.nanoTime();
            Map<String, Long> marks = new LinkedHashMap<>();
            List<Rolled> deployments = new ArrayList<>();
            Long switched = null;
            if (from == Impl.PARTI) {
                Rolled first = roll(run, old, "r", Impl.PARTI_ROLLBACK, all, marks, label);
                deployments.add(first);
                // the switch: after the last plain PartiConsumer stopped, every member joins the Kafka group and Parti's
                // assignment is taken over; the guide's condition for the second deployment
                long lastStop = first.swaps().get(3).stop();
                boolean inKafka = waitUntil(Duration.ofSeconds(90), () -> kafkaMembers(run.group) == 4
                        && kafkaAssigned(run.group) == PARTITIONS) && waitUntil(Duration.ofSeconds(60), () -> run.stableFor(4, 2 * SECOND));
                switched = System.nanoTime() - lastStop;
                if (!inKafka) {
                    throw new IllegalStateException("the rollback switch did not complete within 150 s");
                }
                deployments.add(roll(run, first.workers(), "k", Impl.CLASSIC_PARTI, all, marks, label));
            } else {
                deployments.add(roll(run, old, "k", Impl.COOP, all, marks, label));
            }
            long lastStop = deployments.get(deployments.size() - 1).swaps().get(3).stop();
            boolean ended = waitUntil(Duration.ofSeconds(90), () -> kafkaMembers(run.group) == 4 && !consumerProtocolGroup(run.group));
            long tEnded = System.nanoTime();
            ended &= waitUntil(Duration.ofSeconds(60), () -> run.stableFor(4, 2 * SECOND));
            long end = System.nanoTime();
            List<OwnershipEvent> ev = Runs.ownership(run.ownDir);
            Map<String, Object> m = rollFigures(run, ev, t0, end, deployments, label);
            m.put("endState", ended);
            m.put("endStateAfterLastStopS", (tEnded - lastStop) / 1e9);
            m.put("switchS", switched == null ? null : switched / 1e9);
            m.put("deployments", deployments.size());
            m.put("kafkaMembersAtEnd", kafkaMembers(run.group));
            m.put("endsOnClassicProtocol", !consumerProtocolGroup(run.group));
            firstRepeatPanel("migback", rollbackLabel(from), repeat, ev, run, t0, end, marks);
            return m;
        } finally {
            stopAll(all, run);
        }
    }

    /**
     * The figures of a rolling scenario (b4r, the migrations) over [t0, end]: partition-seconds without an owner,
     * ownership-change rounds with and without the releases inside a stopping member's close, partitions moved,
     * handovers, records processed twice, overlaps, and the whole time.
     */
    private static void rollingFigures(Map<String, Object> m, List<OwnershipEvent> ev, List<Runs.Batch> batches,
                                       Set<String> parts, long t0, long end, List<Runs.Close> closes) {
        long half = SECOND / 2;
        m.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, t0, end));
        m.put("rounds", Runs.rounds(ev, t0, end, half));
        m.put("rebalanceRounds", Runs.rebalanceRounds(ev, t0, end, half, closes));
        m.put("moved", Runs.moved(ev, t0, end));
        m.put("handovers", Runs.handovers(ev, t0, end));
        m.put("duplicates", Runs.duplicates(batches, t0, end));
        m.put("overlaps", Runs.overlaps(ev, parts, t0, end));
        m.put("totalS", (end - t0) / 1e9);
    }

    /** The timeline panel of a migration scenario's first repeat, from 3 s before {@code t0}. */
    private void firstRepeatPanel(String scenario, String label, int repeat, List<OwnershipEvent> ev, Run run, long t0,
                                  long end, Map<String, Long> marks) {
        if (repeat == 1) {
            panels.computeIfAbsent(scenario, k -> new ArrayList<>())
                    .add(new Timeline.Panel(label, ev, run.topic, PARTITIONS, t0 - 3 * SECOND, end, marks));
        }
    }

    /** Stops every worker a run started, then the run (its producer and files). */
    private static void stopAll(List<BenchWorker> all, Run run) {
        for (BenchWorker w : all) {
            w.stop(Duration.ofSeconds(20));
        }
        run.close();
    }

    /** Starts {@code w1..w4} of {@code impl} and waits until they are balanced. */
    private static List<BenchWorker> startFleet(Run run, String prefix, Impl impl, List<BenchWorker> all) throws Exception {
        List<BenchWorker> fleet = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            fleet.add(run.thread(prefix + i, impl).start());
        }
        all.addAll(fleet);
        if (!run.awaitStable(4, Duration.ofSeconds(90))) {
            throw new IllegalStateException("4 " + impl.label + " consumers not balanced within 90 s");
        }
        return fleet;
    }

    /**
     * One swap of a rolling deployment: the old worker's name, when its replacement started, when its stop began and
     * returned, when 4 were balanced again.
     */
    private record Swap(String worker, long start, long stop, long stopped, long end, boolean ok, boolean surge) {
    }

    /** A rolling deployment: its swaps and the workers it started. */
    private record Rolled(List<Swap> swaps, List<BenchWorker> workers) {
    }

    /**
     * One rolling deployment in the surge order: for each of {@code old}, start its replacement {@code <prefix>i} of
     * {@code joining}, wait until 5 are balanced and quiet for 2 s, stop the old one, wait until 4 are.
     */
    private Rolled roll(Run run, List<BenchWorker> old, String prefix, Impl joining, List<BenchWorker> all,
                        Map<String, Long> marks, String label) throws Exception {
        return roll(run, old, prefix, joining, all, marks, label, false);
    }

    /**
     * {@link #roll(Run, List, String, Impl, List, Map, String)}; with {@code readiness}, after each start it waits only
     * until the group's ownership has been quiet for 2 s since the start (with 4 or 5 balanced), as a deployment waits
     * for a new instance to be ready, not for it to own partitions.
     */
    private Rolled roll(Run run, List<BenchWorker> old, String prefix, Impl joining, List<BenchWorker> all,
                        Map<String, Long> marks, String label, boolean readiness) throws Exception {
        List<Swap> swaps = new ArrayList<>();
        List<BenchWorker> started = new ArrayList<>();
        for (int i = 1; i <= old.size(); i++) {
            long tStart = System.nanoTime();
            BenchWorker next = run.thread(prefix + i, joining).start();
            started.add(next);
            all.add(next);
            boolean joined = readiness
                    ? waitUntil(Duration.ofSeconds(90), () -> run.quietSince(tStart, 2 * SECOND)
                            && (run.stableFor(5, 0) || run.stableFor(4, 0)))
                    : waitUntil(Duration.ofSeconds(90), () -> run.stableFor(5, 2 * SECOND));
            long tStop = System.nanoTime();
            BenchWorker leaving = old.get(i - 1);
            marks.put(prefix + i + " start", tStart);
            marks.put(leaving.name() + " stop", tStop);
            leaving.stop(Duration.ofSeconds(40));
            long tStopped = System.nanoTime();
            boolean left = waitUntil(Duration.ofSeconds(90), () -> run.stableFor(4, 2 * SECOND));
            swaps.add(new Swap(leaving.name(), tStart, tStop, tStopped, System.nanoTime(), joined && left, true));
            say(label + ": " + leaving.name() + " replaced by " + prefix + i + ", balanced " + (joined && left) + " after "
                    + String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - tStart) / 1e9));
        }
        return new Rolled(swaps, started);
    }

    /**
     * One rolling deployment of static members: for each of {@code old}, stop it (a static member's close does not
     * leave the group), start its replacement {@code <prefix>i} of {@code joining} under its {@code group.instance.id},
     * wait until 4 are balanced and quiet for 2 s.
     */
    private Rolled rollStatic(Run run, List<BenchWorker> old, String prefix, Impl joining, List<BenchWorker> all,
                              Map<String, Long> marks, String label) throws Exception {
        List<Swap> swaps = new ArrayList<>();
        List<BenchWorker> started = new ArrayList<>();
        for (int i = 1; i <= old.size(); i++) {
            BenchWorker leaving = old.get(i - 1);
            long tStop = System.nanoTime();
            marks.put(leaving.name() + " stop", tStop);
            leaving.stop(Duration.ofSeconds(40));
            long tStopped = System.nanoTime();
            marks.put(prefix + i + " start", tStopped);
            BenchWorker next = run.thread(prefix + i, joining).staticMember(false).instanceId(run.group + "-" + leaving.name()).start();
            started.add(next);
            all.add(next);
            boolean ok = waitUntil(Duration.ofSeconds(90), () -> run.stableFor(4, 2 * SECOND));
            swaps.add(new Swap(leaving.name(), tStop, tStop, tStopped, System.nanoTime(), ok, false));
            say(label + ": " + leaving.name() + " replaced by " + prefix + i + " under its ID, balanced " + ok + " after "
                    + String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - tStop) / 1e9));
        }
        return new Rolled(swaps, started);
    }

    /**
     * The figures of one or more rolling deployments over [t0, end]: partition-seconds without an owner,
     * ownership-change rounds (without the releases inside a stopping member's close), records processed twice,
     * overlaps, and per swap the time to balanced after the start and after the stop.
     */
    private Map<String, Object> rollFigures(Run run, List<OwnershipEvent> ev, long t0, long end, List<Rolled> deployments,
                                            String label) throws IOException {
        List<Runs.Batch> batches = Runs.consumed(run.consumedDir);
        Set<String> parts = Runs.partitionNames(run.topic, PARTITIONS);
        long half = SECOND / 2;
        List<Swap> swaps = deployments.stream().flatMap(d -> d.swaps().stream()).toList();
        List<Runs.Close> closes = swaps.stream().map(w -> new Runs.Close(w.worker(), w.stop(), w.stopped())).toList();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("balanced", swaps.stream().allMatch(Swap::ok));
        rollingFigures(m, ev, batches, parts, t0, end, closes);
        double swapS = 0;
        int swapsTimed = 0;
        double stopS = 0;
        int stopsTimed = 0;
        List<Map<String, Object>> steps = new ArrayList<>();
        for (int i = 0; i < swaps.size(); i++) {
            Swap w = swaps.get(i);
            Map<String, Object> st = new LinkedHashMap<>();
            st.put("worker", w.worker());
            // a surge swap is balanced twice (5 members after the start, 4 after the stop); a static one once
            long since5 = w.surge() ? Runs.balancedSince(ev, w.start(), w.stop(), PARTITIONS, 5) : w.start();
            long since4 = Runs.balancedSince(ev, w.stop(), w.end(), PARTITIONS, 4);
            st.put("joinBalancedS", !w.surge() || since5 < 0 ? null : (since5 - w.start()) / 1e9);
            st.put("stopBalancedS", since4 < 0 ? null : (since4 - w.stop()) / 1e9);
            if (since5 >= 0 && since4 >= 0) {
                swapS += (since5 - w.start() + since4 - w.stop()) / 1e9;
                swapsTimed++;
            }
            if (since4 >= 0) {
                stopS += (since4 - w.stop()) / 1e9;
                stopsTimed++;
            }
            st.put("unavailablePartitionS", Runs.unavailableSeconds(ev, parts, w.start(), w.end()));
            st.put("rounds", Runs.rounds(ev, w.start(), w.end(), half));
            steps.add(st);
            say(String.format(Locale.ROOT, "[measure] %s swap %d: %s", label, i + 1, st));
        }
        // per swap: until balanced after the start plus until balanced after the stop (the 2 s quiet waits excluded)
        // none when no swap was balanced twice (migsurge's deferred joins: the newcomer owns nothing before the stop)
        m.put("swapS", swapsTimed == 0 ? null : swapS / swapsTimed);
        // per swap: from the stop until balanced again, the whole swap of a newcomer that joins the leave's rebalance
        m.put("stopBalancedS", stopsTimed == 0 ? null : stopS / stopsTimed);
        m.put("steps", steps);
        return m;
    }

    /** Partitions assigned to the Kafka group's members, as the broker describes it. */
    private int kafkaAssigned(String group) {
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group).members().stream()
                    .mapToInt(member -> member.assignment().topicPartitions().size()).sum();
        } catch (Exception e) {
            throw new IllegalStateException("describing group " + group, e);
        }
    }

    /** Members of the Kafka group as the broker describes it (0 once Parti runs it alone). */
    private int kafkaMembers(String group) {
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group).members().size();
        } catch (Exception e) {
            throw new IllegalStateException("describing group " + group, e);
        }
    }

    /** Whether the broker runs the group with the consumer protocol (KIP-848's upgrade completed). */
    private boolean consumerProtocolGroup(String group) {
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group).type()
                    == org.apache.kafka.common.GroupType.CONSUMER;
        } catch (Exception e) {
            throw new IllegalStateException("describing group " + group, e);
        }
    }

    /** The NATS server an implementation's consumers use ({@link Impl#PARTI_POD}: the one with DISCONNECT events). */
    private String natsUrl(Impl impl) {
        return impl == Impl.PARTI_POD ? "nats://bench:bench-pw@127.0.0.1:" + natsPod.port() : nats.url();
    }

    // ------------------------------------------------------------------ one run: topic, producer, workers

    private final class Run {
        final Impl impl;
        final boolean staticMember;
        final String topic;
        final String group;
        final Path ownDir;
        final Path consumedDir;
        private volatile boolean stop;
        private Thread producer;
        final AtomicLong produced = new AtomicLong();

        Run(String scenario, Impl impl, int repeat) throws IOException {
            this(scenario, new Variant(impl, false), repeat);
        }

        Run(String scenario, Variant variant, int repeat) throws IOException {
            this.impl = variant.impl();
            this.staticMember = variant.staticMember();
            String id = scenario + "-" + variant.id() + "-" + repeat + "-" + (++seq);
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
            return thread(name, impl);
        }

        /** A consumer of another implementation than the run's (the old and the new members of a migration). */
        BenchWorker thread(String name, Impl of) {
            return new BenchWorker(of, kafka.bootstrapServers(), natsUrl(of), topic, group, name, ownDir, consumedDir)
                    .staticMember(staticMember);
        }

        WorkerProcess process(String name) {
            // parti-pod: the proof-of-death decisions (what the leader heard, whom it counted stopped) are logged
            String podLog = impl == Impl.PARTI_POD ? "info" : "warn";
            // PartiConsumer: its leadership changes (who leads: b3l kills the leader, b3 records whether it did)
            String memberLog = impl == Impl.PARTI_POD || impl == Impl.PARTI ? "info" : "warn";
            return WorkerProcess.builder(BenchWorker.class).name(name)
                    .jvmArgs("-Xmx160m", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                            "-Dorg.slf4j.simpleLogger.log.dev.parti.internal.DeathWatch=" + podLog,
                            "-Dorg.slf4j.simpleLogger.log.dev.parti.internal.Calculator=" + podLog,
                            "-Dorg.slf4j.simpleLogger.log.dev.parti.internal.DeadLeaderCheck=" + podLog,
                            "-Dorg.slf4j.simpleLogger.log.dev.parti.internal.GroupMember=" + memberLog,
                            "-Dbench.kafka.session.ms=" + BenchWorker.kafkaSessionMs())
                    .args(impl.id, kafka.bootstrapServers(), natsUrl(impl), topic, group, name, ownDir.toString(),
                            consumedDir.toString())
                    .start();
        }

        /** Balanced over {@code workers} with no ownership change for {@code quietNanos}. */
        boolean stableFor(int workers, long quietNanos) {
            List<OwnershipEvent> ev = Runs.ownership(ownDir);
            long now = System.nanoTime();
            return now - Runs.lastEventNanos(ev) > quietNanos && Runs.balancedAt(ev, now, PARTITIONS, workers);
        }

        /** Whether no ownership event happened for {@code quietNanos}, counted from {@code since} at the earliest. */
        boolean quietSince(long since, long quietNanos) {
            long now = System.nanoTime();
            return now - Math.max(since, Runs.lastEventNanos(Runs.ownership(ownDir))) > quietNanos;
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
        for (Map.Entry<String, Map<String, List<Map<String, Object>>>> s : results.entrySet()) {
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
            List<String> cols = new ArrayList<>(s.getValue().keySet());
            for (String col : cols) {
                b.append(' ').append(col).append(" |");
            }
            b.append("\n|---|").append("---|".repeat(cols.size())).append('\n');
            for (String metric : metrics) {
                b.append("| ").append(metric).append(" |");
                for (String col : cols) {
                    b.append(' ').append(cell(s.getValue().get(col), metric)).append(" |");
                }
                b.append('\n');
            }
            b.append('\n');
            if (s.getKey().equals("b4r")) {
                b.append(rollingTargets(s.getValue()));
            }
            if (s.getKey().equals("b4") || s.getKey().equals("b4l")) {
                b.append(leaders(s.getValue().get(Impl.PARTI.label)));
            }
        }
        return b.toString();
    }

    /** The b4r targets for PartiConsumer with REMAIN_IN_GROUP, per repeat. */
    private static String rollingTargets(Map<String, List<Map<String, Object>>> byVariant) {
        List<Map<String, Object>> runs = byVariant.get(new Variant(Impl.PARTI, true).label());
        if (runs == null) {
            return "";
        }
        StringBuilder b = new StringBuilder("Targets, PartiConsumer with group.instance.id and close(REMAIN_IN_GROUP), per repeat:\n\n");
        for (Map<String, Object> m : runs) {
            b.append("- repeat ").append(m.get("repeat")).append(": ");
            if (m.containsKey("error")) {
                b.append("error ").append(m.get("error")).append('\n');
                continue;
            }
            b.append("moves nothing (moved = 0 and handovers = 0): ").append(m.get("targetMovedNothing"))
                    .append(" (moved ").append(m.get("moved")).append(", handovers ").append(m.get("handovers"))
                    .append("); at most one rebalance per restarted worker (rebalanceRounds <= 4): ")
                    .append(m.get("targetAtMostOneRebalancePerRestart")).append(" (").append(m.get("rebalanceRounds"))
                    .append(" rebalance rounds, ").append(m.get("rounds")).append(" rounds with the releases inside close()); unavailability ")
                    .append(fmt(((Number) m.get("unavailablePartitionS")).doubleValue())).append(" partition-s; leader at each close ")
                    .append(m.get("partiLeaders")).append('\n');
        }
        return b.append("\n(leader null: no live consumer was Parti's leader at that instant; a leader closed with REMAIN_IN_GROUP "
                + "resigns, and the next one re-addresses the restarted member's line inside its recovery grace. rebalanceRounds: ownership-change rounds without the releases "
                + "a closing worker makes inside its own close(); handovers: partitions acquired by a worker other than their previous "
                + "owner; acquisitions: all (partition, new owner) events, a restarted worker getting its own partitions back included.)\n\n")
                .toString();
    }

    /** Which worker was Parti's leader when the victim closed, per repeat. */
    private static String leaders(List<Map<String, Object>> runs) {
        if (runs == null) {
            return "";
        }
        StringBuilder b = new StringBuilder("PartiConsumer: closed worker / Parti leader at the close / leader at the end, per repeat: ");
        List<String> l = new ArrayList<>();
        for (Map<String, Object> m : runs) {
            l.add("#" + m.get("repeat") + " " + m.get("victim") + " / " + m.get("partiLeader") + " / " + m.get("partiLeaderAtEnd")
                    + (m.get("consumedAgainS") instanceof Number n ? String.format(Locale.ROOT, " (consumed again after %.2f s)", n.doubleValue()) : ""));
        }
        return b.append(String.join("; ", l)).append("\n\n").toString();
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
