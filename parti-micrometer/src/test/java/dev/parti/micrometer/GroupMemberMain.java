package dev.parti.micrometer;

import dev.parti.AssignmentListener;
import dev.parti.Partition;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * A group member in a child JVM ({@code WorkerProcess}), so that a test can crash it for real ({@code kill -9}):
 * args are the NATS URL, the group and the partition count; the timings are {@link PartiMicrometerTest}'s.
 * It runs until killed.
 */
public final class GroupMemberMain {
    private GroupMemberMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < Integer.parseInt(args[2]); i++) {
            ps.add(Partition.of("t", Integer.toString(i)));
        }
        PartiManager m = new PartiManager(PartiMicrometerTest.timings(PartiConfig.builder(args[1]).natsUrl(args[0])
                .partitionSource(() -> ps)).build(), new AssignmentListener() { });
        m.start();
        System.out.println("started " + m.workerId());
        new CountDownLatch(1).await();
    }
}
