package dev.parti;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Computes which worker owns which partition. Runs on the leader only, on the leader's calculator
 * thread, never concurrently with itself for one group.
 *
 * <p>Contract every implementation keeps (checked by property tests):
 * <ul>
 *   <li>The result has one entry per worker of the request (possibly an empty list), and no other key.</li>
 *   <li>Every partition of the request is in exactly one list; no other partition appears.</li>
 *   <li>The result depends only on the request's content, not on the order of its lists or maps.</li>
 *   <li>With no workers the result is empty (nothing can be owned); with no partitions every worker gets an empty list.</li>
 *   <li>It is pure: no I/O, no clock, no randomness; it must not modify the request.</li>
 * </ul>
 * Lists in the result are sorted by {@link Partition}'s natural order.
 */
public interface AssignmentStrategy {

    /** A short stable name, used in configuration ({@code parti.strategy}) and logs. */
    String name();

    /**
     * Assigns every partition of the request to one of its workers.
     *
     * @param request workers, partitions and the previous ownership
     * @return worker ID → the partitions it owns, sorted
     */
    Map<String, List<Partition>> assign(Request request);

    /**
     * Whether every worker a cold start waits for is among {@code workers}: the leader then assigns at once instead of
     * waiting out the rest of its cold-start window ({@code PartiConfig.coldStartWindow}). Asked on the leader's
     * calculator thread at each round of a cold start's window, with the live workers and their metadata; the same
     * rules as {@link #assign} (pure, quick, no I/O). An exception counts as false. The default, false, lets the window
     * run out: a strategy says true only when the workers themselves tell it how many to expect (the Kafka adapter's
     * strategy does at a rolling migration's switch, from the Kafka group the members leave).
     *
     * @param workers the live workers, sorted by ID
     * @return true to end the cold-start window now
     */
    default boolean coldStartComplete(List<Worker> workers) {
        return false;
    }

    /**
     * Input of {@link #assign(Request)}.
     *
     * @param workers    the live workers, distinct IDs, any order
     * @param partitions the partitions to assign, distinct keys, any order
     * @param previous   worker ID → partitions it owned before (may name workers or partitions
     *                   that no longer exist; strategies ignore those)
     */
    record Request(List<Worker> workers, List<Partition> partitions, Map<String, Set<Partition>> previous) {
        /** Copies the inputs defensively and rejects duplicates. */
        public Request {
            workers = List.copyOf(workers);
            partitions = List.copyOf(partitions);
            previous = Map.copyOf(previous);
            if (workers.stream().map(Worker::id).distinct().count() != workers.size()) {
                throw new IllegalArgumentException("duplicate worker IDs in " + workers);
            }
            if (partitions.stream().distinct().count() != partitions.size()) {
                throw new IllegalArgumentException("duplicate partitions in the request");
            }
        }

        /** A request with no previous ownership. */
        public static Request fresh(List<Worker> workers, List<Partition> partitions) {
            return new Request(workers, partitions, Map.of());
        }
    }
}
