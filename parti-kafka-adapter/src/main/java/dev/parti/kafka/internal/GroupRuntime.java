package dev.parti.kafka.internal;

import dev.parti.PartiManager;
import java.time.Duration;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumer's group runtime, created at the first {@code subscribe()} and kept until {@code
 * close()}: a metadata {@link Admin} client (shared with the JVM's other consumers of the same cluster and
 * Admin settings, {@link SharedAdmins}), the {@link TopicWatcher} that reads the subscription's partitions
 * with it (the metadata role), and its tasks on the JVM's shared timer threads ({@link SharedTimers}:
 * {@code parti-kafka-timer} and the {@code parti-kafka-worker-N} pool) that run metadata refreshes, group
 * inspection and the {@code max.poll.interval.ms} watchdog, never two of this consumer's at once per task.
 * The inner {@code KafkaConsumer} belongs to the polling thread, so nothing here touches it.
 */
final class GroupRuntime {
    private static final Logger log = LoggerFactory.getLogger(GroupRuntime.class);

    private final ConsumerSettings settings;
    private final SharedAdmins.Lease adminLease;
    private final Admin admin;
    private final TopicWatcher watcher;
    private final SharedTimers.Tasks timer;
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
        this.adminLease = SharedAdmins.acquire(settings.adminConfig);
        this.admin = adminLease.admin();
        log.debug("Consumer {} reads metadata with the shared Admin client {}", clientId, admin);
        this.watcher = new TopicWatcher(admin, !settings.excludeInternalTopics);
        this.timer = SharedTimers.acquire();
        long refresh = Math.max(1, settings.metadataMaxAgeMs);
        timer.scheduleWithFixedDelay(this::refreshMetadata, refresh, refresh);
        long watch = Math.max(10, Math.min(1_000, settings.maxPollIntervalMs / 10));
        timer.scheduleWithFixedDelay(watchdog, watch, watch);
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
        timer.schedule(task, delayMs);
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

    /** Stops this consumer's timer tasks and gives the Admin client back (the last user closes it), each within {@code timeout}. */
    void stop(Duration timeout) {
        stopping = true;
        timer.stop(timeout);
        adminLease.close(timeout);
    }
}
