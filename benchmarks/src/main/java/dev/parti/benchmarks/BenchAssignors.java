package dev.parti.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Benchmark B1 end to end: runs {@link AssignorBenchmark} for every assignor and size (with the GC
 * profiler for allocation per operation), then {@link MovementReport}, and writes
 * {@code bench-assignors.md} (time/op ± error, allocation/op, ratio against Kafka's
 * {@code CooperativeStickyAssignor} from the same run, moved partitions, balance, and the checks of
 * Parti's performance goals) plus the raw JMH JSON into the output directory.
 *
 * <p>Settings: one fork; sizes up to 200×10 000 with 3 warm-up and 5 measured iterations of 1 s;
 * 1 000×100 000 with 2 and 3. {@code --quick}: 1 warm-up and 2 measured iterations everywhere.
 *
 * <p>Then the same input once more outside JMH, in thread CPU time ({@link CpuTimer}), which a
 * machine shared with other work disturbs far less than wall-clock averages.
 *
 * <p>Usage: {@code BenchAssignors [--quick] [--no-cpu-time] [--out DIR] [--sizes 10x100,200x10000] [--assignors a,b]}.
 */
public final class BenchAssignors {
    private static final String BASELINE = Assigner.KAFKA_COOPERATIVE_STICKY;
    private static final String LARGE = "1000x100000";
    private static final double GOAL_MS = 10.0;
    private static final String GOAL_SIZE = "200x10000";
    private static final double GOAL_RATIO = 5.0;

    private BenchAssignors() {
    }

    /** One JMH result. */
    record Timing(String size, String assignor, double micros, double error, double allocBytes) {
    }

    public static void main(String[] args) throws IOException, RunnerException {
        boolean quick = false;
        boolean cpuTime = true;
        Path out = Path.of("benchmarks", "target");
        List<String> sizes = new ArrayList<>(Arrays.asList(Size.ALL));
        List<String> assignors = Assigner.names();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--no-cpu-time" -> cpuTime = false;
                case "--out" -> out = Path.of(args[++i]);
                case "--sizes" -> sizes = Arrays.asList(args[++i].split(","));
                case "--assignors" -> assignors = Arrays.asList(args[++i].split(","));
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--quick] [--no-cpu-time] [--out DIR] [--sizes 10x100,...] [--assignors a,b,...]");
            }
        }
        Files.createDirectories(out);
        Instant started = Instant.now();
        String loadStart = loadAverage();

        List<String> small = sizes.stream().filter(s -> !s.equals(LARGE)).toList();
        List<Timing> timings = new ArrayList<>();
        if (!small.isEmpty()) {
            timings.addAll(run(small, assignors, quick ? 1 : 3, quick ? 2 : 5, out.resolve("jmh-small.json")));
        }
        if (sizes.contains(LARGE)) {
            timings.addAll(run(List.of(LARGE), assignors, quick ? 1 : 2, quick ? 2 : 3, out.resolve("jmh-large.json")));
        }

        String loadBefore = loadAverage();
        List<CpuTimer.Timing> cpu = cpuTime ? CpuTimer.measure(sizes, assignors) : List.of();

        System.out.println("Movement and balance report…");
        List<MovementReport.Row> rows = MovementReport.compute(sizes.stream().map(Size::parse).toList(), assignors);

        String load = "load average (1/5/15 min) at start " + loadStart + ", after JMH " + loadBefore
                + ", at end " + loadAverage();
        String md = render(timings, cpu, rows, sizes, assignors, quick, started, load);
        Path report = out.resolve("bench-assignors.md");
        Files.writeString(report, md);
        System.out.println();
        System.out.println(md);
        System.out.println("Written: " + report.toAbsolutePath());
    }

    private static List<Timing> run(List<String> sizes, List<String> assignors, int warmups, int iterations, Path json)
            throws RunnerException {
        ChainedOptionsBuilder opts = new OptionsBuilder()
                .include(AssignorBenchmark.class.getName() + ".assign")
                .param("size", sizes.toArray(new String[0]))
                .param("assignor", assignors.toArray(new String[0]))
                .forks(1)
                .warmupIterations(warmups)
                .warmupTime(TimeValue.seconds(1))
                .measurementIterations(iterations)
                .measurementTime(TimeValue.seconds(1))
                .addProfiler(GCProfiler.class)
                .resultFormat(ResultFormatType.JSON)
                .result(json.toString());
        Collection<RunResult> results = new Runner(opts.build()).run();
        List<Timing> timings = new ArrayList<>();
        for (RunResult r : results) {
            Result<?> primary = r.getPrimaryResult();
            double alloc = Double.NaN;
            for (Map.Entry<String, Result> e : r.getSecondaryResults().entrySet()) {
                if (e.getKey().endsWith("gc.alloc.rate.norm")) {
                    alloc = e.getValue().getScore();
                }
            }
            timings.add(new Timing(r.getParams().getParam("size"), r.getParams().getParam("assignor"),
                    primary.getScore(), primary.getScoreError(), alloc));
        }
        return timings;
    }

    static String render(List<Timing> timings, List<CpuTimer.Timing> cpu, List<MovementReport.Row> rows,
                         List<String> sizes, List<String> assignors, boolean quick, Instant started, String load) {
        Map<String, Timing> byKey = new LinkedHashMap<>();
        timings.forEach(t -> byKey.put(t.size() + "/" + t.assignor(), t));
        StringBuilder sb = new StringBuilder();
        sb.append("# B1 — assignment calculation\n\n");
        sb.append(String.format(Locale.ROOT, "Run started %s on %d CPU(s), Java %s%s.%n%n", started,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
                quick ? " — QUICK settings, not for publication" : ""));
        sb.append(load).append(".\n\n");
        sb.append("## Time and allocation per assignment (JMH average time, hot)\n\n");
        sb.append("Ratio = CooperativeStickyAssignor's time / this assignor's time, same run "
                + "(> 1: faster than CooperativeSticky).\n\n");
        sb.append("| size (N×P) | assignor | time/op (ms) | ± error (ms) | alloc/op (KiB) | ratio vs CooperativeSticky |\n");
        sb.append("|---|---|---:|---:|---:|---:|\n");
        for (String size : sizes) {
            Timing base = byKey.get(size + "/" + BASELINE);
            for (String a : assignors) {
                Timing t = byKey.get(size + "/" + a);
                if (t == null) {
                    continue;
                }
                sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", size, a,
                        ms(t.micros()), ms(t.error()),
                        Double.isNaN(t.allocBytes()) ? "n/a" : String.format(Locale.ROOT, "%,.1f", t.allocBytes() / 1024),
                        base == null ? "n/a" : String.format(Locale.ROOT, "%.2f×", base.micros() / t.micros())));
            }
        }
        if (!cpu.isEmpty()) {
            Map<String, CpuTimer.Timing> cpuByKey = new LinkedHashMap<>();
            cpu.forEach(t -> cpuByKey.put(t.size() + "/" + t.assignor(), t));
            sb.append("\n## CPU time per assignment (median, outside JMH)\n\n");
            sb.append("Thread CPU time, so time spent descheduled on a shared machine does not count; same input. "
                    + "Ratio = CooperativeStickyAssignor's CPU time / this assignor's.\n\n");
            sb.append("| size (N×P) | assignor | CPU ms/op | wall ms/op | ops | ratio vs CooperativeSticky |\n");
            sb.append("|---|---|---:|---:|---:|---:|\n");
            for (String size : sizes) {
                CpuTimer.Timing base = cpuByKey.get(size + "/" + BASELINE);
                for (String a : assignors) {
                    CpuTimer.Timing t = cpuByKey.get(size + "/" + a);
                    if (t != null) {
                        sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %d | %s |%n", size, a,
                                ms(t.cpuMillis() * 1000), ms(t.wallMillis() * 1000), t.operations(),
                                base == null ? "n/a" : String.format(Locale.ROOT, "%.2f×", base.cpuMillis() / t.cpuMillis())));
                    }
                }
            }
        }
        sb.append("\n## Partitions moved and balance\n\n");
        sb.append(MovementReport.markdown(rows));
        sb.append("\n## Checks of Parti's goals\n\n");
        Map<String, MovementReport.Row> byRow = MovementReport.index(rows);
        Map<String, CpuTimer.Timing> cpuAt = new LinkedHashMap<>();
        cpu.forEach(t -> cpuAt.put(t.size() + "/" + t.assignor(), t));
        for (String a : assignors) {
            Timing t = byKey.get(GOAL_SIZE + "/" + a);
            if (t != null && !a.startsWith("kafka-")) {
                sb.append(check(t.micros() / 1000 < GOAL_MS, String.format(Locale.ROOT,
                        "%s computes %s in under %.0f ms (JMH average): %s ms", a, GOAL_SIZE, GOAL_MS, ms(t.micros()))));
            }
            CpuTimer.Timing c = cpuAt.get(GOAL_SIZE + "/" + a);
            if (c != null && !a.startsWith("kafka-")) {
                sb.append(check(c.cpuMillis() < GOAL_MS, String.format(Locale.ROOT,
                        "%s computes %s in under %.0f ms (median CPU time): %s ms", a, GOAL_SIZE, GOAL_MS, ms(c.cpuMillis() * 1000))));
            }
        }
        for (String size : sizes) {
            Timing sticky = byKey.get(size + "/sticky-balanced");
            Timing base = byKey.get(size + "/" + BASELINE);
            if (sticky != null && base != null) {
                double ratio = base.micros() / sticky.micros();
                sb.append(check(ratio >= GOAL_RATIO, String.format(Locale.ROOT,
                        "sticky-balanced at least %.0f× faster than CooperativeSticky at %s (JMH average): %.2f×",
                        GOAL_RATIO, size, ratio)));
            }
            CpuTimer.Timing cs = cpuAt.get(size + "/sticky-balanced");
            CpuTimer.Timing cb = cpuAt.get(size + "/" + BASELINE);
            if (cs != null && cb != null) {
                double ratio = cb.cpuMillis() / cs.cpuMillis();
                sb.append(check(ratio >= GOAL_RATIO, String.format(Locale.ROOT,
                        "sticky-balanced at least %.0f× faster than CooperativeSticky at %s (median CPU time): %.2f×",
                        GOAL_RATIO, size, ratio)));
            }
            MovementReport.Row s = byRow.get(size + "/sticky-balanced");
            MovementReport.Row k = byRow.get(size + "/" + BASELINE);
            if (s != null && k != null) {
                boolean moved = s.outMoved() <= k.outMoved() && s.inMoved() <= k.inMoved();
                boolean balance = spread(s.outMinMax()) <= spread(k.outMinMax()) && spread(s.inMinMax()) <= spread(k.inMinMax())
                        && spread(s.coldMinMax()) <= spread(k.coldMinMax());
                sb.append(check(moved, String.format(Locale.ROOT,
                        "sticky-balanced moves no more than CooperativeSticky at %s: out %d vs %d, in %d vs %d",
                        size, s.outMoved(), k.outMoved(), s.inMoved(), k.inMoved())));
                sb.append(check(balance, String.format(Locale.ROOT,
                        "sticky-balanced balances at least as well as CooperativeSticky at %s (max − min)", size)));
            }
        }
        return sb.toString();
    }

    /** The 1, 5 and 15 minute load averages (Linux), or "n/a". */
    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " / " + f[1] + " / " + f[2];
        } catch (IOException | RuntimeException e) {
            return "n/a";
        }
    }

    private static int spread(int[] minMax) {
        return minMax[1] - minMax[0];
    }

    private static String check(boolean ok, String text) {
        return "- " + (ok ? "PASS" : "FAIL") + " — " + text + "\n";
    }

    private static String ms(double micros) {
        double ms = micros / 1000;
        return String.format(Locale.ROOT, ms < 1 ? "%.4f" : ms < 100 ? "%.3f" : "%.1f", ms);
    }
}
