package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;

/**
 * Every config the builder accepts keeps both leases alive between two renewals (the arithmetic of
 * {@link PartiConfig}'s class comment, restated here independently): otherwise a leader loses its lease
 * before it can publish (issue 12, hole 1: with session 15 s and the other defaults, the lease was 0.5 s
 * against a 1 s election round). A rejected config is rejected by a message naming a builder field.
 */
class LeaseArithmeticProperties {
    private static final Set<String> FIELDS = Set.of("heartbeatInterval", "sessionTimeout", "leaderTtl", "safetyMargin",
            "workerIdTtl", "recoveryGrace", "emergencyGrace");

    private static PartiConfig.Builder base() {
        return PartiConfig.builder("g").natsUrl("nats://127.0.0.1:4222")
                .partitionSource(PartitionSource.of(List.of(Partition.of("t", "0"))))
                .workerIdTtl(Duration.ofHours(1));
    }

    /** One renewal round in nanoseconds, written out: an interval plus max(interval / 2, 50 ms), not rounded to ms. */
    private static long roundNanos(long heartbeatNanos) {
        return heartbeatNanos + Math.max(heartbeatNanos / 2, 50_000_000L);
    }

    private static void assertLeasesOutlastARound(PartiConfig c) {
        long hb = c.heartbeatInterval().toNanos();
        long margin = c.safetyMargin().toNanos();
        assertThat(margin).as("safety margin").isPositive();
        assertThat(c.leaderTtl().toNanos() - margin).as("leader lease of %s", c.leaderTtl())
                .isGreaterThanOrEqualTo(roundNanos(hb));
        assertThat(c.sessionTimeout().toNanos() - margin).as("session lease of %s", c.sessionTimeout())
                .isGreaterThanOrEqualTo(roundNanos(hb));
        assertThat(c.leaderTtl()).isGreaterThanOrEqualTo(c.heartbeatInterval().multipliedBy(2));
    }

    @Property(tries = 2000)
    void everyAcceptedConfigHasLeasesThatOutlastARenewalRound(
            @ForAll @LongRange(min = 1, max = 5_000) long heartbeatMillis,
            @ForAll @LongRange(min = 1, max = 120_000) long sessionMillis,
            @ForAll @LongRange(min = 0, max = 60_000) long leaderTtlMillis,
            @ForAll @LongRange(min = 0, max = 20_000) long marginMillis,
            @ForAll @LongRange(min = 0, max = 20_000) long recoveryMillis) {
        PartiConfig.Builder b = base().heartbeatInterval(Duration.ofMillis(heartbeatMillis))
                .sessionTimeout(Duration.ofMillis(sessionMillis));
        if (leaderTtlMillis > 0) { // 0: left to its default
            b.leaderTtl(Duration.ofMillis(leaderTtlMillis));
        }
        if (marginMillis > 0) {
            b.safetyMargin(Duration.ofMillis(marginMillis));
        }
        if (recoveryMillis > 0) {
            b.recoveryGrace(Duration.ofMillis(recoveryMillis));
        }
        PartiConfig c;
        try {
            c = b.build();
        } catch (IllegalArgumentException rejected) {
            String rest = rejected.getMessage().substring("Invalid Parti config: ".length());
            assertThat(FIELDS).contains(rest.substring(0, rest.indexOf(' ')));
            return;
        }
        assertLeasesOutlastARound(c);
    }

    @Property(tries = 500)
    void everySessionTimeoutWithOtherwiseDefaultSettingsIsAcceptedAndLeavesALeaderLease(
            @ForAll @LongRange(min = 2_500, max = 3_600_000) long sessionMillis) {
        PartiConfig c = base().sessionTimeout(Duration.ofMillis(sessionMillis)).build();
        assertLeasesOutlastARound(c);
        assertThat(c.leaderTtl()).isGreaterThanOrEqualTo(PartiConfig.DEFAULT_LEADER_TTL);
    }

    @Property(tries = 500)
    void aLeaderTtlLeftUnsetNeverRejectsAConfigThatHasAValidSessionLease(
            @ForAll @LongRange(min = 1, max = 5_000) long heartbeatMillis,
            @ForAll @LongRange(min = 1, max = 120_000) long sessionMillis) {
        long marginNanos = Math.max(heartbeatMillis * 1_000_000L, sessionMillis * 1_000_000L / 6);
        Assume.that(sessionMillis >= 2 * heartbeatMillis
                && sessionMillis * 1_000_000L - marginNanos >= roundNanos(heartbeatMillis * 1_000_000L));
        PartiConfig c = base().heartbeatInterval(Duration.ofMillis(heartbeatMillis))
                .sessionTimeout(Duration.ofMillis(sessionMillis)).build();
        assertLeasesOutlastARound(c);
    }
}
