package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * An in-memory model of the JetStream KV buckets of one group, as nats-server 2.9 keeps them with
 * history 1: one stream per bucket whose sequence is the revision of every write to any of its keys;
 * per key only the last message (a value, or a delete/purge marker); compare-and-set on the key's
 * last sequence ("wrong last sequence" when it differs, an absent or expired key counting as 0);
 * bucket TTL (max age) applied by the server's clock, with no marker and no watch event; watches that
 * start with the current values (markers included) and then see every write, after a lag.
 *
 * <p>The server runs in the simulation's virtual time; its clock can be offset ({@link #clockStepNanos}).
 * The model's behaviour is pinned to the real server by {@code KvContractTest}.
 */
final class SimKvServer {
    enum Op { PUT, DEL, PURGE }

    /** A key's last message. */
    record Msg(String key, byte[] value, long revision, Op op, long serverNanos) { }

    /** The server refused a write: the key's last sequence is not the expected one. */
    static final class WrongLastSequence extends RuntimeException {
        private static final long serialVersionUID = 1L;

        WrongLastSequence(String message) {
            super(message, null, false, false);
        }
    }

    /** A watch as the server sees it: who gets the events, and which keys. */
    static final class Sub {
        final String key;
        final Consumer<Msg> deliver;
        boolean closed;

        Sub(String key, Consumer<Msg> deliver) {
            this.key = key;
            this.deliver = deliver;
        }

        boolean matches(String k) {
            return ">".equals(key) || key.equals(k);
        }
    }

    static final class Stream {
        final String name;
        long ttlNanos;
        long lastSeq;
        final TreeMap<String, Msg> last = new TreeMap<>();
        final List<Sub> subs = new ArrayList<>();

        Stream(String name, long ttlNanos) {
            this.name = name;
            this.ttlNanos = ttlNanos;
        }
    }

    private final SimScheduler sim;
    private final Map<Bucket, Stream> streams = new HashMap<>();
    /** A step of the server's clock against virtual time (the server's wall clock jumping). */
    long clockStepNanos;
    /** Every write applied, in order, for the checker and the trace. */
    Consumer<Msg> onWrite = m -> { };
    /** Bucket of each write seen by {@link #onWrite}, for the checker. */
    Bucket lastWriteBucket;
    /** The key's last message before the write seen by {@link #onWrite} (null: absent or expired). */
    Msg lastWritePrevious;

    /** The server's max payload in bytes (NATS' default 1 MB; smaller to exercise chunked assignment records). */
    long maxPayload = 1024 * 1024;

    SimKvServer(SimScheduler sim) {
        this.sim = sim;
    }

    long serverNanos() {
        return sim.now + clockStepNanos;
    }

    /** Creates the bucket if missing; raises a shorter TTL (what {@link KvGateway#provision} does to a bucket it can reconcile). */
    void provision(Bucket b, long ttlNanos) {
        Stream s = streams.get(b);
        if (s == null) {
            streams.put(b, new Stream(b.name(), ttlNanos));
        } else if (s.ttlNanos > 0 && (ttlNanos == 0 || ttlNanos > s.ttlNanos)) {
            s.ttlNanos = ttlNanos;
        }
    }

    boolean exists(Bucket b) {
        return streams.containsKey(b);
    }

    Stream stream(Bucket b) {
        Stream s = streams.get(b);
        if (s == null) {
            throw new IllegalStateException("stream not found: " + b);
        }
        expire(s);
        return s;
    }

    /** Max age: messages older than the TTL by the server's clock are gone (no marker, no watch event). */
    private void expire(Stream s) {
        if (s.ttlNanos <= 0) {
            return;
        }
        long now = serverNanos();
        s.last.values().removeIf(m -> now - m.serverNanos() >= s.ttlNanos);
    }

    /** The key's last sequence as a compare-and-set sees it: 0 when absent or expired. */
    long lastSequence(Bucket b, String key) {
        Msg m = stream(b).last.get(key);
        return m == null ? 0 : m.revision();
    }

    /**
     * Appends a message to the bucket's stream; {@code expected} (≥ 0) is the key's required last
     * sequence, or -1 for none. Returns the new revision.
     */
    long publish(Bucket b, String key, byte[] value, Op op, long expected) {
        Stream s = stream(b);
        Msg prev = s.last.get(key);
        long lastSeq = prev == null ? 0 : prev.revision();
        if (expected >= 0 && expected != lastSeq) {
            throw new WrongLastSequence("wrong last sequence: " + lastSeq);
        }
        Msg m = new Msg(key, op == Op.PUT ? value : null, ++s.lastSeq, op, serverNanos());
        s.last.put(key, m);
        lastWriteBucket = b;
        lastWritePrevious = prev;
        onWrite.accept(m);
        for (Sub sub : new ArrayList<>(s.subs)) {
            if (!sub.closed && sub.matches(key)) {
                sub.deliver.accept(m);
            }
        }
        return m.revision();
    }

    /** A stream purge by subject {@code <prefix>.>}: the keys and their history go, no marker, no watch event, no revision. */
    void purgePrefix(Bucket b, String prefix) {
        stream(b).last.keySet().removeIf(k -> k.startsWith(prefix + "."));
    }

    /** The key's last message, markers included; null when absent or expired. */
    Msg getLast(Bucket b, String key) {
        return stream(b).last.get(key);
    }

    /** The keys whose last message is a value (as jnats' {@code keys()} reports them). */
    List<String> keys(Bucket b) {
        List<String> out = new ArrayList<>();
        for (Msg m : stream(b).last.values()) {
            if (m.op() == Op.PUT) {
                out.add(m.key());
            }
        }
        return out;
    }

    /** The current last messages matching {@code key}, in revision order (a watch's initial values). */
    List<Msg> current(Bucket b, String key, long afterRevision) {
        List<Msg> out = new ArrayList<>();
        for (Msg m : stream(b).last.values()) {
            if ((">".equals(key) || key.equals(m.key())) && m.revision() > afterRevision) {
                out.add(m);
            }
        }
        out.sort((x, y) -> Long.compare(x.revision(), y.revision()));
        return out;
    }

    Sub subscribe(Bucket b, String key, Consumer<Msg> deliver) {
        Sub sub = new Sub(key, deliver);
        stream(b).subs.add(sub);
        return sub;
    }
}
