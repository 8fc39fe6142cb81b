package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.PartiConfig;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, goal 1: the leader of a group of static members restarts (closes remaining in the group, a new
 * instance of its ID starts at once). A new instance never applies a line addressed to its predecessor, so it
 * gets its partitions only once some leader publishes a version addressed to it. The closing leader resigns,
 * and the next leader re-addresses the unchanged lines inside its recovery grace: the returning instance owns
 * again long before the old leader key's TTL or the grace would have let anyone publish. Both are 20 s here,
 * so a wait for either one fails the 8 s bound (the test does not time anything finer).
 */
class StaticLeaderReturnTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void close() {
        h.close();
    }

    @Test
    void aLeaderThatRestartsRemainingInTheGroupGetsItsLineWithoutWaitingForItsLeaseOrTheNextLeadersGrace() {
        var ps = Holes.partitions(6);
        Supplier<PartiConfig.Builder> config = () -> Holes.fast("static-leader-return", nats.url(), ps)
                .sessionTimeout(Duration.ofSeconds(4)).workerIdTtl(Duration.ofSeconds(10))
                .leaderTtl(Duration.ofSeconds(20)).recoveryGrace(Duration.ofSeconds(20));
        Holes.Owner first = h.new Owner("orders-0#1");
        GroupMember leader = h.start(config.get().workerId("orders-0"), first);
        await().atMost(Duration.ofSeconds(5)).until(leader::isLeader);
        Holes.Owner other = h.new Owner("orders-1#1");
        GroupMember member = h.start(config.get().workerId("orders-1"), other);
        await().atMost(Duration.ofSeconds(10)).until(() -> first.owned.size() == 3 && other.owned.size() == 3);
        var before = java.util.Set.copyOf(first.owned);

        leader.close(true);
        Holes.Owner second = h.new Owner("orders-0#2");
        GroupMember returned = h.start(config.get().workerId("orders-0"), second);

        await().atMost(Duration.ofSeconds(8)).until(() -> second.owned.size() == 3);
        assertThat(second.owned).as("the returning instance gets its predecessor's partitions back").isEqualTo(before);
        assertThat(second.firstAcquireNanos).as("acquired before the predecessor let go")
                .isGreaterThan(first.lastReleaseNanos);
        assertThat(other.events).as("the other member is never interrupted").noneMatch(e -> !e.startsWith("assigned"));
        assertThat(other.owned).hasSize(3);
        assertThat(h.overlaps).as("partitions owned by two instances at once").isEmpty();
        await().atMost(Duration.ofSeconds(5)).until(() -> member.isLeader() || returned.isLeader());
    }
}
