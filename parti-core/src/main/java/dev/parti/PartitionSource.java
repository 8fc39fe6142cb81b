package dev.parti;

import java.util.List;

/**
 * Where the leader reads the set of partitions to distribute. Called on the leader's worker thread
 * at start of leadership, on {@link PartiManager#refreshPartitions()}, and before every rebalance.
 * An exception is logged and the previous list is kept.
 */
@FunctionalInterface
public interface PartitionSource {
    /** The current partitions; distinct keys. */
    List<Partition> partitions() throws Exception;

    /**
     * The current partitions for the given live workers, with their {@link Worker#metadata()}: a source
     * whose partitions depend on what the members ask for (the Kafka adapter: the union of the topics
     * they subscribe to) overrides this. The leader calls this one; the default ignores the workers.
     *
     * @param workers the live workers the leader knows now, sorted by ID (empty before any heartbeat)
     */
    default List<Partition> partitions(List<Worker> workers) throws Exception {
        return partitions();
    }

    /** A fixed list. */
    static PartitionSource of(List<Partition> partitions) {
        List<Partition> copy = List.copyOf(partitions);
        return () -> copy;
    }
}
