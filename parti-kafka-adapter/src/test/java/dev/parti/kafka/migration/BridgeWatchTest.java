package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.Codec;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/**
 * When the watch of the switching members' heartbeats lets their Kafka members be removed: only once each one's heartbeat
 * has not changed for a Parti session plus a heartbeat interval on this process's clock, and only while the watch itself
 * hears (this member's own heartbeat changes every interval). The logic alone, with a hand-driven clock.
 */
class BridgeWatchTest {
    private static final Duration SESSION = Duration.ofSeconds(2);
    private static final Duration INTERVAL = Duration.ofMillis(100);
    private static final long MS = 1_000_000L;

    private final AtomicLong now = new AtomicLong(1_000 * MS);
    private final BridgeWatch watch = new BridgeWatch(null, SESSION, INTERVAL, now::get);

    private static byte[] heartbeat(String bridgeMember) {
        Map<String, String> metadata = bridgeMember == null ? Map.of("kafka.subscription", "t")
                : Map.of("kafka.subscription", "t", BridgeWatch.METADATA_KEY, bridgeMember);
        return Codec.encode(new Codec.Heartbeat("i-1", 1, Set.of(), false, 1, metadata, 0));
    }

    /** Advances the clock by {@code ms}, this member's own heartbeat changing every interval meanwhile. */
    private void elapse(long ms) {
        for (long t = 0; t < ms; t += INTERVAL.toMillis()) {
            long step = Math.min(INTERVAL.toMillis(), ms - t);
            now.addAndGet(step * MS);
            watch.seen("self", heartbeat("m-self"));
        }
    }

    @Property(tries = 200)
    void aMemberCountsAsStoppedOnlyOnceItsHeartbeatIsASessionPlusAnIntervalOld(
            @ForAll @LongRange(min = 0, max = 5_000) long silentMs) {
        watch.seen("w-1", heartbeat("m-1"));
        elapse(silentMs);
        assertThat(watch.allStopped(List.of("m-1")))
                .as("heartbeat unchanged for %d ms (session %d ms, interval %d ms)", silentMs, SESSION.toMillis(),
                        INTERVAL.toMillis())
                .isEqualTo(silentMs >= SESSION.plus(INTERVAL).toMillis());
    }

    @Test
    void aHeartbeatThatChangesAgainStartsTheCountAnew() {
        watch.seen("w-1", heartbeat("m-1"));
        elapse(2_000);
        watch.seen("w-1", heartbeat("m-1"));
        elapse(2_000);
        assertThat(watch.allStopped(List.of("m-1"))).isFalse();
        elapse(100);
        assertThat(watch.allStopped(List.of("m-1"))).isTrue();
    }

    @Test
    void aDeleteOfTheHeartbeatDoesNotMakeItsMemberStoppedSooner() {
        watch.seen("w-1", heartbeat("m-1"));
        elapse(1_000);
        watch.seen("w-1", null); // a graceful close, or anything else: only the time since the last put counts
        assertThat(watch.allStopped(List.of("m-1"))).isFalse();
        elapse(1_100);
        assertThat(watch.allStopped(List.of("m-1"))).isTrue();
    }

    @Test
    void nothingIsStoppedWhileTheWatchHearsNothing() {
        watch.seen("w-1", heartbeat("m-1"));
        now.addAndGet(10_000 * MS); // no event at all, this member's own heartbeat neither: the watch may be stalled
        assertThat(watch.allStopped(List.of("m-1"))).isFalse();
        watch.seen("self", heartbeat("m-self"));
        assertThat(watch.allStopped(List.of("m-1"))).isTrue();
    }

    @Test
    void everyMemberMustBeAStoppedSwitchingMemberNotJustOne() {
        watch.seen("w-1", heartbeat("m-1"));
        watch.seen("w-2", heartbeat("m-2"));
        elapse(1_500);
        watch.seen("w-2", heartbeat("m-2"));
        elapse(800);
        assertThat(watch.allStopped(List.of("m-1"))).isTrue();
        assertThat(watch.allStopped(List.of("m-1", "m-2"))).as("m-2's heartbeat changed 800 ms ago").isFalse();
        assertThat(watch.allStopped(List.of("m-1", "k-1"))).as("k-1 published by no switching member").isFalse();
        assertThat(watch.allStopped(List.of())).isFalse();
    }

    @Test
    void aWorkerThatNoLongerPublishesAMemberIdIsForgotten() {
        watch.seen("w-1", heartbeat("m-1"));
        watch.seen("w-1", heartbeat(null)); // a new instance under the same worker ID, not switching
        elapse(3_000);
        assertThat(watch.allStopped(List.of("m-1"))).isFalse();
    }
}
