package dev.parti;

/**
 * Why a {@link PartiManager} is {@link ManagerState#DEGRADED} (or, for {@link #ID_LOST}, back in
 * {@link ManagerState#CLAIMING_ID}). Several reasons can hold at once; each is reported when it
 * starts and when it clears, to {@link StateListener#onDegraded}/{@link StateListener#onRecovered},
 * to {@link MetricsRecorder#degraded} and in the log, by its {@link #code()}.
 */
public enum DegradedReason {
    /** NATS did not answer a KV call in time, or the connection is closed or reconnecting. */
    KV_UNAVAILABLE("kv-unavailable"),
    /** No heartbeat write succeeded for {@code sessionTimeout − safetyMargin}: not a safe owner. */
    LEASE_STALE("lease-stale"),
    /** The worker ID is held by another instance now; everything was reported lost. */
    ID_LOST("id-lost"),
    /** One of the group's buckets is missing on the server (deleted under a running group). */
    BUCKET_MISSING("bucket-missing"),
    /** One of the group's buckets was recreated under a running group (its history restarted). */
    BUCKET_RECREATED("bucket-recreated"),
    /** A bucket exists with settings other than this worker's (TTL or replicas). */
    BUCKET_CONFIG_MISMATCH("bucket-config-mismatch"),
    /** The server refused a KV call for another reason than a lost compare-and-set. */
    KV_REJECTED("kv-rejected"),
    /** The leader's assignment record is above the server's max payload: not published. */
    ASSIGNMENT_TOO_LARGE("assignment-too-large"),
    /** The leader's partition source failed or returned nothing; the published partitions are kept. */
    PARTITION_SOURCE_FAILED("partition-source-failed"),
    /**
     * Work outside Parti's protocol failed persistently and the application reported it with
     * {@link PartiManager#reportFault(String, String)} (for example parti-nats cannot create the JetStream
     * consumer of an owned partition); cleared when every reported source was cleared.
     */
    EXTERNAL_FAULT("external-fault");

    private final String code;

    DegradedReason(String code) {
        this.code = code;
    }

    /** The stable, lower-case name used in logs and metrics, e.g. {@code kv-unavailable}. */
    public String code() {
        return code;
    }
}
