package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Parsing nats-server's client DISCONNECT events, and the grace before a proof of close is reported. */
class DeathWatchTest {
    /** Published by nats-server 2.9.10 when a client process was killed with kill -9 (captured, then shortened). */
    static String event(String reason, long cid) {
        return "{\"type\":\"io.nats.server.advisory.v1.client_disconnect\",\"id\":\"wtK6p6F2Ep1Rbd3CpBiwK1\","
                + "\"timestamp\":\"2026-12-06T11:29:31.993442043Z\",\"server\":{\"name\":\"NAYOTV\",\"host\":\"0.0.0.0\","
                + "\"id\":\"NAYOTVGYIO57IUFHLHFXXIBFEQQKI7G666LXYKS2B4UNTYS4CJPVQ3BV\",\"ver\":\"2.9.10\",\"seq\":168,"
                + "\"jetstream\":true,\"time\":\"2026-12-06T11:29:31.993569617Z\"},\"client\":{\"start\":"
                + "\"2026-12-06T11:29:31.080868237Z\",\"host\":\"127.0.0.1\",\"id\":" + cid + ",\"acc\":\"APP\",\"user\":\"app\","
                + "\"name\":\"victim-kill\",\"rtt\":783000,\"stop\":\"2026-12-06T11:29:31.993442043Z\",\"kind\":\"Client\","
                + "\"client_type\":\"nats\"},\"sent\":{\"msgs\":0,\"bytes\":0},\"received\":{\"msgs\":0,\"bytes\":0},"
                + "\"reason\":\"" + reason + "\"}";
    }

    @Test
    void onlyClientClosedProvesAClose() {
        DeathWatch.Disconnect d = DeathWatch.parse(event("Client Closed", 22).getBytes(StandardCharsets.UTF_8));
        assertThat(d).isNotNull();
        assertThat(d.identity()).isEqualTo("NAYOTVGYIO57IUFHLHFXXIBFEQQKI7G666LXYKS2B4UNTYS4CJPVQ3BV:22");
        assertThat(d.clientName()).isEqualTo("victim-kill");
        assertThat(d.provesClose()).isTrue();
        for (String reason : new String[] {"Stale Connection", "Read Error", "Write Error", "Slow Consumer (Write Deadline)",
                "Server Shutdown", "Authentication Timeout", "client closed"}) {
            assertThat(DeathWatch.parse(event(reason, 22).getBytes(StandardCharsets.UTF_8)).provesClose())
                    .as(reason).isFalse();
        }
    }

    @Test
    void unreadableEventsAreIgnored() {
        assertThat(DeathWatch.parse("not json".getBytes(StandardCharsets.UTF_8))).isNull();
        assertThat(DeathWatch.parse("{}".getBytes(StandardCharsets.UTF_8))).isNull();
        assertThat(DeathWatch.parse("{\"server\":{\"id\":\"S\"},\"client\":{},\"reason\":\"Client Closed\"}"
                .getBytes(StandardCharsets.UTF_8))).isNull();
        assertThat(DeathWatch.parse(new byte[0])).isNull();
    }

    @Test
    void aProofIsReportedOnceAfterItsGrace() {
        AtomicLong now = new AtomicLong(1_000);
        DeathWatch w = new DeathWatch("x", 500, 10_000, now::get, delay -> { });
        w.offer("S:1", now.get());
        w.offer("S:1", now.get() + 100); // a duplicate does not restart the grace
        assertThat(w.due(1_499)).isEmpty();
        assertThat(w.due(1_500)).containsExactly("S:1");
        assertThat(w.due(10_000)).isEmpty();
        w.close();
    }

    /**
     * A proof waits for the report of its worker's writes connection: due at once if it came earlier, else parked
     * until it comes (then due at once, with a wake-up), and forgotten after {@code rememberNanos}.
     */
    @Test
    void aProofParkedForItsWritesConnectionIsDueWhenThatIsReportedClosed() {
        AtomicLong now = new AtomicLong(1_000);
        java.util.List<Long> wakes = new java.util.ArrayList<>();
        DeathWatch w = new DeathWatch("x", 500, 10_000, now::get, wakes::add);
        assertThat(w.onDropped("S:2", 1_000)).as("nothing waited for it").isFalse();
        assertThat(w.dropped("S:2", 1_000)).isTrue();
        w.awaitDrop("S:1", "S:2", 1_600); // reported earlier: due at once
        assertThat(w.due(1_600)).containsExactly("S:1");

        w.awaitDrop("S:3", "S:4", 1_700);
        assertThat(w.due(5_000)).isEmpty();
        assertThat(w.onDropped("S:4", 5_000)).isTrue();
        assertThat(w.due(5_000)).containsExactly("S:3");
        assertThat(w.due(5_001)).isEmpty();

        w.awaitDrop("S:5", "S:6", 6_000);
        assertThat(w.onDropped("S:6", 16_000)).as("parked longer than rememberNanos: the session decides").isFalse();
        assertThat(w.dropped("S:2", 11_000)).as("remembered for rememberNanos only").isFalse();
        w.close();
    }

    @Test
    void theHeartbeatNamesItsLivenessAndWritesConnectionsAndOlderReadersSkipThem() {
        Codec.Heartbeat both = new Codec.Heartbeat("i-1", 3, Set.of(), false, 1, Map.of(), 0, Set.of(),
                DeathWatch.identity("NSERVER", 8), DeathWatch.identity("NSERVER", 7));
        byte[] bytes = Codec.encode(both);
        assertThat(new String(bytes, StandardCharsets.UTF_8)).contains("connection=NSERVER:8").contains("writes=NSERVER:7");
        assertThat(Codec.decodeHeartbeat(bytes)).isEqualTo(both);
        assertThat(Codec.decodeHeartbeat(bytes).writesConnection()).isEqualTo("NSERVER:7");
        // a 1.1 heartbeat: its one connection is the writes connection too
        Codec.Heartbeat one = new Codec.Heartbeat("i-1", 3, Set.of(), false, 1, Map.of(), 0, Set.of(), "NSERVER:7");
        assertThat(Codec.decodeHeartbeat(Codec.encode(one)).writesConnection()).isEqualTo("NSERVER:7");
    }

    @Test
    void theHeartbeatCarriesTheConnectionIdentityAndOlderReadersSkipIt() {
        Codec.Heartbeat hb = new Codec.Heartbeat("i-1", 3, Set.of(Partition.of("t", "0")), false, 1, Map.of(), 0, Set.of(),
                DeathWatch.identity("NSERVER", 7));
        byte[] bytes = Codec.encode(hb);
        assertThat(new String(bytes, StandardCharsets.UTF_8)).contains("connection=NSERVER:7");
        assertThat(Codec.decodeHeartbeat(bytes)).isEqualTo(hb);
        Codec.Heartbeat without = new Codec.Heartbeat("i-1", 3, Set.of(), false, 1);
        assertThat(Codec.decodeHeartbeat(Codec.encode(without)).connection()).isNull();
        assertThat(new String(Codec.encode(without), StandardCharsets.UTF_8)).doesNotContain("connection");
    }
}
