package dev.parti.internal;

import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Dispatcher;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the workers of one JVM share of NATS: one connection per server set and connection options
 * (credentials, TLS, timings), and one watch dispatcher per connection.
 *
 * <p><b>Connections.</b> {@link #acquire} hands out a lease on the connection for the options' key; the
 * first lease connects, the last {@link Lease#close()} closes it. Two option sets share a connection when
 * their servers, user, password, token, reconnect and ping settings are equal and their authentication
 * handler, TLS context, error listener and executors are the same objects (a credentials file or TLS
 * context built twice gives two connections: never a connection with someone else's credentials). Every
 * lease's {@link ConnectionListener} hears the connection's events (on jnats' callback thread). A
 * connection found closed (never expected: Parti reconnects forever) is replaced at the next acquire.
 *
 * <p><b>Liveness connection.</b> With crash detection by proof of death, a lease may ask for the shared
 * connection's {@link LivenessConnection} too: opened with the first lease that asks, closed by the last
 * {@link Lease#close()} after the shared connection itself (so never while a worker on it may still own or lead).
 * Every lease that asked hears its events.
 *
 * <p><b>Watch dispatcher.</b> jnats gives every KV watch a dispatcher of its own, i.e. one thread per
 * watch; {@link #dispatcher} hands out one dispatcher per connection instead, shared by every watch on it
 * and closed with the last. Its handlers only hand entries over to each worker's own thread, so a slow
 * worker never holds the dispatcher.
 *
 * <p>Thread-safe; all bookkeeping under the class lock, connecting under the entry's lock (so concurrent
 * first users wait for one connect instead of opening several connections).
 */
public final class SharedNats {
    private static final Logger log = LoggerFactory.getLogger(SharedNats.class);
    /** The name of every shared connection (jnats names its threads after it: {@code parti-nats:N}). */
    static final String CONNECTION_NAME = "parti-nats";

    private static final Object LOCK = new Object();
    private static final Map<List<Object>, Entry> CONNECTIONS = new HashMap<>();
    private static final Map<Connection, DispatcherEntry> DISPATCHERS = new IdentityHashMap<>();

    private SharedNats() {
    }

    /** A user's hold on a shared connection; {@link #close()} once (later calls do nothing). */
    public static final class Lease implements AutoCloseable {
        private final Entry entry;
        private final Connection connection;
        private final ConnectionListener listener;
        private final Connection liveness;
        private final ConnectionListener livenessListener;
        private final PermissionWatch watch;
        private boolean closed;

        private Lease(Entry entry, Connection connection, ConnectionListener listener, Connection liveness,
                      ConnectionListener livenessListener, PermissionWatch watch) {
            this.entry = entry;
            this.connection = connection;
            this.listener = listener;
            this.liveness = liveness;
            this.livenessListener = livenessListener;
            this.watch = watch;
        }

        public Connection connection() {
            return connection;
        }

        /** The shared liveness connection, if this lease asked for one and it could be opened; else null. */
        Connection liveness() {
            return liveness;
        }

        /** Gives the connection back; the last user's close closes it (waiting for jnats to stop its threads). */
        @Override
        public void close() throws InterruptedException {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
            }
            PermissionWatch root = entry.errorRoot;
            if (root != null && watch != null) {
                root.unshare(watch);
            }
            release(entry, listener, livenessListener);
        }
    }

    private static final class Entry {
        final List<Object> key;
        final List<ConnectionListener> listeners = new CopyOnWriteArrayList<>();
        final List<ConnectionListener> livenessListeners = new CopyOnWriteArrayList<>();
        int users; // guarded by LOCK
        Connection connection; // guarded by this
        Connection liveness; // guarded by this
        /** The permission watch the connection was opened with: it passes each error on to every user's watch. */
        volatile PermissionWatch errorRoot; // set under this

        Entry(List<Object> key) {
            this.key = key;
        }

        void fanOut(Connection conn, ConnectionListener.Events event) {
            fanOut(listeners, conn, event);
        }

        void fanOutLiveness(Connection conn, ConnectionListener.Events event) {
            fanOut(livenessListeners, conn, event);
        }

        private static void fanOut(List<ConnectionListener> to, Connection conn, ConnectionListener.Events event) {
            for (ConnectionListener l : to) {
                try {
                    l.connectionEvent(conn, event);
                } catch (RuntimeException e) {
                    log.warn("A NATS connection listener threw on {}: {}", event, e.toString());
                }
            }
        }
    }

    /**
     * A lease on the shared connection for {@code options} (servers included), connecting if this JVM has
     * none yet. {@code listener} hears the connection's events until the lease is closed. The connection is
     * named {@value #CONNECTION_NAME}; the options' own connection listener is replaced by the fan-out.
     *
     * @throws IOException when connecting failed (the caller retries)
     */
    public static Lease acquire(Options options, ConnectionListener listener) throws IOException, InterruptedException {
        return acquire(options, listener, null, null);
    }

    /**
     * {@link #acquire(Options, ConnectionListener)}, and with {@code liveness} non-null a lease on the connection's
     * {@link LivenessConnection} too (opened with {@code liveness}, whose own listener is replaced by the fan-out to
     * {@code livenessListener}); {@link Lease#liveness()} is null when it could not be opened (logged).
     */
    static Lease acquire(Options options, ConnectionListener listener, Options liveness,
                         ConnectionListener livenessListener) throws IOException, InterruptedException {
        List<Object> key = key(options);
        ConnectionListener hears = liveness == null ? null : livenessListener;
        Entry entry;
        synchronized (LOCK) {
            entry = CONNECTIONS.computeIfAbsent(key, Entry::new);
            entry.users++;
            entry.listeners.add(listener);
            if (hears != null) {
                entry.livenessListeners.add(hears);
            }
        }
        try {
            synchronized (entry) {
                Connection c = entry.connection;
                if (c == null || c.getStatus() == Connection.Status.CLOSED) {
                    c = Nats.connect(new Options.Builder(options).connectionName(CONNECTION_NAME)
                            .connectionListener(entry::fanOut).build());
                    entry.connection = c;
                    entry.errorRoot = options.getErrorListener() instanceof PermissionWatch root ? root : null;
                    log.debug("Opened the shared NATS connection to {}", options.getServers());
                }
                Connection live = null;
                if (liveness != null) {
                    live = entry.liveness;
                    if (live == null || live.getStatus() == Connection.Status.CLOSED) {
                        live = LivenessConnection.open(new Options.Builder(liveness)
                                .connectionListener(entry::fanOutLiveness).build());
                        entry.liveness = live;
                    }
                }
                PermissionWatch root = entry.errorRoot;
                if (root != null && options.getErrorListener() instanceof PermissionWatch mine) {
                    root.share(mine); // this worker sees the server's refusals too
                }
                return new Lease(entry, c, listener, live, hears,
                        options.getErrorListener() instanceof PermissionWatch w ? w : null);
            }
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            release(entry, listener, hears);
            throw e;
        }
    }

    private static void release(Entry entry, ConnectionListener listener, ConnectionListener livenessListener)
            throws InterruptedException {
        boolean last;
        synchronized (LOCK) {
            entry.listeners.remove(listener);
            if (livenessListener != null) {
                entry.livenessListeners.remove(livenessListener);
            }
            last = --entry.users == 0;
            if (last) {
                CONNECTIONS.remove(entry.key, entry);
            }
        }
        if (last) {
            Connection c;
            Connection live;
            synchronized (entry) {
                c = entry.connection;
                entry.connection = null;
                live = entry.liveness;
                entry.liveness = null;
            }
            try {
                if (c != null) {
                    c.close();
                    log.debug("Closed the shared NATS connection to {}", c.getServers());
                }
            } finally {
                LivenessConnection.close(live); // last: its close would prove this process dead
            }
        }
    }

    /** How many shared connections are open in this JVM (for tests and benchmarks). */
    public static int openConnections() {
        synchronized (LOCK) {
            return CONNECTIONS.size();
        }
    }

    // ------------------------------------------------------------------ watch dispatcher

    /** A user's hold on the shared watch dispatcher of one connection. */
    public static final class DispatcherLease implements AutoCloseable {
        private final Connection connection;
        private final DispatcherEntry entry;
        private boolean closed;

        private DispatcherLease(Connection connection, DispatcherEntry entry) {
            this.connection = connection;
            this.entry = entry;
        }

        public Dispatcher dispatcher() {
            return entry.dispatcher;
        }

        /** Gives the dispatcher back; the last user's close closes it (and its thread). */
        @Override
        public void close() {
            Dispatcher toClose = null;
            synchronized (LOCK) {
                if (closed) {
                    return;
                }
                closed = true;
                if (--entry.users == 0) {
                    DISPATCHERS.remove(connection, entry);
                    toClose = entry.dispatcher;
                }
            }
            if (toClose != null && connection.getStatus() != Connection.Status.CLOSED) {
                try {
                    connection.closeDispatcher(toClose);
                } catch (RuntimeException e) {
                    log.debug("Closing the shared watch dispatcher: {}", e.toString());
                }
            }
        }
    }

    private static final class DispatcherEntry {
        final Dispatcher dispatcher;
        int users; // guarded by LOCK

        DispatcherEntry(Dispatcher dispatcher) {
            this.dispatcher = dispatcher;
        }
    }

    /** A lease on the watch dispatcher shared by every watch on {@code connection}, created at the first. */
    public static DispatcherLease dispatcher(Connection connection) {
        synchronized (LOCK) {
            DispatcherEntry e = DISPATCHERS.get(connection);
            if (e == null) {
                e = new DispatcherEntry(connection.createDispatcher());
                DISPATCHERS.put(connection, e);
            }
            e.users++;
            return new DispatcherLease(connection, e);
        }
    }

    // ------------------------------------------------------------------ key

    /** Identity comparison for objects whose equality is their identity (an auth handler, a TLS context). */
    private record Same(Object o) {
        @Override
        public boolean equals(Object other) {
            return other instanceof Same s && s.o == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(o);
        }
    }

    /**
     * What makes two option sets interchangeable: equal servers, credentials and timings, and the same
     * objects where jnats holds behaviour (auth handler, TLS context, listeners, executors). jnats' default
     * error listener is created per option set and only logs, so its class stands for it.
     */
    static List<Object> key(Options o) {
        List<Object> k = new ArrayList<>();
        k.add(o.getServers().stream().map(Object::toString).toList());
        k.add(chars(o.getUsernameChars()));
        k.add(chars(o.getPasswordChars()));
        k.add(chars(o.getTokenChars()));
        k.add(new Same(o.getAuthHandler()));
        k.add(new Same(o.getSslContext()));
        k.add(o.isTLSRequired());
        k.add(o.isTlsFirst());
        k.add(o.getMaxReconnect());
        k.add(o.getReconnectWait());
        k.add(o.getPingInterval());
        k.add(o.getConnectionTimeout());
        k.add(o.getInboxPrefix());
        k.add(o.isNoRandomize());
        k.add(o.isNoEcho());
        k.add(o.getProxy());
        Object errors = o.getErrorListener();
        if (errors instanceof PermissionWatch watch) {
            errors = watch.next(); // each worker's own watch: what matters is the listener it passes events to
        }
        k.add(errors == null || errors.getClass().getName().equals("io.nats.client.impl.ErrorListenerLoggerImpl")
                ? "default" : new Same(errors));
        k.add(o.executorIsInternal() ? "internal" : new Same(o.getExecutor()));
        return k;
    }

    private static String chars(char[] c) {
        return c == null ? null : String.valueOf(c);
    }
}
