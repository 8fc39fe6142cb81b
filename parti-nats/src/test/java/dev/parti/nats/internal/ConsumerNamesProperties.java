package dev.parti.nats.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.StringLength;

class ConsumerNamesProperties {
    @Property
    void namesUseOnlySafeCharactersAndStayShort(@ForAll @StringLength(min = 1, max = 400) String partitionId) {
        String name = ConsumerNames.durable("orders_workers", partitionId);
        assertThat(name).matches("[A-Za-z0-9_-]+");
        assertThat(name.length()).isLessThanOrEqualTo(ConsumerNames.MAX_LENGTH);
    }

    @Property
    void distinctPartitionsGetDistinctNames(@ForAll @StringLength(min = 1, max = 60) String a,
                                            @ForAll @StringLength(min = 1, max = 60) String b) {
        if (!a.equals(b)) {
            assertThat(ConsumerNames.durable("p", a)).isNotEqualTo(ConsumerNames.durable("p", b));
        }
    }

    @Property
    void encodingIsInjectiveOnLookalikes(@ForAll("lookalike") String a, @ForAll("lookalike") String b) {
        if (!a.equals(b)) {
            assertThat(ConsumerNames.encode(a)).isNotEqualTo(ConsumerNames.encode(b));
        }
    }

    @net.jqwik.api.Provide
    net.jqwik.api.Arbitrary<String> lookalike() {
        return net.jqwik.api.Arbitraries.strings().withChars("a1/_-.é").ofMinLength(1).ofMaxLength(6);
    }

    @Example
    void readableForCommonIds() {
        assertThat(ConsumerNames.durable("parti_g", "orders/3")).isEqualTo("parti_g-orders_3");
        assertThat(ConsumerNames.durable("parti_g", "a_b")).isEqualTo("parti_g-a-5fb");
        assertThat(ConsumerNames.prefixFor("parti_orders.v1")).isEqualTo("parti-5forders-2ev1");
    }

    @Example
    void badPrefixIsRefused() {
        assertThatThrownBy(() -> ConsumerNames.durable("a.b", "x")).hasMessageContaining("prefix");
        assertThatThrownBy(() -> ConsumerNames.durable("", "x")).hasMessageContaining("prefix");
    }
}
