package dev.parti.internal;

import dev.parti.AssignmentListener;
import dev.parti.LossPolicy;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.Partition;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;

/**
 * One deterministic simulation run: a group of {@link GroupMember}s (the real protocol code) on
 * simulated processes, against the in-memory KV model, under a seeded fault schedule (disconnects,
 * lost replies, slow requests, SIGSTOP-like pauses, kill -9 and restarts, static-ID takeovers, slow
 * listeners and partition sources, clock drift), then a quiet period. A checker runs after every event.
 *
 * <p>Everything random comes from the seed: the same seed and options give the same run.
 */
final class Simulation {
    private static final long MS = 1_000_000L;
    /** The KV operations that write. */
    private static final Set<String> WRITES = Set.of("create", "update", "delete", "purge");
    /** A running owner with a stale lease must have fenced itself within this (the watchdog ticks every 25 ms). */
    private static final long STALE_OWNER_FENCE_NANOS = 150 * MS;

    /** What a run is made of; every field has the default used by CI. */
    static final class Options {
        long seed;
        int workers = 4;
        int partitions = 12;
        /** Slots 0..staticWorkers-1 use static IDs {@code s-N}; the others the pool. */
        int staticWorkers = 2;
        long faultNanos = 20_000 * MS;
        long quietNanos = 12_000 * MS;
        /** Mean time between faults. */
        long faultMeanNanos = 600 * MS;
        /** Clock rate drift bound per process (0.002 = ±0.2 %). */
        double drift = 0.002;
        /** Lines of trace kept and printed before a failure. */
        int traceLines = 200;
        /**
         * Whether faults include steps of the server's wall clock (forward, up to two sessions: keys expire
         * early, as on a node whose clock jumps or an R3 stream leader change to a replica whose clock is ahead).
         * Off by default so that the seeds of the other findings keep their schedules.
         */
        boolean serverClockSteps;
        /**
         * Whether faults include nats-server restarts: every client is cut off for a while, and the watches of
         * each die silently with the server (only new ones deliver again). Off by default, as clock steps.
         */
        boolean serverRestarts;
        /**
         * The server's max payload in bytes: small values make the leader publish assignment records in pieces
         * ({@link ChunkedAssignment}), e.g. 1280 with 200 partitions.
         */
        long maxPayload = 1024 * 1024;
        /**
         * Whether a planned restart of a static member closes remaining in the group ({@code close(true)}, as
         * Kafka's {@code REMAIN_IN_GROUP}) and comes back within about a tenth of the delay a leaving one takes (a
         * rolling restart; issue 19). Off by default so that the seeds of the other findings keep their schedules.
         */
        boolean staticRestarts;
        /**
         * Members per simulated process (production shares one NATS connection per JVM): slots {@code k·N .. k·N+N-1}
         * run in process {@code k}, on its clock and its one connection, so that a disconnect, a pause, a kill -9, a
         * static takeover (the orchestrator replaces the whole process) and a server restart hit them all at once.
         */
        int membersPerProcess = 1;
        /**
         * Per watch event, the probability that the watch silently skips it (see {@link SimKvClient.Net}): on by default
         * at a low rate, as the protocol covers a missed event (the assignment poll, election rounds, suspect reads and
         * the heartbeat scan). Draws come from their own stream, so 0 gives a seed the schedule it had before.
         */
        double watchDropProbability = 0.002;
        /** Per watch event, the probability that the watch stalls on it for up to {@link #watchMaxStallNanos}. */
        double watchStallProbability = 0.002;
        long watchMaxStallNanos = 3_000 * MS;
    }

    /** A simulated process (JVM): its clock, its pause and death, its one connection, the members it runs. */
    static final class Process {
        final int index;
        final SimScheduler.Proc proc;
        final SimKvClient.Conn conn;

        Process(int index, SimScheduler.Proc proc, SimKvClient.Conn conn) {
            this.index = index;
            this.proc = proc;
            this.conn = conn;
        }
    }

    /** The outcome of a run. */
    record Result(long seed, String failure, List<String> trace, long virtualNanos, long events, int faults,
                  int instances, int publications, long convergedAfterNanos) {
        boolean failed() {
            return failure != null;
        }
    }

