package dev.parti.strategy;

import dev.parti.AssignmentStrategy.Request;
import dev.parti.Partition;
import dev.parti.Worker;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** Generators of modest requests: up to 12 workers, up to 200 partitions, messy previous maps. */
final class StrategyArbitraries {
    static final int MAX_WORKERS = 12;
    static final int MAX_PARTITIONS = 200;

    private StrategyArbitraries() {
    }

    /** Workers {@code w<N>}, capacities 1 … {@code maxCapacity}. */
    static Arbitrary<List<Worker>> workers(int minSize, int maxCapacity) {
        return Arbitraries.maps(Arbitraries.integers().between(0, 40), Arbitraries.integers().between(1, maxCapacity))
                .ofMinSize(minSize).ofMaxSize(MAX_WORKERS)
                .map(m -> {
                    List<Worker> ws = new ArrayList<>();
                    m.forEach((id, cap) -> ws.add(new Worker("w" + id, cap)));
                    return ws;
                });
    }

    /**
     * Partitions: mostly {@code [t<k>, <n>]}, some with one key only, weights 0 … {@code maxWeight}
     * (1 when {@code maxWeight} is 1).
     */
    static Arbitrary<List<Partition>> partitions(int minSize, int maxWeight) {
        return Arbitraries.maps(Arbitraries.integers().between(0, 999),
                        Arbitraries.integers().between(maxWeight == 1 ? 1 : 0, maxWeight))
                .ofMinSize(minSize).ofMaxSize(MAX_PARTITIONS)
                .map(m -> {
                    List<Partition> ps = new ArrayList<>();
                    m.forEach((n, w) -> ps.add(partition(n, w)));
                    return ps;
                });
    }

    static Partition partition(int n, long weight) {
        List<String> keys = n % 11 == 0 ? List.of("solo" + n) : List.of("t" + (n % 3), Integer.toString(n / 3));
        return Partition.of(keys, weight);
    }

    /** Requests with unit weights and equal capacities, and a random previous map. */
    static Arbitrary<Request> requests() {
        return requests(workers(0, 1), partitions(0, 1));
    }

    /** Requests with varied weights and capacities, and a random previous map. */
    static Arbitrary<Request> weightedRequests() {
        return requests(workers(0, 4), partitions(0, 20));
    }

    static Arbitrary<Request> requests(Arbitrary<List<Worker>> workers, Arbitrary<List<Partition>> partitions) {
        return Combinators.combine(workers, partitions, Arbitraries.longs())
                .as((ws, ps, seed) -> new Request(ws, ps, randomPrevious(ws, ps, new Random(seed))));
    }

    /**
     * A previous map as messy as the real one can be: owners that left, partitions that vanished,
     * partitions unowned, and now and then a partition claimed by two workers.
     */
    static Map<String, Set<Partition>> randomPrevious(List<Worker> workers, List<Partition> partitions, Random rnd) {
        List<String> owners = new ArrayList<>();
        workers.forEach(w -> owners.add(w.id()));
        owners.add("gone-1");
        owners.add("gone-2");
        List<Partition> all = new ArrayList<>(partitions);
        all.add(Partition.of("vanished", "1"));
        all.add(Partition.of("vanished", "2"));
        Map<String, Set<Partition>> previous = new HashMap<>();
        if (rnd.nextInt(8) == 0) {
            return previous;
        }
        int unowned = rnd.nextInt(4);
        for (Partition p : all) {
            if (rnd.nextInt(8) < unowned) {
                continue;
            }
            previous.computeIfAbsent(owners.get(rnd.nextInt(owners.size())), k -> new LinkedHashSet<>()).add(p);
            if (rnd.nextInt(40) == 0) {
                previous.computeIfAbsent(owners.get(rnd.nextInt(owners.size())), k -> new LinkedHashSet<>()).add(p);
            }
        }
        return previous;
    }

    /** The same content in another order, with equal but not identical partition objects. */
    static Request shuffled(Request r, Random rnd) {
        List<Worker> ws = new ArrayList<>(r.workers());
        Collections.shuffle(ws, rnd);
        List<Partition> ps = new ArrayList<>();
        r.partitions().forEach(p -> ps.add(Partition.of(p.keys(), p.weight())));
        Collections.shuffle(ps, rnd);
        List<String> owners = new ArrayList<>(r.previous().keySet());
        Collections.shuffle(owners, rnd);
        Map<String, Set<Partition>> previous = new LinkedHashMap<>();
        for (String owner : owners) {
            List<Partition> owned = new ArrayList<>();
            r.previous().get(owner).forEach(p -> owned.add(Partition.of(p.keys(), p.weight())));
            Collections.shuffle(owned, rnd);
            previous.put(owner, new LinkedHashSet<>(owned));
        }
        return new Request(ws, ps, previous);
    }

    /** An assignment turned into the previous map of the next request. */
    static Map<String, Set<Partition>> asPrevious(Map<String, List<Partition>> assignment) {
        Map<String, Set<Partition>> previous = new HashMap<>();
        assignment.forEach((w, ps) -> previous.put(w, Set.copyOf(ps)));
        return previous;
    }

    /** Partition → owner. */
    static Map<Partition, String> owners(Map<String, List<Partition>> assignment) {
        Map<Partition, String> owners = new HashMap<>();
        assignment.forEach((w, ps) -> ps.forEach(p -> owners.put(p, w)));
        return owners;
    }

    /** Partitions present in both assignments whose owner differs. */
    static int moved(Map<String, List<Partition>> before, Map<String, List<Partition>> after) {
        Map<Partition, String> was = owners(before);
        int moved = 0;
        for (Map.Entry<Partition, String> e : owners(after).entrySet()) {
            String old = was.get(e.getKey());
            if (old != null && !old.equals(e.getValue())) {
                moved++;
            }
        }
        return moved;
    }
}
