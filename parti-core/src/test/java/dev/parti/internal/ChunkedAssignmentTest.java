package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import dev.parti.internal.ChunkedAssignment.Encoded;
import dev.parti.internal.ChunkedAssignment.Piece;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.AlphaChars;
import net.jqwik.api.constraints.Chars;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.StringLength;
import org.junit.jupiter.api.Test;

/** The chunked form of the assignment record (format 2): pure encoding and decoding, no NATS. */
class ChunkedAssignmentTest {

    private static Map<String, List<Partition>> owners(int workers, int partitions) {
        Map<String, List<Partition>> owners = new TreeMap<>();
        for (int p = 0; p < partitions; p++) {
            owners.computeIfAbsent("w-" + p % workers, k -> new ArrayList<>()).add(Partition.of("orders-events", Integer.toString(p)));
        }
        return owners;
    }

    private static Map<String, byte[]> store(Encoded e) {
        Map<String, byte[]> s = new HashMap<>();
        for (Piece p : e.pieces()) {
            s.put(p.key(), p.value());
        }
        return s;
    }

    @Test
    void aRecordThatFitsStaysInlineInFormatOneByteForByte() {
        Codec.AssignmentRecord r = new Codec.AssignmentRecord(3, "w-0", 2, owners(4, 100), Map.of("w-1", "i-1"));
        Encoded e = ChunkedAssignment.encode(r, 64 * 1024, "piece.3.x-1");
        assertThat(e.chunked()).isFalse();
        assertThat(e.current()).isEqualTo(Codec.encode(r));
        assertThat(e.pieces()).isEmpty();
    }

    @Test
    void aRecordAboveTheLimitBecomesAManifestAndPiecesEachWithinTheLimit() {
        Codec.AssignmentRecord r = new Codec.AssignmentRecord(7, "w-0", 5, owners(50, 20_000), Map.of("w-3", "inst-3"));
        int limit = 64 * 1024 - KvGateway.HEADER_ALLOWANCE;
        Encoded e = ChunkedAssignment.encode(r, limit, "piece.7.x-1");
        assertThat(e.chunked()).isTrue();
        assertThat(new String(e.current(), StandardCharsets.UTF_8)).startsWith("parti/2\nversion=7\nleader=w-0\nepoch=5\n");
        assertThat(e.current().length).isLessThanOrEqualTo(limit);
        assertThat(e.pieces()).hasSizeGreaterThan(1).allSatisfy(p -> {
            assertThat(p.value().length).isLessThanOrEqualTo(limit);
            assertThat(p.key()).startsWith("piece.7.x-1.");
        });
        Map<String, byte[]> s = store(e);
        assertThat(ChunkedAssignment.decode(e.current(), s::get)).isEqualTo(r);
        // one worker reads one piece of the many, and gets exactly its line
        AtomicInteger reads = new AtomicInteger();
        Codec.AssignmentRecord mine = ChunkedAssignment.decodeOf(e.current(), "w-3", k -> {
            reads.incrementAndGet();
            return s.get(k);
        });
        assertThat(reads).hasValue(1);
        assertThat(mine.of("w-3")).isEqualTo(r.of("w-3"));
        assertThat(mine.instanceOf("w-3")).isEqualTo("inst-3");
        assertThat(mine.version()).isEqualTo(7);
        assertThat(ChunkedAssignment.version(e.current())).isEqualTo(7);
        System.out.println("[measure] 50 workers x 20 000 partitions, limit " + limit + ": inline " + Codec.encode(r).length
                + " bytes; manifest " + e.current().length + " bytes + " + e.pieces().size() + " pieces");
    }

    @Test
    void aWorkerWhoseLineIsAboveTheLimitReadsItFromContinuationPieces() {
        Map<String, List<Partition>> owners = owners(3, 3000);
        owners.put("w-big", owners(1, 5000).get("w-0"));
        Codec.AssignmentRecord r = new Codec.AssignmentRecord(2, "w-0", 1, owners);
        Encoded e = ChunkedAssignment.encode(r, 8192, "piece.2.x-1");
        assertThat(e.manifest().pieces()).anyMatch(p -> p.first() == null);
        Map<String, byte[]> s = store(e);
        assertThat(ChunkedAssignment.decodeOf(e.current(), "w-big", s::get).of("w-big")).isEqualTo(owners.get("w-big"));
        assertThat(ChunkedAssignment.decodeOf(e.current(), "w-2", s::get).of("w-2")).isEqualTo(owners.get("w-2"));
        assertThat(ChunkedAssignment.decodeOf(e.current(), "w-absent", s::get).owners()).isEmpty();
        assertThat(ChunkedAssignment.decode(e.current(), s::get)).isEqualTo(r);
    }

