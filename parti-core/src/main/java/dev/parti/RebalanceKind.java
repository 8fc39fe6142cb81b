package dev.parti;

/**
 * Why the leader started a rebalance, as {@link MetricsRecorder#rebalanceStarted} and
 * {@link MetricsRecorder#handoffCompleted} report it (see docs/PROTOCOL.md for the classification).
 */
public enum RebalanceKind {
    /** 0 → N workers: the group starts (after the cold-start window). */
    COLD_START("cold-start"),
    /** More than half of the known workers gone or back as new instances (after the cold-start window). */
    RESTART("restart"),
    /** Workers joined (after the planned-scale window). */
    PLANNED_SCALE("planned-scale"),
    /** A worker vanished without leaving: its heartbeat expired (no window, after the emergency grace). */
    EMERGENCY("emergency"),
    /** A worker left gracefully (at once, after the cooldown). */
    LEAVE("leave"),
    /** The partitions changed (at once, after the cooldown). */
    PARTITIONS("partitions"),
    /** A live worker's metadata changed, e.g. a Kafka member subscribed to other topics (after the cooldown). */
    METADATA("metadata"),
    /** A worker asked for one ({@link PartiManager#requestRebalance()}): a fresh version even if nothing moves. */
    REQUESTED("requested");

    private final String code;

    RebalanceKind(String code) {
        this.code = code;
    }

    /** The stable, lower-case name used in logs and metrics, e.g. {@code planned-scale}. */
    public String code() {
        return code;
    }
}
