package dev.parti.cli;

import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.KeyValueOptions;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueStatus;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads groups from NATS without changing anything: never creates a bucket, only reads (stream info,
 * key listing, gets, watches), so a read-only NATS user can run every read command.
 */
final class GroupReader {
    /** JetStream API error: stream not found. */
    static final int JS_STREAM_NOT_FOUND = 10059;
    /** The description Parti gives its buckets: {@code parti <bucket> of group <raw group name>}. */
    private static final Pattern DESCRIPTION = Pattern.compile("parti (ids|heartbeats|leader|assignment) of group (.+)", Pattern.DOTALL);

    private final Connection connection;
    private final Supplier<String> lastServerError;
    private final KeyValueOptions kvOptions;

    GroupReader(Connection connection, Duration timeout, Supplier<String> lastServerError) {
        this.connection = connection;
        this.lastServerError = lastServerError;
        this.kvOptions = KeyValueOptions.builder().jsRequestTimeout(timeout).build();
    }

    /**
     * The groups with Parti buckets in this account, by raw group name, each with the buckets found. One
     * {@code $JS.API.STREAM.LIST} request (paged), so a user allowed to read only some groups still lists them all.
     */
    Map<String, List<Bucket>> groups() {
        List<io.nats.client.api.StreamInfo> streams;
        try {
            streams = connection.jetStreamManagement(kvOptions.getJetStreamOptions()).getStreams();
        } catch (IOException | JetStreamApiException e) {
            throw failure("listing the key-value buckets of this NATS account", e);
        }
        Map<String, List<Bucket>> out = new TreeMap<>();
        for (io.nats.client.api.StreamInfo si : streams) {
            String stream = si.getConfiguration().getName();
            String description = si.getConfiguration().getDescription();
            if (stream == null || !stream.startsWith("KV_parti_") || description == null) {
                continue;
            }
            Matcher m = DESCRIPTION.matcher(description);
            if (!m.matches()) {
                continue;
            }
            Bucket b = Bucket.valueOf(m.group(1).toUpperCase(java.util.Locale.ROOT));
            String group = m.group(2);
            // trust the description only if it derives the bucket's own name
            if (new BucketNames(group).name(b).equals(stream.substring("KV_".length()))) {
                out.computeIfAbsent(group, g -> new ArrayList<>()).add(b);
            }
        }
        return out;
    }

    /**
     * Reads every bucket of {@code group}.
     *
     * @throws CliException when the group has no bucket on this server, or a read fails
     */
    GroupState read(String group) {
        GroupState state = new GroupState(group);
        readInfo(state);
        if (!state.exists()) {
            throw new CliException("group '" + group + "' has no Parti state on this NATS server (no bucket "
                    + state.names.name(Bucket.HEARTBEATS) + "); `parti groups` lists the groups there are");
        }
        for (Bucket b : Bucket.values()) {
            if (state.buckets.get(b).exists()) {
                readEntries(state, b);
            }
        }
        return state;
    }

    /** Fills in {@link GroupState#buckets}: which of the group's buckets exist, with TTL and replicas. */
    void readInfo(GroupState state) {
        KeyValueManagement kvm = management();
        for (Bucket b : Bucket.values()) {
            String name = state.names.name(b);
            try {
                KeyValueStatus s = kvm.getStatus(name);
                state.buckets.put(b, new GroupState.BucketInfo(name, true, s.getTtl(), s.getReplicas()));
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() != JS_STREAM_NOT_FOUND) {
                    throw failure("reading bucket " + name, e);
                }
                state.buckets.put(b, new GroupState.BucketInfo(name, false, null, 0));
            } catch (IOException e) {
                throw failure("reading bucket " + name, e);
            }
        }
    }

    private void readEntries(GroupState state, Bucket b) {
        String name = state.names.name(b);
        try {
            KeyValue kv = keyValue(name);
            for (String key : new java.util.TreeSet<>(kv.keys())) {
                KeyValueEntry e = kv.get(key);
                if (e != null && e.getOperation() == KeyValueOperation.PUT) {
                    state.apply(b, key, e.getValue(), e.getRevision(), written(e));
                }
            }
        } catch (IOException | JetStreamApiException e) {
            throw failure("reading bucket " + name, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted while reading bucket " + name, e);
        }
    }

    /**
     * The keys now present in one bucket (keys expired by TTL are gone), sorted, each once: a key
     * rewritten while the listing runs (a heartbeat) can be delivered twice.
     */
    List<String> keys(GroupState state, Bucket b) {
        String name = state.names.name(b);
        try {
            return List.copyOf(new java.util.TreeSet<>(keyValue(name).keys()));
        } catch (IOException | JetStreamApiException e) {
            throw failure("listing bucket " + name, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted while listing bucket " + name, e);
        }
    }

    KeyValue keyValue(String bucketName) throws IOException {
        return connection.keyValue(bucketName, kvOptions);
    }

    KeyValueManagement management() {
        try {
            return connection.keyValueManagement(kvOptions);
        } catch (IOException e) {
            throw failure("opening JetStream key-value management", e);
        }
    }

    static Instant written(KeyValueEntry e) {
        return e.getCreated() == null ? null : e.getCreated().toInstant();
    }

    /** A failure naming what was attempted and the server's own words when it refused (e.g. a permissions violation). */
    CliException failure(String what, Exception e) {
        String server = lastServerError.get();
        String msg = what + " failed: " + e.getMessage();
        if (e instanceof JetStreamApiException api && api.getApiErrorCode() == 10039) {
            msg += " (JetStream is not enabled for this account)";
        }
        if (server != null) {
            msg += " (server: " + server + ")";
        }
        return new CliException(msg, e);
    }
}
