package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class PartitionTest {
    @Test
    void numbersSortNumericallyAndBeforeOtherKeys() {
        List<Partition> ps = new ArrayList<>(List.of(Partition.of("t", "1a"), Partition.of("t", "10"),
                Partition.of("t", "2"), Partition.of("t", "02"), Partition.of("s", "9")));
        ps.sort(null);
        assertThat(ps).extracting(Partition::id).containsExactly("s/9", "t/02", "t/2", "t/10", "t/1a");
    }

    @Provide
    Arbitrary<String> keys() {
        return Arbitraries.oneOf(Arbitraries.strings().numeric().ofMinLength(1).ofMaxLength(3),
                Arbitraries.strings().withChars("01a").ofMinLength(1).ofMaxLength(3));
    }

    @Property(tries = 1000)
    void theNaturalOrderIsTransitive(@ForAll("keys") String a, @ForAll("keys") String b, @ForAll("keys") String c) {
        Partition x = Partition.of("t", a);
        Partition y = Partition.of("t", b);
        Partition z = Partition.of("t", c);
        if (x.compareTo(y) <= 0 && y.compareTo(z) <= 0) {
            assertThat(x.compareTo(z)).isLessThanOrEqualTo(0);
        }
        assertThat(Integer.signum(x.compareTo(y))).isEqualTo(-Integer.signum(y.compareTo(x)));
    }
}
