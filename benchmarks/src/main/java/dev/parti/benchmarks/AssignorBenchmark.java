package dev.parti.benchmarks;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * B1: one assignment calculation, hot. Input ({@link Scenario}): {@code size} = workers × partitions
 * over 4 topics, shuffled; the previous ownership is a balanced assignment over all workers but the
 * last, which has just joined (Kafka: its owned partitions, same generation for all members).
 * Stateless strategies and {@code RangeAssignor} ignore it.
 *
 * <p>Defaults here are the short settings; {@link BenchAssignors} sets the reported ones.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class AssignorBenchmark {

    /** Workers × partitions. */
    @Param({"10x100", "50x1000", "200x10000", "1000x100000"})
    public String size;

    /** A name from {@link Assigner#names()}. */
    @Param({"sticky-balanced", "consistent-hash", "round-robin", "weighted-bounded-load",
            Assigner.KAFKA_RANGE, Assigner.KAFKA_COOPERATIVE_STICKY})
    public String assignor;

    private Assigner.Prepared prepared;

    /** Builds the input once per trial. */
    @Setup
    public void setUp() {
        Size s = Size.parse(size);
        List<TopicPartition> partitions = Scenario.partitions(s.partitions());
        prepared = Assigner.byName(assignor).prepare(
                Scenario.workers(s.workers()), partitions, Scenario.scaleOutPrevious(s.workers(), partitions), 1);
    }

    /** One assignment. */
    @Benchmark
    public Object assign() {
        return prepared.run();
    }
}
