package dev.parti.benchmarks.scenario;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.WorkerProcess;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Leader failover of the core alone ({@code scripts/bench failover}): a worker JVM leads a group of three over 12
 * partitions; it is killed with {@code kill -9}; measured are the time until one of the two surviving workers (in
 * this JVM) leads, and until they own all 12 partitions again. Twice: with the tests' timings (heartbeat 0.1 s,
 * session 1 s, leader TTL 0.8 s, windows 0.3 s) and with Parti's defaults (heartbeat 1 s, session 6 s, leader TTL
 * 3 s; windows shortened to 1 s so that a run does not wait out the 30 s cold start). A run in which the child had
 * lost its lead before the kill (a slow JVM) is not a leader kill and is run again. Writes {@code failover.json}
 * and {@code failover-summary.md} to {@code --out} (default {@code benchmarks/target/bench}).
 */
public final class FailoverBench {
    private static final int PARTITIONS = 12;

    private FailoverBench() {
    }

    public static void main(String[] args) throws Exception {
        int repeats = 5;
        Path out = Path.of("benchmarks/target/bench");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> {
                    System.err.println("Usage: FailoverBench [--repeats N] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        Files.createDirectories(out);
        String loadStart = Bench.loadAverage();
        Map<String, Object> results = new LinkedHashMap<>();
        StringBuilder summary = new StringBuilder();
        try (NatsServer nats = NatsServer.start()) {
            for (String timings : List.of("test", "defaults")) {
                List<Long> newLeader = new ArrayList<>();
                List<Long> reowned = new ArrayList<>();
                for (int run = 0; newLeader.size() < repeats && run < 2 * repeats; run++) {
                    long[] r = killTheLeader(nats.url(), "failover-" + timings + "-" + run, timings);
                    if (r != null) {
                        newLeader.add(r[0]);
                        reowned.add(r[1]);
                    }
                }
                String line = String.format(Locale.ROOT, "kill -9 of the leader JVM, %s timings: new leader after %s ms "
                        + "(median %d), its partitions owned again after %s ms (median %d)", timings, newLeader,
                        median(newLeader), reowned, median(reowned));
                System.out.println("[measure] " + line);
                summary.append("- ").append(line).append('\n');
                results.put(timings, Map.of("newLeaderMs", newLeader, "reownedMs", reowned,
                        "newLeaderMedianMs", median(newLeader), "reownedMedianMs", median(reowned)));
            }
        }
        String header = "Machine: " + Runtime.getRuntime().availableProcessors() + " cores, Java "
                + System.getProperty("java.version") + "; load average at start " + loadStart + ", at end "
                + Bench.loadAverage() + "\n\n";
        results.put("loadAverage", loadStart + " -> " + Bench.loadAverage());
        Files.writeString(out.resolve("failover.json"), Bench.Json.write(results));
        Files.writeString(out.resolve("failover-summary.md"), "### failover\n\n" + header + summary);
        System.out.println(header + summary);
    }

    /** One run: {new leader ms, re-owned ms} after the kill, or null when the child did not lead at the kill. */
    private static long[] killTheLeader(String url, String group, String timings) throws Exception {
        String leaderBucket = new BucketNames(group).name(KvGateway.Bucket.LEADER);
        List<PartiManager> survivors = new ArrayList<>();
        try (WorkerProcess child = WorkerProcess.builder(Child.class).name("failover-child")
                .jvmArgs("-Xmx128m", "-XX:+UseSerialGC").args(url, group, timings).start();
             Connection nc = Nats.connect(url)) {
            await(Duration.ofSeconds(30), () -> {
                try {
                    return nc.keyValue(leaderBucket).get("leader") != null; // the child leads
                } catch (Exception notYet) {
                    return false;
                }
            });
            for (int i = 0; i < 2; i++) {
                PartiManager m = new PartiManager(config(url, group, timings), new AssignmentListener() { });
                survivors.add(m);
                m.start();
            }
            await(Duration.ofSeconds(30), () -> survivors.stream()
                    .allMatch(m -> m.state() == ManagerState.STABLE && !m.currentAssignment().isEmpty()));
            if (survivors.stream().anyMatch(PartiManager::isLeader)) {
                return null; // the slow child JVM lost its lease before the kill: not a leader kill
            }
            child.kill();
            long killedAt = System.nanoTime();
            await(Duration.ofSeconds(30), () -> survivors.stream().anyMatch(PartiManager::isLeader));
            long leader = (System.nanoTime() - killedAt) / 1_000_000;
            await(Duration.ofSeconds(30), () -> survivors.stream().mapToInt(m -> m.currentAssignment().size()).sum() == PARTITIONS);
            return new long[] {leader, (System.nanoTime() - killedAt) / 1_000_000};
        } finally {
            survivors.forEach(PartiManager::close);
        }
    }

    static PartiConfig config(String url, String group, String timings) {
        List<Partition> partitions = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) {
            partitions.add(Partition.of("topic", Integer.toString(i)));
        }
        PartiConfig.Builder b = PartiConfig.builder(group).natsUrl(url).partitionSource(PartitionSource.of(partitions));
        if (timings.equals("test")) {
            b.heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(1000))
                    .leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                    .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300))
                    .rebalanceCooldown(Duration.ofMillis(100));
        } else {
            b.coldStartWindow(Duration.ofSeconds(1)).plannedScaleWindow(Duration.ofSeconds(1))
                    .rebalanceCooldown(Duration.ofMillis(500));
        }
        return b.build();
    }

    private static long median(List<Long> xs) {
        if (xs.isEmpty()) {
            return -1;
        }
        List<Long> sorted = new ArrayList<>(xs);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }

    private static void await(Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("not reached within " + timeout);
            }
            Thread.sleep(5); // a poll interval: the figures are taken at the first poll that sees the change
        }
    }

    /** The worker JVM: {@code <nats url> <group> <test|defaults>}; runs until killed. */
    public static final class Child {
        private Child() {
        }

        public static void main(String[] args) throws Exception {
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "failover-child-stop"));
            try (PartiManager manager = new PartiManager(config(args[0], args[1], args[2]), new AssignmentListener() { })) {
                manager.start();
                System.out.println("started " + manager.workerId());
                stop.await(10, TimeUnit.MINUTES);
            }
        }
    }
}
