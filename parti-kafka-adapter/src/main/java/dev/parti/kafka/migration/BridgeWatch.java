package dev.parti.kafka.migration;

import dev.parti.internal.Codec;
import io.nats.client.Connection;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatcher;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * While this member switches, watches the Parti group's heartbeats for the Kafka member IDs that switching members
 * publish ({@link #METADATA_KEY}), to tell when every member still in the Kafka group belongs to a Parti worker that has
 * stopped. Such a member's Kafka side is bounded by its Parti lease (with {@code parti.coordinator.loss.policy=fence} it
 * hands out nothing once its lease may have lapsed, see {@code KafkaToPartiMigration}), so once its heartbeat has not
 * changed for a whole Parti session plus a heartbeat interval, measured on this process's clock from when this watch
 * saw it change, that lease has ended whatever the server's clock says: its Kafka membership can be removed instead of
 * waiting out its {@code session.timeout.ms}. A watch that saw nothing for half a session (this member's own heartbeat
 * changes every interval) proves nothing. Thread-safe: the watch's events come on the NATS dispatcher's thread,
 * {@link #allStopped} is called from any thread. {@link #close()} closes the watch's own connection.
 */
final class BridgeWatch implements AutoCloseable {
    /** The worker metadata key under which a switching member publishes its Kafka member ID. */
    static final String METADATA_KEY = dev.parti.kafka.internal.PartiConsumerDelegate.BRIDGE_MEMBER_METADATA;
    private static final Logger log = LoggerFactory.getLogger(BridgeWatch.class);

    /** What the watch last saw of one worker: the member ID it published and when (local clock) its heartbeat changed. */
    private record Seen(String memberId, long changedNanos) { }

    private final Map<String, Seen> byWorker = new ConcurrentHashMap<>();
    private final long stoppedAfterNanos;
    private final long healthyWithinNanos;
    private final LongSupplier clock;
    private final Connection connection;
    private volatile long lastEventNanos;

    /** @param connection the watch's own connection (null in tests of the logic alone) */
    BridgeWatch(Connection connection, Duration session, Duration heartbeatInterval, LongSupplier clock) {
        this.connection = connection;
        this.stoppedAfterNanos = session.plus(heartbeatInterval).toNanos();
        this.healthyWithinNanos = session.toNanos() / 2;
        this.clock = clock;
        this.lastEventNanos = clock.getAsLong();
    }

    /**
     * Opens a watch of heartbeat bucket {@code bucket} on a connection of its own.
     *
     * @throws Exception when NATS cannot be reached or the bucket read (the caller goes on without it)
     */
    static BridgeWatch open(Options options, String bucket, Duration timeout, Duration session, Duration heartbeatInterval)
            throws Exception {
        Connection c = Nats.connect(options);
        try {
            BridgeWatch w = new BridgeWatch(c, session, heartbeatInterval, System::nanoTime);
            KeyValue kv = c.keyValue(bucket, KeyValueOptions.builder().jsRequestTimeout(timeout).build());
            kv.watchAll(new KeyValueWatcher() {
                @Override
                public void watch(KeyValueEntry e) {
                    w.seen(e);
                }

                @Override
                public void endOfData() {
                    w.lastEventNanos = w.clock.getAsLong();
                }
            });
            return w;
        } catch (Exception e) {
            c.close();
            throw e;
        }
    }

    /** Dispatcher thread: an entry of the heartbeat bucket. */
    private void seen(KeyValueEntry e) {
        seen(e.getKey(), e.getOperation() == KeyValueOperation.PUT ? e.getValue() : null);
    }

    /**
     * Dispatcher thread: worker {@code workerId}'s heartbeat changed to {@code heartbeat} (null for a delete, which
     * changes nothing: only the time since the last put counts).
     */
    void seen(String workerId, byte[] heartbeat) {
        long now = clock.getAsLong();
        lastEventNanos = now;
        if (heartbeat == null) {
            return;
        }
        String memberId;
        try {
            memberId = Codec.decodeHeartbeat(heartbeat).metadata().get(METADATA_KEY);
        } catch (RuntimeException unreadable) {
            memberId = null;
        }
        if (memberId == null) {
            byWorker.remove(workerId);
        } else {
            byWorker.put(workerId, new Seen(memberId, now));
        }
    }

    /**
     * Whether each of {@code memberIds} (Kafka member IDs, not empty) was published by a worker whose heartbeat this
     * watch has not seen change for a Parti session plus a heartbeat interval, while the watch itself kept hearing.
     */
    boolean allStopped(Collection<String> memberIds) {
        long now = clock.getAsLong();
        if (memberIds.isEmpty() || now - lastEventNanos > healthyWithinNanos) {
            return false;
        }
        for (String member : memberIds) {
            boolean stopped = false;
            for (Seen s : byWorker.values()) {
                if (s.memberId.equals(member)) {
                    stopped = now - s.changedNanos >= stoppedAfterNanos;
                    break;
                }
            }
            if (!stopped) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        if (connection == null) {
            return;
        }
        try {
            connection.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.debug("Closing the bridge watch's connection failed: {}", e.toString());
        }
    }
}
