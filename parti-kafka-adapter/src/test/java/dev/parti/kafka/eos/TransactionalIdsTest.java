package dev.parti.kafka.eos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** Transactional ids: one per (prefix, partition), never shared by two, bad prefixes refused by name. */
class TransactionalIdsTest {
    @Property
    void twoIdsAreEqualExactlyWhenPrefixAndPartitionAre(@ForAll("prefixes") String p1, @ForAll("topics") String t1,
                                                        @ForAll @IntRange(max = 2000) int n1,
                                                        @ForAll("prefixes") String p2, @ForAll("topics") String t2,
                                                        @ForAll @IntRange(max = 2000) int n2) {
        boolean same = p1.equals(p2) && t1.equals(t2) && n1 == n2;
        assertThat(TransactionalIds.of(p1, new TopicPartition(t1, n1)).equals(TransactionalIds.of(p2, new TopicPartition(t2, n2))))
                .isEqualTo(same);
    }

    @Provide
    Arbitrary<String> prefixes() {
        // short strings over a small alphabet that includes the separator and '.', '-', so collisions are tried often
        return Arbitraries.strings().withChars("ab.:-1").ofMinLength(1).ofMaxLength(4);
    }

    @Provide
    Arbitrary<String> topics() {
        // Kafka topic names: [a-zA-Z0-9._-]
        return Arbitraries.strings().withChars("ab.-_1").ofMinLength(1).ofMaxLength(4);
    }

    @Test
    void theIdNamesPrefixTopicAndPartition() {
        assertThat(TransactionalIds.of("orders.v1", new TopicPartition("orders", 7))).isEqualTo("orders.v1:orders:7");
    }

    @Test
    void blankOrControlCharacterPrefixesAreRefused() {
        assertThatThrownBy(() -> TransactionalIds.validatePrefix(" ")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("transactional id prefix").hasMessageContaining("blank");
        assertThatThrownBy(() -> TransactionalIds.validatePrefix("a\nb")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("control characters");
    }
}
