package dev.parti;

import dev.parti.testkit.OwnershipLog;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * A worker in its own JVM for process-level faults (SIGSTOP, kill -9). Arguments: NATS URL, group,
 * ownership-log directory, owner name, partition count, loss policy, optionally {@code naive} (work on
 * what the listener last said, ignoring loss notices and never asking whether the lease is valid), optionally {@code default-timings}.
 */
public final class ChildWorker {
    private ChildWorker() { }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String group = args[1];
        Path dir = Path.of(args[2]);
        String owner = args[3];
        int count = Integer.parseInt(args[4]);
        LossPolicy policy = LossPolicy.valueOf(args[5]);
        // "naive": works on whatever it last owned without asking for a valid lease (to prove the log catches it)
        boolean naive = List.of(args).contains("naive");
        List<Partition> partitions = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            partitions.add(Partition.of("topic", Integer.toString(i)));
        }
        try (OwnershipLog log = OwnershipLog.inDirectory(dir)) {
            // what the listener said it owns: a naive worker keeps working on these until told otherwise
            Set<Partition> told = java.util.concurrent.ConcurrentHashMap.newKeySet();
            AssignmentListener listener = new AssignmentListener() {
                @Override
                public void onAssigned(Set<Partition> added, long version) {
                    told.addAll(added);
                }

                @Override
                public void onLost(Set<Partition> lost, long version) {
                    if (!naive) { // a naive worker ignores loss notices and keeps working
                        onRevoked(lost, version);
                    }
                }

                @Override
                public void onRevoked(Set<Partition> removed, long version) {
                    told.removeAll(removed);
                    removed.forEach(p -> log.released(owner, p.id()));
                }
            };
            boolean defaultTimings = List.of(args).contains("default-timings");
            PartiConfig.Builder builder = PartiConfig.builder(group).natsUrl(url)
                    .partitionSource(PartitionSource.of(partitions)).lossPolicy(policy);
            PartiConfig config = (defaultTimings ? MeasurementsTest.defaultTimings(builder) : TestGroup.fast(builder)).build();
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            try (PartiManager manager = new PartiManager(config, listener)) {
                manager.start();
                System.out.println("started " + manager.workerId());
                while (!stop.await(20, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    // the decision time: a pause between the check and the write must not look like new work
                    long decidedAt = System.nanoTime();
                    if (naive || manager.isLeaseValid()) {
                        for (Partition p : naive ? Set.copyOf(told) : manager.currentAssignment()) {
                            log.record(dev.parti.testkit.OwnershipEvent.acquired(owner, p.id(), decidedAt)); // "working on p"
                        }
                    }
                }
            }
        }
        System.out.println("stopped after " + Duration.ZERO);
    }
}
