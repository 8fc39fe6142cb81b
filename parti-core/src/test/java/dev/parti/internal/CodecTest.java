package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.AlphaChars;
import net.jqwik.api.constraints.Chars;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.StringLength;
import org.junit.jupiter.api.Test;

class CodecTest {
    @Test
    void anAssignmentOfTenThousandPartitionsToTwoHundredWorkersStaysWellUnderNatsDefaultMaxPayload() {
        Map<String, List<Partition>> owners = new TreeMap<>();
        for (int w = 0; w < 200; w++) {
            List<Partition> ps = new ArrayList<>();
            for (int p = w; p < 10_000; p += 200) {
                ps.add(Partition.of("orders-events", Integer.toString(p)));
            }
            owners.put("w-" + w, ps);
        }
        byte[] bytes = Codec.encode(new Codec.AssignmentRecord(12, "w-0", 3, owners));
        System.out.println("[measure] assignment record, 200 workers x 10 000 partitions: " + bytes.length + " bytes");
        assertThat(bytes.length).isLessThan(AssignmentPublisher.MAX_PAYLOAD / 2);
        assertThat(Codec.decodeAssignment(bytes).owners()).isEqualTo(owners);
    }

    @Test
    void recordsRoundTripWithAnyCharactersInKeysAndWeights() {
        Partition odd = Partition.of(List.of("a,b/c=d@e", "ü 1"), 7);
        Codec.Heartbeat hb = new Codec.Heartbeat("inst", 4, Set.of(odd, Partition.of("t", "0")), true, 2);
        Codec.Heartbeat back = Codec.decodeHeartbeat(Codec.encode(hb));
        assertThat(back).isEqualTo(hb);
        assertThat(back.owned()).anySatisfy(p -> assertThat(p.weight()).isEqualTo(7));
        Codec.AssignmentRecord a = new Codec.AssignmentRecord(1, "w.1", 9, Map.of("w 1", List.of(odd)));
        assertThat(Codec.decodeAssignment(Codec.encode(a))).isEqualTo(a);
    }

    /** Worker IDs that are prefixes of each other, escaped characters, weights, an absent worker. */
    @Property(tries = 1000)
    void oneWorkersViewOfARecordIsItsLineOfTheWholeRecord(
            @ForAll @Size(max = 12) List<@AlphaChars @Chars({'-', '.', ' ', '=', ','}) @StringLength(min = 1, max = 4) String> workers,
            @ForAll @IntRange(min = 0, max = 40) int partitions,
            @ForAll @AlphaChars @Chars({'-', '.', ' '}) @StringLength(min = 1, max = 4) String asked) {
        Map<String, List<Partition>> owners = new TreeMap<>();
        List<String> ids = workers.stream().distinct().toList();
        for (int p = 0; p < partitions && !ids.isEmpty(); p++) {
            owners.computeIfAbsent(ids.get(p % ids.size()), k -> new ArrayList<>())
                    .add(Partition.of(List.of("t/" + (p % 3), Integer.toString(p)), 1 + p % 4));
        }
        Codec.AssignmentRecord whole = new Codec.AssignmentRecord(7, "w-0", 2, owners);
        byte[] bytes = Codec.encode(whole);
        for (String id : ids.isEmpty() ? List.of(asked) : List.of(ids.get(0), asked)) {
            Codec.AssignmentRecord view = Codec.decodeAssignmentOf(bytes, id);
            assertThat(view.version()).isEqualTo(7);
            assertThat(view.epoch()).isEqualTo(2);
            assertThat(view.leaderId()).isEqualTo("w-0");
            assertThat(view.of(id)).isEqualTo(whole.of(id));
            assertThat(Calculator.sameOwners(view.owners(), owners.containsKey(id) ? Map.of(id, owners.get(id)) : Map.of())).isTrue();
        }
    }

    @Test
    void malformedRecordsAreRejectedWithAClearMessageByBothDecoders() {
        assertThatThrownBy(() -> Codec.decodeAssignmentOf("{json}".getBytes(StandardCharsets.UTF_8), "w-0"))
                .hasMessageContaining("not a parti/1 record");
        assertThatThrownBy(() -> Codec.decodeAssignmentOf("parti/1\nversion=x\nleader=a\nepoch=1\n".getBytes(StandardCharsets.UTF_8), "w-0"))
                .hasMessageContaining("version");
        assertThatThrownBy(() -> Codec.decodeAssignmentOf("parti/1\nversion=1\nbroken\n".getBytes(StandardCharsets.UTF_8), "w-0"))
                .hasMessageContaining("malformed line 2");
    }

    @Test
    void malformedRecordsAreRejectedWithAClearMessage() {
        assertThatThrownBy(() -> Codec.decodeHeartbeat("{json}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a parti/1 record");
        assertThatThrownBy(() -> Codec.decodeAssignment("parti/1\nversion=x\nleader=a\nepoch=1\n".getBytes(StandardCharsets.UTF_8)))
                .hasMessageContaining("version");
        assertThatThrownBy(() -> Codec.decodeLeader("parti/1\nworker=\n".getBytes(StandardCharsets.UTF_8)))
                .hasMessageContaining("missing field worker");
    }
}
