package dev.parti.benchmarks.scenario;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.benchmarks.scenario.CoreScaleBench.WorkerView;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** B6's convergence check, rates and summary on hand-made data: no server, milliseconds. */
class CoreScaleBenchTest {
    private static final List<Partition> P = CoreScaleBench.partitions(4);
    private static final Set<Partition> ALL = Set.copyOf(P);

    private static WorkerView w(String id, long version, int... partitions) {
        Set<Partition> owned = new java.util.HashSet<>();
        for (int p : partitions) {
            owned.add(P.get(p));
        }
        return new WorkerView(id, version, owned);
    }

    @Test
    void convergedWhenEveryPartitionHasExactlyOneOwnerAndAllWorkersAgreeOnTheVersion() {
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 3, 0, 1), w("w-1", 3, 2, 3)), ALL)).isEmpty();
        // a worker with nothing is fine as long as the union is complete (more workers than partitions)
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 3, 0, 1, 2, 3), w("w-1", 3)), ALL)).isEmpty();
    }

    @Test
    void notConvergedOtherwise() {
        assertThat(CoreScaleBench.notConvergedBecause(List.of(), ALL)).hasValue("no workers");
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 1, 0, 1), w(null, 0)), ALL))
                .hasValue("1 of 2 workers have no assignment yet");
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 1, 0, 1), w("w-1", 2, 2, 3)), ALL))
                .hasValue("workers are on different versions [1, 2]");
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 2, 0, 1, 2), w("w-1", 2, 2, 3)), ALL).orElseThrow())
                .contains("topic/2").contains("w-0").contains("w-1");
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 2, 0), w("w-1", 2, 2, 3)), ALL))
                .hasValue("1 partitions unowned");
        WorkerView stranger = new WorkerView("w-1", 2, Set.of(P.get(2), P.get(3), Partition.of("other", "9")));
        assertThat(CoreScaleBench.notConvergedBecause(List.of(w("w-0", 2, 0, 1), stranger), ALL))
                .hasValue("0 partitions unowned, 1 owned partitions not in the list");
    }

    @Test
    void ratesPerSecondCountKeysMissingBeforeFromZero() {
        Map<String, Double> rates = CoreScaleBench.perSecond(Map.of("heartbeats", 100L, "leader", 7L),
                Map.of("heartbeats", 700L, "leader", 10L, "ids", 6L), 3.0);
        assertThat(rates).containsExactlyInAnyOrderEntriesOf(Map.of("heartbeats", 200.0, "leader", 1.0, "ids", 2.0));
    }

    @Test
    void summaryHasMedianAndRangePerMetricAndEveryClientOperationKind() {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("convergeS", 31.0);
        a.put("serverWritesPerSec.total", 214.0);
        a.put("clientOpsPerSec.heartbeat", 200.0);
        Map<String, Object> b = new LinkedHashMap<>(a);
        b.put("convergeS", 33.0);
        b.put("clientOpsPerSec.election", 199.0);
        Map<String, Object> c = new LinkedHashMap<>(a);
        c.put("convergeS", 32.0);
        String md = CoreScaleBench.summary(List.of(a, b, c), 200, 10_000, 30, "1.0 1.0", "2.0 2.0");
        assertThat(md).contains("| time to converge from cold start (s) | 32 [31-33] (n=3) | ≤ 32 |")
                .contains("| **KV writes/s at rest: total** | 214 [214-214] (n=3) | ≤ 220 |")
                .contains("client KV ops/s at rest: heartbeat | 200")
                .contains("client KV ops/s at rest: election | 199 [199-199] (n=1/3)")
                .contains("--workers 200 --partitions 10000 --rest-seconds 30");
    }
}
