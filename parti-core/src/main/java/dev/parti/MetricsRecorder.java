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

    /**
     * The leader started a rebalance of kind {@code kind} (its stabilization window, if any, is over).
     * Called on the leader's main thread ({@code parti-<group>-main}).
     */
    default void rebalanceStarted(RebalanceKind kind) { }

    /**
     * The leader's handoff is complete: {@code latency} after the rebalance started, the leader has published
     * an assignment in which every partition is with its new owner (each old owner had reported releasing it, or
     * its session had expired) and every live worker's heartbeat reports owning all its partitions of it.
     * {@code kind} is that of the latest rebalance, {@code latency} runs from the
     * first one still incomplete (a rebalance that supersedes another does not restart the clock). Called on
     * the leader's main thread, at most once per {@link #rebalanceStarted}.
     */
    default void handoffCompleted(RebalanceKind kind, Duration latency) { }

    /**
     * A KV step failed, after {@link #kvOperation kvOperation(operation, false)}: what went wrong. Called on
     * the worker's main thread.
     */
    default void kvError(String operation, KvErrorKind kind) { }
}
