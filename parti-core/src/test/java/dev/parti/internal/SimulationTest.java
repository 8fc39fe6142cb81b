package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The deterministic simulator in CI, on a fixed budget: a range of seeds that must pass, the same seed
 * giving the same run, and the simulator finding bugs of issue 12 put back behind test-only switches
 * ({@link ReintroducedBugs}). Longer explorations: {@code scripts/simulate --minutes M}
 * (docs/SIMULATION.md).
 */
class SimulationTest {

    @AfterEach
    void switchesOff() {
        ReintroducedBugs.reset();
    }

    private static Simulation.Options options(long seed) {
        Simulation.Options o = new Simulation.Options();
        o.seed = seed;
        o.faultNanos = 15_000_000_000L;
        o.quietNanos = 10_000_000_000L;
        return o;
    }

    private static SimMain.Stats run(long firstSeed, int seeds, boolean keepGoing, String... bugs) {
        return run(options(firstSeed), seeds, keepGoing, bugs);
    }

    private static SimMain.Stats run(Simulation.Options options, int seeds, boolean keepGoing, String... bugs) {
        long firstSeed = options.seed;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        SimMain.Stats st = SimMain.run(options, firstSeed, new SimMain.Budget(seeds, -1), false, keepGoing,
                List.of(bugs), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        System.out.println(out);
        System.out.println("[measure] " + String.join(",", bugs) + " " + st.summary());
        lastOutput = out;
        return st;
    }

    private static String lastOutput;

    /** Seeds 5..12 pass on the current protocol; seeds 4 and 34 show the two open bugs (see below). */
    static final long FIRST_SEED = 5;
    static final int SEEDS = 8;

    @Test
    void aFixedRangeOfSeedsPassesEveryCheck() {
        SimMain.Stats st = run(FIRST_SEED, SEEDS, false);
        assertThat(st.failures).as(lastOutput).isZero();
        assertThat(st.faults).isGreaterThan(SEEDS * 10L);
        assertThat(st.publications).isGreaterThan(SEEDS * 5L);
    }

    /** Seeds 4 and 23 (chained static takeover), 34 (a pooled ID's new instance): double owners before this session's fixes. */
    @Test
    void theOpenBugsFoundByTheSimulatorAreFixed() {
        for (long seed : new long[] {4, 23, 34}) {
            SimMain.Stats st = run(seed, 1, false);
            assertThat(st.failures).as(lastOutput).isZero();
        }
    }

    /**
     * Two fixes close this hole from both sides since finding 17: the worker's fence floor, and the leader addressing the
     * line of a worker it does not count live to no instance. With one of them the seeds pass; with neither, seed 16 (the
     * 12th run) fails.
     */
    @Test
    void itFindsAWorkerBackFromAnEndedSessionAcquiringFromAVersionPublishedWhileItWasAway() {
        ReintroducedBugs.noFenceFloorAfterSessionLoss = true;
        ReintroducedBugs.linesForWorkersNotLive = true;
        SimMain.Stats st = run(FIRST_SEED, 12, false, "no-fence-floor", "lines-for-workers-not-live");
        assertThat(st.failures).as("seeds 5..16, with both bugs").isPositive();
        assertThat(lastOutput).containsPattern("acquired by .* while .* still holds it");
    }

    @Test
    void theSameSeedGivesTheSameRun() {
        Simulation.Result a = new Simulation(options(7)).run();
        Simulation.Result b = new Simulation(options(7)).run();
        assertThat(a.events()).isEqualTo(b.events()).isGreaterThan(1000);
        assertThat(a.trace()).isEqualTo(b.trace());
        assertThat(a.failure()).isEqualTo(b.failure());
        assertThat(new Simulation(options(8)).run().trace()).isNotEqualTo(a.trace());
    }

    @Test
    void seedsRunInParallelGiveWhatTheyGiveOneAfterTheOther() {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        SimMain.Stats one = SimMain.run(options(5), 5, new SimMain.Budget(4, -1), false, true, List.of(), quiet, 1);
        SimMain.Stats two = SimMain.run(options(5), 5, new SimMain.Budget(4, -1), false, true, List.of(), quiet, 2);
        assertThat(two.runs).isEqualTo(one.runs).isEqualTo(4);
        assertThat(two.events).isEqualTo(one.events);
        assertThat(two.publications).isEqualTo(one.publications);
        assertThat(two.faults).isEqualTo(one.faults);
    }

    @Test
    void itFindsAStaticTakeoverThatAcquiresAtOnce() {
        ReintroducedBugs.staticTakeoverAtOnce = true;
        // seed 16 is the first to catch it (12 runs; it stops there), and seeds 5..12 pass without the bug
        SimMain.Stats st = run(FIRST_SEED, 20, false, "static-takeover-at-once");
        assertThat(st.failures).as("seeds 5..24, with the bug").isPositive();
        assertThat(lastOutput).containsPattern("acquired by s(\\d)#\\d\\(s-\\1\\) \\(v\\d+\\) while s\\1#\\d\\(s-\\1\\) still holds it");
    }

    @Test
    void itFindsAPublicationWithoutALeaseCheckAtTheWrite() {
        ReintroducedBugs.noLeaseCheckAtPublish = true;
        SimMain.Stats st = run(FIRST_SEED, SEEDS, false, "no-lease-check-at-publish");
        assertThat(st.failures).as("the seeds of aFixedRangeOfSeedsPassesEveryCheck, with the bug").isPositive();
        assertThat(lastOutput).containsPattern("writes the assignment \\((create|update)\\) without a valid leader lease");
    }

    /**
     * One seed with steps of the server's clock (up to two sessions ahead) among the faults. These seeds were picked
     * before watches could drop or stall events: with those off they keep the schedule that shows finding 8.
     */
    private static Simulation.Options withServerClockSteps(long seed) {
        Simulation.Options o = new Simulation.Options();
        o.seed = seed;
        o.serverClockSteps = true;
        o.watchDropProbability = 0;
        o.watchStallProbability = 0;
        return o;
    }

    /**
     * Seeds where a running leader saw a worker's key vanish early (the server's clock jumped) while the worker,
     * paused or cut off, still held its partitions under a valid lease: double owners before the fix, and again with
     * {@code trust-server-expiry}. Not every clock-step seed passes: a leader elected, or a static instance started,
     * right after a jump still trusts the server's expiry (docs/SIMULATION.md, finding 10).
     */
    static final long[] CLOCK_STEP_SEEDS = {1001, 1017};

    /** Hole 12: a running leader counts a worker dead only a session after it last saw it write. */
    @Test
    void aServerClockJumpingAheadNeverEndsALeaseEarlyUnderARunningLeader() {
        for (long seed : CLOCK_STEP_SEEDS) {
            Simulation run = new Simulation(withServerClockSteps(seed));
            Simulation.Result r = run.run();
            assertThat(r.failed()).as("seed %d: %s", seed, r.failure()).isFalse();
            assertThat(run.server.clockStepNanos).as("seed %d steps the server's clock", seed).isGreaterThan(1_000_000_000L);
        }
    }

    @Test
    void itFindsALeaderThatTakesAKeyExpiredByTheServersClockAsTheEndOfTheLease() {
        ReintroducedBugs.trustServerExpiry = true;
        for (long seed : CLOCK_STEP_SEEDS) {
            SimMain.Stats st = run(withServerClockSteps(seed), 1, true, "trust-server-expiry");
            assertThat(st.failures).as("seed %d with the bug", seed).isEqualTo(1);
            assertThat(lastOutput).containsPattern("acquired by .* while .* still holds it under a valid lease");
        }
    }

    /**
     * nats-server restarts: every client cut off, and the watches die with the server without an error (only new ones
     * deliver). Seeds 2000..2007 keep every invariant; without re-opening the watches on reconnect they still do (the
     * polls cover the gap), but the group is slower to be whole again after the faults.
     */
    @Test
    void natsServerRestartsWhoseWatchesDieSilentlyKeepEveryInvariant() {
        Simulation.Options o = new Simulation.Options();
        o.seed = 2000;
        o.serverRestarts = true;
        SimMain.Stats fixed = run(o, 8, true);
        assertThat(fixed.failures).as(lastOutput).isZero();
        ReintroducedBugs.noRewatchOnReconnect = true;
        SimMain.Stats bug = run(o, 8, true, "no-rewatch-on-reconnect");
        assertThat(bug.maxConvergeNanos).as("slowest convergence after the heal, without re-opening watches")
                .isGreaterThan(fixed.maxConvergeNanos);
    }

    /** Seed 16 with watches that skip one event in twenty: a worker that misses its version must still get it. */
    private static Simulation.Options withWatchDrops(double probability) {
        Simulation.Options o = options(22);
        o.watchDropProbability = probability;
        o.watchStallProbability = 0;
        return o;
    }

    /**
     * A watch that silently skips an event (a real single-server contract case saw one deliver writes seconds late or
     * never) is covered by the periodic assignment poll: seed 22 converges with drops, and without the poll it fails
     * the liveness check with drops, while it passes without them.
     */
    @Test
    void aWatchThatMissesAnEventIsCoveredByTheAssignmentPoll() {
        SimMain.Stats covered = run(withWatchDrops(0.05), 1, true);
        assertThat(covered.failures).as(lastOutput).isZero();
        assertThat(lastOutput).doesNotContain("FAILED");
        ReintroducedBugs.noPeriodicAssignmentPoll = true;
        SimMain.Stats noDrops = run(withWatchDrops(0), 1, true, "no-periodic-assignment-poll");
        assertThat(noDrops.failures).as("no drops, no poll: the watch delivers everything").isZero();
        SimMain.Stats bug = run(withWatchDrops(0.05), 1, true, "no-periodic-assignment-poll");
        assertThat(bug.failures).as("drops, no poll").isEqualTo(1);
        assertThat(lastOutput).containsPattern("(never converged after the heal|converged, then lost it again)");
    }

    /** Two members per simulated process: a disconnect, pause, kill -9 or takeover hits both at once. */
    private static Simulation.Options twoMembersPerProcess(long seed) {
        Simulation.Options o = options(seed);
        o.membersPerProcess = 2;
        return o;
    }

    /**
     * Members sharing one process and connection (production shares one NATS connection per JVM) keep every
     * invariant on seeds 5..8, and a static takeover that acquires at once is found there (seed 7, the 3rd run).
     */
    @Test
    void membersSharingAProcessKeepEveryInvariantAndTheSimulatorStillFindsATakeoverThatAcquiresAtOnce() {
        SimMain.Stats st = run(twoMembersPerProcess(5), 4, false);
        assertThat(st.failures).as(lastOutput).isZero();
        assertThat(lastOutput).doesNotContain("FAILED");
        ReintroducedBugs.staticTakeoverAtOnce = true;
        SimMain.Stats bug = run(twoMembersPerProcess(5), 4, false, "static-takeover-at-once");
        assertThat(bug.failures).as("seeds 5..8, two members per process, with the bug").isPositive();
        assertThat(lastOutput).containsPattern("acquired by s(\\d)#\\d\\(s-\\1\\) \\(v\\d+\\) while s\\1#\\d\\(s-\\1\\) still holds it");
    }

    /** A seed that found a bug with watch faults (and shared processes), and the switches (comma-separated) that put it back. */
    private record Found(long seed, int membersPerProcess, double stalls, String bug, Runnable switchOn) {
        Simulation.Options options() {
            Simulation.Options o = new Simulation.Options(); // the default phases (20 s of faults, 12 s quiet)
            o.seed = seed;
            o.membersPerProcess = membersPerProcess;
            if (stalls < 0) {
                return o; // the default watch faults and group shape
            }
            o.watchDropProbability = 0.02;
            o.watchStallProbability = stalls;
            if (membersPerProcess > 1) {
                o.workers = 6;
                o.partitions = 18;
            }
            return o;
        }
    }

    /**
     * Findings 14-20 (docs/SIMULATION.md), found with watches that skip and stall (2 % and 1 % or 5 % of
     * events) and with two members per process: each seed passes on the fixed protocol and fails again with its switch.
     */
    @Test
    void theBugsFoundWithWatchFaultsAndSharedProcessesAreFixed() {
        List<Found> found = List.of(
                new Found(526137510, 1, 0.05, "new-leader-trusts-unknown-versions",
                        () -> ReintroducedBugs.newLeaderTrustsUnknownVersions = true),
                // finding 18's fix moved this seed's schedule: it reaches finding 15 with 18's switch on as well (that
                // switch alone passes on it)
                new Found(526137596, 2, 0.01, "gone-without-a-second-read,former-instance-lines-not-held", () -> {
                    ReintroducedBugs.goneWithoutASecondRead = true;
                    ReintroducedBugs.formerInstanceLinesNotHeld = true;
                }),
                new Found(526137561, 2, 0.05, "lines-for-workers-not-live",
                        () -> ReintroducedBugs.linesForWorkersNotLive = true),
                new Found(526137575, 1, 0.01, "stale-episode-ends-only-with-a-heartbeat",
                        () -> ReintroducedBugs.staleEpisodeEndsOnlyWithAHeartbeat = true),
                new Found(526137558, 2, -1, "close-ignores-a-fences-loss",
                        () -> ReintroducedBugs.closeIgnoresAFencesLoss = true),
                new Found(526137559, 2, -1, "former-instance-lines-not-held",
                        () -> ReintroducedBugs.formerInstanceLinesNotHeld = true),
                new Found(700000564, 1, -1, "no-apply-after-horizon",
                        () -> ReintroducedBugs.noApplyAfterHorizon = true));
        for (Found f : found) {
            SimMain.Stats fixed = run(f.options(), 1, true);
            assertThat(fixed.failures).as("seed %d, fixed: %s", f.seed(), lastOutput).isZero();
            f.switchOn().run();
            SimMain.Stats bug = run(f.options(), 1, true, f.bug().split(","));
            assertThat(bug.failures).as("seed %d with %s", f.seed(), f.bug()).isEqualTo(1);
            assertThat(lastOutput).containsPattern("(still holds it under a valid lease|did not fence itself|still letting it go"
                    + "|not every partition owned again)");
            ReintroducedBugs.reset();
        }
    }
}
