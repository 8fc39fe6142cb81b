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
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
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
    private volatile RuntimeException metadataError;
    /** Timer threads (one refresh at a time): the next retry delay while subscribed topics are missing, 0 when none. */
    private long retryBackoffMs;
    private boolean retryScheduled;

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

    /**
     * Polling thread: the metadata error of the last refresh ({@code InvalidTopicException}, {@code
     * TopicAuthorizationException}), once; null if none.
     */
    RuntimeException takeMetadataError() {
        RuntimeException e = metadataError;
        if (e != null) {
            metadataError = null;
        }
        return e;
    }

    /**
     * Timer thread: reads the subscription's partitions; tells the manager when they changed. While a
     * subscribed topic is missing (or reading failed) it reads again after {@code retry.backoff.ms},
     * growing to {@code retry.backoff.max.ms}, as {@code KafkaConsumer} retries metadata of unknown topics;
     * otherwise every {@code metadata.max.age.ms}.
     */
    private synchronized void refreshMetadata() {
        if (stopping) {
            return;
        }
        boolean retry;
        try {
            if (watcher.refresh(Duration.ofMillis(settings.requestTimeoutMs))) {
                log.debug("Partitions of the subscription changed: {}", watcher.partitions());
                PartiManager m = manager.get();
                if (m != null) {
                    m.refreshPartitions();
                }
            }
            retry = !watcher.missing().isEmpty();
        } catch (InvalidTopicException | TopicAuthorizationException e) {
            metadataError = e;
            retry = true;
        } catch (IllegalStateException e) {
            log.debug("Partition refresh skipped: {}", e.getMessage());
            retry = false;
        } catch (Exception e) {
            if (stopping || Thread.currentThread().isInterrupted()) {
                log.debug("Metadata refresh interrupted by close: {}", e.toString());
                return;
            }
            if (retryBackoffMs == 0) {
                log.warn("Could not read the topics of the subscription from Kafka (kept the previous ones; retrying): {}",
                        e.toString());
            } else {
                log.debug("Could not read the topics of the subscription from Kafka again: {}", e.toString());
            }
            retry = true;
        }
        if (!retry) {
            retryBackoffMs = 0;
            return;
        }
        retryBackoffMs = retryBackoffMs == 0 ? settings.retryBackoffMs : Math.min(settings.retryBackoffMaxMs, retryBackoffMs * 2);
        if (!retryScheduled) {
            retryScheduled = true;
            schedule(() -> {
                synchronized (this) {
                    retryScheduled = false;
                }
                refreshMetadata();
            }, retryBackoffMs);
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
