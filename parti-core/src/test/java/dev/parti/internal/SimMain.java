package dev.parti.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * Command line of the simulator ({@code scripts/simulate}): runs seeds until one fails or the budget
 * is spent, and prints, for a failure, the seed, the trace of the schedule that led to it and the one
 * command that replays it.
 *
 * <pre>
 * --seeds N | --minutes M   budget (default: 100 seeds)
 * --seed S                  first seed (default: from the time); with --seeds 1 replays one run
 * --workers W --partitions P --static K   group shape (default 4, 12, 2)
 * --fault-seconds F --quiet-seconds Q     phases of a run, virtual seconds (default 20, 12)
 * --bug NAME                switch a reintroduced bug on (no-lease-check-at-publish, static-takeover-at-once,
 *                           fence-releases-at-once, no-chain-fence, no-fence-floor, trust-server-expiry,
 *                           no-rewatch-on-reconnect, no-periodic-assignment-poll,
 *                           new-leader-trusts-unknown-versions, gone-without-a-second-read,
 *                           lines-for-workers-not-live, stale-episode-ends-only-with-a-heartbeat,
 *                           close-ignores-a-fences-loss, former-instance-lines-not-held,
 *                           no-apply-after-horizon)
 * --server-clock-steps      faults include forward steps of the server's clock (keys expire early)
 * --server-restarts         faults include nats-server restarts (every client cut off; watches die silently)
 * --max-payload B           the server's max payload in bytes (default 1 MB); e.g. 1280 with --partitions 200
 *                           makes every assignment record a chunked one (manifest + pieces)
 * --static-restarts         a planned restart of a static member closes remaining in the group and returns at once
 * --members-per-process N   N members share one simulated process and its one connection (default 1): a
 *                           disconnect, pause, kill -9, takeover or server restart hits them all
 * --watch-drops P           per watch event, the probability that the watch silently skips it
 * --watch-stalls P          per watch event, the probability that the watch stalls on it up to 3 s
 *                           (and everything after it on that watch)
 * --trace                   print the trace of every run, not only of a failure
 * --trace-lines N           lines of trace kept before a failure (default 200)
 * --keep-going              do not stop at the first failure
 * --parallel N              runs N seeds at a time (default 1; results still in seed order)
 * </pre>
 * Exit status 1 when a run failed.
 */
public final class SimMain {
    private SimMain() {
    }

