package dev.parti.internal;

import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.ServerPool;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash detection with proof of death ({@code PartiConfig.disconnectEvents}): a worker's <em>liveness connection</em>,
 * a second NATS connection that carries nothing (no subscription, no publish; only the client's pings and the server's
 * pongs), opened only to be closed by the worker's kernel when its process dies.
 *
 * <p>Why a second connection: the server reports a connection {@code Client Closed} when it reads the end of the
 * stream, which a dead process's kernel sends (FIN) only if the socket had nothing unread; with unread bytes the kernel
 * resets the connection and the server reports {@code Read Error}, which a network fault can also produce and so proves
 * nothing. The connection a worker writes over also carries its watches (a leader's heartbeat watch is busy), so a
 * {@code kill -9} often finds bytes unread there; on this one nothing arrives but a pong right after each ping.
 *
 * <p>The worker's heartbeat names this connection ({@code connection=}) and its writes connection ({@code writes=});
 * a member counts it stopped only when the server reported the first {@code Client Closed} and the second closed for
 * any reason (docs/PROTOCOL.md, proof of death). The worker fences itself when either drops. The library closes this
 * connection last, after the last heartbeat (which names no connection) and the resignation: never while the worker
 * may own partitions or lead.
 *
 * <p>Threads: jnats' own, named after {@value #NAME}; its connection events run the listener on jnats' callback
 * thread. Closed by its owner ({@link SharedNats} with the last lease of the shared connection, or the worker).
 */
final class LivenessConnection {
    private static final Logger log = LoggerFactory.getLogger(LivenessConnection.class);
    /** The name of every liveness connection (jnats names its threads after it). */
    static final String NAME = "parti-liveness";
    /**
     * Test seam: with this system property set to a NATS URL when the worker connects, its liveness connection goes
     * there instead (a test puts a proxy in its path, to close it at the server's end while the process is stopped).
     */
    static final String TEST_URL_PROPERTY = "dev.parti.test.livenessUrl";

    private LivenessConnection() {
    }

    /**
     * The options of the liveness connection of a worker connecting with {@code writes}: the same servers, credentials,
     * TLS and timings, its own server pool ({@code pool}: a pool keeps per-connection state), named {@value #NAME}, its
     * events to {@code listener}.
     */
    static Options options(Options writes, ServerPool pool, ConnectionListener listener) {
        String testUrl = System.getProperty(TEST_URL_PROPERTY);
        if (testUrl != null) {
            return new Options.Builder().server(testUrl).connectionName(NAME).connectionListener(listener)
                    .maxReconnects(-1).reconnectWait(writes.getReconnectWait()).pingInterval(writes.getPingInterval())
                    .connectionTimeout(writes.getConnectionTimeout()).build();
        }
        return new Options.Builder(writes).serverPool(pool).connectionName(NAME).connectionListener(listener).build();
    }

    /**
     * Connects with {@code options} (see {@link #options}); null when that fails, logged: the worker then publishes no
     * connection identity and a crash of it is detected by its session, as without the feature.
     */
    static Connection open(Options options) throws InterruptedException {
        try {
            Connection c = Nats.connect(options);
            log.debug("Opened the liveness connection to {}", options.getServers());
            return c;
        } catch (IOException e) {
            log.warn("Could not open the liveness connection to {} ({}): crashes of this process are detected by session "
                    + "expiry (docs/OPERATIONS.md, proof of death)", options.getServers(), e.toString());
            return null;
        }
    }

    /** Closes {@code c} (null: nothing), waiting for jnats to stop its threads. */
    static void close(Connection c) throws InterruptedException {
        if (c != null) {
            c.close();
            log.debug("Closed the liveness connection");
        }
    }
}
