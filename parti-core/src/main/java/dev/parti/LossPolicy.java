package dev.parti;

/**
 * What a worker does when it can no longer prove it is a safe owner: its last successful heartbeat
 * write started more than {@code sessionTimeout − safetyMargin} ago (NATS unreachable, process
 * paused). See {@link PartiConfig.Builder#lossPolicy(LossPolicy)}.
 */
public enum LossPolicy {
    /**
     * Give up every partition ({@link AssignmentListener#onLost}) before any other worker can be
     * assigned them, and own nothing until a fresh assignment arrives. Never two owners; partitions
     * pause while NATS is unreachable.
     */
    FENCE,
    /**
     * Keep the partitions and keep working (like a Kafka consumer cut off from its coordinator),
     * reporting {@link ManagerState#DEGRADED}. Availability first: if the rest of the group still
     * reaches NATS, the session expires and another worker may own the same partitions meanwhile.
     */
    HOLD
}
