package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.KvErrorKind;
import dev.parti.RebalanceKind;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The kinds the core reports to MetricsRecorder; the meters after real rebalances are in PartiMicrometerTest. */
class MetricsHooksTest {
    @Test
    void everyRebalanceTypeHasAKindAndBack() {
        for (Calculator.RebalanceType t : Calculator.RebalanceType.values()) {
            assertThat(RebalanceKind.valueOf(t.name()).code()).isEqualTo(t.name().toLowerCase().replace('_', '-'));
        }
        assertThat(RebalanceKind.values()).hasSameSizeAs(Calculator.RebalanceType.values());
    }

    @Test
    void kvFailuresAreClassified() {
        KvGateway.KvUnavailableException timeout = new KvGateway.KvUnavailableException("t", null);
        assertThat(KvErrors.kindOf(timeout)).isEqualTo(KvErrorKind.UNAVAILABLE);
        assertThat(KvErrors.kindOf(new KvGateway.CasConflictException("c"))).isEqualTo(KvErrorKind.CAS_CONFLICT);
        assertThat(KvErrors.kindOf(new KvGateway.KvRejectedException("r", null))).isEqualTo(KvErrorKind.REJECTED);
        assertThat(KvErrors.kindOf(new KvGateway.BucketMissingException("x", null))).isEqualTo(KvErrorKind.BUCKET_MISSING);
        PermissionWatch watch = new PermissionWatch(new io.nats.client.ErrorListener() { }, new BucketNames("g"));
        long mark = watch.mark();
        watch.errorOccurred(null, "Permissions Violation for Publish to \"$KV.x.y\"");
        assertThat(KvErrors.kindOf(watch.classify(timeout, "heartbeat", mark))).isEqualTo(KvErrorKind.PERMISSION_DENIED);
        assertThat(KvErrors.kindOf(new IllegalArgumentException())).isEqualTo(KvErrorKind.UNEXPECTED);
        assertThat(Arrays.stream(KvErrorKind.values()).map(KvErrorKind::code)).doesNotHaveDuplicates();
    }
}
