package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.Partition;
import dev.parti.internal.Codec.MalformedRecordException;
import dev.parti.internal.Codec.UnsupportedFormatException;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 12, hole 10 (format side): every record carries its format version; a record of a newer
 * format and an unreadable record are two distinct, typed decode errors (the protocol can then keep
 * its versions instead of treating a newer record as garbage), and records written by today's release
 * still decode byte for byte.
 */
class RecordFormatTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The four decoders, by the name the error messages use. */
    private static final Map<String, Function<byte[], ?>> DECODERS = Map.of(
            "worker-ID", Codec::decodeId,
            "heartbeat", Codec::decodeHeartbeat,
            "leader", Codec::decodeLeader,
            "assignment", Codec::decodeAssignment,
            "assignment (one worker's view)", b -> Codec.decodeAssignmentOf(b, "w-0"));

    @Test
    void recordsWrittenByTodaysReleaseDecodeUnchanged() {
        // literal bytes as the release before this change wrote them
        assertThat(Codec.decodeId(utf8("parti/1\ninstance=5f0c\n"))).isEqualTo(new Codec.IdRecord("5f0c"));
        assertThat(Codec.decodeLeader(utf8("parti/1\nworker=w-3\ninstance=5f0c\n")))
                .isEqualTo(new Codec.LeaderRecord("w-3", "5f0c"));
        assertThat(Codec.decodeHeartbeat(utf8("parti/1\ninstance=5f0c\napplied=7\nfenced=false\ncapacity=2\nowned=t/0,t/1@3\n")))
                .isEqualTo(new Codec.Heartbeat("5f0c", 7, Set.of(Partition.of("t", "0"), Partition.of(List.of("t", "1"), 3)), false, 2));
        Codec.AssignmentRecord a = Codec.decodeAssignment(utf8("parti/1\nversion=9\nleader=w-0\nepoch=4\nw.w-0=t/0\nw.w-1=t/1,t/2\n"));
        assertThat(a).isEqualTo(new Codec.AssignmentRecord(9, "w-0", 4, Map.of(
                "w-0", List.of(Partition.of("t", "0")), "w-1", List.of(Partition.of("t", "1"), Partition.of("t", "2")))));
        // and the encoder still writes exactly that
        assertThat(new String(Codec.encode(a), StandardCharsets.UTF_8))
                .isEqualTo("parti/1\nversion=9\nleader=w-0\nepoch=4\nw.w-0=t/0\nw.w-1=t/1,t/2\n");
    }

    @Test
    void fieldsAReaderDoesNotKnowAreIgnoredWithinAFormatVersion() {
        assertThat(Codec.decodeAssignmentOf(utf8("parti/1\nversion=2\nleader=w-0\nepoch=1\nchecksum=abc\nw.w-0=t/0\n"), "w-0")
                .of("w-0")).containsExactly(Partition.of("t", "0"));
        assertThat(Codec.decodeHeartbeat(utf8("parti/1\ninstance=i\napplied=0\nzone=eu-1\n")).instance()).isEqualTo("i");
    }

    @Test
    void degradedReasonsInAHeartbeatAreOneAddedLineThatEarlierReadersSkip() {
        Codec.Heartbeat hb = new Codec.Heartbeat("5f0c", 7, Set.of(), false, 1, Map.of(), 0,
                Set.of("lease-stale", "kv-unavailable"));
        String text = new String(Codec.encode(hb), StandardCharsets.UTF_8);
        assertThat(text).isEqualTo("parti/1\ninstance=5f0c\napplied=7\nfenced=false\ncapacity=1\nowned=\n"
                + "degraded=kv-unavailable,lease-stale\n");
        assertThat(Codec.decodeHeartbeat(Codec.encode(hb))).isEqualTo(hb);
        assertThat(Codec.decodeHeartbeat(utf8("parti/1\ninstance=i\napplied=0\n")).degraded()).isEmpty();
        // the takeover's copy keeps everything but what it reports owned
        Codec.Heartbeat moved = hb.withOwned(Set.of(Partition.of("t", "1")));
        assertThat(moved.degraded()).isEqualTo(hb.degraded());
        assertThat(moved.owned()).containsExactly(Partition.of("t", "1"));
    }

    @Test
    void heartbeatMetadataOfFormatOnePointOneIsOnlyAddedLinesThatAOnePointZeroReaderSkips() {
        Codec.Heartbeat hb = new Codec.Heartbeat("5f0c", 7, Set.of(Partition.of("t", "0")), false, 2,
                Map.of("host", "node 1", "kafka.subscription", "topics:a,b=c"), 3);
        String text = new String(Codec.encode(hb), StandardCharsets.UTF_8);
        // the 1.0 lines unchanged, then only lines a 1.0 reader does not know (it skips unknown fields, above)
        assertThat(text).isEqualTo("parti/1\ninstance=5f0c\napplied=7\nfenced=false\ncapacity=2\nowned=t/0\n"
                + "rebalance=3\nmeta.host=node+1\nmeta.kafka.subscription=topics%3Aa%2Cb%3Dc\n");
        assertThat(Codec.decodeHeartbeat(Codec.encode(hb))).isEqualTo(hb);
        // a 1.0 heartbeat reads as one without metadata and without requests; and is written byte for byte as before
        Codec.Heartbeat old = Codec.decodeHeartbeat(utf8("parti/1\ninstance=i\napplied=0\n"));
        assertThat(old.metadata()).isEmpty();
        assertThat(old.rebalanceRequests()).isZero();
        assertThat(new String(Codec.encode(new Codec.Heartbeat("i", 0, Set.of(), false, 1)), StandardCharsets.UTF_8))
                .isEqualTo("parti/1\ninstance=i\napplied=0\nfenced=false\ncapacity=1\nowned=\n");
    }

    @Test
    void assignmentLinesAddressedToAnInstanceAreExtraLinesThatAOnePointZeroReaderSkips() {
        Codec.AssignmentRecord a = new Codec.AssignmentRecord(9, "w-0", 4, Map.of("w-0", List.of(Partition.of("t", "0")),
                "w-1", List.of(Partition.of("t", "1"))), Map.of("w-0", "i0", "w-1", "i1"));
        String text = new String(Codec.encode(a), StandardCharsets.UTF_8);
        assertThat(text).isEqualTo("parti/1\nversion=9\nleader=w-0\nepoch=4\nw.w-0=t/0\nw.w-1=t/1\ni.w-0=i0\ni.w-1=i1\n");
        assertThat(Codec.decodeAssignment(Codec.encode(a))).isEqualTo(a);
        Codec.AssignmentRecord mine = Codec.decodeAssignmentOf(Codec.encode(a), "w-1");
        assertThat(mine.of("w-1")).containsExactly(Partition.of("t", "1"));
        assertThat(mine.addressedTo("w-1", "i1")).isTrue();
        assertThat(mine.addressedTo("w-1", "i0")).isFalse();
        // an untagged record (1.0) addresses every line to whichever instance holds the ID
        Codec.AssignmentRecord old = Codec.decodeAssignmentOf(utf8("parti/1\nversion=2\nleader=w-0\nepoch=1\nw.w-1=t/0\n"), "w-1");
        assertThat(old.addressedTo("w-1", "anything")).isTrue();
    }

    @Test
    void aRecordOfANewerFormatIsAnUnsupportedFormatNamingItsVersion() {
        // parti/2 is taken by the chunked assignment record (ChunkedAssignmentTest): a newer format is parti/3 here
        DECODERS.forEach((kind, decoder) -> assertThatThrownBy(() -> decoder.apply(utf8("parti/3\nwhatever=1\n")))
                .as(kind)
                .isInstanceOfSatisfying(UnsupportedFormatException.class, e -> assertThat(e.version()).isEqualTo(3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("format version 3").hasMessageContaining("newer than the version 1"));
    }

    @Test
    void anUnreadableRecordIsMalformedNeverUnsupported() {
        List<String> unreadable = List.of("", "{\"version\":3}", "parti/x\n", "parti/\n", "parti/0\ninstance=i\n",
                "parti/1\nno equals sign\n", "parti/1\n");
        for (String text : unreadable) {
            DECODERS.forEach((kind, decoder) -> assertMalformed(kind, decoder, text));
        }
        assertMalformed("heartbeat", Codec::decodeHeartbeat, "parti/1\ninstance=i\napplied=many\n");
        assertMalformed("heartbeat", Codec::decodeHeartbeat, "parti/1\ninstance=i\napplied=1\nowned=t/0@heavy\n");
        assertMalformed("leader", Codec::decodeLeader, "parti/1\nworker=w-1\n");
        assertMalformed("assignment", Codec::decodeAssignment, "parti/1\nversion=x\nleader=l\nepoch=1\n");
        assertMalformed("assignment", Codec::decodeAssignment, "parti/1\nversion=1\nleader=l\nepoch=1\nw.w-0=%zz\n");
        assertMalformed("assignment", b -> Codec.decodeAssignmentOf(b, "w-0"), "parti/1\nversion=1\nleader=l\nepoch=1\nw.w-0=%zz\n");
        assertThatThrownBy(() -> Codec.decodeHeartbeat(null)).isInstanceOf(MalformedRecordException.class)
                .hasMessageContaining("empty record");
    }

    private static void assertMalformed(String kind, Function<byte[], ?> decoder, String text) {
        assertThatThrownBy(() -> decoder.apply(utf8(text)))
                .as("%s of %s", kind, text)
                .isInstanceOf(MalformedRecordException.class)
                .hasMessageStartingWith("unreadable ");
    }

    /** Through a real bucket: what a newer release or an operator's {@code nats kv put} leaves there. */
    @Test
    void aNewerRecordInTheAssignmentBucketReadsAsUnsupportedAndAGarbledOneAsMalformed() throws Exception {
        try (Connection nc = Nats.connect(nats.server().url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("record-format"), Duration.ofSeconds(2));
            EnumMap<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
            ttls.put(Bucket.IDS, Duration.ofSeconds(30));
            ttls.put(Bucket.HEARTBEATS, Duration.ofSeconds(30));
            ttls.put(Bucket.LEADER, Duration.ofSeconds(30));
            kv.provision(ttls, 1);
            long rev = kv.create(Bucket.ASSIGNMENT, AssignmentPublisher.KEY,
                    utf8("parti/3\nversion=12\nleader=w-0\nepoch=5\nw.w-0=t/0\n"));
            KvGateway.Entry e = kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY);
            assertThatThrownBy(() -> Codec.decodeAssignmentOf(e.value(), "w-0"))
                    .isInstanceOfSatisfying(UnsupportedFormatException.class, u -> assertThat(u.version()).isEqualTo(3));
            kv.update(Bucket.ASSIGNMENT, AssignmentPublisher.KEY, utf8("hello"), rev);
            assertThatThrownBy(() -> Codec.decodeAssignment(kv.get(Bucket.ASSIGNMENT, AssignmentPublisher.KEY).value()))
                    .isInstanceOf(MalformedRecordException.class).hasMessageContaining("not a parti/1 record");
        }
    }
}
