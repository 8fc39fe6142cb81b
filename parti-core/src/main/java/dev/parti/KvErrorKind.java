package dev.parti;

/** What went wrong with a KV operation, as {@link MetricsRecorder#kvError} reports it. */
public enum KvErrorKind {
    /** No answer in time, or the connection is down: the outcome is unknown (network, server overloaded). */
    UNAVAILABLE("unavailable"),
    /** The server refused this user a permission it needs (a permissions violation): retrying cannot help. */
    PERMISSION_DENIED("permission-denied"),
    /** A compare-and-set lost: somebody else wrote the key first. */
    CAS_CONFLICT("cas-conflict"),
    /** One of the group's buckets does not exist on the server. */
    BUCKET_MISSING("bucket-missing"),
    /** The leader's lease was no longer valid at the moment of a write: it stepped down. */
    LEASE_LOST("lease-lost"),
    /** The server or the client refused the call for another reason (a JetStream API error, a bucket setting, a size). */
    REJECTED("rejected"),
    /** Anything else (a bug or an unexpected failure of the client library). */
    UNEXPECTED("unexpected");

    private final String code;

    KvErrorKind(String code) {
        this.code = code;
    }

    /** The stable, lower-case name used in logs and metrics, e.g. {@code cas-conflict}. */
    public String code() {
        return code;
    }
}
