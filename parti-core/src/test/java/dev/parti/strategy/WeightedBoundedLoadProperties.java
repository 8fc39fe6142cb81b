package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentStrategy;
import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;

class WeightedBoundedLoadProperties extends AssignmentContractProperties {

    @Override
    AssignmentStrategy strategy() {
        return new WeightedBoundedLoad();
    }

    /** Mostly light partitions, now and then one far heavier than any fair share. */
    @Provide
    Arbitrary<Request> skewedRequest() {
        Arbitrary<List<Partition>> partitions = Arbitraries.maps(
                        Arbitraries.integers().between(0, 999),
                        Arbitraries.frequencyOf(
                                net.jqwik.api.Tuple.of(20, Arbitraries.longs().between(0, 3)),
                                net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(100, 5_000))))
                .ofMaxSize(StrategyArbitraries.MAX_PARTITIONS)
                .map(m -> {
                    List<Partition> ps = new ArrayList<>();
                    m.forEach((n, w) -> ps.add(StrategyArbitraries.partition(n, w)));
                    return ps;
                });
        return StrategyArbitraries.requests(StrategyArbitraries.workers(0, 4), partitions);
    }

    @Property(tries = 1000)
    void noWorkerCarriesMoreThanItsBound(
            @ForAll("anyRequest") Request request,
            @ForAll @DoubleRange(min = 1.0, minIncluded = false, max = 3.0) double loadFactor) {
        assertLoadsWithinBound(request, new WeightedBoundedLoad(loadFactor));
    }

    @Property(tries = 1000)
    void noWorkerCarriesMoreThanItsBoundEvenWithPartitionsHeavierThanAFairShare(
            @ForAll("skewedRequest") Request request,
            @ForAll @DoubleRange(min = 1.0, minIncluded = false, max = 2.0) double loadFactor,
            @ForAll @IntRange(min = 1, max = 200) int virtualNodes) {
        assertLoadsWithinBound(request, new WeightedBoundedLoad(loadFactor, virtualNodes));
    }

    @Property(tries = 1000)
    void equalsConsistentHashWhenNoBoundIsTight(@ForAll("anyRequest") Request request) {
        assertThat(new WeightedBoundedLoad(1e12).assign(request)).isEqualTo(new ConsistentHash().assign(request));
    }

    /** load(w) ≤ max(c × fair(w), fair(w) + heaviest), fair(w) = total × capacity(w) / total capacity. */
    private static void assertLoadsWithinBound(Request request, WeightedBoundedLoad strategy) {
        Map<String, List<Partition>> result = strategy.assign(request);

        long total = request.partitions().stream().mapToLong(Partition::weight).sum();
        long heaviest = request.partitions().stream().mapToLong(Partition::weight).max().orElse(0);
        long capacity = request.workers().stream().mapToLong(Worker::capacity).sum();
        for (Worker w : request.workers()) {
            double fair = (double) total * w.capacity() / capacity;
            double bound = Math.max(strategy.loadFactor() * fair, fair + heaviest);
            long load = result.get(w.id()).stream().mapToLong(Partition::weight).sum();
            assertThat((double) load).as("load of %s, fair share %s", w, fair).isLessThanOrEqualTo(bound * (1 + 1e-12));
        }
    }
}
