package dev.parti.kafka.migration;

import dev.parti.internal.BucketNames;
import dev.parti.internal.ConfiguredServers;
import dev.parti.internal.KvGateway;
import dev.parti.internal.LeftoverAssignment;
import dev.parti.kafka.PartiConsumerConfig;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValueOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatchOption;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PartiPresence.class);
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
        return read(false);
    }

    /**
     * As {@link #liveWorkers}, and when there is none, retires the assignment the group's workers left when it last ran
     * on Parti ({@link LeftoverAssignment}): a rolling migration about to switch then gets a cold start, whose first
     * assignment keeps each partition where it is in Kafka, not one that starts from where the earlier workers had
     * it. If retiring fails (NATS refuses, say), the live workers are read as {@link #liveWorkers} does and the switch
     * goes on from the old assignment, as before.
     *
     * @throws KafkaException when NATS cannot be read (unreachable, refused): the caller cannot tell
     */
    List<String> liveWorkersRetiringALeftoverAssignment() {
        try {
            return read(true);
        } catch (InterruptException e) {
            throw e;
        } catch (KafkaException e) {
            log.warn("Consumer group {}: could not retire the assignment of an earlier run on Parti ({}); reading the "
                    + "live workers alone", groupId, e.getMessage());
            return liveWorkers();
        }
    }

    /**
     * Whether a worker of the group renews its heartbeat: true at the first heartbeat written within one and a half of
     * this consumer's heartbeat intervals, false when none is. Tells a group that runs on Parti from one whose workers
     * all stopped less than a session ago (their heartbeat keys stay until the session, the bucket's TTL, removes
     * them). A watch, not a polling loop: it waits for the first write. A worker configured with a longer interval may
     * be taken for a stopped one; the caller only uses the answer where that is safe.
     *
     * @throws KafkaException when NATS cannot be read (unreachable, refused)
     */
    boolean workersRenewHeartbeats() {
        return read("parti-migration-renewal-", "whether the workers of Parti group " + groupId + " renew their heartbeats",
                false, (c, kvOptions) -> {
                    CountDownLatch renewed = new CountDownLatch(1);
                    KeyValueWatcher watcher = new KeyValueWatcher() {
                        @Override
                        public void watch(KeyValueEntry entry) {
                            if (entry.getOperation() == KeyValueOperation.PUT) {
                                renewed.countDown();
                            }
                        }

                        @Override
                        public void endOfData() {
                        }
                    };
                    NatsKeyValueWatchSubscription watch = c.keyValue(bucket, kvOptions).watchAll(watcher,
                            KeyValueWatchOption.UPDATES_ONLY);
                    try {
                        return renewed.await(heartbeatInterval.toNanos() * 3 / 2, TimeUnit.NANOSECONDS);
                    } finally {
                        watch.unsubscribe(); // the connection's close ends it too; this only ends it sooner
                    }
                });
    }

    private List<String> read(boolean retireLeftover) {
        return read("parti-migration-", "whether Parti group " + groupId + " runs", List.of(), (c, kvOptions) -> {
            if (!retireLeftover) {
                return List.copyOf(c.keyValue(bucket, kvOptions).keys());
            }
            KvGateway kv = new KvGateway(c, new BucketNames(groupId), timeout);
            kv.open();
            LeftoverAssignment.Outcome o = LeftoverAssignment.retireUnlessLive(kv, "migration-switch");
            if (o.retiredVersion() > 0) {
                log.info("Consumer group {}: retired Parti assignment version {}, left by workers that are all gone, as "
                        + "version {} with no worker: Parti's first assignment after the switch keeps each partition "
                        + "where it is in Kafka", groupId, o.retiredFrom(), o.retiredVersion());
            }
            return o.liveWorkers();
        });
    }

    /** One read of the group's state over a connection of its own. */
    @FunctionalInterface
    private interface Read<T> {
        T read(Connection c, KeyValueOptions kvOptions) throws IOException, JetStreamApiException, InterruptedException;
    }

    /**
     * Connects, answers {@code neverRan} when the group's heartbeat bucket does not exist (it never ran on Parti), else
     * what {@code read} answers; closes the connection before returning.
     *
     * @throws KafkaException naming {@code what} when NATS cannot be read (unreachable, refused)
     */
    private <T> T read(String connectionPrefix, String what, T neverRan, Read<T> read) {
        Connection c = null;
        try {
            c = Nats.connect(options(connectionPrefix));
            KeyValueOptions kvOptions = KeyValueOptions.builder().jsRequestTimeout(timeout).build();
            try {
                c.jetStreamManagement(kvOptions.getJetStreamOptions()).getStreamInfo("KV_" + bucket);
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == STREAM_NOT_FOUND) {
                    return neverRan;
                }
                throw e;
            }
            return read.read(c, kvOptions);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            throw new KafkaException("Cannot read " + what + " (NATS at " + String.join(",", urls) + "): "
                    + e.getMessage(), e);
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
