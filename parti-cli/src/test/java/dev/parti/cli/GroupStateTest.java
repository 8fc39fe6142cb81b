package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway.Bucket;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What a scan of the keys may conclude about heartbeats missing from it. */
class GroupStateTest {
    @Test
    void aKeyMissingFromAListingIsGoneOnlyIfItCouldHaveExpired() {
        GroupState s = new GroupState("g");
        s.buckets.put(Bucket.HEARTBEATS, new GroupState.BucketInfo(s.names.name(Bucket.HEARTBEATS), true, Duration.ofSeconds(1), 1));
        Instant now = Instant.parse("2026-01-01T00:00:10Z");
        byte[] hb = Codec.encode(new Codec.Heartbeat("i", 1, Set.of(), false, 1));
        s.apply(Bucket.HEARTBEATS, "w-0", hb, 1, now.minusMillis(100)); // rewritten while the listing ran
        s.apply(Bucket.HEARTBEATS, "w-1", hb, 2, now.minusMillis(900)); // late: may have expired
        s.apply(Bucket.HEARTBEATS, "w-2", hb, 3, now.minusMillis(100));
        assertThat(s.retain(Bucket.HEARTBEATS, List.of("w-2"), now)).containsExactly("w-1");
        assertThat(s.heartbeats).containsOnlyKeys("w-0", "w-2");
        assertThat(s.retain(Bucket.HEARTBEATS, List.of("w-2"), now.plusMillis(500))).containsExactly("w-0");
    }

    /** A chunked assignment record (issue 19): the manifest and its pieces, read in either order, give the record. */
    @Test
    void aChunkedAssignmentIsReadWhicheverOrderItsPiecesArriveIn() {
        java.util.Map<String, List<dev.parti.Partition>> owners = new java.util.TreeMap<>();
        for (int w = 0; w < 20; w++) {
            List<dev.parti.Partition> ps = new java.util.ArrayList<>();
            for (int p = 0; p < 20; p++) {
                ps.add(dev.parti.Partition.of("topic", Integer.toString(w * 20 + p)));
            }
            owners.put("w-" + w, ps);
        }
        Codec.AssignmentRecord record = new Codec.AssignmentRecord(9, "w-0", 4, owners);
        dev.parti.internal.ChunkedAssignment.Encoded e = dev.parti.internal.ChunkedAssignment.encode(record, 1024, "piece.9.t");
        assertThat(e.chunked()).isTrue();
        Instant at = Instant.parse("2026-01-01T00:00:00Z");

        GroupState managerFirst = new GroupState("g"); // describe lists "current" before "piece.*"
        managerFirst.apply(Bucket.ASSIGNMENT, "current", e.current(), 40, at);
        assertThat(managerFirst.currentAssignment()).isNull();
        assertThat(managerFirst.unreadable()).isEmpty();
        e.pieces().forEach(p -> managerFirst.apply(Bucket.ASSIGNMENT, p.key(), p.value(), 30, at));
        assertThat(managerFirst.currentAssignment().value()).isEqualTo(record);
        assertThat(managerFirst.currentAssignment().revision()).isEqualTo(40);

        GroupState piecesFirst = new GroupState("g"); // a watch sees the pieces written before the manifest
        e.pieces().forEach(p -> piecesFirst.apply(Bucket.ASSIGNMENT, p.key(), p.value(), 30, at));
        piecesFirst.apply(Bucket.ASSIGNMENT, "current", e.current(), 40, at);
        assertThat(piecesFirst.currentAssignment().value()).isEqualTo(record);
        assertThat(piecesFirst.assignment).containsOnlyKeys("current");
    }
}
