package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MigrationCrashSupport.Child;
import dev.parti.kafka.MigrationCrashSupport.Load;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code PartiConsumer} paused with SIGSTOP (a stopped process, a long GC) for longer than its Parti session, on a real
 * broker and nats-server, under a steady load: the other member takes its partitions once its session is over; when
 * the paused one continues, with records it fetched before the pause in its buffers and its polling thread possibly
 * running before its lease watchdog, it hands the application no record of a partition it no longer owns (its lease
 * ran out during the pause: the fence policy's promise), reports the loss, and rejoins. Ownership is checked per instance
 * over time; a pause is not a death, so nothing marks the paused instance gone.
 */
class PausedConsumerTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 8;

    @Test
    void aMemberPausedLongerThanItsSessionHandsOutNothingOfThePartitionsItLostWhenItContinues(@TempDir Path dir)
            throws Exception {
        Load load = new Load(KAFKA.broker(), dir, "paused", PARTITIONS);
        List<Child> children = new ArrayList<>();
        long pausedAt;
        long resumedAt;
        try (load) {
            try {
                for (String name : List.of("c-1", "c-2")) {
                    children.add(Child.start(parti(load.groupId, name), load.topic, name, load.logDir, dir));
                }
                Child paused = children.get(0);
                Child other = children.get(1);
                await("both members share every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS,
                                Set.of(paused.name, other.name)));
                int pausedLines = paused.ledgerLines(dir);
                await(paused.name + " processes records").atMost(WAIT).pollInterval(Duration.ofMillis(20))
                        .until(() -> paused.ledgerLines(dir) > pausedLines + 2);

                paused.suspend();
                pausedAt = System.nanoTime();
                await(other.name + " holds every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.holdsEvery(load.logDir, other.name, load.topic, PARTITIONS));
                int otherLines = other.ledgerLines(dir);
                await(other.name + " processes records of every partition").atMost(WAIT).pollInterval(Duration.ofMillis(50))
                        .until(() -> other.ledgerLines(dir) > otherLines + PARTITIONS);

                resumedAt = System.nanoTime();
                paused.resume();
                await(paused.name + " back: the partitions shared by both again").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> MigrationCrashSupport.sharedBy(load.logDir, load.topic, PARTITIONS,
                                Set.of(paused.name, other.name)));

                load.drain(WAIT);
                other.stop(load.logDir);
                paused.stop(load.logDir);
            } finally {
                load.stopProducing();
                children.forEach(Child::close);
            }
            load.assertCommitsNeverBackwardsAndAtEveryEnd();
        }
        System.out.printf("paused consumer: c-1 paused %.2f s (Parti session 2 s)%n", (resumedAt - pausedAt) / 1e9);
        MigrationCrashSupport.assertLedgersAndOwnershipAfterAPause(dir, load.logDir, load.start, "c-1", pausedAt,
                resumedAt);
    }

    private static Map<String, Object> parti(String groupId, String name) {
        Map<String, Object> config = MigrationCrashSupport.kafkaMember(KAFKA.bootstrapServers(), groupId, name);
        config.putAll(Fixtures.partiFast(NATS.url()));
        return config;
    }
}
