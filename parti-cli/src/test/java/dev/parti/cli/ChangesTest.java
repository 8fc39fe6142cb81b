package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway.Bucket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** {@link GroupView} and {@link Changes} without servers: states are built from the records Parti writes. */
class ChangesTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private static Partition p(int n) {
        return Partition.of("t", Integer.toString(n));
    }

    /** A group state: heartbeat TTL 6 s, worker → owned, the published assignment (null: none). */
    private static GroupState state(Map<String, Set<Partition>> owned, Map<String, Long> applied,
                                    Map<String, List<Partition>> published, long version) {
        GroupState s = new GroupState("g");
        for (Bucket b : Bucket.values()) {
            s.buckets.put(b, new GroupState.BucketInfo(s.names.name(b), true,
                    b == Bucket.HEARTBEATS ? Duration.ofSeconds(6) : Duration.ZERO, 1));
        }
        owned.forEach((w, ps) -> {
            s.apply(Bucket.IDS, w, Codec.encode(new Codec.IdRecord("i-" + w)), 1, T0);
            s.apply(Bucket.HEARTBEATS, w, Codec.encode(new Codec.Heartbeat("i-" + w, applied.getOrDefault(w, version),
                    ps, false, 1)), 1, T0);
        });
        if (published != null) {
            s.apply(Bucket.ASSIGNMENT, "current", Codec.encode(new Codec.AssignmentRecord(version, "w-0", 7, published)), 1, T0);
            s.apply(Bucket.LEADER, "leader", Codec.encode(new Codec.LeaderRecord("w-0", "i-w-0")), 1, T0);
        }
        return s;
    }

    @Test
    void aWithheldPartitionIsAPendingHandoffFromItsHolderToNobodyYet() {
        GroupState s = state(Map.of("w-0", Set.of(p(0), p(1)), "w-1", Set.of()), Map.of("w-0", 1L),
                Map.of("w-0", List.of(p(0)), "w-1", List.of()), 2);
        GroupView v = GroupView.of(s, T0.plusMillis(100));
        assertThat(v.handoffs()).containsExactly(new GroupView.Handoff(p(1), "w-0", null, "w-0 to release it"));
        assertThat(v.worker("w-0").status(2)).isEqualTo("applying");
        assertThat(v.worker("w-1").status(2)).isEqualTo("ok");
    }

    @Test
    void aPublishedPartitionNotYetHeldWaitsForItsNewOwner() {
        GroupState s = state(Map.of("w-0", Set.of(p(0)), "w-1", Set.of()), Map.of("w-1", 1L),
                Map.of("w-0", List.of(p(0)), "w-1", List.of(p(1))), 2);
        assertThat(GroupView.of(s, T0).handoffs())
                .containsExactly(new GroupView.Handoff(p(1), null, "w-1", "w-1 to apply version 2"));
    }

    @Test
    void aHeartbeatOlderThanHalfTheSessionIsLate() {
        GroupState s = state(Map.of("w-0", Set.of(p(0))), Map.of(), Map.of("w-0", List.of(p(0))), 1);
        assertThat(GroupView.of(s, T0.plusMillis(2_900)).worker("w-0").late()).isFalse();
        GroupView late = GroupView.of(s, T0.plusMillis(3_100));
        assertThat(late.worker("w-0").late()).isTrue();
        List<Changes.Change> changes = Changes.between(GroupView.of(s, T0.plusMillis(2_900)), late, Map.of());
        assertThat(changes).extracting(Changes.Change::kind).containsExactly(Changes.Kind.LATE);
    }

    @Test
    void aMoveReadsAsOneVersionThenOneReleaseThenOneAcquisition() {
        GroupView v1 = GroupView.of(state(Map.of("w-0", Set.of(p(0), p(1)), "w-1", Set.of()), Map.of(),
                Map.of("w-0", List.of(p(0), p(1))), 1), T0);
        GroupView v2 = GroupView.of(state(Map.of("w-0", Set.of(p(0)), "w-1", Set.of(p(1))), Map.of(),
                Map.of("w-0", List.of(p(0)), "w-1", List.of(p(1))), 2), T0);
        List<Changes.Change> changes = Changes.between(v1, v2, Map.of());
        assertThat(changes).extracting(Changes.Change::kind)
                .containsExactly(Changes.Kind.VERSION, Changes.Kind.APPLIED, Changes.Kind.APPLIED);
        assertThat(changes.get(0).text()).isEqualTo("version 2 published by w-0 (epoch 7); w-0 -t/1; w-1 +t/1");
        assertThat(changes.get(1).text()).isEqualTo("w-0 applied version 2: owns 1, released t/1");
        assertThat(changes.get(2).text()).isEqualTo("w-1 applied version 2: owns 1, acquired t/1");
    }

    @Test
    void aDepartureCarriesItsReasonAndWhatItHeld() {
        GroupView before = GroupView.of(state(Map.of("w-0", Set.of(p(0)), "w-1", Set.of(p(1))), Map.of(),
                Map.of("w-0", List.of(p(0)), "w-1", List.of(p(1))), 1), T0);
        GroupView after = GroupView.of(state(Map.of("w-0", Set.of(p(0))), Map.of(),
                Map.of("w-0", List.of(p(0)), "w-1", List.of(p(1))), 1), T0);
        List<Changes.Change> changes = Changes.between(before, after, Map.of("w-1", "session expired"));
        assertThat(changes.get(0).kind()).isEqualTo(Changes.Kind.LEFT);
        assertThat(changes.get(0).text()).isEqualTo("w-1 is gone: session expired; it held t/1");
        assertThat(after.worker("w-1").status(1)).isEqualTo("gone");
    }

    @Test
    void aWorkerReportingDegradedReasonsReadsAsDegradedThenRecovered() {
        GroupState s = state(Map.of("w-0", Set.of(p(0))), Map.of(), Map.of("w-0", List.of(p(0))), 1);
        GroupView ok = GroupView.of(s, T0);
        s.apply(Bucket.HEARTBEATS, "w-0", Codec.encode(new Codec.Heartbeat("i-w-0", 1, Set.of(p(0)), false, 1, Map.of(), 0,
                Set.of("kv-unavailable"))), 2, T0);
        GroupView degraded = GroupView.of(s, T0);
        List<Changes.Change> changes = Changes.between(ok, degraded, Map.of());
        assertThat(changes).singleElement().satisfies(c -> {
            assertThat(c.kind()).isEqualTo(Changes.Kind.DEGRADED);
            assertThat(c.text()).isEqualTo("w-0 is degraded: kv-unavailable");
        });
        assertThat(degraded.worker("w-0").status(1)).isEqualTo("degraded (kv-unavailable)");
        assertThat(Changes.between(degraded, ok, Map.of())).singleElement().satisfies(c -> {
            assertThat(c.kind()).isEqualTo(Changes.Kind.RECOVERED);
            assertThat(c.text()).isEqualTo("w-0 is no longer degraded (was kv-unavailable)");
        });
    }

    @Test
    void anUnreadableRecordIsReportedNotFatal() {
        GroupState s = state(Map.of("w-0", Set.of()), Map.of(), null, 0);
        s.apply(Bucket.HEARTBEATS, "w-9", "parti/99\nwhat=ever\n".getBytes(java.nio.charset.StandardCharsets.UTF_8), 3, T0);
        GroupView v = GroupView.of(s, T0);
        assertThat(v.unreadable()).containsKey(s.names.name(Bucket.HEARTBEATS) + "/w-9");
        assertThat(v.workers()).extracting(GroupView.Worker::id).containsExactly("w-0");
    }

    /** Any group compared with itself yields no change; with an empty group, every live worker joined. */
    @Property(tries = 200)
    void noChangeMeansNoEventAndEveryWorkerOfANewGroupJoined(@ForAll("groups") Map<String, Set<Partition>> owned) {
        Map<String, List<Partition>> published = new LinkedHashMap<>();
        owned.forEach((w, ps) -> published.put(w, new ArrayList<>(new TreeSet<>(ps))));
        GroupView v = GroupView.of(state(owned, Map.of(), published, 3), T0);
        assertThat(Changes.between(v, v, Map.of())).isEmpty();
        assertThat(v.handoffs()).isEmpty();
        GroupView empty = GroupView.of(state(Map.of(), Map.of(), null, 0), T0);
        List<Changes.Change> joined = Changes.between(empty, v, Map.of());
        assertThat(joined.stream().filter(c -> c.kind() == Changes.Kind.JOINED).map(Changes.Change::worker))
                .containsExactlyInAnyOrderElementsOf(owned.keySet());
        List<Changes.Change> left = Changes.between(v, empty, Map.of());
        assertThat(left.stream().filter(c -> c.kind() == Changes.Kind.LEFT).map(Changes.Change::worker))
                .containsExactlyInAnyOrderElementsOf(owned.keySet());
    }

    @Provide
    Arbitrary<Map<String, Set<Partition>>> groups() {
        // disjoint ownership: partition n goes to worker (assignment[n]) when < workers
        return Arbitraries.integers().between(1, 5).flatMap(workers ->
                Arbitraries.integers().between(0, workers).list().ofMinSize(0).ofMaxSize(20).map(owners -> {
                    Map<String, Set<Partition>> m = new LinkedHashMap<>();
                    for (int w = 0; w < workers; w++) {
                        m.put("w-" + w, new TreeSet<>());
                    }
                    for (int n = 0; n < owners.size(); n++) {
                        if (owners.get(n) < workers) {
                            m.get("w-" + owners.get(n)).add(p(n));
                        }
                    }
                    return m;
                }));
    }
}
