package dev.parti;

/**
 * Told about every state change of a {@link PartiManager}.
 *
 * <p><b>Thread:</b> the manager's callback thread ({@code parti-<group>-callbacks}), the same one
 * that runs {@link AssignmentListener}, never concurrently with itself, in the order the changes
 * happened. An exception is logged and ignored.
 */
@FunctionalInterface
public interface StateListener {
    void onStateChange(ManagerState from, ManagerState to);
}
