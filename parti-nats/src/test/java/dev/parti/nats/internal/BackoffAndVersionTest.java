package dev.parti.nats.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class BackoffAndVersionTest {
    @Test
    void backoffDoublesUpToTheCap() {
        Backoff b = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1));
        assertThat(b.delay(1)).isEqualTo(Duration.ofMillis(100));
        assertThat(b.delay(2)).isEqualTo(Duration.ofMillis(200));
        assertThat(b.delay(4)).isEqualTo(Duration.ofMillis(800));
        assertThat(b.delay(5)).isEqualTo(Duration.ofSeconds(1));
        assertThat(b.delay(1_000)).isEqualTo(Duration.ofSeconds(1));
        assertThatThrownBy(() -> b.delay(0)).hasMessageContaining("attempt");
        assertThatThrownBy(() -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1))).hasMessageContaining("max");
    }

    @Property
    void backoffIsMonotoneAndBounded(@ForAll @IntRange(min = 1, max = 5_000) int initialMs,
                                     @ForAll @IntRange(min = 0, max = 100_000) int extraMs,
                                     @ForAll @IntRange(min = 1, max = 200) int attempt) {
        Backoff b = new Backoff(Duration.ofMillis(initialMs), Duration.ofMillis(initialMs + (long) extraMs));
        assertThat(b.delay(attempt)).isBetween(b.initial(), b.max());
        assertThat(b.delay(attempt + 1)).isGreaterThanOrEqualTo(b.delay(attempt));
    }

    @Test
    void versionsDecideMultiFilterConsumers() {
        assertThat(ServerVersion.parse("2.9.10").supportsMultiFilter()).isFalse();
        assertThat(ServerVersion.parse("2.9.25").supportsMultiFilter()).isFalse();
        assertThat(ServerVersion.parse("2.10.0").supportsMultiFilter()).isTrue();
        assertThat(ServerVersion.parse("2.10.0-beta.3").supportsMultiFilter()).isTrue();
        assertThat(ServerVersion.parse("v2.11.4").supportsMultiFilter()).isTrue();
        assertThat(ServerVersion.parse("3.0.0").supportsMultiFilter()).isTrue();
        assertThatThrownBy(() -> ServerVersion.parse("two")).hasMessageContaining("'two'");
    }
}
