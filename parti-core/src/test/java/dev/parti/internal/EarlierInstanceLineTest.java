package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.Codec.Heartbeat;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Found by the simulator with two members per process (docs/SIMULATION.md, finding 18): a new instance of a static ID
 * takes the ID over, reads the displaced heartbeat (nothing held) and the published record (nothing unacknowledged
 * for it), so it waits for nothing. Right after that read the leader, which has not seen the new instance yet,
 * publishes a version giving a partition to the ID, addressed to the earlier instance, which may still run (a process
 * replaced but not yet dead) and apply it. When the leader then sees the new instance, the same partitions must not
 * go to it before the earlier instance's lease has surely ended: a session after the leader saw the change.
 *
 * <p>First the leader's calculator alone against a real nats-server (its publications are real KV writes; the
 * heartbeats it sees and its clock are given, so the interleaving is exact); then whole members in one JVM, sharing
 * its connection, where the leader is held in a slow partition source (as in seed 700000960) while the new instance
 * takes the ID over from the earlier one, whose main thread is stopped (a process replaced but not yet dead).
 */
class EarlierInstanceLineTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private final Holes h = new Holes();

    @AfterEach
    void switchesOff() {
        h.close();
        ReintroducedBugs.reset();
    }

    @Test
    void aLineAddressedToTheEarlierInstanceIsHeldByItUntilItsLeaseHasSurelyEnded() throws Exception {
        Partition x = Partition.of("t", "x");
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames("earlier-instance"), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            // an earlier leader's version: S, run by instance s-1, holds nothing
            new AssignmentPublisher(kv).publish(Map.of("S", List.of()), Map.of("S", "s-1"), "old", 1, () -> true);

            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast("earlier-instance", nats.url(), List.of(x)).build();
            AssignmentPublisher mine = new AssignmentPublisher(kv);
            Calculator n = new Calculator(config, now::get, mine, "N", s -> { }, () -> true);
            n.begin(2, List.of(beat("S", 11, new Heartbeat("s-1", 1, Set.of(), false, 1))), false);
            now.addAndGet(Duration.ofSeconds(2).toNanos()); // past the recovery grace
            n.tick();
            n.tick();
            AssignmentRecord given = mine.current();
            assertThat(given.of("S")).as("the new partition goes to S, addressed to s-1").containsExactly(x);
            assertThat(given.instanceOf("S")).isEqualTo("s-1");

            // s-2 took the ID over before that version was published: its takeover read found nothing to wait for,
            // while s-1 (still running) may apply the version above. Now the leader sees s-2's first heartbeat.
            now.addAndGet(Duration.ofMillis(10).toNanos());
            n.onHeartbeat(beat("S", 12, new Heartbeat("s-2", 0, Set.of(), false, 1)), now.get());
            n.tick();
            n.tick();
            AssignmentRecord readdressed = mine.current();
            assertThat(readdressed.instanceOf("S")).as("a fresh version for the new instance").isEqualTo("s-2");
            if (ReintroducedBugs.formerInstanceLinesNotHeld) {
                assertThat(readdressed.of("S")).as("with the switch on, the bug shows: X goes to s-2 at once").contains(x);
                return;
            }
            assertThat(readdressed.of("S")).as("X given to s-2 while s-1 may still apply version %d, which gives it X",
                    given.version()).doesNotContain(x);

            // s-2 acknowledges; a session after the leader saw it, s-1's lease has surely ended
            now.addAndGet(Duration.ofMillis(100).toNanos());
            n.onHeartbeat(beat("S", 13, new Heartbeat("s-2", readdressed.version(), Set.of(), false, 1)), now.get());
            n.tick();
            assertThat(mine.current().of("S")).as("still inside the earlier instance's lease").doesNotContain(x);
            now.addAndGet(config.sessionTimeout().toNanos());
            n.tick();
            n.tick();
            assertThat(mine.current().of("S")).as("once the earlier instance's lease has surely ended").containsExactly(x);
            assertThat(mine.current().instanceOf("S")).isEqualTo("s-2");
        }
    }

    /** The check above can fail: with the fix switched off, the same steps give X to the new instance at once. */
    @Test
    void withoutTheFixTheNewInstanceGetsTheLineAtOnce() throws Exception {
        ReintroducedBugs.formerInstanceLinesNotHeld = true;
        aLineAddressedToTheEarlierInstanceIsHeldByItUntilItsLeaseHasSurelyEnded();
    }

    /**
     * The other side of the rule above, found by {@code StaticMemberStopTest}: the lines of the earlier instance that a
     * version it applied since has superseded are not held by anyone. S ran alone (its cold-start line gave it both
     * partitions), then W joined and took one over in a two-phase handoff that S acknowledged; then a new instance of S
     * takes the ID over. The fresh version for it must leave W what W holds: the cold-start line is old news.
     */
    @Test
    void aNewInstanceDoesNotTakeFromOthersWhatItsPredecessorsSupersededLineGaveIt() throws Exception {
        List<Partition> two = Holes.partitions(2);
        String group = ReintroducedBugs.formerInstanceOldLinesHeld ? "superseded-line-bug" : "superseded-line";
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(nc, new BucketNames(group), Duration.ofSeconds(2));
            kv.provision(Holes.fastTtls(), 1);
            AtomicLong now = new AtomicLong(1_000_000_000L);
            dev.parti.PartiConfig config = Holes.fast(group, nats.url(), two).build();
            AssignmentPublisher mine = new AssignmentPublisher(kv);
            Calculator n = new Calculator(config, now::get, mine, "S", s -> { }, () -> true);
            n.begin(1, List.of(beat("S", 1, new Heartbeat("s-1", 0, Set.of(), false, 1))), false);
            AssignmentRecord alone = Holes.tickUntil(n, now, mine, r -> r != null && r.of("S").size() == 2);

            long rev = 10;
            n.onHeartbeat(beat("S", rev++, new Heartbeat("s-1", alone.version(), Set.copyOf(two), false, 1)), now.get());
            n.onHeartbeat(beat("W", rev++, new Heartbeat("w-1", 0, Set.of(), false, 1)), now.get());
            AssignmentRecord released = Holes.tickUntil(n, now, mine, r -> r.of("S").size() == 1);
            n.onHeartbeat(beat("S", rev++, new Heartbeat("s-1", released.version(), Set.copyOf(released.of("S")), false, 1)),
                    now.get());
            AssignmentRecord shared = Holes.tickUntil(n, now, mine, r -> r.of("W").size() == 1);
            n.onHeartbeat(beat("W", rev++, new Heartbeat("w-1", shared.version(), Set.copyOf(shared.of("W")), false, 1)),
                    now.get());
            n.tick();

            // s-2 takes the ID over while s-1 may still run: it reported version `released`, holding one partition
            now.addAndGet(Duration.ofMillis(10).toNanos());
            n.onHeartbeat(beat("S", rev++, new Heartbeat("s-2", 0, Set.of(), false, 1)), now.get());
            AssignmentRecord readdressed = Holes.tickUntil(n, now, mine, r -> "s-2".equals(r.instanceOf("S")));
            if (ReintroducedBugs.formerInstanceOldLinesHeld) {
                assertThat(readdressed.of("W")).as("with the switch on, the bug shows: W loses its partition").isEmpty();
                return;
            }
            assertThat(readdressed.of("W")).as("W keeps what it holds; s-1's cold-start line (version %d) was superseded "
                    + "by version %d, which it applied", alone.version(), released.version()).isEqualTo(shared.of("W"));

            // s-2 acknowledges nothing yet; once s-1's lease has surely ended its lines are held by no one
            now.addAndGet(config.sessionTimeout().toNanos());
            AssignmentRecord after = Holes.tickUntil(n, now, mine, r -> r.of("S").equals(released.of("S")));
            assertThat(after.of("W")).as("W keeps what it holds after s-1's lease has ended too").isEqualTo(shared.of("W"));
            assertThat(after.instanceOf("S")).isEqualTo("s-2");
        }
    }

    /** The check above can fail: with the old rule switched back on, W loses its partition for a session. */
    @Test
    void withTheOldRuleTheOtherWorkerLosesItsPartition() throws Exception {
        ReintroducedBugs.formerInstanceOldLinesHeld = true;
        aNewInstanceDoesNotTakeFromOthersWhatItsPredecessorsSupersededLineGaveIt();
    }

    /**
     * Whole members: the leader L computes a version while its partition source is slow; meanwhile a new instance of
     * the static member S takes the ID over from the running one, which reported nothing held and nothing unapplied. L's
     * version gives S a partition, addressed to the earlier instance (L had not seen the new one), which applies it; then
     * L sees the new instance. It must not get the partition before the earlier instance's lease has ended (it fences).
     */
    @Test
    void aNewInstanceDoesNotAcquireWhatTheLeaderJustGaveTheEarlierOne() throws Exception {
        // The step under test needs the leader's version to reach the earlier instance inside its lease; now and then
        // (once in the full suite of 7 December 2026, once in 3 runs alone) it is fenced first and applies nothing, and
        // the step is not exercised. Then the scenario runs again in a new group, up to 3 times; each run must be clean.
        boolean exercised = false;
        for (int run = 1; run <= 3 && !exercised; run++) {
            try (Holes holes = new Holes()) {
                exercised = earlierInstanceAppliesALineThenANewInstanceTakesOver(holes, "earlier-instance-members-" + run);
                assertThat(holes.overlaps).as("a partition acquired by the new instance while the earlier one held it (run %d)",
                        run).isEmpty();
            }
        }
        assertThat(exercised).as("the earlier instance applied the line addressed to it in one of 3 runs").isTrue();
    }

    /** The steps of the test above in group {@code group}; returns whether the earlier instance applied the line. */
    private boolean earlierInstanceAppliesALineThenANewInstanceTakesOver(Holes h, String group) throws Exception {
        List<Partition> two = Holes.partitions(2);
        List<List<Partition>> source = new CopyOnWriteArrayList<>(List.of(List.of()));
        CountDownLatch sourceEntered = new CountDownLatch(1);
        CountDownLatch sourceRelease = new CountDownLatch(1);
        h.latches.add(sourceRelease);
        boolean[] armed = {false};
        Supplier<dev.parti.PartiConfig.Builder> config = () -> Holes.fast(group, nats.url(), List.of())
                .partitionSource(() -> {
                    if (armed[0]) {
                        armed[0] = false;
                        sourceEntered.countDown();
                        sourceRelease.await(); // slow user code: the topic metadata takes long to read
                    }
                    return source.get(source.size() - 1);
                })
                .sessionTimeout(Duration.ofSeconds(2)).lossPolicy(dev.parti.LossPolicy.FENCE)
                .rebalanceCooldown(Duration.ZERO); // the new partitions are assigned in the round that read them
        Holes.Owner leaderOwner = h.new Owner("L#1");
        GroupMember leader = h.start(config.get().workerId("L"), leaderOwner);
        await().atMost(Duration.ofSeconds(10)).until(leader::isLeader);
        Holes.Owner first = h.new Owner("S#1");
        GroupMember earlier = h.start(config.get().workerId("S"), first);
        await().atMost(Duration.ofSeconds(10)).until(() -> first.events.stream().anyMatch(e -> e.startsWith("assigned")));

        // two partitions appear; the leader reads the source and is held there
        source.add(two);
        armed[0] = true;
        leader.refreshPartitions();
        assertThat(sourceEntered.await(5, TimeUnit.SECONDS)).isTrue();
        h.freezeNow(earlier); // the earlier instance's process stops heartbeating (it still applies what it is sent)
        Holes.Owner second = h.new Owner("S#2");
        h.start(config.get().workerId("S"), second); // takes the ID over: the earlier one reported nothing held
        sourceRelease.countDown(); // the leader publishes what it computed, S's line addressed to the earlier instance

        await().atMost(Duration.ofSeconds(10)).until(() -> leaderOwner.owned.size() + second.owned.size() == 2);
        boolean applied = first.events.stream().anyMatch(e -> e.matches("assigned v\\d+ 1"));
        if (!applied) {
            System.out.println("[measure] " + group + ": the earlier instance applied nothing before its lease ended "
                    + first.events + "; the step was not exercised");
        }
        return applied;
    }

    private static KvGateway.Entry beat(String id, long revision, Heartbeat hb) {
        return new KvGateway.Entry(id, Codec.encode(hb), revision, false);
    }
}
