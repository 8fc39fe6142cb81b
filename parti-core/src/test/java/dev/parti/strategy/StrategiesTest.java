package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.AssignmentStrategy;
import org.junit.jupiter.api.Test;

class StrategiesTest {

    @Test
    void knowsTheFourBuiltInStrategiesByName() {
        assertThat(Strategies.names())
                .containsExactly("sticky-balanced", "consistent-hash", "round-robin", "weighted-bounded-load");
        for (String name : Strategies.names()) {
            assertThat(Strategies.byName(name).name()).isEqualTo(name);
        }
        assertThat(Strategies.byName("consistent-hash")).isInstanceOf(ConsistentHash.class);
        assertThat(Strategies.byName("round-robin")).isInstanceOf(RoundRobin.class);
        assertThat(Strategies.byName("weighted-bounded-load")).isInstanceOf(WeightedBoundedLoad.class);
        assertThat(Strategies.byName("sticky-balanced")).isInstanceOf(StickyBalanced.class);
    }

    @Test
    void theDefaultIsStickyBalanced() {
        AssignmentStrategy strategy = Strategies.defaultStrategy();

        assertThat(strategy).isInstanceOf(StickyBalanced.class);
        assertThat(Strategies.names().get(0)).isEqualTo(strategy.name());
    }

    @Test
    void anUnknownNameIsRejectedWithTheListOfValidNames() {
        assertThatThrownBy(() -> Strategies.byName("range"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'range'")
                .hasMessageContaining("sticky-balanced, consistent-hash, round-robin, weighted-bounded-load");
    }

    @Test
    void defaultSettingsAreThoseDocumented() {
        assertThat(((ConsistentHash) Strategies.byName("consistent-hash")).virtualNodes()).isEqualTo(150);
        WeightedBoundedLoad wbl = (WeightedBoundedLoad) Strategies.byName("weighted-bounded-load");
        assertThat(wbl.loadFactor()).isEqualTo(1.25);
        assertThat(wbl.virtualNodes()).isEqualTo(150);
    }

    @Test
    void badSettingsAreRejectedNotReplacedByDefaults() {
        assertThatThrownBy(() -> new ConsistentHash(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ConsistentHash(100_001)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WeightedBoundedLoad(1.0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WeightedBoundedLoad(0.5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WeightedBoundedLoad(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WeightedBoundedLoad(Double.POSITIVE_INFINITY)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WeightedBoundedLoad(1.5, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