    public static void main(String[] args) {
        Simulation.Options base = new Simulation.Options();
        long seeds = -1;
        double minutes = -1;
        Long seed = null;
        boolean trace = false;
        boolean keepGoing = false;
        int parallel = 1;
        List<String> bugs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--seeds" -> seeds = Long.parseLong(args[++i]);
                case "--minutes" -> minutes = Double.parseDouble(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--workers" -> base.workers = Integer.parseInt(args[++i]);
                case "--partitions" -> base.partitions = Integer.parseInt(args[++i]);
                case "--static" -> base.staticWorkers = Integer.parseInt(args[++i]);
                case "--fault-seconds" -> base.faultNanos = (long) (Double.parseDouble(args[++i]) * 1e9);
                case "--quiet-seconds" -> base.quietNanos = (long) (Double.parseDouble(args[++i]) * 1e9);
                case "--bug" -> bugs.add(args[++i]);
                case "--server-clock-steps" -> base.serverClockSteps = true;
                case "--server-restarts" -> base.serverRestarts = true;
                case "--max-payload" -> base.maxPayload = Long.parseLong(args[++i]);
                case "--static-restarts" -> base.staticRestarts = true;
                case "--members-per-process" -> base.membersPerProcess = Integer.parseInt(args[++i]);
                case "--watch-drops" -> base.watchDropProbability = Double.parseDouble(args[++i]);
                case "--watch-stalls" -> base.watchStallProbability = Double.parseDouble(args[++i]);
                case "--trace-lines" -> base.traceLines = Integer.parseInt(args[++i]);
                case "--trace" -> trace = true;
                case "--keep-going" -> keepGoing = true;
                case "--parallel" -> parallel = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("unknown option " + a + "; see SimMain's Javadoc or scripts/simulate --help");
                    System.exit(2);
                }
            }
        }
        for (String b : bugs) {
            switchOn(b);
        }
        if (seeds < 0 && minutes < 0) {
            seeds = 100;
        }
        long first = seed != null ? seed : System.currentTimeMillis() % 1_000_000_000L;
        Budget budget = new Budget(seeds, minutes);
        Stats stats = run(base, first, budget, trace, keepGoing, bugs, System.out, parallel);
        System.out.println(stats.summary());
        System.exit(stats.failures > 0 ? 1 : 0);
    }

    static void switchOn(String bug) {
        switch (bug) {
            case "no-lease-check-at-publish" -> ReintroducedBugs.noLeaseCheckAtPublish = true;
            case "static-takeover-at-once" -> ReintroducedBugs.staticTakeoverAtOnce = true;
            case "fence-releases-at-once" -> ReintroducedBugs.fenceReleasesAtOnce = true;
            case "no-chain-fence" -> ReintroducedBugs.noChainFence = true;
            case "no-fence-floor" -> ReintroducedBugs.noFenceFloorAfterSessionLoss = true;
            case "trust-server-expiry" -> ReintroducedBugs.trustServerExpiry = true;
            case "no-rewatch-on-reconnect" -> ReintroducedBugs.noRewatchOnReconnect = true;
            case "no-periodic-assignment-poll" -> ReintroducedBugs.noPeriodicAssignmentPoll = true;
            case "new-leader-trusts-unknown-versions" -> ReintroducedBugs.newLeaderTrustsUnknownVersions = true;
            case "gone-without-a-second-read" -> ReintroducedBugs.goneWithoutASecondRead = true;
            case "lines-for-workers-not-live" -> ReintroducedBugs.linesForWorkersNotLive = true;
            case "stale-episode-ends-only-with-a-heartbeat" -> ReintroducedBugs.staleEpisodeEndsOnlyWithAHeartbeat = true;
            case "close-ignores-a-fences-loss" -> ReintroducedBugs.closeIgnoresAFencesLoss = true;
            case "former-instance-lines-not-held" -> ReintroducedBugs.formerInstanceLinesNotHeld = true;
            case "no-apply-after-horizon" -> ReintroducedBugs.noApplyAfterHorizon = true;
            default -> throw new IllegalArgumentException("unknown bug " + bug + "; known: no-lease-check-at-publish, "
                    + "static-takeover-at-once, fence-releases-at-once, no-chain-fence, no-fence-floor, "
                    + "trust-server-expiry, no-rewatch-on-reconnect, no-periodic-assignment-poll, "
                    + "new-leader-trusts-unknown-versions, gone-without-a-second-read, lines-for-workers-not-live, "
                    + "stale-episode-ends-only-with-a-heartbeat, close-ignores-a-fences-loss, former-instance-lines-not-held, no-apply-after-horizon");
        }
    }

    /** How many seeds, or how long. */
    record Budget(long seeds, double minutes) {
        boolean more(long done, long startedNanos) {
            if (seeds >= 0 && done >= seeds) {
                return false;
            }
            return minutes < 0 || System.nanoTime() - startedNanos < minutes * 60e9;
        }
    }

    /** What a batch of runs measured. */
    static final class Stats {
        long runs;
        long failures;
        long firstFailingSeed = -1;
        int seedsToFirstFailure = -1;
        long virtualNanos;
        long events;
        long faults;
        long publications;
        long maxConvergeNanos;
        long wallNanos;

        String summary() {
            return String.format("[simulate] %d runs, %d failed%s; %.1f runs/s; %.0f s virtual (%.0fx real time); "
                            + "%d events, %d faults, %d publications; slowest convergence after heal %d ms; wall %.1f s",
                    runs, failures, failures > 0 ? " (first at seed " + firstFailingSeed + ", run #" + seedsToFirstFailure + ")" : "",
                    runs / (wallNanos / 1e9), virtualNanos / 1e9, virtualNanos / (double) wallNanos, events, faults,
                    publications, maxConvergeNanos / 1_000_000, wallNanos / 1e9);
        }
    }

    static Stats run(Simulation.Options base, long firstSeed, Budget budget, boolean trace, boolean keepGoing,
                     List<String> bugs, java.io.PrintStream out) {
        return run(base, firstSeed, budget, trace, keepGoing, bugs, out, 1);
    }

    /**
     * Runs seeds from {@code firstSeed}, {@code parallel} at a time (independent runs, each on its own driver
     * thread); results are taken, printed and counted in seed order, so the output does not depend on it.
     */
    static Stats run(Simulation.Options base, long firstSeed, Budget budget, boolean trace, boolean keepGoing,
                     List<String> bugs, java.io.PrintStream out, int parallel) {
        Stats st = new Stats();
        long started = System.nanoTime();
        java.util.concurrent.ExecutorService pool = parallel > 1
                ? java.util.concurrent.Executors.newFixedThreadPool(parallel, r -> {
                    Thread t = new Thread(r, "sim-runner");
                    t.setDaemon(true);
                    return t;
                })
                : null;
        java.util.ArrayDeque<java.util.concurrent.Future<Simulation.Result>> inFlight = new java.util.ArrayDeque<>();
        long next = firstSeed;
        try {
            runs:
            while (true) {
                while (inFlight.size() < Math.max(1, parallel) && budget.more(st.runs + inFlight.size(), started)) {
                    Simulation.Options o = copy(base);
                    o.seed = next++;
                    java.util.concurrent.Callable<Simulation.Result> one =
                            () -> SimScheduler.runInThread(() -> new Simulation(o).run(), "sim-driver-" + o.seed);
                    if (pool != null) {
                        inFlight.add(pool.submit(one));
                    } else {
                        java.util.concurrent.FutureTask<Simulation.Result> f = new java.util.concurrent.FutureTask<>(one);
                        f.run();
                        inFlight.add(f);
                    }
                }
                if (inFlight.isEmpty()) {
                    break;
                }
                Simulation.Result r;
                try {
                    r = inFlight.poll().get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e.getCause());
                }
                Simulation.Options o = copy(base);
                o.seed = r.seed();
                long s = r.seed();
                if (!step(st, r, s, o, trace, keepGoing, bugs, out)) {
                    break runs;
                }
            }
        } finally {
            inFlight.forEach(f -> f.cancel(true));
            if (pool != null) {
                pool.shutdownNow();
            }
        }
        st.wallNanos = System.nanoTime() - started;
        return st;
    }

    /** Counts and reports one run; false when the batch stops here (a failure, without keep-going). */
    private static boolean step(Stats st, Simulation.Result r, long s, Simulation.Options o, boolean trace,
                                boolean keepGoing, List<String> bugs, java.io.PrintStream out) {
        {
            st.runs++;
            st.virtualNanos += r.virtualNanos();
            st.events += r.events();
            st.faults += r.faults();
            st.publications += r.publications();
            st.maxConvergeNanos = Math.max(st.maxConvergeNanos, r.convergedAfterNanos());
            if (trace) {
                r.trace().forEach(out::println);
            }
            if (r.failed()) {
                st.failures++;
                if (st.firstFailingSeed < 0) {
                    st.firstFailingSeed = s;
                    st.seedsToFirstFailure = (int) st.runs;
                }
                out.println("[simulate] seed " + s + " FAILED: " + r.failure());
                if (!trace) {
                    out.println("[simulate] trace of the schedule before the failure (last " + r.trace().size() + " lines):");
                    r.trace().forEach(l -> out.println("  " + l));
                }
                out.println("[simulate] replay: " + replay(o, bugs));
                if (!keepGoing) {
                    return false;
                }
            }
        }
        return true;
    }

    static String replay(Simulation.Options o, List<String> bugs) {
        StringBuilder b = new StringBuilder("scripts/simulate --seeds 1 --seed " + o.seed + " --workers " + o.workers
                + " --partitions " + o.partitions + " --static " + o.staticWorkers
                + " --fault-seconds " + o.faultNanos / 1e9 + " --quiet-seconds " + o.quietNanos / 1e9);
        for (String bug : bugs) {
            b.append(" --bug ").append(bug);
        }
        if (o.serverClockSteps) {
            b.append(" --server-clock-steps");
        }
        if (o.serverRestarts) {
            b.append(" --server-restarts");
        }
        if (o.maxPayload != 1024 * 1024) {
            b.append(" --max-payload ").append(o.maxPayload);
        }
        if (o.staticRestarts) {
            b.append(" --static-restarts");
        }
        Simulation.Options defaults = new Simulation.Options();
        if (o.membersPerProcess != defaults.membersPerProcess) {
            b.append(" --members-per-process ").append(o.membersPerProcess);
        }
        if (o.watchDropProbability != defaults.watchDropProbability) {
            b.append(" --watch-drops ").append(o.watchDropProbability);
        }
        if (o.watchStallProbability != defaults.watchStallProbability) {
            b.append(" --watch-stalls ").append(o.watchStallProbability);
        }
        return b.append(" --trace").toString();
    }

    static Simulation.Options copy(Simulation.Options base) {
        Simulation.Options o = new Simulation.Options();
        o.seed = base.seed;
        o.workers = base.workers;
        o.partitions = base.partitions;
        o.serverClockSteps = base.serverClockSteps;
        o.serverRestarts = base.serverRestarts;
        o.maxPayload = base.maxPayload;
        o.staticRestarts = base.staticRestarts;
        o.membersPerProcess = base.membersPerProcess;
        o.watchDropProbability = base.watchDropProbability;
        o.watchStallProbability = base.watchStallProbability;
        o.watchMaxStallNanos = base.watchMaxStallNanos;
        o.staticWorkers = base.staticWorkers;
        o.faultNanos = base.faultNanos;
        o.quietNanos = base.quietNanos;
        o.faultMeanNanos = base.faultMeanNanos;
        o.drift = base.drift;
        o.traceLines = base.traceLines;
        return o;
    }
}
