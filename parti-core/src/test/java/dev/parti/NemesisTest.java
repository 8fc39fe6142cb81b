package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipReport;
import dev.parti.testkit.TcpProxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Issue 12's nemesis: five worker JVMs (the leader among them, each behind its own TCP proxy to one
 * nats-server) under a random, seeded fault schedule, then quiet. Faults: kill -9 of a worker (a new
 * instance starts in its slot a little later), SIGSTOP/SIGCONT of a worker for less or more than the
 * session, a TCP cut of one worker's connection, kill -9 and restart of nats-server. The leader is a
 * preferred target. Workers run under {@link LossPolicy#FENCE} with a 2 s session (heartbeat 200 ms, leader
 * TTL 1.6 s); a revocation takes 100 ms before the worker lets go (finishing work), so a handoff that
 * does not wait for the release shows as an overlap.
 *
 * <p>Pass: over the whole run, no partition owned by two instances at once and no worker ID acting through
 * two instances at once (ownership log, by instance, over time); assignment versions strictly increase in
 * publication order and no publication comes from an older leader epoch than one before it; once faults
 * stop, every partition is owned again within the liveness bound and live instances hold distinct IDs.
 *
 * <p>Seed: {@code -Dnemesis.seed=<seed>} replays a schedule (printed at the start, with every fault as it is
 * injected); {@code -Dnemesis.seed=random} explores a new one. CI runs the fixed default seed so that its
 * result does not depend on the draw; explore with random seeds by hand and add any failing seed as a case.
 * Duration {@code -Dnemesis.duration=<seconds>} (default 180). {@code -Dnemesis.disconnectEvents=true} runs the workers
 * with crash detection by proof of death ({@code PartiConfig.disconnectEvents}) on a server whose account imports
 * its client DISCONNECT events (off by default; CI runs without it). The schedule of fault kinds, durations and
 * delays is a function of the seed; which worker leads when a fault picks "the leader" depends on the run.
 * <pre>
 * ./mvnw -B -ntp -q -pl parti-core -am test -Dtest=NemesisTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dnemesis.seed=random -Dnemesis.duration=60
 * </pre>
 * The CI seed found a 99 ms double owner once (a worker stopped past its session applied, once resumed, a
 * version published during its pause); {@code AssignmentApplierTest} pins that case down.
 */
class NemesisTest {
    private static final int SLOTS = 5;
    private static final int PARTITIONS = 20;
    private static final int SESSION_MS = 2000;
    /** Fast timings scaled to the session: see {@link ChildWorker#scaled}. */
    private static final Duration SESSION = Duration.ofMillis(SESSION_MS);
    private static final Duration COLD_START_WINDOW = Duration.ofMillis(300);
    private static final Duration RECOVERY_GRACE = Duration.ofMillis(2 * SESSION_MS / 10);
    /**
     * Invariant 7 once faults stop (NATS reachable again): session + the longest stabilization window + 1 s,
     * plus the recovery grace a new leader (or one back from an outage) waits first (invariant 6).
     */
    private static final Duration LIVENESS_BOUND = SESSION.plus(COLD_START_WINDOW).plus(RECOVERY_GRACE).plusSeconds(1);
    /**
     * How long a worker takes to let go of revoked partitions (finishing work, committing): long enough that a
     * handoff which does not wait for the release shows as an overlap.
     */
    private static final int REVOKE_MS = 100;
    /** At most this many workers are under a fault at once, so a quorum of the group stays up. */
    private static final int MAX_FAULTED_WORKERS = 2;

    enum Kind { KILL, PAUSE, CUT, NATS_KILL }

    /** A pending end of a fault: when, what. */
    private record Heal(long atNanos, String what, Runnable action) { }

    /** The schedule CI runs (180 s of it: 102 faults of every kind, 430 handoffs when it was chosen). */
    private static final long CI_SEED = 6403024260867L;

