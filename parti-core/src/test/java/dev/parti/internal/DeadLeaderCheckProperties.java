package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.Codec.Heartbeat;
import dev.parti.internal.DeadLeaderCheck.Decision;
import dev.parti.internal.DeadLeaderCheck.Verdict;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The follower's decision to depose a leader proved dead ({@link DeadLeaderCheck#decide}), pure: it deletes the leader
 * key only when the key holds a leader record of another instance, that worker's heartbeat is the same instance's,
 * still names the closed connection as its liveness connection, and the connection it names for its writes was reported
 * closed (any reason), and then exactly at the revision read. Every other combination changes nothing.
 */
class DeadLeaderCheckProperties {
    private static final String SELF = "me-1";
    private static final String CLOSED = "S:7";
    /** The writes connections the server reported closed (any reason) in these examples. */
    private static final Set<String> DROPPED = Set.of(CLOSED, "S:20");

    /** What a generated key holds: absent, a delete marker, unreadable bytes, or a record. */
    enum Shape { ABSENT, DELETED, GARBAGE, RECORD }

    record LeaderKey(Shape shape, String workerId, String instance, long revision) {
        KvGateway.Entry entry() {
            return switch (shape) {
                case ABSENT -> null;
                case DELETED -> new KvGateway.Entry("leader", new byte[0], revision, true);
                case GARBAGE -> new KvGateway.Entry("leader", "not a record".getBytes(StandardCharsets.UTF_8), revision, false);
                case RECORD -> new KvGateway.Entry("leader", Codec.encode(new Codec.LeaderRecord(workerId, instance)),
                        revision, false);
            };
        }
    }

    /** {@code writes}: the heartbeat's writes connection (null: none named, format 1.1: {@code connection} is it). */
    record HeartbeatKey(Shape shape, String key, String instance, String connection, String writes, long revision) {
        HeartbeatKey(Shape shape, String key, String instance, String connection, long revision) {
            this(shape, key, instance, connection, null, revision);
        }

        String writesConnection() {
            return writes != null ? writes : connection;
        }

        KvGateway.Entry entry() {
            return switch (shape) {
                case ABSENT -> null;
                case DELETED -> new KvGateway.Entry(key, new byte[0], revision, true);
                case GARBAGE -> new KvGateway.Entry(key, "{".getBytes(StandardCharsets.UTF_8), revision, false);
                case RECORD -> new KvGateway.Entry(key, Codec.encode(new Heartbeat(instance, 3, Set.of(), false, 1,
                        Map.of(), 0, Set.of(), connection, writes)), revision, false);
            };
        }
    }

    @Provide
    Arbitrary<LeaderKey> leaderKeys() {
        return Combinators.combine(Arbitraries.of(Shape.class), Arbitraries.of("w-0", "w-1"),
                Arbitraries.of("i-0", "i-1", SELF), Arbitraries.longs().between(1, 1_000))
                .as(LeaderKey::new);
    }

    @Provide
    Arbitrary<HeartbeatKey> heartbeatKeys() {
        return Combinators.combine(Arbitraries.of(Shape.class), Arbitraries.of("w-0", "w-1"),
                Arbitraries.of("i-0", "i-1", SELF), Arbitraries.of(CLOSED, "S:8", "T:7").injectNull(0.2),
                Arbitraries.of("S:20", "S:21").injectNull(0.3), Arbitraries.longs().between(1, 1_000))
                .as(HeartbeatKey::new);
    }

    @Property(tries = 2000)
    void deletesExactlyWhenEverythingStillPointsAtTheClosedConnectionAndOnlyAtTheRevisionRead(
            @ForAll("leaderKeys") LeaderKey leader, @ForAll("heartbeatKeys") HeartbeatKey hb) {
        Decision d = DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader.entry(), hb.entry());
        boolean expected = leader.shape() == Shape.RECORD && !leader.instance().equals(SELF)
                && hb.shape() == Shape.RECORD && hb.key().equals(leader.workerId())
                && hb.instance().equals(leader.instance()) && CLOSED.equals(hb.connection())
                && DROPPED.contains(hb.writesConnection());
        assertThat(d.verdict() == Verdict.DELETE).as("%s %s -> %s", leader, hb, d).isEqualTo(expected);
        if (expected) {
            assertThat(d.revision()).isEqualTo(leader.revision());
            assertThat(d.leaderId()).isEqualTo(leader.workerId());
            assertThat(d.leaderInstance()).isEqualTo(leader.instance());
        }
    }

    @Example
    void eachReasonNotToDeleteIsNamed() {
        KvGateway.Entry leader = new LeaderKey(Shape.RECORD, "w-0", "i-0", 5).entry();
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, null, null).verdict()).isEqualTo(Verdict.NO_LEADER);
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, new LeaderKey(Shape.RECORD, "w-0", SELF, 5).entry(),
                new HeartbeatKey(Shape.RECORD, "w-0", SELF, CLOSED, 9).entry()).verdict()).isEqualTo(Verdict.SELF);
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader, null).verdict()).isEqualTo(Verdict.NO_HEARTBEAT);
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader,
                new HeartbeatKey(Shape.RECORD, "w-0", "i-9", CLOSED, 9).entry()).verdict())
                .as("another instance of the ID").isEqualTo(Verdict.NO_HEARTBEAT);
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader,
                new HeartbeatKey(Shape.RECORD, "w-0", "i-0", "S:8", 9).entry()).verdict())
                .as("the leader reconnected").isEqualTo(Verdict.OTHER_CONNECTION);
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader,
                new HeartbeatKey(Shape.RECORD, "w-0", "i-0", CLOSED, "S:21", 9).entry())).as("its writes connection "
                + "was not reported closed").isEqualTo(new Decision(Verdict.WRITES_OPEN, 0, "w-0", "i-0", "S:21"));
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader,
                new HeartbeatKey(Shape.RECORD, "w-0", "i-0", CLOSED, "S:20", 9).entry())).isEqualTo(
                new Decision(Verdict.DELETE, 5, "w-0", "i-0", null));
        assertThat(DeadLeaderCheck.decide(CLOSED, DROPPED::contains, SELF, leader,
                new HeartbeatKey(Shape.RECORD, "w-0", "i-0", CLOSED, 9).entry())).as("format 1.1: one connection")
                .isEqualTo(new Decision(Verdict.DELETE, 5, "w-0", "i-0", null));
    }

    @Example
    void aProvedCloseIsRememberedForASessionOnce() {
        DeadLeaderCheck check = new DeadLeaderCheck(null, SELF, 1_000);
        check.remember(List.of("S:1", "S:2"), 0);
        check.remember(List.of("S:1"), 500); // already remembered: its session still counts from the first proof
        assertThat(check.remembered(999)).containsExactly("S:1", "S:2");
        assertThat(check.remembered(1_000)).isEmpty();
    }
}
