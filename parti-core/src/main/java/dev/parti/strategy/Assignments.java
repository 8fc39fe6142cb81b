package dev.parti.strategy;

import dev.parti.Partition;
import dev.parti.Worker;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Shared input preparation and result building of the strategies. */
final class Assignments {
    private static final Worker[] NO_WORKERS = new Worker[0];
    private static final Partition[] NO_PARTITIONS = new Partition[0];

    private Assignments() {
    }

    /** The workers sorted by ID. */
    static Worker[] sortedWorkers(List<Worker> workers) {
        Worker[] ws = workers.toArray(NO_WORKERS);
        Arrays.sort(ws);
        return ws;
    }

    /** The partitions in request order (a copy). */
    static Partition[] partitions(List<Partition> partitions) {
        return partitions.toArray(NO_PARTITIONS);
    }

    /** Every worker with an empty list. */
    static Map<String, List<Partition>> allEmpty(Worker[] sortedWorkers) {
        Map<String, List<Partition>> result = new LinkedHashMap<>(capacityFor(sortedWorkers.length));
        for (Worker w : sortedWorkers) {
            result.put(w.id(), List.of());
        }
        return Collections.unmodifiableMap(result);
    }

    /**
     * Builds the unmodifiable result, keyed in worker ID order, each list in natural order.
     *
     * @param sortedWorkers workers sorted by ID
     * @param partitions    the partitions
     * @param owner         for each partition, the index of its worker in {@code sortedWorkers}
     * @param order         the permutation sorting {@code partitions} (see {@link PartitionOrder#sort})
     */
    static Map<String, List<Partition>> build(Worker[] sortedWorkers, Partition[] partitions, int[] owner, int[] order) {
        int n = sortedWorkers.length;
        int[] counts = new int[n];
        for (int o : owner) {
            counts[o]++;
        }
        Partition[][] lists = new Partition[n][];
        for (int w = 0; w < n; w++) {
            lists[w] = new Partition[counts[w]];
        }
        int[] fill = new int[n];
        for (int k = 0; k < partitions.length; k++) {
            int i = order[k];
            int o = owner[i];
            lists[o][fill[o]++] = partitions[i];
        }
        Map<String, List<Partition>> result = new LinkedHashMap<>(capacityFor(n));
        for (int w = 0; w < n; w++) {
            Partition[] list = lists[w];
            result.put(sortedWorkers[w].id(), list.length == 0 ? List.of() : Collections.unmodifiableList(Arrays.asList(list)));
        }
        return Collections.unmodifiableMap(result);
    }

    private static int capacityFor(int n) {
        return (int) (n / 0.75f) + 1;
    }
}
