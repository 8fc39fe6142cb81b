package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The chunked assignment record against a real nats-server with {@code max_payload: 65536}: the compare-and-set
 * on {@code current} stays the one fence of the whole record (invariants 2 and 3).
 */
class ChunkedPublicationTest {
    private static Path config;
    private static NatsServer nats;

    @BeforeAll
    static void startNats() throws Exception {
        config = Files.createTempFile("nats-64k-payload", ".conf");
        Files.writeString(config, "max_payload: 65536\n");
        nats = NatsServer.builder().args("-c", config.toString()).start();
    }

    @AfterAll
    static void stopNats() throws Exception {
        if (nats != null) {
            nats.close();
        }
        Files.deleteIfExists(config);
    }

    /** About 170 kB inline: far above 64 kB. */
    private static Map<String, List<Partition>> owners(int workers, int shift) {
        Map<String, List<Partition>> owners = new TreeMap<>();
        for (int p = 0; p < 12_000; p++) {
            owners.computeIfAbsent("w-" + (p + shift) % workers, k -> new ArrayList<>()).add(Partition.of("orders-events", Integer.toString(p)));
        }
        return owners;
    }

    private static KvGateway gateway(Connection conn, String group) {
        KvGateway kv = new KvGateway(conn, new BucketNames(group), Duration.ofSeconds(2));
        kv.provision(Map.of(Bucket.IDS, Duration.ofSeconds(30), Bucket.HEARTBEATS, Duration.ofSeconds(6),
                Bucket.LEADER, Duration.ofSeconds(5)), 1);
        return kv;
    }

    private static List<String> pieceKeys(Kv kv) {
        return kv.keys(Bucket.ASSIGNMENT).stream().filter(k -> !k.equals(AssignmentPublisher.KEY)).sorted().toList();
    }

    private static byte[] piece(Kv kv, String key) {
        KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, key);
        return e == null ? null : e.value();
    }

    @Test
    void aDeposedLeadersChunkedWriteLosesItsCompareAndSetAndLeavesNoPieces() throws Exception {
        try (Connection a = Nats.connect(nats.url()); Connection b = Nats.connect(nats.url())) {
            KvGateway kvA = gateway(a, "chunked-fence");
            KvGateway kvB = gateway(b, "chunked-fence");
            AssignmentPublisher leaderA = new AssignmentPublisher(kvA);
            leaderA.load();
            Codec.AssignmentRecord v1 = leaderA.publish(owners(20, 0), "w-a", 1);
            assertThat(v1).isNotNull();
            byte[] v1Manifest = kvA.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value();
            assertThat(ChunkedAssignment.isManifest(v1Manifest)).isTrue();
            assertThat(v1Manifest.length).isLessThan(65536 - KvGateway.HEADER_ALLOWANCE);
            List<String> v1Pieces = pieceKeys(kvA);
            assertThat(v1Pieces).hasSizeGreaterThan(1);

            // a new leader reads the whole record from its pieces and fences the chain
            AssignmentPublisher leaderB = new AssignmentPublisher(kvB);
            assertThat(leaderB.load()).isEqualTo(v1);
            assertThat(leaderB.fence("w-b", 2, () -> true)).isTrue();
            assertThat(pieceKeys(kvB)).as("the fence keeps the pieces; only the manifest's header changed").isEqualTo(v1Pieces);

            // the deposed leader, unaware, publishes a chunked version 2: its pieces are written, its CAS refused
            assertThat(leaderA.publish(owners(20, 1), "w-a", 1)).as("the deposed leader's write").isNull();
            assertThat(leaderA.current().leaderId()).as("what won, reloaded").isEqualTo("w-b");
            assertThat(pieceKeys(kvA)).as("the losing attempt's pieces are purged").isEqualTo(v1Pieces);
            Codec.AssignmentRecord stored = ChunkedAssignment.decode(kvA.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value(),
                    k -> piece(kvA, k));
            assertThat(stored.version()).isEqualTo(v1.version());
            assertThat(stored.owners()).isEqualTo(v1.owners());
            assertThat(stored.leaderId()).isEqualTo("w-b");

            // the new leader publishes version 2: a reader still holding version 1's manifest finds its pieces gone
            Codec.AssignmentRecord v2 = leaderB.publish(owners(20, 2), "w-b", 2);
            assertThat(v2.version()).isEqualTo(v1.version() + 1);
            assertThat(pieceKeys(kvB)).doesNotContainAnyElementsOf(v1Pieces);
            assertThatThrownBy(() -> ChunkedAssignment.decodeOf(v1Manifest, "w-3", k -> piece(kvB, k)))
                    .isInstanceOf(ChunkedAssignment.StalePieceException.class);
            byte[] now = kvB.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value();
            assertThat(ChunkedAssignment.decodeOf(now, "w-3", k -> piece(kvB, k)).of("w-3")).isEqualTo(v2.of("w-3"));
        }
    }

    @Test
    void aRecordThatShrinksBelowTheLimitIsWrittenInlineAgainAndItsPiecesPurged() throws Exception {
        try (Connection c = Nats.connect(nats.url())) {
            KvGateway kv = gateway(c, "chunked-shrink");
            AssignmentPublisher leader = new AssignmentPublisher(kv);
            leader.load();
            leader.publish(owners(10, 0), "w-0", 1);
            assertThat(pieceKeys(kv)).isNotEmpty();
            Codec.AssignmentRecord small = leader.publish(Map.of("w-0", List.of(Partition.of("t", "0"))), "w-0", 1);
            byte[] current = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value();
            assertThat(ChunkedAssignment.isManifest(current)).isFalse();
            assertThat(Codec.decodeAssignment(current)).isEqualTo(small);
            assertThat(pieceKeys(kv)).isEmpty();
        }
    }
}
