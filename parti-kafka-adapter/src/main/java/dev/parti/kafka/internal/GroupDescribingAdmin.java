package dev.parti.kafka.internal;

import org.apache.kafka.clients.CommonClientConfigs;

import java.util.Map;

/**
 * Settings of the Admin clients the adapter uses to describe its consumer group (the mixed-group guard, the rolling
 * migrations).
 *
 * <p>Why: {@code Admin.describeConsumerGroups} asks first with the consumer protocol's API; for a classic group the
 * broker answers that it knows no such group, and the client asks again with the classic API only after {@code
 * retry.backoff.ms}, 100 ms by default. That wait was most of every description (about 110 ms against 15 ms with a
 * 10 ms backoff, on one broker at localhost), and the migrations describe the group on their critical path: at
 * {@code subscribe()}, after a static member's join, every 50 to 100 ms while waiting for the group to empty.
 */
public final class GroupDescribingAdmin {
    /** The initial retry backoff of the describing Admin clients, in milliseconds (further retries back off exponentially). */
    public static final long RETRY_BACKOFF_MS = 10;

    private GroupDescribingAdmin() {
    }

    /**
     * Lowers {@code retry.backoff.ms} in {@code adminConfig} to {@link #RETRY_BACKOFF_MS}, or to a lower value the
     * configuration already has (its own or {@code retry.backoff.max.ms}). Other retries of these clients back off
     * exponentially from it up to {@code retry.backoff.max.ms} (1 s by default), as before.
     *
     * @param adminConfig an Admin configuration, changed in place
     * @return {@code adminConfig}
     */
    public static Map<String, Object> withFastFallback(Map<String, Object> adminConfig) {
        long own = ConsumerSettings.millis(adminConfig.get(CommonClientConfigs.RETRY_BACKOFF_MS_CONFIG), Long.MAX_VALUE);
        long max = ConsumerSettings.millis(adminConfig.get(CommonClientConfigs.RETRY_BACKOFF_MAX_MS_CONFIG), Long.MAX_VALUE);
        long backoff = Math.min(RETRY_BACKOFF_MS, Math.min(own, max));
        adminConfig.put(CommonClientConfigs.RETRY_BACKOFF_MS_CONFIG, backoff);
        return adminConfig;
    }
}
