package dev.parti.internal;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.KeyValueOptions;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatchOption;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.api.StorageType;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The only class that talks to jnats. Maps jnats errors onto three outcomes the protocol roles
 * act on: {@link CasConflictException} (the server refused a compare-and-set), {@link
 * KvUnavailableException} (network trouble or timeout: the outcome of a write is unknown) and
 * {@link KvRejectedException} (any other server refusal). Bucket provisioning is kept apart
 * from data calls ({@link #provision}).
 *
 * <p>Thread-safe: jnats KV handles are.
 */
public final class KvGateway {
    private static final Logger log = LoggerFactory.getLogger(KvGateway.class);

    /** JetStream API error: wrong last sequence (a lost compare-and-set). */
    static final int JS_WRONG_LAST_SEQUENCE = 10071;
    /** JetStream API error: stream name already in use with a different configuration. */
    static final int JS_STREAM_NAME_EXIST = 10058;
    /** JetStream API error: stream not found. */
    static final int JS_STREAM_NOT_FOUND = 10059;

    /** The four buckets of a group. */
    public enum Bucket { IDS, HEARTBEATS, LEADER, ASSIGNMENT }

    /** One entry as the protocol sees it: a value (null for a delete) and its revision. */
    public record Entry(String key, byte[] value, long revision, boolean deleted) { }

    private final Connection connection;
    private final BucketNames names;
    private final KeyValueOptions kvOptions;
    private final Map<Bucket, KeyValue> handles = new EnumMap<>(Bucket.class);

    public KvGateway(Connection connection, BucketNames names, Duration requestTimeout) {
        this.connection = connection;
        this.names = names;
        this.kvOptions = KeyValueOptions.builder().jsRequestTimeout(requestTimeout).build();
    }

    /** The connection, for status checks. */
    public Connection connection() {
        return connection;
    }

    /**
     * Creates the group's buckets if missing (idempotent; an existing bucket with another TTL is
     * used as it is, with a warning) and opens handles on them.
     */
    public void provision(Map<Bucket, Duration> ttls, int replicas) {
        try {
            KeyValueManagement kvm = connection.keyValueManagement(kvOptions);
            for (Bucket b : Bucket.values()) {
                String name = names.name(b);
                Duration ttl = ttls.get(b);
                KeyValueConfiguration.Builder cfg = KeyValueConfiguration.builder()
                        .name(name)
                        .description("parti " + b.name().toLowerCase() + " of group " + names.group())
                        .maxHistoryPerKey(1)
                        .storageType(StorageType.File)
                        .replicas(replicas);
                if (ttl != null) {
                    cfg.ttl(ttl);
                }
                try {
                    kvm.create(cfg.build());
                } catch (JetStreamApiException e) {
                    if (e.getApiErrorCode() != JS_STREAM_NAME_EXIST) {
                        throw new KvRejectedException("creating bucket " + name + ": " + e.getMessage(), e);
                    }
                    log.warn("Bucket {} exists with another configuration (TTL or replicas); using it as it is", name);
                }
                handles.put(b, connection.keyValue(name, kvOptions));
            }
        } catch (IOException e) {
            throw new KvUnavailableException("provisioning buckets of group " + names.group() + ": " + e.getMessage(), e);
        }
    }

    private KeyValue kv(Bucket b) {
        KeyValue kv = handles.get(b);
        if (kv == null) {
            throw new IllegalStateException("buckets not provisioned");
        }
        return kv;
    }

    /** Writes only if the key is absent or deleted; returns the new revision. */
    public long create(Bucket b, String key, byte[] value) {
        try {
            return kv(b).create(key, value);
        } catch (JetStreamApiException e) {
            throw map(b, key, "create", e);
        } catch (IOException e) {
            throw unavailable(b, key, "create", e);
        }
    }

    /** Writes only if the key's last revision is {@code expectedRevision}; returns the new revision. */
    public long update(Bucket b, String key, byte[] value, long expectedRevision) {
        try {
            return kv(b).update(key, value, expectedRevision);
        } catch (JetStreamApiException e) {
            throw map(b, key, "update", e);
        } catch (IOException e) {
            throw unavailable(b, key, "update", e);
        }
    }

    /**
     * {@link #update}, surviving its own lost reply: when the compare-and-set fails because this
     * writer's earlier write landed but its reply never came back (a cut connection), the key now holds
     * a value {@code ours} recognises, and the update is made once more on top of it. Any other conflict
     * stands; its {@link CasConflictException#holder()} is the key's entry then (null if absent).
     */
    public long updateOwn(Bucket b, String key, byte[] value, long expectedRevision, Predicate<byte[]> ours) {
        long expected = expectedRevision;
        for (int attempt = 0; ; attempt++) {
            try {
                return update(b, key, value, expected);
            } catch (CasConflictException conflict) {
                Entry current = get(b, key);
                if (attempt == 0 && current != null && ours.test(current.value())) {
                    expected = current.revision();
                    continue;
                }
                throw new CasConflictException(conflict.getMessage(), current);
            }
        }
    }

    /** Deletes the key if its last revision is {@code expectedRevision}. */
    public void delete(Bucket b, String key, long expectedRevision) {
        try {
            kv(b).delete(key, expectedRevision);
        } catch (JetStreamApiException e) {
            throw map(b, key, "delete", e);
        } catch (IOException e) {
            throw unavailable(b, key, "delete", e);
        }
    }

    /** The current entry, or null when the key is absent, deleted or expired. */
    public Entry get(Bucket b, String key) {
        try {
            KeyValueEntry e = kv(b).get(key);
            if (e == null || e.getOperation() != KeyValueOperation.PUT) {
                return null;
            }
            return new Entry(key, e.getValue(), e.getRevision(), false);
        } catch (JetStreamApiException e) {
            throw map(b, key, "get", e);
        } catch (IOException e) {
            throw unavailable(b, key, "get", e);
        }
    }

    /** Every current entry of a bucket (one request for the keys, one get per key). */
    public List<Entry> entries(Bucket b) {
        List<Entry> out = new ArrayList<>();
        try {
            for (String key : kv(b).keys()) {
                Entry e = get(b, key);
                if (e != null) {
                    out.add(e);
                }
            }
            return out;
        } catch (JetStreamApiException e) {
            throw map(b, "*", "keys", e);
        } catch (IOException e) {
            throw unavailable(b, "*", "keys", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KvUnavailableException("interrupted listing " + names.name(b), e);
        }
    }

    /** The keys present in a bucket. */
    public List<String> keys(Bucket b) {
        try {
            return kv(b).keys();
        } catch (JetStreamApiException e) {
            throw map(b, "*", "keys", e);
        } catch (IOException e) {
            throw unavailable(b, "*", "keys", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KvUnavailableException("interrupted listing " + names.name(b), e);
        }
    }

    /**
     * Watches a key ({@code ">"} for all), starting with the current values. The consumer runs on a
     * jnats dispatcher thread and must only hand the entry over to the worker's own thread.
     */
    public AutoCloseable watch(Bucket b, String key, Consumer<Entry> onEntry) {
        KeyValueWatcher watcher = new KeyValueWatcher() {
            @Override
            public void watch(KeyValueEntry e) {
                boolean deleted = e.getOperation() != KeyValueOperation.PUT;
                onEntry.accept(new Entry(e.getKey(), deleted ? null : e.getValue(), e.getRevision(), deleted));
            }

            @Override
            public void endOfData() {
                // the initial values have been delivered; nothing to do
            }
        };
        try {
            NatsKeyValueWatchSubscription sub = ">".equals(key)
                    ? kv(b).watchAll(watcher)
                    : kv(b).watch(key, watcher);
            return sub::unsubscribe;
        } catch (JetStreamApiException e) {
            throw map(b, key, "watch", e);
        } catch (IOException e) {
            throw unavailable(b, key, "watch", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KvUnavailableException("interrupted starting a watch on " + names.name(b), e);
        }
    }

    private RuntimeException map(Bucket b, String key, String op, JetStreamApiException e) {
        if (e.getApiErrorCode() == JS_WRONG_LAST_SEQUENCE) {
            return new CasConflictException(names.name(b) + "/" + key + ": " + op + " lost a compare-and-set");
        }
        return new KvRejectedException(names.name(b) + "/" + key + ": " + op + " refused by the server: "
                + e.getMessage(), e);
    }

    private KvUnavailableException unavailable(Bucket b, String key, String op, IOException e) {
        return new KvUnavailableException(names.name(b) + "/" + key + ": " + op + " failed: " + e.getMessage(), e);
    }

    /** The server refused a compare-and-set: somebody else wrote the key first. */
    public static final class CasConflictException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final transient Entry holder;

        public CasConflictException(String message) {
            this(message, null);
        }

        CasConflictException(String message, Entry holder) {
            super(message);
            this.holder = holder;
        }

        /** From {@link #updateOwn}: the key's entry after the conflict, null if the key was absent; else null. */
        public Entry holder() {
            return holder;
        }
    }

    /** Network trouble or timeout: the outcome of the call is unknown. */
    public static final class KvUnavailableException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public KvUnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The server answered with an error other than a lost compare-and-set. */
    public static final class KvRejectedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public KvRejectedException(String message, Throwable cause) {
            super(message, cause);
        }
    }
    /**
     * Whether the bucket's stream exists on the server: false when it was deleted under a running
     * group (on nats-server 2.9 KV reads of a deleted bucket merely time out). Added for issue 12.
     *
     * @throws KvUnavailableException when the server does not answer
     */
    public boolean bucketExists(Bucket b) {
        try {
            connection.jetStreamManagement(kvOptions.getJetStreamOptions()).getStreamInfo("KV_" + names.name(b));
            return true;
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == JS_STREAM_NOT_FOUND) {
                return false;
            }
            throw map(b, "*", "stream info", e);
        } catch (IOException e) {
            throw unavailable(b, "*", "stream info", e);
        }
    }
}
