package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The key-value store as the protocol roles use it: the seam between the protocol and NATS.
 * {@link KvGateway} binds it to jnats (production); the deterministic simulation binds it to an
 * in-memory model of JetStream KV. Every implementation keeps {@link KvGateway}'s error semantics
 * exactly: {@link KvGateway.CasConflictException} when the server refused a compare-and-set,
 * {@link KvGateway.KvUnavailableException} when the outcome is unknown (network, timeout: the write
 * may or may not have been applied), {@link KvGateway.KvRejectedException} when retrying cannot help.
 * The value types and exceptions stay nested in {@link KvGateway}, where the other modules use them.
 */
interface Kv {

    /** Creates the group's buckets if missing (idempotent); see {@link KvGateway#provision}. */
    void provision(Map<Bucket, Duration> ttls, int replicas);

    /** Writes only if the key is absent or deleted; returns the new revision. */
    long create(Bucket b, String key, byte[] value);

    /** Writes only if the key's last revision is {@code expectedRevision}; returns the new revision. */
    long update(Bucket b, String key, byte[] value, long expectedRevision);

    /** Deletes the key if its last revision is {@code expectedRevision}. */
    void delete(Bucket b, String key, long expectedRevision);

    /** Purges the key: a purge marker replaces its history (no expected revision). */
    void purge(Bucket b, String key);

    /**
     * Removes every key below {@code prefix} (the keys {@code <prefix>.<anything>}) with its history at once,
     * leaving no delete markers: a stream purge by subject. Watchers are not told; a get then finds nothing
     * and a create succeeds. Keys elsewhere are untouched.
     */
    void purgePrefix(Bucket b, String prefix);

    /** The current entry, or null when the key is absent, deleted or expired. */
    Entry get(Bucket b, String key);

    /**
     * The current entries of {@code keys}, in their order (null where absent, deleted or expired): as many
     * {@link #get}s, which an implementation may send at once rather than one after another.
     */
    default List<Entry> getAll(Bucket b, List<String> keys) {
        List<Entry> out = new ArrayList<>();
        for (String key : keys) {
            out.add(get(b, key));
        }
        return out;
    }

    /** The keys present in a bucket. */
    List<String> keys(Bucket b);

    /**
     * About how many keys a bucket holds, from one small request: keys present and keys deleted whose marker has not
     * expired yet. -1 when the store cannot tell cheaply (then callers list the keys).
     */
    default long keyCountHint(Bucket b) {
        return -1;
    }

    /**
     * Watches a key ({@code ">"} for all), starting with the current values. The consumer runs on the
     * store's delivery thread and must only hand the entry over to the worker's own thread.
     */
    AutoCloseable watch(Bucket b, String key, Consumer<Entry> onEntry);

    /** Whether the bucket's stream exists on the server. */
    boolean bucketExists(Bucket b);

    /** Whether the client is connected right now (no request is made). */
    boolean connected();

    /** The server's max payload in bytes as the client last learned it; throws when unknown. */
    long serverMaxPayload();

    /**
     * {@link #update}, surviving its own lost reply: when the compare-and-set fails because this
     * writer's earlier write landed but its reply never came back (a cut connection), the key now holds
     * a value {@code ours} recognises, and the update is made once more on top of it. Any other conflict
     * stands; its {@link CasConflictException#holder()} is the key's entry then (null if absent).
     */
    default long updateOwn(Bucket b, String key, byte[] value, long expectedRevision, Predicate<byte[]> ours) {
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

    /** Every current entry of a bucket (one request for the keys, one get per key). */
    default List<Entry> entries(Bucket b) {
        List<Entry> out = new ArrayList<>();
        for (String key : keys(b)) {
            Entry e = get(b, key);
            if (e != null) {
                out.add(e);
            }
        }
        return out;
    }
}
