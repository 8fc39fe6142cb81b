package dev.parti.kafka.migration;

import dev.parti.internal.BucketNames;
import dev.parti.internal.ConfiguredServers;
import dev.parti.internal.KvGateway;
import dev.parti.kafka.PartiConsumerConfig;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InterruptException;

/**
 * Whether a Parti group runs, read without joining it: the live workers are the keys of the group's heartbeat bucket
 * (a worker writes its heartbeat before its join completes, and the bucket's TTL, the Parti session, removes a dead
 * one's). One short-lived NATS connection per read (to the configured servers only, as the core's), closed before returning: the reads are rare (a migrating
 * consumer's first {@code subscribe}, and a Kafka rebalance in which every member could switch), and nothing is left
 * running between them. Thread-safe (no state besides the settings).
 */
final class PartiPresence {
    /** JetStream API error: stream not found (the group never ran on Parti). */
    private static final int STREAM_NOT_FOUND = 10059;

    private final String groupId;
    private final String bucket;
    private final String[] urls;
    private final Options natsOptions;
    private final Duration timeout;
    private final Duration session;
    private final Duration heartbeatInterval;

    PartiPresence(String groupId, PartiConsumerConfig parti) {
        this.groupId = groupId;
        this.bucket = new BucketNames(groupId).name(KvGateway.Bucket.HEARTBEATS);
        this.urls = parti.natsUrls().stream().map(String::trim).toArray(String[]::new);
        this.natsOptions = parti.natsOptions();
        long startup = parti.getLong(PartiConsumerConfig.STARTUP_TIMEOUT_MS_CONFIG);
        this.timeout = Duration.ofMillis(Math.max(100, Math.min(5_000, startup)));
        this.session = Duration.ofMillis(parti.getLong(PartiConsumerConfig.SESSION_TIMEOUT_MS_CONFIG));
        this.heartbeatInterval = Duration.ofMillis(parti.getLong(PartiConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG));
    }

    /** Options for a connection of this class's own (to the configured servers only, as the core's; no reconnect). */
    private Options options(String namePrefix) {
        Options.Builder b = natsOptions == null ? new Options.Builder() : new Options.Builder(natsOptions);
        return b.servers(urls).serverPool(new ConfiguredServers(urls)).connectionName(namePrefix + groupId)
                .connectionTimeout(timeout).maxReconnects(0).build();
    }

    /**
     * A watch of the group's heartbeats for the Kafka members of stopped switching workers ({@link BridgeWatch}), on a
     * connection of its own that its {@code close()} closes.
     *
     * @throws Exception when NATS cannot be reached or the bucket is not there yet
     */
    BridgeWatch watchBridges() throws Exception {
        return BridgeWatch.open(options("parti-migration-watch-"), bucket, timeout, session, heartbeatInterval);
    }

    /**
     * The IDs of the group's live workers; empty when the group has none or never ran on Parti.
     *
     * @throws KafkaException when NATS cannot be read (unreachable, refused): the caller cannot tell
     */
    List<String> liveWorkers() {
        Options options = options("parti-migration-");
        Connection c = null;
        try {
            c = Nats.connect(options);
            KeyValueOptions kvOptions = KeyValueOptions.builder().jsRequestTimeout(timeout).build();
            try {
                c.jetStreamManagement(kvOptions.getJetStreamOptions()).getStreamInfo("KV_" + bucket);
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == STREAM_NOT_FOUND) {
                    return List.of();
                }
                throw e;
            }
            KeyValue kv = c.keyValue(bucket, kvOptions);
            return List.copyOf(kv.keys());
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            throw new KafkaException("Cannot read whether Parti group " + groupId + " runs (NATS at " + String.join(",", urls)
                    + "): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        } finally {
            if (c != null) {
                try {
                    c.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
