package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import dev.parti.internal.KvGateway.KvUnavailableException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One process's connection to the simulated KV ({@link SimKvServer}), implementing {@link Kv} as
 * {@link KvGateway} does over jnats, request by request:
 * <ul>
 *   <li>each request travels to the server (latency), is applied there atomically, and its reply travels
 *       back (latency); a reply may be lost after the write was applied; a caller waits at most the
 *       request timeout (by its process's clock) and then gets {@link KvUnavailableException}, whatever
 *       happened at the server;</li>
 *   <li>{@code create} is jnats': a write expecting last sequence 0, and on "wrong last sequence" a read
 *       and, over a delete marker, a second write expecting the marker's revision;</li>
 *   <li>while disconnected, requests are buffered (jnats' reconnect buffer) and sent on reconnect, even
 *       though their callers timed out long before; replies in flight are lost;</li>
 *   <li>watch events reach a watch's own delivery thread after a lag, in order; across a disconnect the
 *       watch resynchronises from the last revision it delivered (an ordered consumer's reset), so
 *       overwritten or expired values in between are not seen.</li>
 * </ul>
 */
final class SimKvClient implements Kv {

    /** Network behaviour of one client; mutable by the nemesis. */
    static final class Net {
        long minLatencyNanos = 200_000;
        long maxLatencyNanos = 2_000_000;
        /** Probability that one leg of a request is slow (up to {@link #slowMaxNanos}). */
        double slowProbability = 0.01;
        long slowMaxNanos = 400_000_000;
        double lostReplyProbability = 0.002;
        long maxWatchLagNanos = 20_000_000;
        /**
         * Probability that a watch silently skips one event (an ordered consumer's delivery lost without the watch
         * dying; a later write to the key, a reconnect's resync or the member's polls bring the state back).
         */
        double watchDropProbability;
        /** Probability that a watch stalls on one event: it and everything after it arrive up to {@link #watchMaxStallNanos} late. */
        double watchStallProbability;
        long watchMaxStallNanos;
        /** Draws for the watch faults only, so that switching them off leaves every other draw of a seed as it was. */
        Random watchFaults;
        /** Told of every watch fault (a line for the trace). */
        Consumer<String> onWatchFault = s -> { };
    }

    /**
     * One connection, shared by every member of a simulated process (production shares one NATS connection per
     * JVM): a disconnect, its reconnect buffer and a server restart hit all of its clients at once.
     */
    static final class Conn {
        final Net net;
        private boolean connected = true;
        private final List<Runnable> reconnectBuffer = new ArrayList<>();
        private final List<SimKvClient> clients = new ArrayList<>();

        Conn(Net net) {
            this.net = net;
        }

        void disconnect() {
            connected = false;
        }

        /** Sends what was buffered, in order, then resynchronises every client's watches and tells each member. */
        void reconnect() {
            if (connected) {
                return;
            }
            connected = true;
            List<Runnable> buffered = new ArrayList<>(reconnectBuffer);
            reconnectBuffer.clear();
            buffered.forEach(Runnable::run);
            for (SimKvClient c : new ArrayList<>(clients)) {
                for (Watch w : c.watches) {
                    w.resync();
                }
                c.onReconnected.run();
            }
        }

        /**
         * The server restarted: the watches' consumers of every client are gone and deliver nothing more, without an
         * error (what nats-server 2.9 does to an ordered push consumer, seen by NemesisTest); only a new watch sees
         * writes again. Call while disconnected, before {@link #reconnect}.
         */
        void serverRestarted() {
            for (SimKvClient c : clients) {
                for (Watch w : new ArrayList<>(c.watches)) {
                    w.dead = true;
                }
            }
        }

        boolean isConnected() {
            return connected;
        }
    }

    private final SimScheduler sim;
    private final SimKvServer server;
    private final SimScheduler.Proc proc;
    private final long requestTimeoutNanos;
    private final String name;
    final Net net;
    final Conn conn;
    private final List<Watch> watches = new ArrayList<>();
    /** Told of every request as it is sent or buffered (bucket, operation), on the calling simulated thread. */
    java.util.function.BiConsumer<Bucket, String> beforeSend = (b, op) -> { };
    /** Trace of what this client did, if wanted. */
    Consumer<String> trace = s -> { };

    SimKvClient(SimScheduler sim, SimKvServer server, SimScheduler.Proc proc, Duration requestTimeout, Conn conn, String name) {
        this.sim = sim;
        this.server = server;
        this.proc = proc;
        this.requestTimeoutNanos = requestTimeout.toNanos();
        this.conn = conn;
        this.net = conn.net;
        this.name = name;
        conn.clients.add(this);
    }

    // ------------------------------------------------------------ faults

    /** Runs on every reconnect, as jnats' RECONNECTED connection event (the member re-opens its watches). */
    Runnable onReconnected = () -> { };

    // ------------------------------------------------------------ Kv

    @Override
    public void provision(Map<Bucket, Duration> ttls, int replicas) {
        for (Bucket b : Bucket.values()) {
            Duration ttl = ttls.get(b);
            long ttlNanos = ttl == null ? 0 : ttl.toNanos();
            request(b, "*", "create bucket", () -> {
                server.provision(b, ttlNanos);
                return null;
            });
        }
    }

    @Override
    public long create(Bucket b, String key, byte[] value) {
        checkPayload(b, key, "create", value);
        try {
            return request(b, key, "create", () -> server.publish(b, key, value, SimKvServer.Op.PUT, 0));
        } catch (CasConflictException e) {
            SimKvServer.Msg m = request(b, key, "create (read)", () -> server.getLast(b, key));
            if (m != null && m.op() != SimKvServer.Op.PUT) {
                return request(b, key, "create", () -> server.publish(b, key, value, SimKvServer.Op.PUT, m.revision()));
            }
            throw e;
        }
    }

    @Override
    public long update(Bucket b, String key, byte[] value, long expectedRevision) {
        checkPayload(b, key, "update", value);
        return request(b, key, "update", () -> server.publish(b, key, value, SimKvServer.Op.PUT, expectedRevision));
    }

    @Override
    public void delete(Bucket b, String key, long expectedRevision) {
        request(b, key, "delete", () -> server.publish(b, key, null, SimKvServer.Op.DEL, expectedRevision));
    }

    @Override
    public void purge(Bucket b, String key) {
        request(b, key, "purge", () -> server.publish(b, key, null, SimKvServer.Op.PURGE, -1));
    }

    @Override
    public void purgePrefix(Bucket b, String prefix) {
        request(b, prefix + ".>", "purge keys", () -> {
            server.purgePrefix(b, prefix);
            return null;
        });
    }

    @Override
    public Entry get(Bucket b, String key) {
        SimKvServer.Msg m = request(b, key, "get", () -> server.getLast(b, key));
        return m == null || m.op() != SimKvServer.Op.PUT ? null : new Entry(key, m.value(), m.revision(), false);
    }

    /** One request per key, one after another (the model does not pipeline; {@link KvGateway} does). */
    @Override
    public List<Entry> getAll(Bucket b, List<String> keys) {
        return Kv.super.getAll(b, keys);
    }

    @Override
    public List<String> keys(Bucket b) {
        return request(b, "*", "keys", () -> server.keys(b));
    }

    @Override
    public boolean bucketExists(Bucket b) {
        return request(b, "*", "stream info", () -> server.exists(b));
    }

    @Override
    public boolean connected() {
        return conn.connected;
    }

    @Override
    public long serverMaxPayload() {
        return server.maxPayload;
    }

    /** As {@link KvGateway}: a value above the max payload (less the header allowance) is refused before sending. */
    private void checkPayload(Bucket b, String key, String op, byte[] value) {
        if (value != null && value.length + KvGateway.HEADER_ALLOWANCE > server.maxPayload) {
            throw new KvGateway.KvRejectedException("KV_" + b.name().toLowerCase() + "/" + key + ": " + op + " of "
                    + value.length + " bytes refused before sending: above the server's max payload of " + server.maxPayload
                    + " bytes (less " + KvGateway.HEADER_ALLOWANCE + " for headers)", null);
        }
    }

    @Override
    public AutoCloseable watch(Bucket b, String key, Consumer<Entry> onEntry) {
        Watch w = request(b, key, "watch", () -> new Watch(b, key, onEntry));
        return w::close;
    }

    // ------------------------------------------------------------ requests

    private long latency() {
        Random r = sim.random;
        if (r.nextDouble() < net.slowProbability) {
            return net.minLatencyNanos + (long) (r.nextDouble() * net.slowMaxNanos);
        }
        return net.minLatencyNanos + (long) (r.nextDouble() * (net.maxLatencyNanos - net.minLatencyNanos));
    }

    /** The outcome of a request at the server: a value or a server-side refusal. */
    private record Outcome(Object value, RuntimeException refusal) { }

    private static final Object TIMED_OUT = new Object();

    /**
     * One request from the calling simulated thread: sent now (or buffered while disconnected), applied
     * at the server after a latency, answered after another; waits at most the request timeout.
     */
    @SuppressWarnings("unchecked")
    private <T> T request(Bucket b, String key, String op, Supplier<T> atServer) {
        String where = "KV_" + b.name().toLowerCase() + "/" + key + ": " + op;
        SimScheduler.Waiter w = sim.waiter();
        beforeSend.accept(b, op);
        Runnable send = () -> sim.after(latency(), null, () -> {
            Outcome o;
            try {
                o = new Outcome(atServer.get(), null);
            } catch (SimKvServer.WrongLastSequence cas) {
                o = new Outcome(null, new CasConflictException(where + " lost a compare-and-set"));
            } catch (IllegalStateException missing) {
                o = new Outcome(null, new KvGateway.BucketMissingException(where + " refused by the server: " + missing.getMessage(), null));
            }
            trace.accept(name + " " + where + (o.refusal() != null ? " -> CAS refused" : " -> " + show(o.value())));
            if (!conn.connected || sim.random.nextDouble() < net.lostReplyProbability) {
                trace.accept(name + " " + where + ": reply lost");
                return;
            }
            Outcome reply = o;
            sim.after(latency(), proc, () -> {
                if (conn.connected) {
                    w.wake(reply);
                }
            });
        });
        if (conn.connected) {
            send.run();
        } else {
            conn.reconnectBuffer.add(send);
        }
        sim.after(proc.toVirtual(requestTimeoutNanos), proc, () -> w.wake(TIMED_OUT));
        Object r = sim.park(w);
        if (r == TIMED_OUT) {
            throw new KvUnavailableException(where + " failed: java.util.concurrent.TimeoutException: timed out after "
                    + requestTimeoutNanos / 1_000_000 + " ms" + (conn.connected ? "" : " (disconnected)"), null);
        }
        Outcome o = (Outcome) r;
        if (o.refusal() != null) {
            throw o.refusal();
        }
        return (T) o.value();
    }

    private static String show(Object v) {
        if (v instanceof SimKvServer.Msg m) {
            return "rev " + m.revision() + " " + m.op();
        }
        if (v instanceof Watch) {
            return "watching";
        }
        return String.valueOf(v);
    }

    // ------------------------------------------------------------ watches

    /** A watch: its own delivery thread (like a jnats dispatcher), events in revision order, after a lag. */
    private final class Watch {
        final Bucket bucket;
        final String key;
        final Consumer<Entry> onEntry;
        final SimScheduler.VThread thread;
        final SimKvServer.Sub sub;
        long lastScheduled; // virtual time of the last scheduled delivery: keeps them in order
        long lastDelivered; // revision
        boolean closed;
        /** Its consumer died with a server restart: nothing more is delivered. */
        boolean dead;

        Watch(Bucket bucket, String key, Consumer<Entry> onEntry) {
            this.bucket = bucket;
            this.key = key;
            this.onEntry = onEntry;
            this.thread = sim.new VThread(proc, "watch-" + bucket.name().toLowerCase());
            for (SimKvServer.Msg m : server.current(bucket, key, 0)) {
                schedule(m);
            }
            this.sub = server.subscribe(bucket, key, this::schedule);
            watches.add(this);
        }

        void schedule(SimKvServer.Msg m) {
            if (closed) {
                return;
            }
            long stall = 0;
            if (net.watchDropProbability + net.watchStallProbability > 0 && !dead) {
                double u = net.watchFaults.nextDouble();
                if (u < net.watchDropProbability) {
                    net.onWatchFault.accept(name + " watch " + bucket.name().toLowerCase() + " drops " + m.key() + " rev " + m.revision());
                    return;
                }
                if (u < net.watchDropProbability + net.watchStallProbability) {
                    stall = (long) (net.watchFaults.nextDouble() * net.watchMaxStallNanos);
                    net.onWatchFault.accept(name + " watch " + bucket.name().toLowerCase() + " stalls " + stall / 1_000_000
                            + " ms on " + m.key() + " rev " + m.revision());
                }
            }
            long t = Math.max(lastScheduled, sim.now + stall + (long) (sim.random.nextDouble() * net.maxWatchLagNanos));
            lastScheduled = t;
            sim.at(t, proc, () -> {
                if (closed || dead || !conn.connected || m.revision() <= lastDelivered) {
                    return; // lost while disconnected: the resync on reconnect brings what is still there
                }
                lastDelivered = m.revision();
                sim.submit(thread, () -> onEntry.accept(new Entry(m.key(), m.value(), m.revision(), m.op() != SimKvServer.Op.PUT)));
            });
        }

        void resync() {
            if (closed || dead) {
                return;
            }
            for (SimKvServer.Msg m : server.current(bucket, key, lastDelivered)) {
                schedule(m);
            }
        }

        void close() {
            closed = true;
            sub.closed = true;
            watches.remove(this);
        }
    }
}
