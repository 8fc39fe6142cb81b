package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.TcpProxy;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Crash detection with proof of death ({@link PartiConfig.Builder#disconnectEvents}) against a real nats-server whose
 * accounts import the system account's client DISCONNECT events, with workers in child JVMs and real process faults.
 * A {@code kill -9} is proof (the server reads the end of the stream: reason {@code Client Closed}); a SIGSTOP or a
 * network cut is not (the server reports a stale connection), and must change nothing: the worker's partitions move
 * only after its lease could have ended. The server of those tests pings every 250 ms (stale after one unanswered), so it reports the stale connections well
 * before a session ends (a planted bug that takes any reason as proof moves them too early, and these tests fail).
 */
class ProofOfDeathTest {
    private static final String ACCOUNT = "APP";
    private static final String EVENTS = "$SYS.ACCOUNT." + ACCOUNT + ".DISCONNECT";
    private static final String PING = "ping_interval: \"250ms\"\nping_max: 1\n";
    /** Default server pings (every 2 minutes): a client is only ever reported stale long after any session. */
    private static NatsServer nats;
    /** Pings every 250 ms: a silent client is reported stale within a couple of seconds, well before a 5 s session. */
    private static NatsServer pinging;

    @BeforeAll
    static void startServers() {
        nats = NatsServer.builder().config(NatsServer.disconnectEventsConfig(ACCOUNT, "app", "app-pw", true)).start();
        pinging = NatsServer.builder().config(NatsServer.disconnectEventsConfig(ACCOUNT, "app", "app-pw", true) + PING).start();
    }

    @AfterAll
    static void stopServers() {
        if (nats != null) {
            nats.close();
        }
        if (pinging != null) {
            pinging.close();
        }
    }

    private static String url(NatsServer server, int port) {
        return "nats://app:app-pw@127.0.0.1:" + port;
    }

    /**
     * Three children; waits until each works on its share; returns a child that does not lead. With {@code leaderFirst}
     * the first child is started alone and leads before the others start (so that a child behind a proxy does not lead).
     */
    private static ChildGroup.Child balancedFollower(ChildGroup g, boolean leaderFirst, String... urls) {
        for (int i = 0; i < 3; i++) {
            g.start("c" + i, urls[Math.min(i, urls.length - 1)]);
            if (i == 0 && leaderFirst) {
                ChildGroup.Child first = g.children.get(0);
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                        .until(() -> first.status().map(ChildWorker.Status::leader).orElse(false));
            }
        }
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(20)).until(() -> g.leader().isPresent()
                && g.ownedByLive().equals(g.partitionIds())
                && g.live().stream().allMatch(c -> c.status().map(s -> s.owned().size() == 4).orElse(false)));
        ChildGroup.Child leader = g.leader().orElseThrow();
        return g.live().stream().filter(c -> c != leader).reduce((a, b) -> b).orElseThrow();
    }

    /** When another instance first worked on one of {@code partitions} after {@code from} (nanos), or -1 if none yet. */
    private static long firstTakeover(ChildGroup g, ChildGroup.Child victim, Set<String> partitions, long from) {
        long first = -1;
        for (OwnershipEvent e : g.events(List.of())) {
            if (e.kind() == OwnershipEvent.Kind.ACQUIRED && e.nanos() - from > 0 && partitions.contains(e.partition())
                    && !victim.instance.equals(e.instance()) && (first == -1 || e.nanos() < first)) {
                first = e.nanos();
            }
        }
        return first;
    }

    /** When every one of {@code partitions} had been worked on by another instance after {@code from}, or -1. */
    private static long allTakenOver(ChildGroup g, ChildGroup.Child victim, Set<String> partitions, long from) {
        long last = 0;
        for (String p : partitions) {
            long t = firstTakeover(g, victim, Set.of(p), from);
            if (t == -1) {
                return -1;
            }
            last = Math.max(last, t);
        }
        return last;
    }

    /** What happened to a victim's partitions after a fault at {@code faultAt} (nanos). */
    record Takeover(long faultAt, long firstNanos, long allNanos, long keyGoneNanos) {
        long firstMs() {
            return (firstNanos - faultAt) / 1_000_000;
        }

        long allMs() {
            return (allNanos - faultAt) / 1_000_000;
        }

        /** When the victim's heartbeat key was first seen expired, ms after the fault; -1 if it was not (yet). */
        long keyGoneMs() {
            return keyGoneNanos == 0 ? -1 : (keyGoneNanos - faultAt) / 1_000_000;
        }
    }

    /**
     * Waits until other instances work on all of the victim's partitions, reading the victim's heartbeat key every
     * 10 ms meanwhile: the server expires it a session after the victim's last heartbeat, which is when its session
     * ended by the server's clock. A leader without proof of death moves nothing before it finds the key gone.
     */
    private static Takeover awaitTakeover(ChildGroup g, ChildGroup.Child victim, Set<String> its, String workerId,
                                          NatsServer server, long faultAt) throws Exception {
        String bucket = new dev.parti.internal.BucketNames(g.group).name(dev.parti.internal.KvGateway.Bucket.HEARTBEATS);
        long[] keyGone = {0};
        try (io.nats.client.Connection nc = io.nats.client.Nats.connect(url(server, server.port()))) {
            io.nats.client.KeyValue kv = nc.keyValue(bucket);
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(10)).until(() -> {
                long before = System.nanoTime();
                if (keyGone[0] == 0 && kv.get(workerId) == null) {
                    keyGone[0] = before; // absent at a read that started then
                }
                return allTakenOver(g, victim, its, faultAt) != -1;
            });
        }
        return new Takeover(faultAt, firstTakeover(g, victim, its, faultAt), allTakenOver(g, victim, its, faultAt), keyGone[0]);
    }

    @Test
    void aKilledWorkersPartitionsAreConsumedAgainBeforeItsSessionEnds() throws Exception {
        try (ChildGroup g = new ChildGroup("pod-kill", 12, "default-timings", "disconnect-events=" + EVENTS)) {
            ChildGroup.Child victim = balancedFollower(g, false, url(nats, nats.port()));
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            victim.kill();
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), nats, System.nanoTime());
            System.out.println("[measure] proof of death, default timings (heartbeat 1 s, session 6 s): kill -9 -> its "
                    + status.owned().size() + " partitions consumed again by other instances after " + t.firstMs() + " ms (first) / "
                    + t.allMs() + " ms (all); its heartbeat key " + (t.keyGoneMs() < 0 ? "had not expired yet" : "expired after "
                    + t.keyGoneMs() + " ms"));
            // beat the session: every partition was consumed again while the dead worker's heartbeat key still existed
            assertThat(t.keyGoneNanos() == 0 || t.allNanos() < t.keyGoneNanos())
                    .as("taken over before its session ended: %s\n%s", t, g.logs(30)).isTrue();
            g.check(t0, Duration.ofSeconds(4), true, List.of()).assertClean();
        }
    }

    /** The leader key of {@code g}'s group as the server holds it now (null: absent), read over {@code kv}. */
    /** A killed leader's takeover, the proof lines the survivors logged, and when its own leader lease would have ended. */
    record LeaderKill(Takeover takeover, String proof, long leaseEnd) {
    }

    /**
     * After the leader {@code victim} (its status before the kill, its last renewal read) was killed at {@code faultAt}:
     * checks it held the leader key, waits until its partitions are owned again and another child leads, prints the
     * proof lines.
     */
    private static LeaderKill awaitLeaderReplaced(ChildGroup g, ChildGroup.Child victim, ChildWorker.Status status,
                                           io.nats.client.api.KeyValueEntry lastRenewal, long faultAt) throws Exception {
        assertThat(leaderWorker(lastRenewal)).as("the victim held the leader key").isEqualTo(status.workerId());
        long leaseEnd = leaseEndNanos(lastRenewal, PartiConfig.DEFAULT_LEADER_TTL);
        Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), nats, faultAt);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
                .until(() -> g.leader().filter(c -> c != victim).isPresent());
        String proof = proofLines(g);
        System.out.print(proof);
        return new LeaderKill(t, proof, leaseEnd);
    }

    /** Every partition of the dead leader consumed again before its lease could end by itself; the log clean from t0. */
    private static void assertTakenOverBeforeTheLeaseAndClean(ChildGroup g, LeaderKill k, long t0) {
        assertThat(k.takeover().allNanos()).as("every partition of the dead leader consumed again before its leader lease "
                + "could end by itself: %s\n%s", k.takeover(), g.logs(40)).isLessThan(k.leaseEnd());
        g.check(t0, Duration.ofSeconds(4), true, List.of()).assertClean();
    }

    private static io.nats.client.api.KeyValueEntry leaderKey(io.nats.client.KeyValue kv) throws Exception {
        io.nats.client.api.KeyValueEntry e = kv.get("leader"); // LeaderElection.KEY
        return e == null || e.getOperation() != io.nats.client.api.KeyValueOperation.PUT ? null : e;
    }

    /** The worker ID the leader key names (null: absent). */
    private static String leaderWorker(io.nats.client.api.KeyValueEntry e) {
        return e == null ? null : dev.parti.internal.Codec.decodeLeader(e.getValue()).workerId();
    }

    /**
     * When the dead or stopped leader's key could expire by itself at the earliest (nanos, on this test's clock): its
     * last renewal's server timestamp plus the leader TTL. Same machine, so the wall clocks agree.
     */
    private static long leaseEndNanos(io.nats.client.api.KeyValueEntry lastRenewal, Duration leaderTtl) {
        long wallNow = System.currentTimeMillis();
        long nanosNow = System.nanoTime();
        long expiresWall = lastRenewal.getCreated().toInstant().toEpochMilli() + leaderTtl.toMillis();
        return nanosNow + (expiresWall - wallNow) * 1_000_000L;
    }

    /**
     * kill -9 of the child that leads (chosen deliberately): a follower that heard the {@code Client Closed} report
     * deposes it (a compare-and-set delete of its key after the grace and a confirming read), a member is elected at
     * once, and the new leader counts the dead leader's instance stopped and reassigns its partitions without waiting
     * for its recovery grace: all of that before the dead leader's key could have expired by itself.
     */
    @Test
    void aKilledLeaderIsReplacedAndItsPartitionsConsumedAgainBeforeItsLeaderLeaseEnds() throws Exception {
        try (ChildGroup g = new ChildGroup("pod-kill-leader", 12, "default-timings", "disconnect-events=" + EVENTS);
             io.nats.client.Connection nc = io.nats.client.Nats.connect(url(nats, nats.port()))) {
            balancedFollower(g, false, url(nats, nats.port()));
            ChildGroup.Child victim = g.leader().orElseThrow();
            io.nats.client.KeyValue leaderKv = nc.keyValue(new dev.parti.internal.BucketNames(g.group)
                    .name(dev.parti.internal.KvGateway.Bucket.LEADER));
            ChildWorker.Status status = victim.status().orElseThrow();
            long t0 = System.nanoTime();
            io.nats.client.api.KeyValueEntry lastRenewal = leaderKey(leaderKv);
            victim.kill();
            long faultAt = System.nanoTime();
            // a renewal sent just before the kill may have landed after our read
            io.nats.client.api.KeyValueEntry after = leaderKey(leaderKv);
            if (after != null && status.workerId().equals(leaderWorker(after))) {
                lastRenewal = after;
            }
            LeaderKill k = awaitLeaderReplaced(g, victim, status, lastRenewal, faultAt);
            Takeover t = k.takeover();
            long leaseEnd = k.leaseEnd();
            System.out.println("[measure] proof of death, default timings, the LEADER killed: its " + status.owned().size()
                    + " partitions consumed again by other instances after " + t.firstMs() + " ms (first) / " + t.allMs()
                    + " ms (all); its leader key could have expired by itself after " + (leaseEnd - faultAt) / 1_000_000
                    + " ms at the earliest");
            assertThat(g.logs(400)).as("a follower deposed the dead leader").contains("deleted the leader key at revision");
            assertTakenOverBeforeTheLeaseAndClean(g, k, t0);
        }
    }

    /**
     * kill -9 of the leader with bytes unread on its NATS connection (what a busy leader's heartbeat watch often leaves):
     * its kernel resets that connection, and the server reports it {@code Read Error}, which proves nothing. Made
     * deterministic: the leader is stopped (SIGSTOP), a flood on a subscription of its connection fills the socket
     * (until the server holds bytes it cannot write: the receive buffer is full), then it is killed. Its liveness
     * connection, which carries nothing, is closed by the kernel and reported {@code Client Closed}: with that proof and
     * the report of the writes connection, a follower deposes it and its partitions are consumed again before its leader
     * lease could have ended (before the liveness connection, 3 of 7 such kills in {@code b3l} waited for the lease).
     */
    @Test
    void aKilledLeaderWhoseConnectionHadUnreadBytesIsProvedDeadByItsLivenessConnection() throws Exception {
        try (ChildGroup g = new ChildGroup("pod-kill-reset", 12, "default-timings", "disconnect-events=" + EVENTS,
                "flood-subscription");
             io.nats.client.Connection nc = io.nats.client.Nats.connect(url(nats, nats.port()))) {
            balancedFollower(g, false, url(nats, nats.port()));
            ChildGroup.Child victim = g.leader().orElseThrow();
            String flood = "flood." + victim.instance;
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> nats.monitor("/connz?subs=1").contains("\"" + flood + "\""));
            io.nats.client.KeyValue leaderKv = nc.keyValue(new dev.parti.internal.BucketNames(g.group)
                    .name(dev.parti.internal.KvGateway.Bucket.LEADER));
            ChildWorker.Status status = victim.status().orElseThrow();
            long t0 = System.nanoTime();
            victim.suspend();
            long stoppedAt = System.nanoTime();
            byte[] chunk = new byte[128 * 1024];
            java.util.regex.Pattern pendingBytes = java.util.regex.Pattern.compile("\"pending_bytes\":\\s*([1-9][0-9]*)");
            // past the receive buffer and the server's send buffer: the server keeps what it cannot write
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(1)).until(() -> {
                for (int i = 0; i < 16; i++) {
                    nc.publish(flood, chunk);
                }
                nc.flush(Duration.ofSeconds(5));
                return pendingBytes.matcher(nats.monitor("/connz")).find();
            });
            io.nats.client.api.KeyValueEntry lastRenewal = leaderKey(leaderKv);
            victim.kill();
            long faultAt = System.nanoTime();
            LeaderKill k = awaitLeaderReplaced(g, victim, status, lastRenewal, faultAt);
            Takeover t = k.takeover();
            long leaseEnd = k.leaseEnd();
            String proof = k.proof();
            System.out.println("[measure] proof of death, default timings, the LEADER killed with unread bytes (stopped "
                    + (faultAt - stoppedAt) / 1_000_000 + " ms before the kill to fill its socket): its "
                    + status.owned().size() + " partitions consumed again after " + t.firstMs() + " ms (first) / "
                    + t.allMs() + " ms (all) from the kill; its leader key could have expired by itself after "
                    + (leaseEnd - faultAt) / 1_000_000 + " ms at the earliest");
            assertThat(proof).as("the server reset the leader's writes connection: no proof by itself")
                    .containsAnyOf("with reason 'Read Error'", "with reason 'Write Error'");
            assertThat(proof).as("a follower deposed the dead leader by proof").contains("deleted the leader key at revision");
            assertTakenOverBeforeTheLeaseAndClean(g, k, t0);
        }
    }

    /**
     * SIGSTOP of the child that leads: the server reports its connection stale (it pings every 250 ms), which proves
     * nothing, so nobody deposes it: its key is replaced only once it could have expired by itself, its partitions
     * move only after its session, and once resumed it finds itself deposed and fences (no overlap by instance).
     */
    @Test
    void aStoppedLeaderIsNotDeposedBeforeItsLeaseEndsAndFencesWhenItResumes() throws Exception {
        try (ChildGroup g = new ChildGroup("pod-stop-leader", 12, "session-ms=5000", "disconnect-events=" + EVENTS,
                "disconnect-grace-ms=100");
             io.nats.client.Connection nc = io.nats.client.Nats.connect(url(pinging, pinging.port()))) {
            balancedFollower(g, false, url(pinging, pinging.port()));
            ChildGroup.Child victim = g.leader().orElseThrow();
            io.nats.client.KeyValue leaderKv = nc.keyValue(new dev.parti.internal.BucketNames(g.group)
                    .name(dev.parti.internal.KvGateway.Bucket.LEADER));
            ChildWorker.Status status = victim.status().orElseThrow();
            long t0 = System.nanoTime();
            victim.suspend();
            long faultAt = System.nanoTime();
            // the last renewal the victim made: it may land just after the stop
            io.nats.client.api.KeyValueEntry[] last = {null};
            long[] replacedAt = {0};
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(10)).until(() -> {
                long before = System.nanoTime();
                io.nats.client.api.KeyValueEntry e = leaderKey(leaderKv);
                if (e != null && status.workerId().equals(leaderWorker(e))) {
                    last[0] = e;
                    return false;
                }
                replacedAt[0] = before; // absent or another's at a read that started then
                return true;
            });
            assertThat(last[0]).as("the victim's key was seen after the stop").isNotNull();
            long leaseEnd = leaseEndNanos(last[0], Duration.ofMillis(4000));
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), pinging, faultAt);
            victim.resume();
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> g.live().size() == 3
                    && g.ownedByLive().equals(g.partitionIds()) && g.leader().filter(c -> c != victim).isPresent()
                    && victim.status().map(s -> !s.leader() && s.owned().size() == 4).orElse(false));
            System.out.println("[measure] proof of death, SIGSTOP of the LEADER (session 5 s, leader TTL 4 s): its key "
                    + "replaced after " + (replacedAt[0] - faultAt) / 1_000_000 + " ms (could expire by itself after "
                    + (leaseEnd - faultAt) / 1_000_000 + " ms); its partitions first taken over after " + t.firstMs()
                    + " ms; its heartbeat key expired after " + t.keyGoneMs() + " ms");
            assertThat(replacedAt[0]).as("not deposed before its leader lease could end by itself\n%s", g.logs(40))
                    .isGreaterThanOrEqualTo(leaseEnd - 20_000_000L);
            assertNoEarlierThanTheSession(t, g);
            g.check(t0, Duration.ofSeconds(7), true, List.of()).assertClean();
        }
    }

    /** The children's log lines about DISCONNECT events (what the leader heard and what it made of it). */
    private static String proofLines(ChildGroup g) {
        StringBuilder out = new StringBuilder();
        for (String line : g.logs(3000).split("\n")) {
            if (line.contains("not a proof of death") || line.contains("counts as stopped") || line.contains("DISCONNECT")
                    || line.contains("reported closed by its client") || line.contains("forced a reconnect")
                    || line.contains("NATS connection")) {
                out.append("[proof] ").append(line.trim()).append('\n');
            }
        }
        return out.toString();
    }

    /** Moved only once the session ended (the key expired), never on the server's stale-connection report. */
    private static void assertNoEarlierThanTheSession(Takeover t, ChildGroup g) {
        System.out.print(proofLines(g));
        assertThat(t.keyGoneNanos()).as("the victim's heartbeat key expired before its partitions moved: %s\n%s", t,
                g.logs(30)).isNotZero();
        // the leader may find the key gone up to one of our 10 ms polls (and a read) before we do
        assertThat(t.firstNanos()).as("no other instance worked on its partitions before its session ended: %s\n%s", t,
                g.logs(30)).isGreaterThanOrEqualTo(t.keyGoneNanos() - 100_000_000L);
    }

    @Test
    void aStoppedWorkerIsNotDeadItsPartitionsMoveOnlyAfterItsSessionAndItComesBackCleanly() throws Exception {
        try (ChildGroup g = new ChildGroup("pod-stop", 12, "session-ms=5000", "disconnect-events=" + EVENTS,
                "disconnect-grace-ms=100")) {
            ChildGroup.Child victim = balancedFollower(g, false, url(pinging, pinging.port()));
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            victim.suspend();
            // stopped past its session: the server reports the stale connection after 1-2 s, the key expires after 4.5-5 s
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), pinging, System.nanoTime());
            victim.resume();
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> g.live().size() == 3
                    && g.ownedByLive().equals(g.partitionIds())
                    && victim.status().map(s -> s.owned().size() == 4).orElse(false));
            System.out.println("[measure] proof of death, SIGSTOP (session 5 s): first of its partitions taken over after "
                    + t.firstMs() + " ms; its heartbeat key expired after " + t.keyGoneMs() + " ms");
            assertNoEarlierThanTheSession(t, g);
            g.check(t0, Duration.ofSeconds(7), true, List.of()).assertClean();
        }
    }

    @Test
    void aNetworkCutIsNoProofOfDeath() throws Exception {
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", pinging.port());
             ChildGroup g = new ChildGroup("pod-cut", 12, "session-ms=5000", "disconnect-events=" + EVENTS,
                     "disconnect-grace-ms=100")) {
            // c0 leads, c1 connects directly, c2 through the proxy
            balancedFollower(g, true, url(pinging, pinging.port()), url(pinging, pinging.port()), url(pinging, proxy.port()));
            ChildGroup.Child victim = g.live().stream().filter(c -> c.slot.equals("c2")).findFirst().orElseThrow();
            assertThat(victim.status().orElseThrow().leader()).as("the child behind the proxy leads").isFalse();
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            proxy.cut();
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), pinging, System.nanoTime());
            proxy.restore();
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> g.ownedByLive()
                    .equals(g.partitionIds()) && victim.status().map(s -> s.owned().size() == 4).orElse(false));
            System.out.println("[measure] proof of death, TCP cut (session 5 s): first of its partitions taken over after "
                    + t.firstMs() + " ms; its heartbeat key expired after " + t.keyGoneMs() + " ms");
            assertNoEarlierThanTheSession(t, g);
            g.check(t0, Duration.ofSeconds(7), true, List.of()).assertClean();
        }
    }

    /**
     * A worker's liveness connection closed at the server's end while the process is stopped (SIGSTOP), as a
     * TCP-terminating middlebox can do: the server reports it {@code Client Closed}, but the worker's writes connection
     * stays open (this server pings every 2 minutes), so there is no proof, and its partitions move only after its
     * session (3 s). Fails with the writes connection's condition removed from the leader's check (its partitions then move
     * a grace after the report, while it is stopped and still owns them).
     */
    @Test
    void aLivenessConnectionClosedByAMiddleboxIsNoProofWhileTheWritesConnectionIsOpen() throws Exception {
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port());
             ChildGroup g = new ChildGroup("pod-middlebox", 12, "session-ms=3000", "disconnect-events=" + EVENTS,
                     "disconnect-grace-ms=100", "liveness-url=c2@" + url(nats, proxy.port()))) {
            balancedFollower(g, true, url(nats, nats.port()));
            ChildGroup.Child victim = g.live().stream().filter(c -> c.slot.equals("c2")).findFirst().orElseThrow();
            assertThat(victim.status().orElseThrow().leader()).as("the child whose liveness connection is proxied leads")
                    .isFalse();
            assertThat(proxy.openConnections()).as("its liveness connection goes through the proxy").isEqualTo(1);
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            victim.suspend();
            long faultAt = System.nanoTime();
            proxy.close(); // closes its liveness connection at the server's end: Client Closed, a live (stopped) process
            await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                    .until(() -> g.logs(400).contains("(parti-liveness) reported closed by its client"));
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), nats, faultAt);
            System.out.println("[measure] proof of death, liveness connection closed by a proxy while stopped (session 3 s): "
                    + "first of its partitions taken over after " + t.firstMs() + " ms; its heartbeat key expired after "
                    + t.keyGoneMs() + " ms");
            assertNoEarlierThanTheSession(t, g);
            assertThat(g.logs(400)).as("the leader waited for the writes connection").contains("waiting for the report of "
                    + "its writes connection");
            victim.kill(); // its liveness connection cannot come back (the proxy is gone): it would stay fenced
            g.check(t0, Duration.ofSeconds(5), true, List.of()).assertClean();
        }
    }

    /**
     * A live worker whose own NATS client closes its connection (and reconnects): the server reports {@code Client
     * Closed}, a proof of close but not of death. The worker fenced itself on the disconnect, so whether or not the
     * leader counts it stopped (its read may still see the old connection, the grace is 100 ms), nobody works on a
     * partition while it still does, and the group settles with every partition owned.
     */
    @Test
    void aLiveWorkerWhoseClientClosedItsConnectionFencedItselfBeforeAnyoneTookOver() throws Exception {
        forcedReconnect("pod-reconnect", false);
    }

    /**
     * The same with the leader's own client closing its connection: it stops leading on the disconnect (a follower may
     * delete its key 100 ms after the server's report), and whether or not a follower deposed it, no two instances
     * work on a partition at once and the group settles under one leader.
     */
    @Test
    void aLiveLeaderWhoseClientClosedItsConnectionStoppedLeadingBeforeAnyoneTookOver() throws Exception {
        String proof = forcedReconnect("pod-reconnect-leader", true);
        assertThat(proof).contains("stops acting as leader: its NATS connection dropped");
    }

    /** Forces a reconnect of a balanced follower, or of the leader; returns the proof-of-death log lines. */
    private static String forcedReconnect(String group, boolean ofLeader) throws Exception {
        try (ChildGroup g = new ChildGroup(group, 12, "session-ms=3000", "disconnect-events=" + EVENTS,
                "disconnect-grace-ms=100", "reconnect-on-file")) {
            ChildGroup.Child follower = balancedFollower(g, false, url(nats, nats.port()));
            ChildGroup.Child victim = ofLeader ? g.leader().orElseThrow() : follower;
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            java.nio.file.Files.writeString(g.dir.resolve(victim.instance + ".reconnect.tmp"), "");
            java.nio.file.Files.move(g.dir.resolve(victim.instance + ".reconnect.tmp"), g.dir.resolve(victim.instance + ".reconnect"));
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> !java.nio.file.Files.exists(g.dir.resolve(victim.instance + ".reconnect")));
            long forcedAt = System.nanoTime();
            // it lost its partitions (fenced) and gets partitions again; every partition is owned
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> g.ownedByLive()
                    .equals(g.partitionIds()) && victim.status().map(s -> !s.owned().isEmpty()).orElse(false)
                    && System.nanoTime() - forcedAt > 1_000_000_000L);
            String proof = proofLines(g);
            System.out.print(proof);
            long moved = firstTakeover(g, victim, status.owned(), forcedAt);
            System.out.println("[measure] proof of death, forced reconnect of a live " + (ofLeader ? "LEADER: a follower "
                    + (proof.contains("deleted the leader key") ? "deposed it" : "did not depose it") : "worker: leader "
                    + (proof.contains("counts as stopped: its connection") ? "counted it stopped" : "did not count it stopped"))
                    + "; its partitions " + (moved == -1 ? "stayed with it" : "first taken over after "
                    + (moved - forcedAt) / 1_000_000 + " ms"));
            assertThat(proof).as("the victim's client closed its connection and the server reported it so")
                    .contains("forced a reconnect").contains("reported closed by its client");
            if (ofLeader) {
                await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> g.leader().isPresent()
                        && g.live().stream().filter(c -> c.status().map(ChildWorker.Status::leader).orElse(false)).count() == 1);
            }
            g.check(t0, Duration.ofSeconds(4), true, List.of()).assertClean();
            return proof;
        }
    }

    /** The setting on, but the user may not subscribe to the events: a kill -9 is detected by the session, as without it. */
    @Test
    void withoutPermissionToSubscribeTheFeatureIsInertAndACrashWaitsForTheSession() throws Exception {
        String config = NatsServer.disconnectEventsConfig(ACCOUNT, "app", "app-pw", true).replace(
                "users: [{user: \"app\", password: \"app-pw\"}]",
                "users: [{user: \"app\", password: \"app-pw\", permissions: {subscribe: {deny: [\"$SYS.>\"]}}}]");
        assertThat(config).contains("deny");
        try (NatsServer denied = NatsServer.builder().config(config).start();
             ChildGroup g = new ChildGroup("pod-denied", 12, "session-ms=3000", "disconnect-events=" + EVENTS,
                     "disconnect-grace-ms=100")) {
            ChildGroup.Child victim = balancedFollower(g, false, url(denied, denied.port()));
            long t0 = System.nanoTime();
            ChildWorker.Status status = victim.status().orElseThrow();
            victim.kill();
            Takeover t = awaitTakeover(g, victim, status.owned(), status.workerId(), denied, System.nanoTime());
            System.out.println("[measure] proof of death without permission (session 3 s): kill -9 -> first taken over after "
                    + t.firstMs() + " ms; its heartbeat key expired after " + t.keyGoneMs() + " ms");
            assertNoEarlierThanTheSession(t, g);
            assertThat(g.logs(400)).contains("refused the subscription to " + EVENTS);
            g.check(t0, Duration.ofSeconds(5), true, List.of()).assertClean();
        }
    }
}
