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

    /** A fixed list. */
    static PartitionSource of(List<Partition> partitions) {
        List<Partition> copy = List.copyOf(partitions);
        return () -> copy;
    }
}
