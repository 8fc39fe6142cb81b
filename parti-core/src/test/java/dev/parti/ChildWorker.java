package dev.parti;

import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import io.nats.client.Options;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A worker in its own JVM for process-level faults (SIGSTOP, kill -9). Arguments: NATS URL, group,
 * ownership-log directory, instance name (the owner in the log: one name per start, for example
 * {@code s2#3}), partition count, loss policy, then optional flags:
 * <ul>
 *   <li>{@code naive}: works on everything it was ever assigned, ignoring revocations and loss notices and
 *       never asking whether the lease is valid (to prove the log catches a worker acting without a lease);</li>
 *   <li>{@code default-timings}: Parti's default heartbeat, session and lease instead of the fast test ones;</li>
 *   <li>{@code fast-reconnect}: pings every 200 ms and reconnects every 100 ms, so a cut connection or a
 *       restarted nats-server is noticed and rejoined quickly;</li>
 *   <li>{@code session-ms=N}: the fast timings scaled to a session of N ms (heartbeat N/10, lease 0.8 N);</li>
 *   <li>{@code revoke-ms=N}: a revocation takes N ms before the partitions are let go (in-flight work and an
 *       offset commit finishing), so a successor acquiring before the release shows as an overlap;</li>
 *   <li>{@code worker-id=X}: a static member with worker ID {@code X} (Kafka's {@code group.instance.id});</li>
 *   <li>{@code leader-ttl-ms=N}: the leader key's TTL (after the timings above);</li>
 *   <li>{@code disconnect-events=S}: crash detection with proof of death on, events on subject {@code S};</li>
 *   <li>{@code disconnect-grace-ms=N}: the leader's grace after such an event;</li>
 *   <li>{@code flood-subscription}: the worker's NATS connection subscribes to {@code flood.<instance>} (a no-op
 *   handler), so a test can fill its socket's receive buffer while the child is stopped (SIGSTOP): a {@code kill -9}
 *   then finds bytes unread and the kernel resets the connection instead of closing it;</li>
 *   <li>{@code liveness-url=<slot>@<url>}: the child of that slot opens its liveness connection (proof of death) to
 *   {@code <url>} (a proxy in front of the server) instead of its NATS URL;</li>
 *   <li>{@code reconnect-on-file}: when a file {@code <instance>.reconnect} appears in the log directory, it is deleted
 *   and the worker's NATS client closes its connection and reconnects (jnats {@code forceReconnect}): a live process
 *   whose own client closed its socket, which the server reports as {@code Client Closed} (with proof of death, its
 *   liveness connection's too: first that one, then the connection it writes over);</li>
 * </ul>
 *
 * <p>It records in the ownership log, as its instance and the worker ID it holds, every 20 ms
 * "working on p" (an acquisition) for each partition it owns while its lease is valid (assigned by the
 * manager and held by its listener: not yet revoked or lost), and a release when its listener lets go. The
 * time of "working on p" is taken before it looks at what it holds, so a release recorded by the listener
 * meanwhile always comes after it. It also keeps {@code <instance>.status} in the log directory up to date: its worker ID,
 * whether it leads and the version it applied, one line, replaced atomically.
 */
public final class ChildWorker {
    private ChildWorker() { }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String group = args[1];
        Path dir = Path.of(args[2]);
        String instance = args[3];
        int count = Integer.parseInt(args[4]);
        LossPolicy policy = LossPolicy.valueOf(args[5]);
        List<String> flags = List.of(args).subList(6, args.length);
        boolean naive = flags.contains("naive");
        long revokeMillis = flags.stream().filter(f -> f.startsWith("revoke-ms="))
                .mapToLong(f -> Long.parseLong(f.substring("revoke-ms=".length()))).findFirst().orElse(0);
        List<Partition> partitions = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            partitions.add(Partition.of("topic", Integer.toString(i)));
        }
        try (OwnershipLog log = OwnershipLog.inDirectory(dir)) {
            // what the listener said it owns: a naive worker keeps working on these until told otherwise
            Set<Partition> told = ConcurrentHashMap.newKeySet();
            PartiManager[] self = new PartiManager[1];
            AssignmentListener listener = new AssignmentListener() {
                @Override
                public void onAssigned(Set<Partition> added, long version) {
                    told.addAll(added);
                }

                @Override
                public void onLost(Set<Partition> lost, long version) {
                    if (naive) {
                        return;
                    }
                    told.removeAll(lost); // lost: stop at once, no work to finish
                    String id = idOr(self[0], instance);
                    lost.forEach(p -> log.record(OwnershipEvent.released(instance, id, p.id(), System.nanoTime())));
                }

                /** A revocation lets in-flight work finish (like committing offsets) before it lets go. */
                private void finishWork(Set<Partition> removed) {
                    if (revokeMillis > 0 && !removed.isEmpty()) {
                        try {
                            Thread.sleep(revokeMillis);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }

                @Override
                public void onRevoked(Set<Partition> removed, long version) {
                    if (naive) { // a naive worker ignores revocations and loss notices and keeps working
                        return;
                    }
                    finishWork(removed);
                    told.removeAll(removed);
                    String id = idOr(self[0], instance);
                    removed.forEach(p -> log.record(OwnershipEvent.released(instance, id, p.id(), System.nanoTime())));
                }
            };
            PartiConfig.Builder builder = PartiConfig.builder(group).natsUrl(url)
                    .partitionSource(PartitionSource.of(partitions)).lossPolicy(policy);
            Optional<Integer> sessionMillis = flags.stream().filter(f -> f.startsWith("session-ms="))
                    .map(f -> Integer.parseInt(f.substring("session-ms=".length()))).findFirst();
            if (flags.contains("default-timings")) {
                MeasurementsTest.defaultTimings(builder);
            } else if (sessionMillis.isPresent()) {
                scaled(builder, sessionMillis.get());
            } else {
                TestGroup.fast(builder);
            }
            flags.stream().filter(f -> f.startsWith("leader-ttl-ms=")).findFirst()
                    .ifPresent(f -> builder.leaderTtl(Duration.ofMillis(Long.parseLong(f.substring("leader-ttl-ms=".length())))));
            // worker-id=X: a static member (Kafka's group.instance.id)
            flags.stream().filter(f -> f.startsWith("worker-id=")).findFirst()
                    .ifPresent(f -> builder.workerId(f.substring("worker-id=".length())));
            flags.stream().filter(f -> f.startsWith("disconnect-events=")).findFirst()
                    .ifPresent(f -> builder.disconnectEvents(f.substring("disconnect-events=".length())));
            flags.stream().filter(f -> f.startsWith("disconnect-grace-ms=")).findFirst()
                    .ifPresent(f -> builder.disconnectGrace(Duration.ofMillis(Long.parseLong(f.substring("disconnect-grace-ms=".length())))));
            if (flags.contains("fast-reconnect")) {
                builder.natsOptions(new Options.Builder().pingInterval(Duration.ofMillis(200)).maxPingsOut(2)
                        .reconnectWait(Duration.ofMillis(100)).maxReconnects(-1)
                        .connectionTimeout(Duration.ofMillis(500)).build());
            }
            flags.stream().filter(f -> f.startsWith("liveness-url=")).map(f -> f.substring("liveness-url=".length()))
                    .filter(f -> instance.startsWith(f.substring(0, f.indexOf('@')) + "#")).findFirst()
                    .ifPresent(f -> System.setProperty("dev.parti.test.livenessUrl", f.substring(f.indexOf('@') + 1)));
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "child-worker-stop"));
            Path status = dir.resolve(instance + ".status");
            try (PartiManager manager = new PartiManager(builder.build(), listener)) {
                self[0] = manager;
                manager.start();
                System.out.println("started " + manager.workerId() + " as " + instance);
                if (flags.contains("flood-subscription")) {
                    connectionOf(manager).createDispatcher(m -> { }).subscribe("flood." + instance);
                }
                Path reconnect = dir.resolve(instance + ".reconnect");
                while (!stop.await(20, TimeUnit.MILLISECONDS)) {
                    if (flags.contains("reconnect-on-file") && Files.deleteIfExists(reconnect)) {
                        io.nats.client.Connection liveness = connectionOf(manager, "livenessConnection");
                        if (liveness != null) { // proof of death: its client closes both of its connections
                            liveness.forceReconnect();
                        }
                        connectionOf(manager).forceReconnect();
                        System.out.println("forced a reconnect" + (liveness == null ? "" : " (and of the liveness connection)"));
                    }
                    // the decision time: a pause between the check and the write must not look like new work
                    long decidedAt = System.nanoTime();
                    String id = idOr(manager, instance);
                    Set<Partition> working = Set.of();
                    if (naive) {
                        working = Set.copyOf(told);
                    } else if (manager.isLeaseValid()) {
                        // what the listener holds (assigned, not yet revoked or lost) and the manager still assigns
                        working = new java.util.HashSet<>(manager.currentAssignment());
                        working.retainAll(told);
                    }
                    for (Partition p : working) {
                        log.record(OwnershipEvent.acquired(instance, id, p.id(), decidedAt)); // "working on p"
                    }
                    StringBuilder owned = new StringBuilder();
                    working.forEach(p -> owned.append(owned.length() == 0 ? "" : ",").append(p.id()));
                    writeStatus(status, id + " " + manager.isLeader() + " " + manager.assignmentVersion() + " "
                            + manager.state() + " " + (owned.length() == 0 ? "-" : owned));
                }
            }
        }
        System.out.println("stopped");
    }

    /** The NATS connection a manager's worker opened (a fault-injection seam: the connection is internal). */
    private static io.nats.client.Connection connectionOf(PartiManager manager) throws ReflectiveOperationException {
        return connectionOf(manager, "connection");
    }

    /** The manager's worker's connection held in {@code field} ({@code connection}, {@code livenessConnection}). */
    private static io.nats.client.Connection connectionOf(PartiManager manager, String field) throws ReflectiveOperationException {
        java.lang.reflect.Field member = PartiManager.class.getDeclaredField("member");
        member.setAccessible(true);
        java.lang.reflect.Field connection = dev.parti.internal.GroupMember.class.getDeclaredField(field);
        connection.setAccessible(true);
        return (io.nats.client.Connection) connection.get(member.get(manager));
    }

    /** The fast test timings scaled to a session of {@code sessionMillis}. */
    static PartiConfig.Builder scaled(PartiConfig.Builder b, int sessionMillis) {
        return TestGroup.fast(b).heartbeatInterval(Duration.ofMillis(sessionMillis / 10))
                .sessionTimeout(Duration.ofMillis(sessionMillis))
                .leaderTtl(Duration.ofMillis(sessionMillis * 8L / 10))
                .workerIdTtl(Duration.ofMillis(sessionMillis * 3L));
    }

    private static String idOr(PartiManager manager, String fallback) {
        String id = manager == null ? null : manager.workerId();
        return id != null ? id : fallback;
    }

    private static void writeStatus(Path status, String line) throws IOException {
        Path tmp = status.resolveSibling(status.getFileName() + ".tmp");
        Files.writeString(tmp, line + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, status, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * One line of a {@code <instance>.status} file: the worker ID, whether it leads, the applied version, the
     * state, and the partitions it works on (IDs).
     */
    record Status(String workerId, boolean leader, long version, String state, Set<String> owned) {
        /** Reads {@code <instance>.status} in {@code dir}; empty while the child has not written one. */
        static Optional<Status> read(Path dir, String instance) {
            try {
                String[] f = Files.readString(dir.resolve(instance + ".status"), StandardCharsets.UTF_8).trim().split(" ");
                Set<String> owned = f[4].equals("-") ? Set.of() : Set.of(f[4].split(","));
                return Optional.of(new Status(f[0], Boolean.parseBoolean(f[1]), Long.parseLong(f[2]), f[3], owned));
            } catch (IOException | RuntimeException e) {
                return Optional.empty();
            }
        }
    }
}
