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
 * ownership-log directory, owner name, partition count, loss policy, optionally {@code naive}. It records acquisitions and
 * releases from its listener, and every 20 ms re-asserts ownership of what it would work on (owned
 * and lease valid), so a zombie that acted as owner after a pause would show up in the log.
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
        boolean naive = args.length > 6 && "naive".equals(args[6]);
        List<Partition> partitions = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            partitions.add(Partition.of("topic", Integer.toString(i)));
        }
        try (OwnershipLog log = OwnershipLog.inDirectory(dir)) {
            AssignmentListener listener = new AssignmentListener() {
                @Override
                public void onAssigned(Set<Partition> added, long version) {
                    added.forEach(p -> log.acquired(owner, p.id()));
                }

                @Override
                public void onRevoked(Set<Partition> removed, long version) {
                    removed.forEach(p -> log.released(owner, p.id()));
                }
            };
            PartiConfig config = TestGroup.fast(PartiConfig.builder(group).natsUrl(url)
                    .partitionSource(PartitionSource.of(partitions))).lossPolicy(policy).build();
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            try (PartiManager manager = new PartiManager(config, listener)) {
                manager.start();
                System.out.println("started " + manager.workerId());
                while (!stop.await(20, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    if (naive || manager.isLeaseValid()) {
                        for (Partition p : manager.currentAssignment()) {
                            log.acquired(owner, p.id()); // "working on p now"
                        }
                    }
                }
            }
        }
        System.out.println("stopped after " + Duration.ZERO);
    }
}
