package dev.parti.internal;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.JetStreamSubscription;
import io.nats.client.KeyValueOptions;
import io.nats.client.Message;
import io.nats.client.MessageHandler;
import io.nats.client.PushSubscribeOptions;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueStatus;
import io.nats.client.api.MessageGetRequest;
import io.nats.client.api.MessageInfo;
import io.nats.client.api.StorageType;
import java.io.IOException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The only class that talks to jnats. Every jnats failure of a call maps onto one of three outcomes
 * the protocol roles act on, each with a message naming the bucket, the key and the operation:
 * <ul>
 *   <li>{@link CasConflictException}: the server refused a compare-and-set (somebody else wrote first);</li>
 *   <li>{@link KvUnavailableException}: the outcome is unknown or the store cannot be reached right now:
 *       network trouble ({@link IOException}, a request timeout, no responders), a closed or draining
 *       connection ({@link IllegalStateException}), an interrupted call, JetStream temporarily without a
 *       leader, and any unexpected runtime failure of jnats;</li>
 *   <li>{@link KvRejectedException}: the server or the client refused the call and retrying it as it is
 *       cannot help: a key NATS does not accept, a value above the connection's max payload (checked
 *       before sending, so the server never closes the connection over it), any other JetStream API
 *       error. {@link BucketMismatchException} is the kind that names a bucket setting.</li>
 * </ul>
 * Bucket provisioning is kept apart from data calls ({@link #provision}, {@link #checkBuckets}).
 *
 * <p>Thread-safe: jnats KV handles are; {@link #provision} is meant to run on one thread before the
 * data calls (and again to re-create buckets).
 */
public final class KvGateway implements Kv {
    private static final Logger log = LoggerFactory.getLogger(KvGateway.class);

    /** JetStream API error: wrong last sequence (a lost compare-and-set). */
    static final int JS_WRONG_LAST_SEQUENCE = 10071;
    /** JetStream API error: stream name already in use with a different configuration. */
    static final int JS_STREAM_NAME_EXIST = 10058;
    /** JetStream API error: stream not found. */
    static final int JS_STREAM_NOT_FOUND = 10059;
    /** JetStream API error: no message found (a key never written, or purged away). */
    static final int JS_NO_MESSAGE_FOUND = 10037;
    /** JetStream API errors meaning "no answer right now" (cluster without a meta leader, stream offline, ...). */
    private static final java.util.Set<Integer> JS_TEMPORARY = java.util.Set.of(
            10008, // JetStream system temporarily unavailable
            10009, // JetStream cluster can not handle request
            10118  // stream is offline
    );
    /** Room left below the server's max payload for the headers jnats adds to a KV write. */
    static final int HEADER_ALLOWANCE = 256;

    /** The four buckets of a group. */
    public enum Bucket { IDS, HEARTBEATS, LEADER, ASSIGNMENT }

    /** One entry as the protocol sees it: a value (null for a delete) and its revision. */
    public record Entry(String key, byte[] value, long revision, boolean deleted) { }

    private final Connection connection;
    private final BucketNames names;
    private final KeyValueOptions kvOptions;
    private final Duration requestTimeout;
    private final Map<Bucket, KeyValue> handles = Collections.synchronizedMap(new EnumMap<>(Bucket.class));
    /** Per bucket, as {@link #provision} last found it: the stream's creation time, the TTL and replicas wanted. */
    private final Map<Bucket, Provisioned> provisioned = Collections.synchronizedMap(new EnumMap<>(Bucket.class));

    private record Provisioned(String name, ZonedDateTime created, Duration ttl, int replicas) { }

    /**
     * jnats KV handles by connection, then bucket name and request timeout: opening one reads the bucket stream's
     * info (a request), and every worker of a JVM shares its connection, so a worker joining after another (a
     * restart, a listener container's next consumer) saves one request per bucket (issue 19, a returning static
     * member). {@link #provision} has read each bucket's status just before, so a cached handle is never one of a
     * missing bucket. Entries of closed connections are dropped at the next lookup.
     */
    private static final Map<Connection, Map<String, KeyValue>> HANDLES = new java.util.IdentityHashMap<>();

    /**
     * Buckets a worker of this JVM provisioned on a connection, by connection, then bucket name, TTL and replicas,
     * with when their status was read. A worker provisioning the same buckets with the same settings within one
     * worker-ID TTL of that read (the longest of the group's key TTLs: 30 s by default) takes them as they were then
     * instead of reading each status again (issue 19: four requests fewer on a returning static member's join).
     * That is no staler than what the JVM's running workers know: they read the settings at their own start and
     * look again only when a call fails. If a bucket was deleted meanwhile, this worker's first call on it fails;
     * it then provisions again for real before the caller retries ({@link #call}). A bucket found missing or
     * changed by any worker on the connection clears what was read.
     */
    private static final Map<Connection, Map<String, Verified>> VERIFIED = new java.util.IdentityHashMap<>();

    private record Verified(Provisioned provisioned, long readAtNanos) { }

    /** Whether {@link #provision} took a bucket from {@link #VERIFIED}, and with what, to provision for real if it is gone. */
    private volatile boolean provisionedFromCache;
    private volatile Map<Bucket, Duration> provisionedTtls;
    private volatile int provisionedReplicas;

    public KvGateway(Connection connection, BucketNames names, Duration requestTimeout) {
        this.connection = connection;
        this.names = names;
        this.requestTimeout = requestTimeout;
        this.kvOptions = KeyValueOptions.builder().jsRequestTimeout(requestTimeout).build();
    }

    /** The names of the group's buckets. */
    public BucketNames names() {
        return names;
    }

    /** The connection, for status checks. */
    public Connection connection() {
        return connection;
    }

    @Override
    public boolean connected() {
        return connection.getStatus() == Connection.Status.CONNECTED;
    }

    @Override
    public long serverMaxPayload() {
        return connection.getServerInfo().getMaxPayload();
    }

    /**
     * Opens handles on the group's existing buckets without creating or changing them: for tools and tests
     * that read or write a running group's keys and must not touch its bucket settings ({@link #provision}
     * would reconcile them to the caller's TTLs). {@link #checkBuckets} needs {@link #provision}.
     *
     * @throws KvRejectedException    when a bucket does not exist or the server refuses
     * @throws KvUnavailableException when NATS cannot be reached
     */
    public void open() {
        for (Bucket b : Bucket.values()) {
            String name = names.name(b);
            handles.put(b, call(b, "*", "open bucket", () -> connection.keyValue(name, kvOptions)));
        }
    }

    /**
     * Creates the group's buckets if missing and opens handles on them; idempotent, and callable again
     * to re-create deleted buckets (the identity {@link #checkBuckets} compares with is then the new one).
     *
     * <p>A bucket that exists with other settings is reconciled only where that is safe for every worker
     * that may be using it, and refused otherwise ({@link BucketMismatchException}, naming the bucket, the
     * setting and both values):
     * <ul>
     *   <li>TTL (the worker-ID TTL, session timeout and leader TTL of the ids, heartbeats and leader buckets;
     *       none for the assignment bucket): a bucket TTL <em>shorter</em> than this worker's is raised to it,
     *       since keys then live longer than any worker's lease and nobody's safety changes; a bucket TTL
     *       <em>longer</em> is refused, because lowering it could expire the keys of running workers before
     *       their leases end, and using it would silently stretch this worker's failure detection. A group's
     *       workers must share these timings; shortening them needs the bucket changed while the group is down.</li>
     *   <li>History per key and the value/bucket size limits: reconciled to 1 and unlimited (the protocol reads
     *       only the latest revision; a size limit could refuse an assignment).</li>
     *   <li>Replicas and storage type: refused. Replication is an operator's durability decision and changing it
     *       moves data; the storage type cannot be changed by the server.</li>
     * </ul>
     * A worker that updates a bucket reads it again before using it. Two workers with different settings
     * raising one bucket at the same moment can still leave it at the lower of their two values after one of
     * them checked: that, like any later change by somebody else, is what {@link #checkBuckets} reports.
     *
     * @param ttls     TTL per bucket ({@link Bucket#ASSIGNMENT} absent: no TTL)
     * @param replicas JetStream replicas of every bucket
     * @throws BucketMismatchException when an existing bucket has settings that cannot safely be reconciled
     * @throws KvRejectedException     when the server refuses to create or update a bucket
     * @throws KvUnavailableException  when NATS cannot be reached
     */
    @Override
    public void provision(Map<Bucket, Duration> ttls, int replicas) {
        provisionedTtls = Map.copyOf(ttls);
        provisionedReplicas = replicas;
        Duration reuseWithin = ttls.get(Bucket.IDS);
        long now = System.nanoTime();
        Map<Bucket, Provisioned> reusable = new EnumMap<>(Bucket.class);
        synchronized (VERIFIED) {
            VERIFIED.keySet().removeIf(c -> c.getStatus() == Connection.Status.CLOSED);
            Map<String, Verified> seen = VERIFIED.getOrDefault(connection, Map.of());
            for (Bucket b : Bucket.values()) {
                Verified v = seen.get(verifiedKey(names.name(b), ttls.get(b), replicas));
                if (v != null && reuseWithin != null && now - v.readAtNanos() < reuseWithin.toNanos()) {
                    reusable.put(b, v.provisioned());
                }
            }
        }
        if (reusable.size() == Bucket.values().length) {
            for (Bucket b : Bucket.values()) {
                provisioned.put(b, reusable.get(b));
                handles.put(b, sharedHandle(b, names.name(b)));
            }
            provisionedFromCache = true;
            return;
        }
        provisionedFromCache = false;
        KeyValueManagement kvm = call(null, "*", "open bucket management", () -> connection.keyValueManagement(kvOptions));
        for (Bucket b : Bucket.values()) {
            String name = names.name(b);
            Duration ttl = ttls.get(b);
            long readAt = System.nanoTime();
            KeyValueConfiguration.Builder cfg = KeyValueConfiguration.builder()
                    .name(name)
                    .description("parti " + b.name().toLowerCase() + " of group " + names.group())
                    .maxHistoryPerKey(1)
                    .storageType(StorageType.File)
                    .replicas(replicas);
            if (ttl != null) {
                cfg.ttl(ttl);
            }
            KeyValueStatus status = call(b, "*", "create bucket", () -> {
                try {
                    // an existing bucket (every start but a group's first) costs one status read, not two
                    return reconcile(kvm, b, ttl, replicas);
                } catch (JetStreamApiException e) {
                    if (e.getApiErrorCode() != JS_STREAM_NOT_FOUND) {
                        throw e;
                    }
                    try {
                        return kvm.create(cfg.build());
                    } catch (JetStreamApiException raced) {
                        if (raced.getApiErrorCode() != JS_STREAM_NAME_EXIST) {
                            throw raced;
                        }
                        // created by another worker in between: reconcile with it like any existing bucket
                    }
                }
                return reconcile(kvm, b, ttl, replicas);
            });
            Provisioned p = new Provisioned(name, status.getBackingStreamInfo().getCreateTime(), ttl, replicas);
            provisioned.put(b, p);
            handles.put(b, sharedHandle(b, name));
            synchronized (VERIFIED) {
                VERIFIED.computeIfAbsent(connection, c -> new java.util.HashMap<>())
                        .put(verifiedKey(name, ttl, replicas), new Verified(p, readAt));
            }
        }
    }

    /** A bucket of this connection was found gone or changed: the next worker provisioning on it reads every status. */
    private void forgetVerified() {
        synchronized (VERIFIED) {
            VERIFIED.remove(connection);
        }
    }

    private static String verifiedKey(String name, Duration ttl, int replicas) {
        return name + "/" + ttlNanos(ttl) + "/" + replicas;
    }

    /**
     * A call failed on buckets {@link #provision} took from {@link #VERIFIED}: forget what this JVM knew of them
     * and provision for real (re-creating a bucket deleted since), so that the caller's retry can succeed.
     */
    private void provisionAgain(Bucket b, RuntimeException failure) {
        provisionedFromCache = false;
        forgetVerified();
        log.info("Group {}: {} failed on buckets last read by another worker of this JVM ({}); reading them again",
                names.group(), names.name(b), failure.getMessage());
        try {
            provision(provisionedTtls, provisionedReplicas);
        } catch (RuntimeException e) {
            log.debug("Group {}: provisioning again failed: {}", names.group(), e.toString());
        }
    }

    /** This connection's handle on bucket {@code name} with this gateway's request timeout, opened at the first use. */
    private KeyValue sharedHandle(Bucket b, String name) {
        String key = name + "/" + requestTimeout.toNanos();
        synchronized (HANDLES) {
            HANDLES.keySet().removeIf(c -> c.getStatus() == Connection.Status.CLOSED);
            KeyValue cached = HANDLES.getOrDefault(connection, Map.of()).get(key);
            if (cached != null) {
                return cached;
            }
        }
        KeyValue opened = call(b, "*", "open bucket", () -> connection.keyValue(name, kvOptions));
        synchronized (HANDLES) {
            HANDLES.computeIfAbsent(connection, c -> new java.util.HashMap<>()).putIfAbsent(key, opened);
        }
        return opened;
    }

    /** The setting of this worker that a bucket's TTL carries, for messages. */
    static String ttlSetting(Bucket b) {
        return switch (b) {
            case IDS -> "workerIdTtl";
            case HEARTBEATS -> "sessionTimeout";
            case LEADER -> "leaderTtl";
            case ASSIGNMENT -> "assignment";
        };
    }

    /** What this worker needs of a bucket's TTL, for messages: {@code sessionTimeout 6 s}, {@code no TTL}. */
    private static String wantedTtl(Bucket b, Duration ttl) {
        return ttlNanos(ttl) == Long.MAX_VALUE ? "no TTL" : ttlSetting(b) + " " + show(ttl);
    }

    /** A TTL in nanoseconds, with "none" (null or 0) as the longest. */
    private static long ttlNanos(Duration ttl) {
        return ttl == null || ttl.isZero() || ttl.isNegative() ? Long.MAX_VALUE : ttl.toNanos();
    }

    private static String show(Duration ttl) {
        if (ttlNanos(ttl) == Long.MAX_VALUE) {
            return "none";
        }
        long ms = ttl.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }

    /** Brings an existing bucket to the settings this worker needs, where safe; see {@link #provision}. */
    private KeyValueStatus reconcile(KeyValueManagement kvm, Bucket b, Duration ttl, int replicas)
            throws IOException, JetStreamApiException {
        String name = names.name(b);
        for (int attempt = 0; attempt < 5; attempt++) {
            KeyValueStatus status = kvm.getStatus(name);
            KeyValueConfiguration have = status.getConfiguration();
            refuseUnsafe(b, have, ttl, replicas);
            List<String> changes = new ArrayList<>();
            KeyValueConfiguration.Builder fix = KeyValueConfiguration.builder(have);
            if (ttlNanos(have.getTtl()) < ttlNanos(ttl)) {
                fix.ttl(ttl == null ? Duration.ZERO : ttl);
                changes.add("TTL " + show(have.getTtl()) + " -> " + show(ttl) + " (" + wantedTtl(b, ttl) + ")");
            }
            if (have.getMaxHistoryPerKey() != 1) {
                fix.maxHistoryPerKey(1);
                changes.add("history " + have.getMaxHistoryPerKey() + " -> 1");
            }
            if (have.getMaximumValueSize() > 0) {
                fix.maximumValueSize(-1);
                changes.add("max value size " + have.getMaximumValueSize() + " -> unlimited");
            }
            if (have.getMaxBucketSize() > 0) {
                fix.maxBucketSize(-1);
                changes.add("max bucket size " + have.getMaxBucketSize() + " -> unlimited");
            }
            if (changes.isEmpty()) {
                return status;
            }
            log.warn("Bucket {} of group {} exists with other settings; updating it: {}", name, names.group(),
                    String.join(", ", changes));
            kvm.update(fix.build());
            // read it again: a concurrent update by another worker may have landed in between
        }
        throw new KvRejectedException("bucket " + name + " of group " + names.group()
                + " keeps changing under concurrent updates; giving up reconciling it", null);
    }

    /** The settings that cannot safely be reconciled; see {@link #provision}. */
    private void refuseUnsafe(Bucket b, KeyValueConfiguration have, Duration ttl, int replicas) {
        refuseOtherStorage(b, have, replicas);
        if (ttlNanos(have.getTtl()) > ttlNanos(ttl)) {
            throw new BucketMismatchException(b, names.name(b), "TTL", wantedTtl(b, ttl), show(have.getTtl()),
                    "a longer bucket TTL would silently stretch failure detection, and lowering it could expire the keys of "
                    + "running workers before their leases end; all workers of a group must use the same " + ttlSetting(b)
                    + " (to shorten it, stop the group and delete or edit the bucket)");
        }
    }

    /** Storage type and replicas, which are never changed automatically. */
    private void refuseOtherStorage(Bucket b, KeyValueConfiguration have, int replicas) {
        String name = names.name(b);
        if (have.getStorageType() != StorageType.File) {
            throw new BucketMismatchException(b, name, "storage", "file", String.valueOf(have.getStorageType()).toLowerCase(),
                    "the server cannot change a stream's storage; delete the bucket while the group is down");
        }
        if (have.getReplicas() != replicas) {
            throw new BucketMismatchException(b, name, "replicas", "bucketReplicas " + replicas, Integer.toString(have.getReplicas()),
                    "replication is not changed automatically (it moves data and is the operator's durability decision); "
                    + "set bucketReplicas to " + have.getReplicas() + " or change the bucket with the nats CLI (stream KV_" + name + ")");
        }
    }

    /** For {@link #checkBuckets}: a TTL now shorter than this worker's lets keys expire inside its leases. */
    private void refuseShorterTtl(Bucket b, KeyValueConfiguration have, Duration ttl) {
        if (ttlNanos(have.getTtl()) < ttlNanos(ttl)) {
            throw new BucketMismatchException(b, names.name(b), "TTL", wantedTtl(b, ttl), show(have.getTtl()),
                    "its keys now expire before this worker's leases end");
        }
    }

    /**
     * Compares the buckets as they are now with what {@link #provision} last found: a way to notice a bucket
     * deleted or re-created under a running group (an operator's {@code nats kv del}, JetStream losing its
     * data), or changed so that this worker's leases are no longer covered.
     *
     * <p>Contract: one stream-info request per bucket (four per call), on the calling thread; call it at most
     * every few heartbeat intervals. It changes nothing. A server restart or a stream-leader change is not a
     * re-creation: the stream's creation time survives both. A bucket TTL raised by another worker (see
     * {@link #provision}) is not a problem either: keys then only live longer. After a problem, the caller
     * decides: typically stop acting on what it read before, and {@link #provision} again once the buckets are
     * back (which records their new identity).
     *
     * @return the problems found, one per affected bucket; empty when every bucket is the one {@code provision}
     *         set up, with settings this worker can rely on
     * @throws KvUnavailableException when NATS cannot be reached (nothing is known then)
     * @throws IllegalStateException  when {@link #provision} has not run
     */
    public List<BucketProblem> checkBuckets() {
        if (provisioned.size() != Bucket.values().length) {
            throw new IllegalStateException("buckets not provisioned");
        }
        KeyValueManagement kvm = call(null, "*", "open bucket management", () -> connection.keyValueManagement(kvOptions));
        List<BucketProblem> problems = new ArrayList<>();
        for (Bucket b : Bucket.values()) {
            Provisioned p = provisioned.get(b);
            KeyValueStatus status = call(b, "*", "read bucket info", () -> {
                try {
                    return kvm.getStatus(p.name());
                } catch (JetStreamApiException e) {
                    if (e.getApiErrorCode() == JS_STREAM_NOT_FOUND) {
                        return null;
                    }
                    throw e;
                }
            });
            if (status == null) {
                problems.add(new BucketProblem(b, p.name(), BucketProblem.Kind.DELETED, "bucket " + p.name() + " no longer exists"));
                continue;
            }
            ZonedDateTime created = status.getBackingStreamInfo().getCreateTime();
            if (created != null && p.created() != null && !created.toInstant().equals(p.created().toInstant())) {
                problems.add(new BucketProblem(b, p.name(), BucketProblem.Kind.RECREATED, "bucket " + p.name()
                        + " was re-created: created " + created.toInstant() + ", was " + p.created().toInstant()));
                continue;
            }
            try {
                refuseOtherStorage(b, status.getConfiguration(), p.replicas());
                refuseShorterTtl(b, status.getConfiguration(), p.ttl());
            } catch (BucketMismatchException e) {
                problems.add(new BucketProblem(b, p.name(), BucketProblem.Kind.SETTING_CHANGED, e.getMessage()));
            }
        }
        if (!problems.isEmpty()) {
            forgetVerified();
        }
        return problems;
    }

    private KeyValue kv(Bucket b) {
        KeyValue kv = handles.get(b);
        if (kv == null) {
            throw new IllegalStateException("buckets not provisioned");
        }
        return kv;
    }

    /**
     * Writes only if the key is absent or deleted; returns the new revision. As jnats' create (an update
     * expecting "no message", then, if the key's last message is a delete or purge marker, an update expecting
     * the marker's revision), but the marker is read from the stream's leader ({@link #get}): with a replica's
     * stale read, a create right after a delete lost a compare-and-set nobody else had won.
     */
    @Override
    public long create(Bucket b, String key, byte[] value) {
        checkPayload(b, key, "create", value);
        KeyValue kv = kv(b);
        return call(b, key, "create", () -> {
            try {
                return kv.update(key, value, 0);
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() != JS_WRONG_LAST_SEQUENCE) {
                    throw e;
                }
                KeyValueEntry last = leaderGet(b, key);
                if (last == null || last.getOperation() == KeyValueOperation.PUT) {
                    throw e;
                }
                return kv.update(key, value, last.getRevision());
            }
        });
    }

    /** Writes only if the key's last revision is {@code expectedRevision}; returns the new revision. */
    @Override
    public long update(Bucket b, String key, byte[] value, long expectedRevision) {
        checkPayload(b, key, "update", value);
        return call(b, key, "update", () -> kv(b).update(key, value, expectedRevision));
    }

    /** {@inheritDoc} */
    @Override
    public long updateOwn(Bucket b, String key, byte[] value, long expectedRevision, Predicate<byte[]> ours) {
        return Kv.super.updateOwn(b, key, value, expectedRevision, ours);
    }

    /** Deletes the key if its last revision is {@code expectedRevision}. */
    @Override
    public void delete(Bucket b, String key, long expectedRevision) {
        call(b, key, "delete", () -> {
            kv(b).delete(key, expectedRevision);
            return null;
        });
    }

    /** Purges the key: a purge marker replaces its history (no expected revision). */
    @Override
    public void purge(Bucket b, String key) {
        call(b, key, "purge", () -> {
            kv(b).purge(key);
            return null;
        });
    }

    /** {@inheritDoc} One {@code STREAM.PURGE} request with the subject filter {@code $KV.<bucket>.<prefix>.>}. */
    @Override
    public void purgePrefix(Bucket b, String prefix) {
        io.nats.client.support.Validator.validateNonWildcardKvKeyRequired(prefix);
        String bucket = names.name(b);
        call(b, prefix + ".>", "purge keys", () -> {
            connection.jetStreamManagement(kvOptions.getJetStreamOptions())
                    .purgeStream("KV_" + bucket, io.nats.client.PurgeOptions.subject("$KV." + bucket + "." + prefix + ".>"));
            return null;
        });
    }

    /**
     * The current entry, or null when the key is absent, deleted or expired. Read from the stream's leader
     * ({@code STREAM.MSG.GET}), not with jnats' KV get: KV buckets allow direct gets, which any replica of an
     * R3 bucket answers, so a get right after a write could return the key's previous value
     * ({@code KvClusterContractTest} caught a purged key still there). The protocol reads what it just wrote
     * (the fence floor, the ID it claims), so every read here is as fresh as the last acknowledged write.
     */
    @Override
    public Entry get(Bucket b, String key) {
        kv(b);
        return call(b, key, "get", () -> {
            KeyValueEntry e = leaderGet(b, key);
            if (e == null || e.getOperation() != KeyValueOperation.PUT) {
                return null;
            }
            return new Entry(key, e.getValue(), e.getRevision(), false);
        });
    }

    /**
     * {@inheritDoc} The requests are sent at once and their replies awaited together (each as {@link #get}, from
     * the stream's leader), so a new leader reads the pieces of a chunked record in about one round trip.
     */
    @Override
    public List<Entry> getAll(Bucket b, List<String> keys) {
        kv(b);
        String where = keys.isEmpty() ? "*" : keys.get(0) + (keys.size() > 1 ? " (+" + (keys.size() - 1) + ")" : "");
        return call(b, where, "get", () -> {
            String stream = "KV_" + names.name(b);
            String api = kvOptions.getJetStreamOptions().getPrefix() + "STREAM.MSG.GET." + stream;
            List<java.util.concurrent.CompletableFuture<Message>> replies = new ArrayList<>();
            for (String key : keys) {
                io.nats.client.support.Validator.validateNonWildcardKvKeyRequired(key);
                byte[] request = MessageGetRequest.lastForSubject("$KV." + names.name(b) + "." + key).serialize();
                replies.add(connection.requestWithTimeout(api, request, requestTimeout));
            }
            long deadline = System.nanoTime() + requestTimeout.toNanos();
            List<Entry> out = new ArrayList<>();
            for (int i = 0; i < keys.size(); i++) {
                Message reply;
                try {
                    reply = replies.get(i).get(Math.max(1, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IOException("no reply from JetStream: " + e.getCause(), e.getCause());
                }
                KeyValueEntry e = entryOf(reply, stream);
                out.add(e == null || e.getOperation() != KeyValueOperation.PUT ? null
                        : new Entry(keys.get(i), e.getValue(), e.getRevision(), false));
            }
            return out;
        });
    }

    private KeyValueEntry leaderGet(Bucket b, String key) throws IOException, JetStreamApiException, InterruptedException {
        io.nats.client.support.Validator.validateNonWildcardKvKeyRequired(key); // as jnats' get: nothing sent
        String stream = "KV_" + names.name(b);
        String api = kvOptions.getJetStreamOptions().getPrefix() + "STREAM.MSG.GET." + stream;
        byte[] request = MessageGetRequest.lastForSubject("$KV." + names.name(b) + "." + key).serialize();
        return entryOf(connection.request(api, request, requestTimeout), stream);
    }

    /** A {@code STREAM.MSG.GET} reply as an entry; null when there is no message for the subject. */
    private KeyValueEntry entryOf(Message reply, String stream) throws IOException, JetStreamApiException {
        if (reply == null) {
            throw new IOException("no reply from JetStream within " + requestTimeout.toMillis() + " ms");
        }
        if (reply.isStatusMessage()) {
            // 503: no JetStream responder (no stream leader right now)
            throw new JetStreamApiException(io.nats.client.api.Error.convert(reply.getStatus()));
        }
        MessageInfo info = new MessageInfo(reply, stream, false);
        if (info.hasError()) {
            if (info.getApiErrorCode() == JS_NO_MESSAGE_FOUND) {
                return null;
            }
            info.throwOnHasError();
        }
        return new KeyValueEntry(info);
    }

    /** Every current entry of a bucket (one request for the keys, one get per key). */
    @Override
    public List<Entry> entries(Bucket b) {
        return Kv.super.entries(b);
    }

    /** The keys present in a bucket. */
    @Override
    public List<String> keys(Bucket b) {
        return call(b, "*", "keys", () -> kv(b).keys());
    }

    /**
     * Watches a key ({@code ">"} for all), starting with the current values: an ordered push consumer on the
     * bucket's stream, as jnats' own KV watch, but on the watch dispatcher this JVM shares per connection
     * ({@link SharedNats#dispatcher}) instead of a dispatcher thread per watch. The consumer runs on that
     * dispatcher's thread and must only hand the entry over to the worker's own thread; an exception it
     * throws is logged (jnats would drop it silently) and the watch goes on.
     */
    @Override
    public AutoCloseable watch(Bucket b, String key, Consumer<Entry> onEntry) {
        String bucket = names.name(b);
        MessageHandler handler = msg -> {
            KeyValueEntry e = new KeyValueEntry(msg);
            boolean deleted = e.getOperation() != KeyValueOperation.PUT;
            try {
                onEntry.accept(new Entry(e.getKey(), deleted ? null : e.getValue(), e.getRevision(), deleted));
            } catch (RuntimeException failure) {
                log.error("Watch of {}/{}: handling revision {} of {} failed", bucket, key, e.getRevision(),
                        e.getKey(), failure);
            }
        };
        PushSubscribeOptions options = PushSubscribeOptions.builder()
                .stream("KV_" + bucket)
                .ordered(true)
                .configuration(ConsumerConfiguration.builder()
                        .ackPolicy(AckPolicy.None)
                        .deliverPolicy(DeliverPolicy.LastPerSubject)
                        .build())
                .build();
        // a closed connection refuses a dispatcher: mapped like every other call (unavailable, not a bug)
        SharedNats.DispatcherLease dispatcher = call(b, key, "watch", () -> SharedNats.dispatcher(connection));
        try {
            JetStreamSubscription sub = call(b, key, "watch", () -> connection.jetStream(kvOptions.getJetStreamOptions())
                    .subscribe("$KV." + bucket + "." + key, dispatcher.dispatcher(), handler, false, options));
            return () -> {
                try {
                    if (sub.isActive()) {
                        dispatcher.dispatcher().unsubscribe(sub);
                    }
                } finally {
                    dispatcher.close();
                }
            };
        } catch (RuntimeException e) {
            dispatcher.close();
            throw e;
        }
    }

    /**
     * Refuses a value the server would not take, before sending it: above the connection's max payload
     * the server closes the whole connection (or jnats throws, when its client-side checks are on).
     */
    private void checkPayload(Bucket b, String key, String op, byte[] value) {
        long max = connection.getMaxPayload();
        if (value != null && max > 0 && value.length + HEADER_ALLOWANCE > max) {
            throw new KvRejectedException(names.name(b) + "/" + key + ": " + op + " of " + value.length
                    + " bytes refused before sending: above the server's max payload of " + max + " bytes (less "
                    + HEADER_ALLOWANCE + " for headers)", null);
        }
    }

    /** A jnats call; every failure it may throw is mapped by {@link #call}. */
    @FunctionalInterface
    private interface NatsCall<T> {
        T run() throws IOException, JetStreamApiException, InterruptedException, TimeoutException;
    }

    /** Runs a jnats call, mapping every failure onto the three outcomes of the class comment. */
    private <T> T call(Bucket b, String key, String op, NatsCall<T> c) {
        try {
            return callOnce(b, key, op, c);
        } catch (BucketMissingException | KvUnavailableException e) {
            if (e instanceof BucketMissingException) {
                forgetVerified();
            }
            if (!provisionedFromCache || b == null) {
                throw e;
            }
            provisionAgain(b, e);
            // the outcome is unknown, as after a timeout: the caller retries as it would then
            throw e instanceof KvUnavailableException u ? u : new KvUnavailableException(e.getMessage(), e);
        }
    }

    private <T> T callOnce(Bucket b, String key, String op, NatsCall<T> c) {
        String where = (b == null ? "group " + names.group() : names.name(b) + "/" + key) + ": " + op;
        try {
            return c.run();
        } catch (CasConflictException | KvUnavailableException | KvRejectedException ours) {
            throw ours;
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == JS_WRONG_LAST_SEQUENCE) {
                return throwCas(where);
            }
            if (JS_TEMPORARY.contains(e.getApiErrorCode()) || e.getErrorCode() == 503) {
                throw new KvUnavailableException(where + " failed, JetStream unavailable: " + e.getMessage(), e);
            }
            if (e.getApiErrorCode() == JS_STREAM_NOT_FOUND) {
                throw new BucketMissingException(where + " refused by the server, the bucket does not exist: " + e.getMessage(), e);
            }
            throw new KvRejectedException(where + " refused by the server: " + e.getMessage(), e);
        } catch (IOException | TimeoutException e) {
            throw new KvUnavailableException(where + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KvUnavailableException(where + " interrupted", e);
        } catch (IllegalArgumentException e) {
            // jnats validates keys and payload sizes on the client: nothing was sent
            throw new KvRejectedException(where + " refused by the client: " + e.getMessage(), e);
        } catch (IllegalStateException e) {
            // "Connection is Closed", "Connection is Draining", ...
            throw new KvUnavailableException(where + " failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            Throwable cause = e.getCause();
            if (cause instanceof JetStreamApiException || cause instanceof IOException || cause instanceof TimeoutException) {
                return callOnce(b, key, op, () -> {
                    if (cause instanceof JetStreamApiException j) {
                        throw j;
                    }
                    if (cause instanceof IOException io) {
                        throw io;
                    }
                    throw (TimeoutException) cause;
                });
            }
            throw new KvUnavailableException(where + " failed unexpectedly: " + e, e);
        }
    }

    private static <T> T throwCas(String where) {
        throw new CasConflictException(where + " lost a compare-and-set");
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

    /**
     * The server or the client refused the call (other than a lost compare-and-set), so retrying it as it
     * is cannot help: an invalid key, a value above the max payload, a JetStream API error.
     */
    public static class KvRejectedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public KvRejectedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The bucket's stream does not exist on the server (JetStream error 10059): deleted under a running group
     * (an operator's {@code nats kv del}, JetStream losing its data). Not retried as is; the member raises
     * {@code BUCKET_MISSING} and provisions the buckets again.
     */
    public static final class BucketMissingException extends KvRejectedException {
        private static final long serialVersionUID = 1L;

        public BucketMissingException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * An existing bucket has a setting that cannot safely be reconciled with this worker's (see {@link
     * #provision}). The message names the bucket, the setting and both values.
     */
    public static final class BucketMismatchException extends KvRejectedException {
        private static final long serialVersionUID = 1L;
        private final Bucket bucket;
        private final String setting;
        private final String wanted;
        private final String actual;

        BucketMismatchException(Bucket bucket, String name, String setting, String wanted, String actual, String why) {
            super("bucket " + name + " has " + setting + " " + actual + " but this worker needs " + wanted + ": " + why, null);
            this.bucket = bucket;
            this.setting = setting;
            this.wanted = wanted;
            this.actual = actual;
        }

        public Bucket bucket() { return bucket; }
        /** The setting: {@code TTL}, {@code replicas} or {@code storage}. */
        public String setting() { return setting; }
        /** This worker's value, with the config field it comes from. */
        public String wanted() { return wanted; }
        /** The bucket's value. */
        public String actual() { return actual; }
    }

    /**
     * A bucket that is no longer the one {@link #provision} set up, as {@link #checkBuckets} found it.
     *
     * @param bucket which of the group's buckets
     * @param name   its name in NATS
     * @param kind   what happened
     * @param detail a message naming the bucket and the values involved
     */
    public record BucketProblem(Bucket bucket, String name, Kind kind, String detail) {
        /** What happened to a bucket. */
        public enum Kind {
            /** The bucket does not exist any more: everything in it is gone. */
            DELETED,
            /** The bucket exists but is not the one provisioned (another creation time): its keys and revisions start over. */
            RECREATED,
            /** Same bucket, but a setting changed so that this worker's leases are not covered (TTL shorter, replicas, storage). */
            SETTING_CHANGED
        }
    }

    /** The subjects of the bucket's stream (its stream state), one stream-info request. */
    @Override
    public long keyCountHint(Bucket b) {
        return call(b, "*", "stream info", () -> connection.jetStreamManagement(kvOptions.getJetStreamOptions())
                .getStreamInfo("KV_" + names.name(b)).getStreamState().getSubjectCount());
    }

    /**
     * Whether the bucket's stream exists on the server: false when it was deleted under a running
     * group (on nats-server 2.9 KV reads of a deleted bucket merely time out). Added for issue 12.
     *
     * @throws KvUnavailableException when the server does not answer
     */
    @Override
    public boolean bucketExists(Bucket b) {
        return call(b, "*", "stream info", () -> {
            try {
                connection.jetStreamManagement(kvOptions.getJetStreamOptions()).getStreamInfo("KV_" + names.name(b));
                return true;
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == JS_STREAM_NOT_FOUND) {
                    forgetVerified();
                    return false;
                }
                throw e;
            }
        });
    }
}
