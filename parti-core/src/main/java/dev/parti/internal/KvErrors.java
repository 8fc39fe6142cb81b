package dev.parti.internal;

import dev.parti.KvErrorKind;

/** Classifies the failure of a KV step for {@link dev.parti.MetricsRecorder#kvError}. */
final class KvErrors {
    private KvErrors() { }

    static KvErrorKind kindOf(Throwable e) {
        if (e instanceof PermissionWatch.PermissionDeniedException) {
            return KvErrorKind.PERMISSION_DENIED;
        }
        if (e instanceof KvGateway.CasConflictException) {
            return KvErrorKind.CAS_CONFLICT;
        }
        if (e instanceof AssignmentPublisher.LeaseLostException) {
            return KvErrorKind.LEASE_LOST;
        }
        if (e instanceof KvGateway.KvUnavailableException) {
            return KvErrorKind.UNAVAILABLE;
        }
        if (e instanceof KvGateway.BucketMissingException) {
            return KvErrorKind.BUCKET_MISSING;
        }
        if (e instanceof KvGateway.KvRejectedException) {
            return KvErrorKind.REJECTED;
        }
        return KvErrorKind.UNEXPECTED;
    }
}