    /** One started instance (one per start, as ownership is checked). */
    final class Instance {
        final int slot;
        final int number;
        final String label;
        final Process process;
        final SimScheduler.Proc proc;
        SimKvClient client;
        GroupMember member;
        boolean live = true;
        boolean started;
        boolean closing;
        String instanceId;
        /** Since when (virtual) this running instance has held partitions under a stale lease; -1: not. */
        long staleOwnerSince = -1;
        /** Virtual time this instance's current session began on the server (its heartbeat created anew). */
        long sessionStart = -1;
        /** When this instance acquired each partition it owns. */
        final Map<Partition, Long> acquiredAt = new HashMap<>();
        /** Partitions whose onRevoked/onLost has begun and not returned. */
        final Set<Partition> releasing = new TreeSet<>();
        long lastVersion;
        long lastAssignedVersion;
        final Set<Partition> owned = new TreeSet<>();

        Instance(int slot, int number, Process process) {
            this.slot = slot;
            this.number = number;
            this.label = "s" + slot + "#" + number;
            this.process = process;
            this.proc = process.proc;
        }

        @Override
        public String toString() {
            return label + (member != null && member.workerId() != null ? "(" + member.workerId() + ")" : "");
        }
    }

    final Options opt;
    final SimScheduler sim;
    final SimKvServer server;
    private final Random rnd;
    private final List<Partition> partitions = new ArrayList<>();
    private final List<Instance> instances = new ArrayList<>();
    private final Instance[] slots;
    /** The current process of each process index (slot / membersPerProcess). */
    private final Process[] procs;
    /** Draws of the watch faults (their own stream: with them off, a seed's other draws are unchanged). */
    private final Random watchFaults;
    private final Map<Partition, Set<Instance>> owners = new HashMap<>();
    private final Deque<String> trace = new ArrayDeque<>();
    private final PartiConfig.Builder base;
    private String failure;
    private int faults;
    private int publications;
    private long lastVersion;
    private long lastEpoch;
    private Map<String, List<Partition>> lastOwners = Map.of();
    private long healedAt = -1;
    private long convergedAt = -1;
    private final long livenessBoundNanos;
    /** Extra delay of user code (listeners, partition source), switched on and off by the nemesis. */
    private double slowUserCode = 0.1;

