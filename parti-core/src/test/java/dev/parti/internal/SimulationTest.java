package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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

    /** Seeds (with their options, as {@link SimMain#replay} spells them) already seen to pass with every switch off. */
    private static final Set<String> PASSED = new HashSet<>();

    /** Whether the run of {@code o} (its seed alone) passes every check with every switch off; remembered. */
    private static boolean passesWithoutBugs(Simulation.Options o) {
        String key = SimMain.replay(o, List.of());
        if (PASSED.contains(key)) {
            return true;
        }
        ReintroducedBugs.reset();
        SimMain.Stats st = run(o, 1, true);
        if (st.failures == 0) {
            PASSED.add(key);
        }
        return st.failures == 0;
    }

    private static Simulation.Options at(Simulation.Options base, long seed) {
        Simulation.Options o = SimMain.copy(base);
        o.seed = seed;
        return o;
    }

    /**
     * A detector that survives schedule changes: runs seeds from {@code base.seed} on, at most {@code budget} of
     * them, with {@code bugs} switched on, stopping at the first failure (as {@code scripts/simulate} does); asserts
     * one is found within the budget, that its failure matches {@code failure}, and that the same seed passes every
     * check with the switches off, so it is the switch the simulator found. With {@code allBeforePass}, every seed of
     * the budget up to that one passes with the switches off as well; without it (options under which some seeds
     * still fail on the current protocol: an open finding), a seed that fails both ways is skipped and the search
     * goes on. A change to the core's event order moves every schedule: the budget, not one seed, is what the test
     * fixes (the seed the search stops at is printed as {@code [measure]}). Returns the seed found.
     */
    private static long findsWithin(Simulation.Options base, int budget, boolean allBeforePass, String failure,
                                    String... bugs) {
        long first = base.seed;
        long next = first;
        while (next < first + budget) {
            ReintroducedBugs.reset();
            for (String b : bugs) {
                SimMain.switchOn(b);
            }
            SimMain.Stats bug = run(at(base, next), (int) (first + budget - next), false, bugs);
            String bugOutput = lastOutput;
            ReintroducedBugs.reset();
            assertThat(bug.failures).as("%s within seeds %d..%d", String.join(",", bugs), first, first + budget - 1)
                    .isPositive();
            long found = bug.firstFailingSeed;
            if (!passesWithoutBugs(at(base, found))) {
                assertThat(allBeforePass).as("seed %d fails without %s as well: %s", found, String.join(",", bugs),
                        lastOutput).isFalse();
                next = found + 1;
                continue;
            }
            assertThat(bugOutput).as("seed %d with %s", found, String.join(",", bugs)).containsPattern(failure);
            if (allBeforePass) {
                for (long s = first; s < found; s++) {
                    assertThat(passesWithoutBugs(at(base, s))).as("seed %d without %s: %s", s, String.join(",", bugs),
                            lastOutput).isTrue();
                }
            }
            System.out.println("[measure] " + String.join(",", bugs) + " found at seed " + found + ", run #"
                    + (found - first + 1) + " of a budget of " + budget + " from seed " + first);
            lastOutput = bugOutput;
            return found;
        }
        throw new AssertionError(String.join(",", bugs) + ": no seed of " + first + ".." + (first + budget - 1)
                + " fails with the switches on and passes without them");
    }

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

    /**
     * Seeds 4 and 23 (chained static takeover), 34 (a pooled ID's new instance) had double owners before issue 12's
     * fixes; every change of the core's event order since moved their schedules, so they now stand for three more
     * seeds that must pass.
     */
    @Test
    void theOpenBugsFoundByTheSimulatorAreFixed() {
        for (long seed : new long[] {4, 23, 34}) {
            SimMain.Stats st = run(seed, 1, false);
            assertThat(st.failures).as(lastOutput).isZero();
        }
    }

    /**
     * Two fixes close this hole from both sides since finding 17: the worker's fence floor, and the leader addressing the
     * line of a worker it does not count live to no instance. With one of them the seeds pass; with neither, a seed of
     * the budget fails (seed 16, the 12th run, when the budget replaced the fixed range).
     */
    @Test
    void itFindsAWorkerBackFromAnEndedSessionAcquiringFromAVersionPublishedWhileItWasAway() {
        findsWithin(options(FIRST_SEED), 40, true, "acquired by .* while .* still holds it",
                "no-fence-floor", "lines-for-workers-not-live");
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

    /** Two instances of one static ID, the newer acquiring while the older still holds: the double owner it reports. */
    private static final String STATIC_DOUBLE_OWNER =
            "acquired by s(\\d)#\\d\\(s-\\1\\) \\(v\\d+\\) while s\\1#\\d\\(s-\\1\\) still holds it";

    @Test
    void itFindsAStaticTakeoverThatAcquiresAtOnce() {
        findsWithin(options(FIRST_SEED), 30, true, STATIC_DOUBLE_OWNER, "static-takeover-at-once");
    }

    @Test
    void itFindsAPublicationWithoutALeaseCheckAtTheWrite() {
        findsWithin(options(FIRST_SEED), 30, true,
                "writes the assignment \\((create|update)\\) without a valid leader lease", "no-lease-check-at-publish");
    }

    /**
     * One seed with steps of the server's clock (up to two sessions ahead) among the faults, with the watch faults
     * off (as when finding 8 was found; they came later).
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
     * {@code trust-server-expiry}. The first two such seeds from 1000 (a budget of 40 seeds), found once per run of
     * this class: the seeds that pass on the current protocol and fail with the switch (1001 and 1017 when the budget
     * replaced the fixed seeds). Not every clock-step seed passes: a leader elected, or a static instance started,
     * right after a jump still trusts the server's expiry (docs/SIMULATION.md, finding 10); the search skips those.
     */
    private static synchronized List<Long> clockStepSeeds() {
        if (clockStepSeeds == null) {
            List<Long> seeds = new ArrayList<>();
            long from = 1000;
            int budget = 40;
            while (seeds.size() < 2) {
                long found = findsWithin(withServerClockSteps(from), (int) (1000 + budget - from), false,
                        "acquired by .* while .* still holds it under a valid lease", "trust-server-expiry");
                seeds.add(found);
                from = found + 1;
            }
            clockStepSeeds = List.copyOf(seeds);
        }
        return clockStepSeeds;
    }

    private static List<Long> clockStepSeeds;

    /** Hole 12: a running leader counts a worker dead only a session after it last saw it write. */
    @Test
    void aServerClockJumpingAheadNeverEndsALeaseEarlyUnderARunningLeader() {
        for (long seed : clockStepSeeds()) {
            Simulation run = new Simulation(withServerClockSteps(seed));
            Simulation.Result r = run.run();
            assertThat(r.failed()).as("seed %d: %s", seed, r.failure()).isFalse();
            assertThat(run.server.clockStepNanos).as("seed %d steps the server's clock", seed).isGreaterThan(1_000_000_000L);
        }
    }

    @Test
    void itFindsALeaderThatTakesAKeyExpiredByTheServersClockAsTheEndOfTheLease() {
        // the search asserts, for each seed, that it fails with the switch and passes without it
        assertThat(clockStepSeeds()).hasSize(2).doesNotHaveDuplicates();
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

    /** Seeds from 22 with watches that skip events: a worker that misses its version must still get it. */
    private static Simulation.Options withWatchDrops(double probability) {
        Simulation.Options o = options(22);
        o.watchDropProbability = probability;
        o.watchStallProbability = 0;
        return o;
    }

    /**
     * A watch that silently skips an event (a real single-server contract case saw one deliver writes seconds late or
     * never) is covered by the periodic assignment poll: with drops, the seeds from 22 converge, and without the poll
     * one of them (within the budget) fails the liveness check, while that seed passes without the poll and without
     * drops (seed 22 itself when the budget replaced the fixed seed).
     */
    @Test
    void aWatchThatMissesAnEventIsCoveredByTheAssignmentPoll() {
        long found = findsWithin(withWatchDrops(0.05), 30, true,
                "(never converged after the heal|converged, then lost it again)", "no-periodic-assignment-poll");
        ReintroducedBugs.noPeriodicAssignmentPoll = true;
        Simulation.Options noDrops = withWatchDrops(0);
        noDrops.seed = found;
        SimMain.Stats st = run(noDrops, 1, true, "no-periodic-assignment-poll");
        assertThat(st.failures).as("seed %d, no drops, no poll: the watch delivers everything: %s", found, lastOutput).isZero();
    }

    /** Two members per simulated process: a disconnect, pause, kill -9 or takeover hits both at once. */
    private static Simulation.Options twoMembersPerProcess(long seed) {
        Simulation.Options o = options(seed);
        o.membersPerProcess = 2;
        return o;
    }

    /**
     * Members sharing one process and connection (production shares one NATS connection per JVM) keep every
     * invariant on seeds 5..8, and a static takeover that acquires at once is found within 20 seeds from 5.
     */
    @Test
    void membersSharingAProcessKeepEveryInvariantAndTheSimulatorStillFindsATakeoverThatAcquiresAtOnce() {
        SimMain.Stats st = run(twoMembersPerProcess(5), 4, false);
        assertThat(st.failures).as(lastOutput).isZero();
        assertThat(lastOutput).doesNotContain("FAILED");
        findsWithin(twoMembersPerProcess(5), 20, true, STATIC_DOUBLE_OWNER, "static-takeover-at-once");
    }

    /**
     * A seed that found a bug with watch faults (and shared processes), and the switches (comma-separated) that put it
     * back; the test searches from that seed on.
     */
    private record Found(long seed, int membersPerProcess, double stalls, String bug) {
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
     * events) and with two members per process: within a budget of seeds from the seed that found it, each switch
     * is found again, on a seed that passes on the fixed protocol like every seed before it in the budget.
     */
    @Test
    void theBugsFoundWithWatchFaultsAndSharedProcessesAreFixed() {
        List<Found> found = List.of(
                // the cold start's window counted from the election moved the schedules: 526137510 no longer reaches
                // finding 14 (1 seed of 3 000 from 526137400 does, 4 did before)
                new Found(526138731, 1, 0.05, "new-leader-trusts-unknown-versions"),
                // finding 18's fix moved this seed's schedule: it reaches finding 15 with 18's switch on as well (that
                // switch alone passes on it)
                new Found(526137596, 2, 0.01, "gone-without-a-second-read,former-instance-lines-not-held"),
                new Found(526137561, 2, 0.05, "lines-for-workers-not-live"),
                new Found(526137575, 1, 0.01, "stale-episode-ends-only-with-a-heartbeat"),
                new Found(526137558, 2, -1, "close-ignores-a-fences-loss"),
                new Found(526137559, 2, -1, "former-instance-lines-not-held"),
                new Found(700000564, 1, -1, "no-apply-after-horizon"));
        for (Found f : found) {
            findsWithin(f.options(), 30, true, "(still holds it under a valid lease|did not fence itself|still letting it go"
                    + "|not every partition owned again)", f.bug().split(","));
        }
    }
}
