package dev.parti.benchmarks;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.common.TopicPartition;

/**
 * B1 again, outside JMH, measured in <em>CPU time</em> of the calling thread: on a machine shared
 * with other work, wall-clock averages mostly measure how often the thread was descheduled; the
 * thread's CPU time per operation does not (it still feels shared caches). Same input as
 * {@link AssignorBenchmark}. At each size every assignor first warms up for at least 2 s (and 3
 * operations); then each runs for at least 3 s (and 5 operations); the median per operation is
 * reported.
 */
public final class CpuTimer {
    private static final long WARMUP_NANOS = 2_000_000_000L;
    private static final long MEASURE_NANOS = 3_000_000_000L;

    /** Median CPU and wall time of one operation, in milliseconds. */
    public record Timing(String size, String assignor, double cpuMillis, double wallMillis, int operations) {
    }

    private CpuTimer() {
    }

    /** Measures every assignor at every size. */
    public static List<Timing> measure(List<String> sizes, List<String> assignors) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        if (!threads.isCurrentThreadCpuTimeSupported()) {
            throw new IllegalStateException("this JVM cannot measure thread CPU time");
        }
        threads.setThreadCpuTimeEnabled(true);
        List<Timing> timings = new ArrayList<>();
        for (String sizeName : sizes) {
            Size size = Size.parse(sizeName);
            List<TopicPartition> partitions = Scenario.partitions(size.partitions());
            List<String> members = Scenario.workers(size.workers());
            var previous = Scenario.scaleOutPrevious(size.workers(), partitions);
            // All assignors of a size warm up before any is measured, so none is measured while the
            // JIT compiler still works on code the others share.
            List<Assigner.Prepared> prepared = new ArrayList<>();
            for (String name : assignors) {
                Assigner.Prepared p = Assigner.byName(name).prepare(members, partitions, previous, 1);
                long until = System.nanoTime() + WARMUP_NANOS;
                for (int i = 0; i < 3 || System.nanoTime() < until; i++) {
                    p.run();
                }
                prepared.add(p);
            }
            for (int a = 0; a < assignors.size(); a++) {
                Assigner.Prepared p = prepared.get(a);
                List<long[]> samples = new ArrayList<>();
                long until = System.nanoTime() + MEASURE_NANOS;
                while (samples.size() < 5 || System.nanoTime() < until) {
                    long cpu0 = threads.getCurrentThreadCpuTime();
                    long wall0 = System.nanoTime();
                    p.run();
                    samples.add(new long[] {threads.getCurrentThreadCpuTime() - cpu0, System.nanoTime() - wall0});
                }
                Timing t = new Timing(sizeName, assignors.get(a), median(samples, 0), median(samples, 1), samples.size());
                timings.add(t);
                System.out.printf("cpu-time %-12s %-26s %10.4f ms cpu, %10.4f ms wall (median of %d)%n",
                        sizeName, t.assignor(), t.cpuMillis(), t.wallMillis(), samples.size());
            }
        }
        return timings;
    }

    private static double median(List<long[]> samples, int column) {
        long[] values = samples.stream().mapToLong(s -> s[column]).toArray();
        Arrays.sort(values);
        int n = values.length;
        double m = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
        return m / 1e6;
    }
}