    Simulation(Options opt) {
        this.opt = opt;
        this.sim = new SimScheduler(opt.seed);
        this.rnd = sim.random;
        this.server = new SimKvServer(sim);
        this.server.maxPayload = opt.maxPayload;
        this.slots = new Instance[opt.workers];
        if (opt.membersPerProcess < 1) {
            throw new IllegalArgumentException("membersPerProcess must be at least 1, not " + opt.membersPerProcess);
        }
        this.procs = new Process[(opt.workers + opt.membersPerProcess - 1) / opt.membersPerProcess];
        this.watchFaults = new Random(opt.seed * 0x9E3779B97F4A7C15L + 13);
        for (int i = 0; i < opt.partitions; i++) {
            Partition p = Partition.of("t", Integer.toString(i));
            partitions.add(p);
            owners.put(p, new LinkedHashSet<>());
        }
        List<Partition> ps = List.copyOf(partitions);
        base = PartiConfig.builder("sim").natsUrl("nats://simulated:4222")
                .partitionSource(() -> {
                    slowUserCode("partition source", 3 * 800 * MS);
                    return ps;
                })
                .heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(1000))
                .leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(200)).plannedScaleWindow(Duration.ofMillis(200))
                .rebalanceCooldown(Duration.ofMillis(100)).lossPolicy(LossPolicy.FENCE)
                .startupTimeout(Duration.ofSeconds(10));
        PartiConfig c = base.build();
        // a partition is owned again after: a paused owner's session ends, the leader notices and publishes,
        // a slow onLost returns, a static takeover waits one session, a new leader's lease and grace, the cooldown
        livenessBoundNanos = 3 * c.sessionTimeout().toNanos() + c.leaderTtl().toNanos() + c.workerIdTtl().toNanos()
                + 3 * 800 * MS + c.coldStartWindow().toNanos() + 2_000 * MS;
        server.onWrite = this::onWrite;
        sim.uncaught = s -> trace("UNCAUGHT " + s);
    }

    // ------------------------------------------------------------ run

    Result run() {
        try {
            for (int k = 0; k < procs.length; k++) {
                startProcess(k);
            }
            sim.afterEvent = this::check;
            scheduleNextFault(opt.faultNanos);
            sim.at(opt.faultNanos, null, this::heal);
            sim.runUntil(opt.faultNanos + opt.quietNanos, () -> failure != null);
            if (failure == null) {
                finalCheck();
            }
        } catch (RuntimeException | AssertionError e) {
            failure = "simulator error: " + e;
            trace("simulator error: " + e);
        } finally {
            sim.shutdown();
        }
        return new Result(opt.seed, failure, List.copyOf(trace), sim.now, sim.steps, faults, instances.size(),
                publications, convergedAt < 0 || healedAt < 0 ? -1 : convergedAt - healedAt);
    }

    private void trace(String line) {
        long ms = sim.now / MS;
        trace.addLast(String.format("%6d.%03ds ", ms / 1000, ms % 1000) + line);
        while (trace.size() > opt.traceLines) {
            trace.removeFirst();
        }
    }

    private void fail(String why) {
        if (failure == null) {
            failure = String.format("at %.3fs: %s", sim.now / 1e9, why);
            trace("VIOLATION " + why);
        }
    }

    // ------------------------------------------------------------ instances

    /** Starts a new process for index {@code k} (its clock, its connection) and a new instance of each of its slots. */
    private Process startProcess(int k) {
        double rate = 1 + (rnd.nextDouble() * 2 - 1) * opt.drift;
        long offset = (long) (rnd.nextDouble() * 1_000_000_000_000L);
        int n = opt.membersPerProcess;
        String name;
        if (n == 1) {
            name = "s" + k + "#" + (instances.stream().filter(i -> i.slot == k).count() + 1);
        } else {
            name = "p" + k + "#" + (procs[k] == null ? 1 : Integer.parseInt(procs[k].proc.name.substring(procs[k].proc.name.indexOf('#') + 1)) + 1);
        }
        SimScheduler.Proc proc = sim.newProc(name, rate, offset);
        SimKvClient.Net net = new SimKvClient.Net();
        if (healedAt >= 0) {
            net.slowProbability = 0;
            net.lostReplyProbability = 0;
        }
        net.watchDropProbability = opt.watchDropProbability;
        net.watchStallProbability = opt.watchStallProbability;
        net.watchMaxStallNanos = opt.watchMaxStallNanos;
        net.watchFaults = watchFaults;
        net.onWatchFault = line -> trace("  WATCH " + line);
        Process p = new Process(k, proc, new SimKvClient.Conn(net));
        procs[k] = p;
        if (n > 1) {
            trace("start process " + name + " (clock rate " + String.format("%.4f", rate) + ")");
        }
        for (int slot = k * n; slot < Math.min(opt.workers, k * n + n); slot++) {
            startInstance(slot, p);
        }
        return p;
    }

    /** A new instance for {@code slot}: in its process when that one still runs and is shared, else in a new process. */
    private void restartSlot(int slot) {
        Process p = procs[slot / opt.membersPerProcess];
        if (opt.membersPerProcess == 1 || p == null || p.proc.dead) {
            startProcess(slot / opt.membersPerProcess);
        } else {
            startInstance(slot, p);
        }
    }

    private Instance startInstance(int slot, Process process) {
        SimScheduler.Proc proc = process.proc;
        int number = (int) instances.stream().filter(i -> i.slot == slot).count() + 1;
        Instance inst = new Instance(slot, number, process);
        instances.add(inst);
        slots[slot] = inst;
        PartiConfig.Builder b = copy(base);
        if (slot < opt.staticWorkers) {
            b.workerId("s-" + slot);
        }
        PartiConfig config = b.build();
        MemberRuntime rt = new MemberRuntime() {
            @Override public long nanoTime() { return proc.nanoTime(); }
            @Override public String newInstanceId() {
                inst.instanceId = new UUID(rnd.nextLong(), rnd.nextLong()).toString();
                return inst.instanceId;
            }
            @Override public java.util.concurrent.ExecutorService callbackExecutor(String n, java.util.function.Consumer<Thread> onThread) {
                SimScheduler.VThread t = sim.new VThread(proc, "callbacks");
                onThread.accept(t.thread);
                return new SimExecutor(sim, t);
            }
            @Override public java.util.concurrent.ScheduledExecutorService scheduler(String n) {
                return new SimExecutor(sim, sim.new VThread(proc, n.substring(n.lastIndexOf('-') + 1)));
            }
            @Override public void sleep(long millis) { sim.sleep(millis * MS); }
            @Override public Kv kv(BucketNames names, Duration requestTimeout) {
                inst.client = new SimKvClient(sim, server, proc, requestTimeout, process.conn, inst.label);
                inst.client.onReconnected = () -> inst.member.connectionEvent(io.nats.client.ConnectionListener.Events.RECONNECTED);
                inst.client.beforeSend = (bucket, op) -> {
                    if (bucket == KvGateway.Bucket.ASSIGNMENT && WRITES.contains(op) && !inst.member.holdsLeaderLease()) {
                        fail(inst + " writes the assignment (" + op + ") without a valid leader lease (invariant 2)");
                    }
                };
                inst.client.trace = line -> {
                    if (!line.contains(": get ") && !line.contains(": keys") && !line.contains(": stream info")
                            && !line.contains(": watch") && !line.contains(": create bucket")) {
                        trace(line);
                    }
                };
                return inst.client;
            }
        };
        inst.member = new GroupMember(config, listener(inst), rt);
        SimScheduler.VThread starter = sim.new VThread(proc, "start");
        trace("start " + inst.label + (opt.membersPerProcess > 1 ? " in " + proc.name
                : " (clock rate " + String.format("%.4f", proc.rate) + ")"));
        sim.submit(starter, () -> {
            try {
                inst.member.start();
                inst.started = true;
                trace(inst + " started");
            } catch (RuntimeException e) {
                trace(inst.label + " start failed: " + e.getMessage());
            }
        });
        return inst;
    }

    private static PartiConfig.Builder copy(PartiConfig.Builder b) {
        PartiConfig c = b.build();
        return PartiConfig.builder(c.group()).natsUrl(c.natsUrl()).partitionSource(c.partitionSource())
                .heartbeatInterval(c.heartbeatInterval()).sessionTimeout(c.sessionTimeout())
                .leaderTtl(c.leaderTtl()).workerIdTtl(c.workerIdTtl())
                .coldStartWindow(c.coldStartWindow()).plannedScaleWindow(c.plannedScaleWindow())
                .rebalanceCooldown(c.rebalanceCooldown()).lossPolicy(c.lossPolicy())
                .startupTimeout(c.startupTimeout());
    }

    /** User code that sometimes takes long: a simulated sleep on the calling simulated thread. */
    private void slowUserCode(String what, long maxNanos) {
        if (rnd.nextDouble() < slowUserCode) {
            long d = (long) (rnd.nextDouble() * maxNanos);
            trace("  " + what + " of " + current() + " takes " + d / MS + " ms");
            sim.sleep(d);
        }
    }

    private String current() {
        SimScheduler.VThread t = sim.running;
        return t == null ? "?" : t.toString();
    }

    private AssignmentListener listener(Instance inst) {
        return new AssignmentListener() {
            @Override
            public void onAssigned(Set<Partition> added, long version) {
                trace(inst + " onAssigned v" + version + " " + show(added));
                if (version <= inst.lastAssignedVersion || version < inst.lastVersion) {
                    fail(inst + " onAssigned version " + version + " after version " + Math.max(inst.lastVersion, inst.lastAssignedVersion));
                }
                inst.lastAssignedVersion = version;
                inst.lastVersion = version;
                for (Partition p : added) {
                    if (inst.owned.contains(p)) {
                        fail(inst + " assigned " + p + " it already owns (v" + version + ")");
                    }
                    for (Instance other : owners.get(p)) {
                        if (other != inst && other.live) {
                            String why = stillActing(other, p);
                            if (why != null) {
                                fail("partition " + p + " acquired by " + inst + " (v" + version + ") while " + other + " " + why);
                            }
                        }
                    }
                    owners.get(p).add(inst);
                    inst.owned.add(p);
                    inst.acquiredAt.put(p, sim.now);
                }
            }

            @Override
            public void onRevoked(Set<Partition> removed, long version) {
                release(inst, "onRevoked", removed, version);
            }

            @Override
            public void onLost(Set<Partition> lost, long version) {
                release(inst, "onLost", lost, version);
            }
        };
    }

    private void release(Instance inst, String what, Set<Partition> ps, long version) {
        trace(inst + " " + what + " v" + version + " " + show(ps) + " begins");
        for (Partition p : ps) {
            if (!inst.owned.contains(p)) {
                fail(inst + " " + what + " " + p + " it does not own (v" + version + ")");
            }
        }
        if (version < inst.lastVersion && what.equals("onRevoked")) {
            fail(inst + " onRevoked version " + version + " after version " + inst.lastVersion);
        }
        inst.releasing.addAll(ps);
        if (what.equals("onLost") && rnd.nextDouble() < 0.3 && slowUserCode > 0) {
            // letting go after a fence often means flushing and closing: slow more often than other callbacks
            long d = (long) (rnd.nextDouble() * 1_500 * MS);
            trace("  onLost of " + inst + " takes " + d / MS + " ms");
            sim.sleep(d);
        } else {
            slowUserCode(what, 1_500 * MS);
        }
        inst.releasing.removeAll(ps);
        for (Partition p : ps) {
            owners.get(p).remove(inst);
            inst.owned.remove(p);
            inst.acquiredAt.remove(p);
        }
        trace(inst + " " + what + " returned");
    }

    private static String show(Set<Partition> ps) {
        StringBuilder b = new StringBuilder("[");
        for (Partition p : ps) {
            b.append(b.length() > 1 ? "," : "").append(p.id());
        }
        return b.append(']').toString();
    }

    // ------------------------------------------------------------ checks

    /** Every write to the KV: the assignment chain's versions and leader epochs must be monotone. */
    private void onWrite(SimKvServer.Msg m) {
        if (server.lastWriteBucket == KvGateway.Bucket.LEADER && m.op() == SimKvServer.Op.PUT) {
            try {
                trace("  leader key rev " + m.revision() + " = " + Codec.decodeLeader(m.value()).workerId());
            } catch (IllegalArgumentException ignored) {
                // not ours
            }
        }
        if (server.lastWriteBucket == KvGateway.Bucket.HEARTBEATS && m.op() == SimKvServer.Op.PUT) {
            SimKvServer.Msg prev = server.lastWritePrevious;
            String writer = instanceOf(m);
            if (writer != null && (prev == null || prev.op() != SimKvServer.Op.PUT || !writer.equals(instanceOf(prev)))) {
                for (Instance i : instances) {
                    if (writer.equals(i.instanceId)) {
                        i.sessionStart = sim.now; // a new session on the server: the previous one ended
                    }
                }
            }
        }
        if (server.lastWriteBucket != KvGateway.Bucket.ASSIGNMENT || m.op() != SimKvServer.Op.PUT
                || !AssignmentPublisher.KEY.equals(m.key())) {
            return; // a piece of a chunked record is checked as part of the manifest that names it
        }
        Codec.AssignmentRecord r;
        try {
            // a manifest's pieces are written before it and never change: all of them must be there, intact
            r = ChunkedAssignment.decode(m.value(), k -> {
                SimKvServer.Msg piece = server.getLast(KvGateway.Bucket.ASSIGNMENT, k);
                return piece == null || piece.op() != SimKvServer.Op.PUT ? null : piece.value();
            });
        } catch (IllegalArgumentException broken) {
            fail("assignment record at revision " + m.revision() + " is not readable: " + broken.getMessage());
            return;
        }
        publications++;
        trace("  published v" + r.version() + " by " + r.leaderId() + " epoch " + r.epoch() + " " + owners(r));
        // a new leader's fence rewrites the current record under its epoch; a fence whose reply was lost is made again
        boolean fenceRewrite = r.version() == lastVersion && r.epoch() >= lastEpoch && r.owners().equals(lastOwners);
        if (r.version() < lastVersion || r.version() == lastVersion && !fenceRewrite) {
            fail("assignment version " + r.version() + " published after version " + lastVersion);
        }
        if (r.epoch() < lastEpoch) {
            fail("assignment v" + r.version() + " published under epoch " + r.epoch() + " after epoch " + lastEpoch
                    + " (a deposed leader's write)");
        }
        lastVersion = Math.max(lastVersion, r.version());
        lastOwners = r.owners();
        lastEpoch = Math.max(lastEpoch, r.epoch());
    }

    /** The instance line of a heartbeat, without decoding the rest (the checker reads it on every heartbeat write). */
    private static String instanceOf(SimKvServer.Msg heartbeat) {
        byte[] v = heartbeat.value();
        if (v == null) {
            return null;
        }
        String text = new String(v, java.nio.charset.StandardCharsets.UTF_8);
        int at = text.indexOf("\ninstance=");
        if (at < 0) {
            return null;
        }
        int from = at + "\ninstance=".length();
        int end = text.indexOf('\n', from);
        return text.substring(from, end < 0 ? text.length() : end);
    }

    private static String owners(Codec.AssignmentRecord r) {
        StringBuilder b = new StringBuilder();
        new TreeMap<>(r.owners()).forEach((w, ps) -> {
            b.append(w).append('=');
            StringBuilder ids = new StringBuilder();
            for (Partition p : ps) {
                ids.append(ids.length() > 0 ? "," : "").append(p.id());
            }
            b.append(ids).append(' ');
        });
        return b.toString().trim();
    }

    /**
     * Why {@code a}, which has not finished letting {@code p} go, is still its owner in a way no new owner
     * may overlap with; null when the overlap is legitimate. {@code a} still acts as owner when its lease is
     * valid, or when it runs (not stopped) while its session has not ended on the server: then the leader
     * must have waited for its release, which its heartbeat reports only once its callback returned.
     * A stopped instance whose lease ran out, or whose session ended, is no longer a safe owner: it must
     * fence itself as soon as it runs again (checked by {@link #check}).
     */
    private String stillActing(Instance a, Partition p) {
        if (a.member.isLeaseValid() && a.member.currentAssignment().contains(p)) {
            return "still holds it under a valid lease";
        }
        if (a.proc.paused || a.sessionStart > a.acquiredAt.getOrDefault(p, Long.MAX_VALUE)) {
            // stopped, or its session ended since it acquired p (it must fence itself, see check()): not a safe owner
            return null;
        }
        String id = a.member.workerId();
        SimKvServer.Msg hb = id == null || !server.exists(KvGateway.Bucket.HEARTBEATS) ? null
                : server.getLast(KvGateway.Bucket.HEARTBEATS, id);
        if (hb != null && hb.op() == SimKvServer.Op.PUT) {
            try {
                if (a.instanceId.equals(Codec.decodeHeartbeat(hb.value()).instance())) {
                    return (a.releasing.contains(p) ? "is still letting it go" : "still owns it")
                            + " and its session has not ended (its heartbeat is still on the server)";
                }
            } catch (IllegalArgumentException ignored) {
                // not a heartbeat of ours
            }
        }
        return null;
    }

    /** After every event: no two owners under valid leases; a stale owner fences promptly; convergence after the heal. */
    private void check() {
        for (Map.Entry<Partition, Set<Instance>> e : owners.entrySet()) {
            if (e.getValue().size() > 1) {
                Instance valid = null;
                for (Instance i : e.getValue()) {
                    if (i.live && i.member.isLeaseValid() && i.member.currentAssignment().contains(e.getKey())) {
                        if (valid != null) {
                            fail("partition " + e.getKey() + " owned by two instances with valid leases: " + valid + " and " + i);
                            return;
                        }
                        valid = i;
                    }
                }
            }
        }
        for (Instance i : instances) {
            if (!i.live || !i.started || i.closing || i.proc.paused || i.owned.isEmpty() || i.member.isLeaseValid()
                    || i.member.currentAssignment().isEmpty()) {
                i.staleOwnerSince = -1;
            } else if (i.staleOwnerSince < 0) {
                i.staleOwnerSince = sim.now;
            } else if (sim.now - i.staleOwnerSince > STALE_OWNER_FENCE_NANOS) {
                fail(i + " runs with a stale lease and still owns " + i.member.currentAssignment() + " after "
                        + (sim.now - i.staleOwnerSince) / MS + " ms: it did not fence itself");
                return;
            }
        }
        if (healedAt < 0 || convergedAt >= 0) {
            return;
        }
        if (allOwnedOnce()) {
            convergedAt = sim.now;
            trace("converged: every partition owned by one live instance, " + (sim.now - healedAt) / MS + " ms after the heal");
        } else if (sim.now - healedAt > livenessBoundNanos) {
            fail("not every partition owned again " + livenessBoundNanos / MS + " ms after the faults healed: " + ownership());
        }
    }

    private boolean allOwnedOnce() {
        for (Set<Instance> o : owners.values()) {
            long live = o.stream().filter(i -> i.live).count();
            if (live != 1) {
                return false;
            }
        }
        return true;
    }

    private String ownership() {
        StringBuilder b = new StringBuilder();
        for (Partition p : partitions) {
            b.append(p.id()).append('=').append(owners.get(p).stream().filter(i -> i.live).toList()).append(' ');
        }
        return b.toString();
    }

    private void finalCheck() {
        if (convergedAt < 0) {
            fail("never converged after the heal: " + ownership());
            return;
        }
        if (!allOwnedOnce()) {
            fail("converged, then lost it again in the quiet period: " + ownership());
        }
    }

    // ------------------------------------------------------------ faults

    private void scheduleNextFault(long until) {
        long gap = (long) (-Math.log(1 - rnd.nextDouble()) * opt.faultMeanNanos);
        if (sim.now + gap >= until) {
            return;
        }
        sim.after(gap, null, () -> {
            injectFault();
            scheduleNextFault(until);
        });
    }

    private Instance randomLive() {
        List<Instance> live = new ArrayList<>();
        for (Instance i : slots) {
            if (i != null && i.live && !i.closing && !i.proc.paused) {
                live.add(i);
            }
        }
        return live.isEmpty() ? null : live.get(rnd.nextInt(live.size()));
    }

    private Instance leader() {
        for (Instance i : slots) {
            if (i != null && i.live && !i.closing && i.member.isLeader()) {
                return i;
            }
        }
        return null;
    }

    private void injectFault() {
        Instance target = rnd.nextDouble() < 0.4 && leader() != null ? leader() : randomLive();
        if (target == null) {
            return;
        }
        long session = 1_000 * MS;
        if (opt.serverRestarts && rnd.nextDouble() < 0.12) {
            faults++;
            long down = 100 * MS + (long) (rnd.nextDouble() * 1.5 * session);
            trace("FAULT nats-server restart: every client cut off for about " + down / MS + " ms, watches die");
            Set<SimKvClient.Conn> cut = new java.util.HashSet<>();
            for (Instance i : instances) {
                if (i.live && i.client != null && cut.add(i.process.conn)) {
                    SimKvClient.Conn c = i.process.conn;
                    c.disconnect();
                    c.serverRestarted();
                    // clients come back one by one, as their reconnect attempts land
                    sim.after(down + (long) (rnd.nextDouble() * 200 * MS), null, () -> {
                        if (healedAt < 0) {
                            c.reconnect();
                        }
                    });
                }
            }
            return;
        }
        if (opt.serverClockSteps && rnd.nextDouble() < 0.15) {
            faults++;
            long step = session / 4 + (long) (rnd.nextDouble() * 2 * session);
            server.clockStepNanos += step;
            trace("FAULT the server's clock jumps " + step / MS + " ms ahead (keys expire early)");
            return;
        }
        double f = rnd.nextDouble();
        faults++;
        if (f < 0.25) {
            long d = faultLength(session);
            trace("FAULT disconnect " + on(target) + " for " + d / MS + " ms");
            if (target.client != null) {
                SimKvClient.Conn c = target.process.conn;
                c.disconnect();
                sim.after(d, null, () -> {
                    trace("FAULT reconnect " + on(target));
                    c.reconnect();
                });
            }
        } else if (f < 0.5) {
            long d = faultLength(session);
            trace("FAULT pause (SIGSTOP) " + on(target) + " for " + d / MS + " ms");
            sim.pause(target.proc);
            sim.after(d, null, () -> {
                trace("FAULT resume (SIGCONT) " + on(target));
                sim.resume(target.proc);
            });
        } else if (f < 0.65) {
            crash(target);
            long d = 100 * MS + (long) (rnd.nextDouble() * 2 * session);
            sim.after(d, null, () -> {
                if (procs[target.process.index] == target.process) {
                    startProcess(target.process.index);
                }
            });
        } else if (f < 0.75 && target.slot < opt.staticWorkers) {
            // an orchestrator replaces a member it believes dead, while the old one is only stopped
            long d = session + (long) (rnd.nextDouble() * 2 * session);
            trace("FAULT static takeover: pause " + on(target) + " for " + d / MS + " ms and start a new instance of its ID"
                    + (opt.membersPerProcess > 1 ? " (a new process)" : ""));
            sim.pause(target.proc);
            startProcess(target.process.index);
            sim.after(d, null, () -> {
                trace("FAULT resume (SIGCONT) replaced " + on(target));
                sim.resume(target.proc);
            });
        } else if (f < 0.8 && target.started) {
            // a planned restart: leave the group (close, revoking first), come back later
            boolean remain = opt.staticRestarts && target.slot < opt.staticWorkers;
            trace("FAULT " + (remain ? "rolling restart (close remaining in the group) of " : "graceful leave of ") + target
                    + " (close)");
            SimScheduler.VThread closer = sim.new VThread(target.proc, "close");
            target.closing = true;
            sim.submit(closer, () -> {
                target.member.close(remain);
                trace(target + " closed");
                target.live = false;
                for (Partition p : new ArrayList<>(target.owned)) {
                    fail(target + " closed while still owning " + p);
                }
                long d = (100 * MS + (long) (rnd.nextDouble() * session)) / (remain ? 10 : 1);
                sim.after(d, null, () -> {
                    if (slots[target.slot] == target && healedAt < 0) {
                        restartSlot(target.slot);
                    }
                });
            });
        } else if (f < 0.9 && target.client != null) {
            long d = 200 * MS + (long) (rnd.nextDouble() * 2 * session);
            SimKvClient.Net net = target.process.conn.net;
            trace("FAULT bad network for " + on(target) + " for " + d / MS + " ms (slow requests, lost replies)");
            net.slowProbability = 0.3;
            net.lostReplyProbability = 0.2;
            sim.after(d, null, () -> {
                if (healedAt < 0) {
                    net.slowProbability = 0.01;
                    net.lostReplyProbability = 0.002;
                }
            });
        } else {
            slowUserCode = 0.5;
            long d = 500 * MS + (long) (rnd.nextDouble() * 2 * session);
            trace("FAULT slow user code (listeners, partition source) for " + d / MS + " ms");
            sim.after(d, null, () -> slowUserCode = 0.1);
        }
    }

    /**
     * How long a disconnect or pause lasts: a third shorter than the lease, a third between the lease's end
     * and the session's (stale by its own clock, still alive on the server: the boundary where a fenced
     * worker's release matters), a third up to three sessions.
     */
    private long faultLength(long session) {
        long lease = session - session / 6;
        double f = rnd.nextDouble();
        if (f < 1 / 3.0) {
            return 20 * MS + (long) (rnd.nextDouble() * (lease - 20 * MS));
        }
        if (f < 2 / 3.0) {
            return lease + (long) (rnd.nextDouble() * (session - lease));
        }
        return session + (long) (rnd.nextDouble() * 2 * session);
    }

    /** The target of a fault that hits its whole process: the instance, or the process and its members. */
    private String on(Instance target) {
        if (opt.membersPerProcess == 1) {
            return target.toString();
        }
        List<Instance> members = new ArrayList<>();
        for (Instance i : instances) {
            if (i.process == target.process && i.live) {
                members.add(i);
            }
        }
        return "process " + target.proc.name + " " + members;
    }

    /** kill -9 of the target's process: every member of it dies at once. */
    private void crash(Instance target) {
        trace("FAULT kill -9 " + on(target) + " (owned " + show(target.owned) + ")");
        sim.kill(target.proc);
        for (Instance i : instances) {
            if (i.process == target.process && i.live) {
                i.live = false;
                for (Partition p : new ArrayList<>(i.owned)) {
                    owners.get(p).remove(i);
                }
                i.owned.clear();
            }
        }
    }

    /** End of the fault phase: everything reconnects and resumes, dead slots restart; replaced instances are killed. */
    private void heal() {
        trace("HEAL: all faults end");
        slowUserCode = 0;
        healedAt = sim.now;
        for (Instance i : instances) {
            if (!i.live) {
                continue;
            }
            if (slots[i.slot] != i) {
                crash(i); // replaced by a newer instance of its static ID: the orchestrator stops it
                continue;
            }
            if (i.client != null) {
                i.process.conn.net.slowProbability = 0; // quiet: no slow request, no lost reply
                i.process.conn.net.lostReplyProbability = 0;
                i.process.conn.reconnect();
            }
            sim.resume(i.proc);
        }
        for (int s = 0; s < slots.length; s++) {
            if (slots[s] == null || !slots[s].live) {
                restartSlot(s);
            }
        }
    }

    /** Members' states, for the report. */
    String states() {
        StringBuilder b = new StringBuilder();
        for (Instance i : slots) {
            ManagerState st = i == null || i.member == null ? null : i.member.state();
            b.append(i).append('=').append(st).append(' ');
        }
        return b.toString();
    }
}
