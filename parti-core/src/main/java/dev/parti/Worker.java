package dev.parti;

import java.util.Objects;

/**
 * A live member of a group as the assignment strategy sees it: its stable ID and a positive
 * capacity (relative weight; a worker of capacity 2 should carry twice the load of one of capacity 1
 * under strategies that honour capacities).
 *
 * @param id       stable worker ID, non-empty
 * @param capacity relative capacity, ≥ 1
 */
public record Worker(String id, long capacity) implements Comparable<Worker> {
    /** Capacity given by {@link #of(String)}. */
    public static final long DEFAULT_CAPACITY = 1L;

    /** Validates the fields. */
    public Worker {
        Objects.requireNonNull(id, "id");
        if (id.isEmpty()) {
            throw new IllegalArgumentException("Worker id must not be empty");
        }
        if (capacity < 1) {
            throw new IllegalArgumentException("Worker capacity must be >= 1, was " + capacity + " for " + id);
        }
    }

    /** A worker with {@link #DEFAULT_CAPACITY}. */
    public static Worker of(String id) {
        return new Worker(id, DEFAULT_CAPACITY);
    }

    @Override
    public int compareTo(Worker o) {
        return id.compareTo(o.id);
    }
}