    @Test
    void fiveWorkerProcessesUnderASeededFaultScheduleNeverDoubleOwnAndRecoverOnceQuiet() throws Exception {
        String seedProperty = System.getProperty("nemesis.seed", Long.toString(CI_SEED));
        long seed = seedProperty.equals("random") ? System.nanoTime() ^ System.currentTimeMillis() : Long.parseLong(seedProperty);
        Duration duration = Duration.ofSeconds(Long.getLong("nemesis.duration", 180));
        System.out.println("[nemesis] seed " + seed + ", duration " + duration.toSeconds()
                + " s; replay with -Dnemesis.seed=" + seed + " -Dnemesis.duration=" + duration.toSeconds());
        Random random = new Random(seed);
        Map<Kind, Integer> injected = new EnumMap<>(Kind.class);
        List<String> schedule = new ArrayList<>();

        boolean proofOfDeath = Boolean.getBoolean("nemesis.disconnectEvents");
        System.out.println("[nemesis] proof of death (disconnect events): " + (proofOfDeath ? "on" : "off"));
        NatsServer nats = proofOfDeath
                ? NatsServer.builder().config(NatsServer.disconnectEventsConfig("APP", "app", "app-pw", true)).start()
                : NatsServer.start();
        credentials = proofOfDeath ? "app:app-pw@" : "";
        List<TcpProxy> proxies = new ArrayList<>();
        List<String> flags = new ArrayList<>(List.of("fast-reconnect", "session-ms=" + SESSION_MS, "revoke-ms=" + REVOKE_MS));
        if (proofOfDeath) {
            flags.add("disconnect-events=$SYS.ACCOUNT.APP.DISCONNECT");
        }
        try (ChildGroup g = new ChildGroup("nemesis", PARTITIONS, flags.toArray(new String[0]))) {
            for (int i = 0; i < SLOTS; i++) {
                proxies.add(TcpProxy.start("127.0.0.1", nats.port()));
            }
            Map<String, ChildGroup.Child> current = new HashMap<>(); // slot -> its running instance
            for (int i = 0; i < SLOTS; i++) {
                current.put(slot(i), g.start(slot(i), url(proxies.get(i).port())));
            }
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                    .until(() -> g.ownedByLive().size() == PARTITIONS && g.leader().isPresent());
            long t0 = System.nanoTime();
            AssignmentHistory history = AssignmentHistory.watch(url(nats.port()), "nemesis");
            try {
                // ---------------------------------------------------------------- faults
                Set<String> faulted = new HashSet<>(); // slots under a fault
                List<String> exits = new ArrayList<>(); // instances that exited on their own
                boolean[] natsDown = {false};
                PriorityQueue<Heal> heals = new PriorityQueue<>((a, b) -> Long.compare(a.atNanos(), b.atNanos()));
                long end = t0 + duration.toNanos();
                long nextFault = t0 + millis(random, 500, 2500) * 1_000_000L;
                while (System.nanoTime() - end < 0) {
                    long now = System.nanoTime();
                    while (!heals.isEmpty() && heals.peek().atNanos() - now <= 0) {
                        Heal h = heals.poll();
                        log(schedule, t0, "heal: " + h.what());
                        h.action().run();
                    }
                    if (now - nextFault >= 0) {
                        // every draw happens whatever the state, so the seed fixes kinds, durations and delays
                        Kind kind = pick(random.nextDouble());
                        boolean preferLeader = random.nextDouble() < 0.4;
                        int slotDraw = random.nextInt(SLOTS);
                        long faultMillis = millis(random, 300, 5 * SESSION_MS / 2);
                        long restartDelayMillis = millis(random, 200, 3000);
                        nextFault = now + millis(random, 500, 2500) * 1_000_000L;
                        if (kind == Kind.NATS_KILL) {
                            if (natsDown[0]) {
                                continue;
                            }
                            nats.kill();
                            natsDown[0] = true;
                            injected.merge(kind, 1, Integer::sum);
                            log(schedule, t0, "nats-server kill -9 for " + faultMillis + " ms");
                            heals.add(new Heal(System.nanoTime() + faultMillis * 1_000_000L, "nats-server restarted", () -> {
                                nats.restart();
                                natsDown[0] = false;
                                history.rewatch(); // the watcher's consumer died with the server
                            }));
                            continue;
                        }
                        if (faulted.size() >= MAX_FAULTED_WORKERS) {
                            continue;
                        }
                        Optional<ChildGroup.Child> leader = g.leader().filter(c -> !faulted.contains(c.slot));
                        String slot = preferLeader && leader.isPresent() ? leader.get().slot : slot(slotDraw);
                        for (int i = 1; faulted.contains(slot) && i < SLOTS; i++) {
                            slot = slot((slotDraw + i) % SLOTS);
                        }
                        String target = slot;
                        ChildGroup.Child victim = current.get(target);
                        String who = victim + (leader.map(l -> l == victim).orElse(false) ? " [the leader]" : "");
                        faulted.add(target);
                        injected.merge(kind, 1, Integer::sum);
                        switch (kind) {
                            case KILL -> {
                                victim.kill();
                                log(schedule, t0, "kill -9 " + who + ", new instance in " + restartDelayMillis + " ms");
                                heals.add(new Heal(System.nanoTime() + restartDelayMillis * 1_000_000L, "restart slot " + target, () -> {
                                    current.put(target, g.start(target, url(proxies.get(index(target)).port())));
                                    faulted.remove(target);
                                }));
                            }
                            case PAUSE -> {
                                victim.suspend();
                                log(schedule, t0, "SIGSTOP " + who + " for " + faultMillis + " ms");
                                heals.add(new Heal(System.nanoTime() + faultMillis * 1_000_000L, "SIGCONT " + victim.instance, () -> {
                                    if (victim.process.isAlive()) {
                                        victim.resume();
                                    }
                                    faulted.remove(target);
                                }));
                            }
                            case CUT -> {
                                TcpProxy proxy = proxies.get(index(target));
                                proxy.cut();
                                log(schedule, t0, "TCP cut of " + who + " for " + faultMillis + " ms");
                                heals.add(new Heal(System.nanoTime() + faultMillis * 1_000_000L, "TCP restored for " + target, () -> {
                                    proxy.restore();
                                    faulted.remove(target);
                                }));
                            }
                            default -> throw new IllegalStateException(kind.toString());
                        }
                    }
                    restartExited(g, current, faulted, proxies, schedule, t0, exits);
                    long wake = heals.isEmpty() ? nextFault : Math.min(nextFault, heals.peek().atNanos());
                    long sleepMillis = Math.max(1, Math.min(50, (wake - System.nanoTime()) / 1_000_000));
                    Thread.sleep(sleepMillis); // the scheduler's tick, not a wait for a condition
                }
                // ---------------------------------------------------------------- quiet
                while (!heals.isEmpty()) {
                    Heal h = heals.poll();
                    log(schedule, t0, "heal (faults over): " + h.what());
                    h.action().run();
                }
                restartExited(g, current, faulted, proxies, schedule, t0, exits);
                long quietFrom = System.nanoTime();
                await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                        .until(() -> g.ownedByLive().size() == PARTITIONS);
                long reownedMillis = (System.nanoTime() - quietFrom) / 1_000_000;
                try {
                    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50)).until(() -> settled(g));
                } catch (org.awaitility.core.ConditionTimeoutException e) {
                    StringBuilder state = new StringBuilder();
                    g.children.forEach(c -> state.append("\n  ").append(c.instance).append(c.process.isAlive() ? "" : " (dead)")
                            .append(c.process.isSuspended() ? " (stopped)" : "").append(": ").append(c.status()));
                    System.out.println("[nemesis] not settled (seed " + seed + "):" + state + "\n" + g.logs(40));
                    throw new AssertionError("group not settled 60 s after the faults stopped (seed " + seed + "):" + state, e);
                }
                long quietEnd = System.nanoTime();

                // ---------------------------------------------------------------- verdict
                List<OwnershipEvent> events = g.events(List.of());
                OwnershipReport whole = g.check(t0, Duration.ofDays(1), true, List.of());
                OwnershipReport quiet = dev.parti.testkit.OwnershipChecker.builder().partitions(g.partitionIds())
                        .maxGap(LIVENESS_BOUND).window(quietFrom, quietEnd).requireOwnedAtEnd(true).check(events);
                List<AssignmentHistory.Publication> published = history.publications();
                Set<String> liveIds = new HashSet<>();
                List<String> ids = new ArrayList<>();
                g.live().forEach(c -> c.status().ifPresent(s -> {
                    liveIds.add(s.workerId());
                    ids.add(c.instance + "=" + s.workerId());
                }));
                System.out.println("[nemesis] schedule (seed " + seed + "):\n  " + String.join("\n  ", schedule));
                if (proofOfDeath) { // what the leaders made of the DISCONNECT events (children still on disk)
                    String logs = g.logs(100_000);
                    System.out.println("[measure] nemesis proof of death: " + count(logs, "counts as stopped: its connection")
                            + " workers counted stopped by proof, " + count(logs, "reported closed by its client")
                            + " Client Closed reports heard, " + count(logs, "not a proof of death") + " other reasons ignored");
                }
                System.out.printf(Locale.ROOT, "[measure] nemesis seed %d, %d s: faults %s; %d instances; handoffs %d; "
                                + "publications %d (versions %s..%s); overlap by instance %d (%d ms); IDs held twice %d; "
                                + "longest unowned gap %d ms (during faults); all owned again %d ms after the faults stopped "
                                + "(bound %d ms); live IDs %s; exited on their own %s%n",
                        seed, duration.toSeconds(), injected, g.children.size(), ChildGroup.handoffs(events, t0),
                        published.size(), published.isEmpty() ? "-" : published.get(0).version(),
                        published.isEmpty() ? "-" : published.get(published.size() - 1).version(),
                        whole.overlaps().size(), whole.overlapNanos() / 1_000_000, whole.idConflicts().size(),
                        whole.longestGapNanos() / 1_000_000, reownedMillis, LIVENESS_BOUND.toMillis(), ids, exits);
                OwnershipReport overBound = dev.parti.testkit.OwnershipChecker.builder().partitions(g.partitionIds())
                        .maxGap(LIVENESS_BOUND).window(t0, quietEnd).check(events);
                System.out.println("[nemesis] unowned stretches longer than " + LIVENESS_BOUND.toMillis()
                        + " ms while faults ran (allowed: NATS down, cut-off or stopped workers; longest first):");
                overBound.gaps().stream().sorted((a, b) -> Long.compare(b.durationNanos(), a.durationNanos())).limit(8)
                        .forEach(gap -> System.out.printf(Locale.ROOT, "  %s unowned from +%.3f s for %d ms%n", gap.partition(),
                                (gap.startNanos() - t0) / 1e9, gap.durationNanos() / 1_000_000));
                if (!whole.overlaps().isEmpty() || !whole.idConflicts().isEmpty()) {
                    System.out.println(whole);
                    System.out.println(g.logs(60));
                }
                assertThat(whole.overlaps()).as("overlaps by instance (seed %d)\n%s", seed, whole).isEmpty();
                assertThat(whole.idConflicts()).as("IDs held by two instances at once (seed %d)\n%s", seed, whole).isEmpty();
                history.assertMonotone();
                assertThat(published).as("publications seen").isNotEmpty();
                assertThat(reownedMillis).as("every partition owned again after the faults stopped, ms (seed %d)", seed)
                        .isLessThanOrEqualTo(LIVENESS_BOUND.toMillis());
                assertThat(quiet.gaps()).as("gaps once quiet (seed %d)\n%s", seed, quiet).isEmpty();
                assertThat(liveIds).as("live instances hold distinct IDs: %s", ids).hasSize(SLOTS);
                assertThat(injected.keySet()).as("every kind of fault injected (seed %d)", seed)
                        .containsExactlyInAnyOrder(Kind.values());
            } finally {
                history.close();
            }
        } finally {
            for (TcpProxy p : proxies) {
                p.close();
            }
            nats.close();
        }
    }

    /**
     * A worker whose JVM exited though nobody killed it (for example start() gave up after its startup timeout
     * while NATS was down) is reported with the end of its log, and a new instance takes its slot.
     */
    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    /** {@code user:password@} of the server's application account with proof of death on, else empty. */
    private static String credentials = "";

    private static String url(int port) {
        return "nats://" + credentials + "127.0.0.1:" + port;
    }

    private static void restartExited(ChildGroup g, Map<String, ChildGroup.Child> current, Set<String> faulted,
                                      List<TcpProxy> proxies, List<String> schedule, long t0, List<String> exits) {
        for (Map.Entry<String, ChildGroup.Child> e : current.entrySet()) {
            ChildGroup.Child c = e.getValue();
            if (!c.process.isAlive() && !faulted.contains(e.getKey())) {
                String tail = c.process.logTail(6).strip().replace("\n", "\n      | ");
                c.exited();
                exits.add(c.instance);
                log(schedule, t0, c.instance + " exited on its own (exit code " + c.process.waitFor(Duration.ZERO)
                        + "), new instance; its log ends:\n      | " + tail);
                e.setValue(g.start(e.getKey(), url(proxies.get(index(e.getKey())).port())));
            }
        }
    }

    /** Every slot live, one leader, every live worker on the same version, everything owned. */
    private static boolean settled(ChildGroup g) {
        List<ChildGroup.Child> live = g.live();
        if (live.size() != SLOTS || g.ownedByLive().size() != PARTITIONS) {
            return false;
        }
        Set<Long> versions = new HashSet<>();
        int leaders = 0;
        for (ChildGroup.Child c : live) {
            Optional<ChildWorker.Status> s = c.status();
            if (s.isEmpty() || !s.get().state().equals("STABLE") && !s.get().state().equals("WAITING_ASSIGNMENT")) {
                return false;
            }
            versions.add(s.get().version());
            leaders += s.get().leader() ? 1 : 0;
        }
        return versions.size() == 1 && leaders == 1;
    }

    private static Kind pick(double dice) {
        if (dice < 0.3) {
            return Kind.KILL;
        }
        if (dice < 0.6) {
            return Kind.PAUSE;
        }
        if (dice < 0.85) {
            return Kind.CUT;
        }
        return Kind.NATS_KILL;
    }

    private static long millis(Random random, int from, int to) {
        return from + random.nextInt(to - from + 1);
    }

    private static String slot(int i) {
        return "s" + i;
    }

    private static int index(String slot) {
        return Integer.parseInt(slot.substring(1));
    }

    private static void log(List<String> schedule, long t0, String what) {
        String line = String.format(Locale.ROOT, "+%7.3f s %s", (System.nanoTime() - t0) / 1e9, what);
        schedule.add(line);
        System.out.println("[nemesis] " + line);
    }
}
