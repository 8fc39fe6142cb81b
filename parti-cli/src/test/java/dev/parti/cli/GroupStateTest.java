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
}
