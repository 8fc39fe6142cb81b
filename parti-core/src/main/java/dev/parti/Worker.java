package dev.parti;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A live member of a group as the assignment strategy sees it: its stable ID, a positive capacity
 * (relative weight; a worker of capacity 2 should carry twice the load of one of capacity 1 under
 * strategies that honour capacities) and the metadata it publishes in its heartbeat.
 *
 * <p>Metadata is what the worker set with {@link PartiManager#setMetadata(Map)}, plus the keys
 * {@link #HOST_KEY} and {@link #PID_KEY} Parti adds by default (for operators' tools). A worker that
 * runs an older release publishes none: its map is empty. The built-in strategies ignore metadata;
 * a strategy may use it, e.g. the Kafka adapter assigns each member only partitions of the topics
 * its metadata says it subscribes to. A change of any live worker's metadata makes the leader rebalance.
 *
 * @param id       stable worker ID, non-empty
 * @param capacity relative capacity, ≥ 1
 * @param metadata key → value, immutable and sorted by key; never null (empty when none)
 */
public record Worker(String id, long capacity, Map<String, String> metadata) implements Comparable<Worker> {
    /** Capacity given by {@link #of(String)}. */
    public static final long DEFAULT_CAPACITY = 1L;
    /** Metadata key Parti sets by default: the worker's host name. */
    public static final String HOST_KEY = "host";
    /** Metadata key Parti sets by default: the worker's process ID. */
    public static final String PID_KEY = "pid";

    /** Validates the fields and copies the metadata (null means none). */
    public Worker {
        Objects.requireNonNull(id, "id");
        if (id.isEmpty()) {
            throw new IllegalArgumentException("Worker id must not be empty");
        }
        if (capacity < 1) {
            throw new IllegalArgumentException("Worker capacity must be >= 1, was " + capacity + " for " + id);
        }
        if (metadata != null && metadata.values().stream().anyMatch(Objects::isNull)) {
            throw new IllegalArgumentException("Worker metadata must not hold null values, was " + metadata + " for " + id);
        }
        metadata = metadata == null || metadata.isEmpty() ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(metadata));
    }

    /** A worker without metadata. */
    public Worker(String id, long capacity) {
        this(id, capacity, Map.of());
    }

    /** A worker with {@link #DEFAULT_CAPACITY} and no metadata. */
    public static Worker of(String id) {
        return new Worker(id, DEFAULT_CAPACITY);
    }

    /** The metadata value of {@code key}, or null. */
    public String metadata(String key) {
        return metadata.get(key);
    }

    @Override
    public int compareTo(Worker o) {
        return id.compareTo(o.id);
    }
}
