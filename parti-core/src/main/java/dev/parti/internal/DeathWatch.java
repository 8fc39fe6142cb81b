package dev.parti.internal;

import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.Message;
import io.nats.client.support.JsonParser;
import io.nats.client.support.JsonValue;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash detection with proof of death ({@code PartiConfig.disconnectEvents}), every member's ear: listens to the
 * account's client {@code DISCONNECT} events and reports, once the grace has passed since an event arrived, the
 * connection identities ({@code <server id>:<client id>}) the server saw closed by their client.
 *
 * <p>Only the reason {@value #CLIENT_CLOSED} counts: nats-server read the end of the stream, so the client's
 * socket was closed at the client's end (its process closed it, or died and its kernel closed it). A paused
 * process keeps its socket open (the server later reports {@code Stale Connection}); a network cut shows as a stale
 * connection or a read or write error. Those prove nothing and are ignored. The identity names a connection, not a
 * worker: the caller matches it against the workers' current heartbeats (and confirms with a read) before counting
 * anyone stopped.
 *
 * <p>A heartbeat names two connections ({@link LivenessConnection}): the liveness connection, whose {@code Client
 * Closed} is the proof, and the connection the worker's writes travel over, which must have been reported closed
 * too (any reason: after it the server parses nothing more from it) before anyone acts. So the watch also remembers,
 * for a while ({@code rememberNanos}), every connection reported closed whatever the reason ({@link #dropped}), and a
 * caller whose proof waits for the writes connection parks it ({@link #awaitDrop}) until that report arrives.
 *
 * <p>Threads: {@link #onMessage} runs on the jnats dispatcher thread of the subscription and only records the
 * event; {@link #due} and {@link #close} run on the worker's main thread. One instance per member: opened once it
 * has started (or when it first leads), kept across leadership changes, closed when it closes. The leader acts on the
 * identities of its workers ({@code Calculator.onConnectionClosed}), a follower on the leader's ({@link DeadLeaderCheck}).
 */
final class DeathWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DeathWatch.class);
    /** nats-server's reason when it read EOF from the client ({@code ClientClosed} in its {@code client.go}). */
    static final String CLIENT_CLOSED = "Client Closed";
    /** At most this many events wait for their grace (a storm of disconnects must not grow without bound). */
    static final int MAX_PENDING = 10_000;

    /** One {@code DISCONNECT} event: the connection's identity and the server's reason. */
    record Disconnect(String identity, String reason, String clientName) {
        boolean provesClose() {
            return CLIENT_CLOSED.equals(reason);
        }
    }

    private final String subject;
    private final long graceNanos;
    private final LongSupplier clock;
    private final LongConsumer wake;
    /** identity → when its grace ends; guarded by itself. */
    private final Map<String, Long> pending = new LinkedHashMap<>();
    /** identity → until when it is remembered as reported closed (any reason); guarded by {@link #pending}. */
    private final Map<String, Long> dropped = new LinkedHashMap<>();
    /** writes connection identity → the liveness identity whose proof waits for its report; guarded by {@link #pending}. */
    private final Map<String, Parked> awaiting = new LinkedHashMap<>();
    private final long rememberNanos;
    private Connection connection;
    private Dispatcher dispatcher;
    private BooleanSupplier refused = () -> false;
    private boolean refusalLogged;
    private volatile long received;

    /** A proof parked until its writes connection is reported closed, and until when it waits. */
    private record Parked(String liveness, long untilNanos) {
    }

    /**
     * @param rememberNanos how long a report of any reason is remembered, and a parked proof waits (a session: by then
     *                      the dead worker's heartbeat key has expired and the ordinary path decides)
     * @param wake          called (on the dispatcher thread) with a delay in nanoseconds, with nothing to do but
     *                      schedule a look at {@link #due} after it: the grace of a fresh event, or 0 when a parked
     *                      proof's writes connection was just reported closed
     */
    DeathWatch(String subject, long graceNanos, long rememberNanos, LongSupplier clock, LongConsumer wake) {
        this.subject = subject;
        this.graceNanos = graceNanos;
        this.rememberNanos = rememberNanos;
        this.clock = clock;
        this.wake = wake;
    }

    /**
     * Subscribes on {@code nc}. {@code refused} tells whether the server refused the subscription (a permissions
     * violation); then the watch logs it once and stays inert. A subject that merely receives nothing (the account
     * does not import the events) cannot be told from a quiet group: the watch stays inert as well.
     */
    void open(Connection nc, BooleanSupplier refused) {
        this.connection = nc;
        this.refused = refused;
        this.dispatcher = nc.createDispatcher(this::onMessage);
        dispatcher.subscribe(subject);
        log.info("Watching client DISCONNECT events on {} (grace {} ms)", subject, graceNanos / 1_000_000);
    }

    /** How many events arrived (any reason), for logs and tests. */
    long received() {
        return received;
    }

    /**
     * Dispatcher thread: remembers that the connection was closed (any reason: a writes connection's report), and
     * records a proof of close; any other reason proves nothing.
     */
    void onMessage(Message m) {
        received++;
        Disconnect d = parse(m.getData());
        if (d == null) {
            log.debug("Ignoring an unreadable DISCONNECT event on {}", m.getSubject());
            return;
        }
        long now = clock.getAsLong();
        if (onDropped(d.identity(), now)) {
            log.info("Connection {} ({}) dropped with reason '{}': the writes connection a proof of death waited for",
                    d.identity(), d.clientName(), d.reason());
            wake.accept(0);
        }
        if (!d.provesClose()) {
            log.info("Connection {} ({}) dropped with reason '{}': not a proof of death (kept only as the report of a "
                    + "writes connection)", d.identity(), d.clientName(), d.reason());
            return;
        }
        log.info("Connection {} ({}) reported closed by its client; its worker counts as stopped after {} ms if its "
                + "heartbeat still names it", d.identity(), d.clientName(), graceNanos / 1_000_000);
        offer(d.identity(), now);
        wake.accept(graceNanos);
    }

    /**
     * Records that the server reported {@code identity} closed at {@code now}, whatever the reason. Returns whether a
     * parked proof waited for it (it is then due at once: its grace has passed already).
     */
    boolean onDropped(String identity, long now) {
        synchronized (pending) {
            expire(now);
            if (dropped.size() < MAX_PENDING) {
                dropped.putIfAbsent(identity, now + rememberNanos);
            }
            Parked p = awaiting.remove(identity);
            if (p == null) {
                return false;
            }
            pending.put(p.liveness(), now);
            return true;
        }
    }

    /** Whether the server reported {@code identity} closed (any reason) within the last {@code rememberNanos}. */
    boolean dropped(String identity, long now) {
        synchronized (pending) {
            expire(now);
            return identity != null && dropped.containsKey(identity);
        }
    }

    /**
     * Main thread: the proof of {@code liveness} is due but the connection {@code writes} its worker writes over has not
     * been reported closed yet; {@link #due} returns {@code liveness} again as soon as it is (or never, if it is not
     * within {@code rememberNanos}: the session decides then). If it was reported meanwhile, at once.
     */
    void awaitDrop(String liveness, String writes, long now) {
        synchronized (pending) {
            expire(now);
            if (dropped.containsKey(writes)) {
                pending.put(liveness, now);
            } else if (awaiting.size() < MAX_PENDING) {
                awaiting.put(writes, new Parked(liveness, now + rememberNanos));
            }
        }
    }

    /** Under {@link #pending}: forgets reports and parked proofs older than {@code rememberNanos}. */
    private void expire(long now) {
        dropped.values().removeIf(until -> now - until >= 0);
        awaiting.values().removeIf(p -> now - p.untilNanos() >= 0);
    }

    /** Records that {@code identity} was closed at {@code now} (its grace starts now). */
    void offer(String identity, long now) {
        synchronized (pending) {
            if (pending.size() >= MAX_PENDING) {
                return; // the session still detects these
            }
            pending.putIfAbsent(identity, now + graceNanos);
        }
    }

    /** Main thread: the identities whose grace has passed since their event arrived; each is returned once. */
    List<String> due(long now) {
        if (!refusalLogged && refused.getAsBoolean()) {
            refusalLogged = true;
            log.warn("The server refused the subscription to {}: crash detection with proof of death is inert; "
                    + "crashes are detected by session expiry (docs/OPERATIONS.md, proof of death)", subject);
        }
        List<String> out = new ArrayList<>();
        synchronized (pending) {
            var it = pending.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<String, Long> e = it.next();
                if (now - e.getValue() >= 0) {
                    out.add(e.getKey());
                    it.remove();
                }
            }
        }
        return out;
    }

    /** The grace in nanoseconds. */
    long graceNanos() {
        return graceNanos;
    }

    /**
     * Parses a nats-server {@code io.nats.server.advisory.v1.client_disconnect} event: {@code server.id},
     * {@code client.id} (the cid, unique per server start) and {@code reason}. Null when a field is missing or the
     * text is not JSON.
     */
    static Disconnect parse(byte[] json) {
        try {
            JsonValue v = JsonParser.parse(json);
            if (v == null || v.map == null) {
                return null;
            }
            JsonValue server = v.map.get("server");
            JsonValue client = v.map.get("client");
            JsonValue reason = v.map.get("reason");
            if (server == null || server.map == null || client == null || client.map == null || reason == null
                    || reason.string == null) {
                return null;
            }
            JsonValue serverId = server.map.get("id");
            JsonValue cid = client.map.get("id");
            if (serverId == null || serverId.string == null || serverId.string.isEmpty() || cid == null) {
                return null;
            }
            Long id = cid.l != null ? cid.l : cid.i != null ? Long.valueOf(cid.i) : null;
            if (id == null) {
                return null;
            }
            JsonValue name = client.map.get("name");
            return new Disconnect(identity(serverId.string, id), reason.string, name == null ? null : name.string);
        } catch (Exception e) {
            return null;
        }
    }

    /** The identity of connection {@code clientId} on server {@code serverId}, as heartbeats publish it. */
    static String identity(String serverId, long clientId) {
        return serverId + ":" + clientId;
    }

    /** Main thread: unsubscribes (the connection stays: it belongs to the worker). Idempotent. */
    @Override
    public void close() {
        Dispatcher d = dispatcher;
        dispatcher = null;
        if (d != null && connection != null) {
            try {
                connection.closeDispatcher(d);
            } catch (RuntimeException e) {
                log.debug("closing the DISCONNECT subscription: {}", e.toString());
            }
        }
        synchronized (pending) {
            pending.clear();
            dropped.clear();
            awaiting.clear();
        }
    }
}