    @Test
    void aMissingOrAlteredPieceIsStaleNeverAMixOfVersions() {
        Codec.AssignmentRecord r = new Codec.AssignmentRecord(9, "w-0", 1, owners(10, 5000));
        Encoded e = ChunkedAssignment.encode(r, 8192, "piece.9.x-1");
        Map<String, byte[]> s = store(e);
        String victim = e.pieces().get(1).key();
        Map<String, byte[]> altered = new HashMap<>(s);
        byte[] other = altered.get(victim).clone();
        other[other.length - 2] ^= 1;
        altered.put(victim, other);
        assertThatThrownBy(() -> ChunkedAssignment.decode(e.current(), altered::get))
                .isInstanceOf(ChunkedAssignment.StalePieceException.class).hasMessageContaining("does not match its hash");
        s.remove(victim);
        assertThatThrownBy(() -> ChunkedAssignment.decode(e.current(), s::get))
                .isInstanceOf(ChunkedAssignment.StalePieceException.class).hasMessageContaining(victim + " of assignment version 9 is gone");
    }

    @Test
    void theInlineDecoderRefusesAManifestNamingItsFormat() {
        Encoded e = ChunkedAssignment.chunk(new Codec.AssignmentRecord(4, "w-0", 1, owners(3, 30)), 1024, "piece.4.x-1");
        assertThatThrownBy(() -> Codec.decodeAssignment(e.current()))
                .isInstanceOf(Codec.UnsupportedFormatException.class).hasMessageContaining("parti/2").hasMessageContaining("chunked");
        assertThatThrownBy(() -> Codec.decodeAssignmentOf(e.current(), "w-0"))
                .isInstanceOf(Codec.UnsupportedFormatException.class);
        // the first line is what a reader of format 1 checks: parti/2 is a newer format to it, refused, never misread
        assertThat(new String(e.current(), StandardCharsets.UTF_8)).startsWith("parti/2\n");
    }

    @Test
    void pieceKeysNameTheirVersionAndPublication() {
        assertThat(ChunkedAssignment.pieceVersion("piece.12.3-ab-4.0")).isEqualTo(12);
        assertThat(ChunkedAssignment.prefixOf("piece.12.3-ab-4.0")).isEqualTo("piece.12.3-ab-4");
        assertThat(ChunkedAssignment.pieceVersion("current")).isEqualTo(-1);
        assertThat(ChunkedAssignment.pieceVersion("piece.x.1")).isEqualTo(-1);
    }

    /** Any record, any limit: the pieces and manifest fit, the whole decodes back, and each worker's view is its line. */
    @Property(tries = 300)
    void chunkingLosesNothingAndEachWorkerSeesItsOwnLine(
            @ForAll @Size(max = 15) List<@AlphaChars @Chars({'-', '.', ' ', '=', ','}) @StringLength(min = 1, max = 5) String> workers,
            @ForAll @IntRange(min = 0, max = 600) int partitions,
            @ForAll @IntRange(min = 1000, max = 4000) int limit) {
        Map<String, List<Partition>> owners = new TreeMap<>();
        Map<String, String> instances = new TreeMap<>();
        List<String> ids = workers.stream().distinct().toList();
        for (int p = 0; p < partitions && !ids.isEmpty(); p++) {
            owners.computeIfAbsent(ids.get(p % ids.size()), k -> new ArrayList<>())
                    .add(Partition.of(List.of("t/" + (p % 3), Integer.toString(p)), 1 + p % 4));
        }
        for (int i = 0; i < ids.size(); i += 2) {
            instances.put(ids.get(i), "inst-" + i);
        }
        Codec.AssignmentRecord r = new Codec.AssignmentRecord(5, "w-0", 2, owners, instances);
        Encoded e = ChunkedAssignment.chunk(r, limit, "piece.5.x-1");
        assertThat(e.current().length).isLessThanOrEqualTo(limit);
        assertThat(e.pieces()).allSatisfy(p -> assertThat(p.value().length).isLessThanOrEqualTo(limit));
        Map<String, byte[]> s = store(e);
        assertThat(ChunkedAssignment.decode(e.current(), s::get)).isEqualTo(r);
        byte[] inline = Codec.encode(r);
        for (String id : ids) {
            assertThat(ChunkedAssignment.decodeOf(e.current(), id, s::get)).isEqualTo(Codec.decodeAssignmentOf(inline, id));
        }
        assertThat(ChunkedAssignment.decodeOf(e.current(), "absent!", s::get)).isEqualTo(Codec.decodeAssignmentOf(inline, "absent!"));
    }
}
