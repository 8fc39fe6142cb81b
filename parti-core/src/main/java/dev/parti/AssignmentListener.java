package dev.parti;

import java.util.Set;

/**
 * Told what this worker gains and loses.
 *
 * <p><b>Thread:</b> every callback runs on the manager's callback thread
 * ({@code parti-<group>-callbacks}: a thread the JVM's workers share, lent to this worker and carrying that name
 * while the callback runs), never concurrently with itself or with a {@link StateListener}. It need not be the
 * same thread from one call to the next: what a callback keeps in a thread-local does not carry over.
 * <p><b>Ordering:</b> for one new assignment version, {@code onRevoked} runs first, then {@code
 * onAssigned}. Versions are applied in increasing order; when several arrive quickly only the newest
 * is applied (never a mix). Across workers: a partition is assigned to its new owner only after the
 * old owner's {@code onRevoked} has returned and its heartbeat reported the release, or after the old
 * owner's session expired.
 * <p><b>When each fires:</b> {@code onAssigned} once per applied version, even with an empty set;
 * {@code onRevoked} only when something is taken away, and for everything on {@code close()} (either
 * kind); {@code onLost} when the worker can no longer prove it is a safe owner (ID lost, or a stale
 * lease under {@link LossPolicy#FENCE}): the partitions may already belong to someone else.
 * <p><b>Exceptions:</b> logged; the assignment change completes anyway.
 */
public interface AssignmentListener {
    /** Partitions newly owned by this worker under {@code version} (possibly empty). */
    default void onAssigned(Set<Partition> added, long version) { }

    /** Partitions taken away under {@code version}; once this returns they are reported released. */
    default void onRevoked(Set<Partition> removed, long version) { }

    /** Partitions this worker must stop working on at once; {@code version} is the last applied. */
    default void onLost(Set<Partition> lost, long version) {
        onRevoked(lost, version);
    }
}
