package dev.parti.kafka.internal;

import dev.parti.PartiManager;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumer's group runtime, created at the first {@code subscribe()} and kept until {@code
 * close()}: a separate {@link Admin} client, the {@link TopicWatcher} that reads the subscription's
 * partitions with it (the metadata role), and the two threads {@code parti-consumer-<client>-timer-N}
 * that run metadata refreshes, group inspection and the {@code max.poll.interval.ms} watchdog. The
 * inner {@code KafkaConsumer} belongs to the polling thread, so nothing here touches it.
 */
final class GroupRuntime {
    private static final Logger log = LoggerFactory.getLogger(GroupRuntime.class);

    private final ConsumerSettings settings;
    private final Admin admin;
    private final TopicWatcher watcher;
    private final ScheduledExecutorService timer;
    private final Supplier<PartiManager> manager;
    private volatile boolean stopping;

    /**
     * @param manager  the current manager (null when not joined), told when the partitions changed
     * @param watchdog run every {@code max.poll.interval.ms / 10} (10 ms … 1 s)
     */
    GroupRuntime(ConsumerSettings settings, String clientId, Supplier<PartiManager> manager, Runnable watchdog) {
        this.settings = settings;
        this.manager = manager;
        Map<String, Object> adminConfig = new HashMap<>(settings.adminConfig);
        adminConfig.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId + "-parti-admin");
        this.admin = Admin.create(adminConfig);
        this.watcher = new TopicWatcher(admin, !settings.excludeInternalTopics);
        this.timer = Executors.newScheduledThreadPool(2, daemonThreads("parti-consumer-" + clientId + "-timer-"));
        long refresh = Math.max(1, settings.metadataMaxAgeMs);
        timer.scheduleWithFixedDelay(this::refreshMetadata, refresh, refresh, TimeUnit.MILLISECONDS);
        long watch = Math.max(10, Math.min(1_000, settings.maxPollIntervalMs / 10));
        timer.scheduleWithFixedDelay(watchdog, watch, watch, TimeUnit.MILLISECONDS);
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    Admin admin() {
        return admin;
    }

    TopicWatcher watcher() {
        return watcher;
    }

    /** Runs {@code task} on a timer thread now; ignored once stopped. */
    void execute(Runnable task) {
        schedule(task, 0);
    }

    /** Runs {@code task} on a timer thread after {@code delayMs}; ignored once stopped. */
    void schedule(Runnable task, long delayMs) {
        if (stopping) {
            return;
        }
        try {
            timer.schedule(task, delayMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException ignored) {
            // stopped meanwhile
        }
    }

    /** Re-reads the subscription's partitions now (on a timer thread). */
    void refreshSoon() {
        execute(this::refreshMetadata);
    }

    /** Timer thread: reads the subscription's partitions; tells the manager when they changed. */
    private void refreshMetadata() {
        if (stopping) {
            return;
        }
        try {
            if (watcher.refresh(Duration.ofMillis(settings.requestTimeoutMs))) {
                log.debug("Partitions of the subscription changed: {}", watcher.partitions());
                PartiManager m = manager.get();
                if (m != null) {
                    m.refreshPartitions();
                }
            }
        } catch (IllegalStateException e) {
            log.debug("Partition refresh skipped: {}", e.getMessage());
        } catch (Exception e) {
            if (stopping || Thread.currentThread().isInterrupted()) {
                log.debug("Metadata refresh interrupted by close: {}", e.toString());
            } else {
                log.warn("Could not read the topics of the subscription from Kafka (kept the previous ones): {}", e.toString());
            }
        }
    }

    /** Stops the timer threads and closes the Admin client, each within {@code timeout}. */
    void stop(Duration timeout) {
        stopping = true;
        timer.shutdownNow();
        try {
            timer.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        admin.close(timeout);
    }
}
