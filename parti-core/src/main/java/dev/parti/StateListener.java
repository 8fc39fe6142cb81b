package dev.parti;

/**
 * Told about every state change of a {@link PartiManager}, and about why it is degraded.
 *
 * <p><b>Thread:</b> the manager's callback thread ({@code parti-<group>-callbacks}, a shared thread lent to
 * this worker while the call runs), in turn with {@link AssignmentListener}, never concurrently with it or
 * with itself, in the order the changes
 * happened (they are queued under the same lock that changes the state). An exception is logged
 * and ignored.
 */
@FunctionalInterface
public interface StateListener {
    /** The manager moved from {@code from} to {@code to}. */
    void onStateChange(ManagerState from, ManagerState to);

    /**
     * A reason to be degraded started ({@code detail}: a human-readable explanation). Called before
     * the matching move to {@link ManagerState#DEGRADED} when it causes one. Default: nothing.
     */
    default void onDegraded(DegradedReason reason, String detail) { }

    /** A reason reported by {@link #onDegraded} no longer holds. Default: nothing. */
    default void onRecovered(DegradedReason reason) { }
}
