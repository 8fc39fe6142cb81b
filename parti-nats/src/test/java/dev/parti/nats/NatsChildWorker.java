package dev.parti.nats;

import dev.parti.testkit.OwnershipLog;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A {@link PartitionedConsumer} in its own JVM, for kill -9. Arguments: NATS URL, group, stream, subject
 * prefix, partition count, ownership-log directory, handled-records directory, instance name, max in flight.
 * Runs until killed (or SIGTERM, which closes it).
 */
public final class NatsChildWorker {
    private NatsChildWorker() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String group = args[1];
        String stream = args[2];
        String prefix = args[3];
        int partitions = Integer.parseInt(args[4]);
        Path ownershipDir = Path.of(args[5]);
        Path handledDir = Path.of(args[6]);
        String instance = args[7];
        int maxInFlight = Integer.parseInt(args[8]);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "child-stop"));
        try (OwnershipLog log = OwnershipLog.inDirectory(ownershipDir);
             PartitionedConsumer consumer = PartitionedConsumer.builder(Harness.parti(group, url, partitions).build(), stream,
                     SubjectMapping.template(prefix + ".{partition}.>"),
                     Deliveries.recording(instance, log, Deliveries.file(handledDir, instance), FaultToleranceTest.WORK_NANOS))
                     .maxInFlight(maxInFlight).pullExpiry(java.time.Duration.ofSeconds(2)).build()) {
            consumer.start();
            System.out.println("started " + consumer.manager().workerId());
            while (!stop.await(1, TimeUnit.SECONDS)) {
                System.out.println("status " + consumer.status().size() + " " + consumer.stats());
            }
        }
    }
}
