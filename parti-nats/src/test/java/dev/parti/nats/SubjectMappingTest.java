package dev.parti.nats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import java.util.List;
import org.junit.jupiter.api.Test;

class SubjectMappingTest {
    @Test
    void templateSubstitutesKeys() {
        assertThat(SubjectMapping.template("orders.{partition}.>").subjects(Partition.of("orders", "3"))).containsExactly("orders.3.>");
        assertThat(SubjectMapping.template("{0}.p{1}.*").subjects(Partition.of("eu", "7"))).containsExactly("eu.p7.*");
        assertThat(PartitionedConsumer.numbered("orders", 3)).extracting(Partition::id).containsExactly("orders/0", "orders/1", "orders/2");
    }

    @Test
    void badTemplatesAndKeysAreRefused() {
        assertThatThrownBy(() -> SubjectMapping.template("orders.>")).hasMessageContaining("no placeholder");
        assertThatThrownBy(() -> SubjectMapping.template("orders..{partition}")).hasMessageContaining("not a subject filter");
        assertThatThrownBy(() -> SubjectMapping.template("orders.>.{partition}")).hasMessageContaining("not a subject filter");
        SubjectMapping m = SubjectMapping.template("orders.{partition}");
        assertThatThrownBy(() -> m.subjects(Partition.of("orders", "a.b"))).hasMessageContaining("'a.b'");
        assertThatThrownBy(() -> SubjectMapping.template("x.{2}").subjects(Partition.of("a", "b"))).hasMessageContaining("{2}");
        assertThatThrownBy(() -> SubjectMapping.Templates.checked(p -> List.of(), Partition.of("a"))).hasMessageContaining("no subject");
        assertThatThrownBy(() -> PartitionedConsumer.numbered("orders", 0)).hasMessageContaining("count");
    }
}
