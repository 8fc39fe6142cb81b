package dev.parti;

/**
 * The observable life cycle of a {@link PartiManager}. Allowed transitions:
 * <pre>
 * INIT → CLAIMING_ID → ELECTION → WAITING_ASSIGNMENT → STABLE
 * WAITING_ASSIGNMENT → SCALING | REBALANCING | EMERGENCY (the leader, computing the first assignment)
 * STABLE → SCALING → REBALANCING → STABLE        (leader: a planned change, after its window)
 * STABLE → REBALANCING → STABLE                   (leader: a graceful leave or partition change, no window)
 * STABLE → EMERGENCY → STABLE                     (leader: a worker vanished, after the confirmation grace)
 * EMERGENCY → SCALING                            (leader: workers joined while the emergency version is handed over)
 * any running state → DEGRADED → the state before (NATS unreachable, then back)
 * any running state → CLAIMING_ID                 (the worker ID was lost; everything was reported lost)
 * any → SHUTDOWN                                  (terminal)
 * </pre>
 * Followers stay in {@code STABLE} while the leader rebalances; they see the result as a new assignment.
 */
public enum ManagerState {
    INIT, CLAIMING_ID, ELECTION, WAITING_ASSIGNMENT, STABLE, SCALING, REBALANCING, EMERGENCY, DEGRADED, SHUTDOWN;

    /** Whether {@code this → to} is an allowed transition. */
    public boolean canMoveTo(ManagerState to) {
        if (to == SHUTDOWN) {
            return this != SHUTDOWN;
        }
        if (this == SHUTDOWN || this == INIT) {
            return this == INIT && to == CLAIMING_ID;
        }
        if (to == DEGRADED) {
            return this != DEGRADED;
        }
        if (to == CLAIMING_ID) {
            return true;
        }
        switch (this) {
            case CLAIMING_ID: return to == ELECTION;
            case ELECTION: return to == WAITING_ASSIGNMENT;
            case WAITING_ASSIGNMENT: return to == STABLE || to == SCALING || to == REBALANCING || to == EMERGENCY;
            case STABLE: return to == SCALING || to == REBALANCING || to == EMERGENCY;
            case SCALING: return to == REBALANCING || to == STABLE || to == EMERGENCY;
            case REBALANCING: return to == STABLE || to == EMERGENCY || to == SCALING;
            case EMERGENCY: return to == STABLE || to == REBALANCING || to == SCALING;
            case DEGRADED: return to != INIT;
            default: return false;
        }
    }
}
