package dev.parti;

import java.time.Duration;

/**
 * Receives Parti's measurements. Called from Parti's worker threads; implementations must be fast
 * and thread-safe and must not throw. The default {@link #NOOP} records nothing.
 */
public interface MetricsRecorder {
    /** Records nothing. */
    MetricsRecorder NOOP = new MetricsRecorder() { };

    /** A state change of the manager. */
    default void stateChanged(ManagerState from, ManagerState to) { }

    /** The leader published assignment {@code version} after computing it in {@code calculation}. */
    default void assignmentPublished(long version, int partitions, int workers, Duration calculation) { }

    /** A worker applied assignment {@code version}: partitions added and removed. */
    default void assignmentApplied(long version, int added, int removed) { }

    /** A KV operation finished; {@code op} is e.g. {@code heartbeat}, {@code claim-id}, {@code publish}. */
    default void kvOperation(String op, boolean ok) { }

    /** The worker runs on a stale lease: its last successful heartbeat started {@code age} ago. */
    default void staleLease(Duration age, LossPolicy policy) { }

    /**
     * A reason to be degraded started ({@code active}) or cleared; see {@link DegradedReason#code()}.
     * Called once per change, on the worker thread that noticed it ({@code parti-<group>-main} or
     * {@code parti-<group>-lease}).
     */
    default void degraded(DegradedReason reason, boolean active) { }
}
