package dev.parti.testkit;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loopback TCP proxy in front of {@code host:port} that injects network faults between one client
 * and a server while other clients keep talking to the server directly.
 *
 * <ul>
 *   <li>{@link #cut()}: a blackhole, like a network partition. Connections stay open and new ones are
 *       accepted, but no byte is forwarded either way; bytes read meanwhile are held and delivered in
 *       order after {@link #restore()}, as TCP retransmission would.</li>
 *   <li>{@link #refuse()}: closes every connection with a reset and resets new ones at once.</li>
 *   <li>{@link #restore()}: forwards again, on held connections and new ones.</li>
 *   <li>{@link #latency(Duration)}: adds a one-way delay to every chunk read, in both directions.</li>
 * </ul>
 *
 * <p>Each connection uses two named daemon threads ({@code parti-testkit-proxy-<port>-<n>-up/down}) and
 * the proxy one accept thread; {@link #close()} stops all of them and closes every socket.
 *
 * <pre>{@code
 * try (TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port())) {
 *   Connection nc = Nats.connect(proxy.url("nats"));
 *   proxy.cut();      // nc stops hearing from the server
 *   proxy.restore();  // and reconnects
 * }
 * }</pre>
 */
public final class TcpProxy implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(TcpProxy.class);
  private static final int BUFFER_SIZE = 16 * 1024;
  private static final int CONNECT_TIMEOUT_MILLIS = 2_000;

  /** What the proxy does with traffic. */
  public enum Mode {
    /** Bytes are forwarded (after the configured latency). */
    FORWARD,
    /** Connections stay open, nothing is forwarded. */
    CUT,
    /** Connections are reset. */
    REFUSE
  }

  private final String targetHost;
  private final int targetPort;
  private final ServerSocket listener;
  private final Thread acceptor;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final Set<Link> links = ConcurrentHashMap.newKeySet();
  private final Set<Thread> threads = ConcurrentHashMap.newKeySet();
  private final AtomicInteger linkIds = new AtomicInteger();
  private volatile Mode mode = Mode.FORWARD;
  private volatile long latencyNanos;
  private volatile boolean closed;

  private TcpProxy(String targetHost, int targetPort) throws IOException {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.listener = new ServerSocket();
    listener.setReuseAddress(true);
    listener.bind(new InetSocketAddress(InetAddress.getByName(Ports.LOOPBACK), 0), 100);
    this.acceptor = new Thread(this::acceptLoop, "parti-testkit-proxy-" + listener.getLocalPort() + "-accept");
    acceptor.setDaemon(true);
  }

  /** Starts a proxy on a free loopback port that forwards to {@code host:port}. */
  public static TcpProxy start(String host, int port) {
    Objects.requireNonNull(host, "host");
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port out of range: " + port);
    }
    try {
      TcpProxy proxy = new TcpProxy(host, port);
      proxy.acceptor.start();
      LOG.debug("proxy 127.0.0.1:{} -> {}:{}", proxy.port(), host, port);
      return proxy;
    } catch (IOException e) {
      throw new UncheckedIOException("could not open a proxy port", e);
    }
  }

  /** The proxy's own port on 127.0.0.1; clients connect here. */
  public int port() {
    return listener.getLocalPort();
  }

  /** {@code <scheme>://127.0.0.1:<port()>}, for example {@code url("nats")}. */
  public String url(String scheme) {
    return scheme + "://" + Ports.LOOPBACK + ":" + port();
  }

  /** The current mode. */
  public Mode mode() {
    return mode;
  }

  /** Number of client connections currently open through the proxy. */
  public int openConnections() {
    return links.size();
  }

  /** Stops forwarding in both directions; connections stay open (a blackhole). */
  public void cut() {
    setMode(Mode.CUT);
    LOG.info("proxy {} -> {}:{} cut", port(), targetHost, targetPort);
  }

  /** Resets every open connection and every new one until {@link #restore()}. */
  public void refuse() {
    setMode(Mode.REFUSE);
    for (Link link : links) {
      link.close(true);
    }
    LOG.info("proxy {} -> {}:{} refusing", port(), targetHost, targetPort);
  }

  /** Forwards again: held bytes flow on, new connections are forwarded. */
  public void restore() {
    setMode(Mode.FORWARD);
    LOG.info("proxy {} -> {}:{} restored", port(), targetHost, targetPort);
  }

  /** Adds {@code delay} before forwarding each chunk in either direction; {@link Duration#ZERO} removes it. */
  public void latency(Duration delay) {
    if (delay.isNegative()) {
      throw new IllegalArgumentException("latency must not be negative: " + delay);
    }
    latencyNanos = delay.toNanos();
    signal();
  }

  /** Closes the listener and every connection and waits for all proxy threads to end. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      listener.close();
    } catch (IOException ignored) {
      // nothing to do
    }
    join(acceptor);
    for (Link link : links) {
      link.close(false);
    }
    signal();
    for (Thread thread : new ArrayList<>(threads)) {
      join(thread);
    }
  }

  private static void join(Thread thread) {
    if (thread == Thread.currentThread()) {
      return;
    }
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (thread.isAlive()) {
      LOG.warn("proxy thread {} did not stop", thread.getName());
    }
  }

  @Override
  public String toString() {
    return "TcpProxy[127.0.0.1:" + port() + " -> " + targetHost + ":" + targetPort + ", " + mode + "]";
  }

  private void setMode(Mode newMode) {
    if (closed) {
      throw new IllegalStateException("proxy is closed");
    }
    mode = newMode;
    signal();
  }

  private void signal() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = listener.accept();
      } catch (IOException e) {
        if (!closed) {
          LOG.warn("proxy {} stopped accepting", port(), e);
        }
        return;
      }
      if (mode == Mode.REFUSE || closed) {
        reset(client);
        continue;
      }
      Socket server = new Socket();
      try {
        server.connect(new InetSocketAddress(targetHost, targetPort), CONNECT_TIMEOUT_MILLIS);
        client.setTcpNoDelay(true);
        server.setTcpNoDelay(true);
      } catch (IOException e) {
        LOG.debug("proxy {} could not reach {}:{}: {}", port(), targetHost, targetPort, e.toString());
        reset(client);
        closeQuietly(server);
        continue;
      }
      Link link = new Link(linkIds.incrementAndGet(), client, server);
      links.add(link);
      if (closed) {
        link.close(false);
        continue;
      }
      link.start();
    }
  }

  private static void reset(Socket socket) {
    try {
      socket.setSoLinger(true, 0);
    } catch (SocketException ignored) {
      // already closed
    }
    closeQuietly(socket);
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException ignored) {
      // nothing to do
    }
  }

  /**
   * Blocks while the proxy is cut, then for the latency; false when the link or the proxy closed meanwhile.
   */
  private boolean awaitForwarding(Link link, long readAtNanos) throws InterruptedException {
    lock.lock();
    try {
      while (true) {
        if (closed || link.closed) {
          return false;
        }
        Mode current = mode;
        if (current == Mode.REFUSE) {
          return false;
        }
        if (current == Mode.CUT) {
          changed.await();
          continue;
        }
        long waitNanos = readAtNanos + latencyNanos - System.nanoTime();
        if (waitNanos <= 0) {
          return true;
        }
        changed.awaitNanos(waitNanos);
      }
    } finally {
      lock.unlock();
    }
  }

  /** One proxied connection: two pumps, closed when both ended or on refuse/close. */
  private final class Link {
    private final int id;
    private final Socket client;
    private final Socket server;
    private final AtomicInteger runningPumps = new AtomicInteger(2);
    private volatile boolean closed;

    Link(int id, Socket client, Socket server) {
      this.id = id;
      this.client = client;
      this.server = server;
    }

    void start() {
      Thread up = pumpThread("up", client, server);
      Thread down = pumpThread("down", server, client);
      up.start();
      down.start();
    }

    private Thread pumpThread(String direction, Socket from, Socket to) {
      Thread thread = new Thread(() -> pump(from, to), "parti-testkit-proxy-" + port() + "-" + id + "-" + direction);
      thread.setDaemon(true);
      // a pump keeps its entry until it has ended, so close() joins it even while it runs its last lines;
      // ended ones are dropped here, as new links start
      threads.removeIf(t -> t.getState() == Thread.State.TERMINATED);
      threads.add(thread);
      return thread;
    }

    private void pump(Socket from, Socket to) {
      byte[] buffer = new byte[BUFFER_SIZE];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        while (true) {
          int n = in.read(buffer);
          long readAt = System.nanoTime();
          if (n < 0) {
            if (awaitForwarding(this, readAt)) {
              to.shutdownOutput();
            }
            break;
          }
          if (!awaitForwarding(this, readAt)) {
            break;
          }
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // peer closed or reset: the link ends
        close(false);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        close(false);
      } finally {
        if (runningPumps.decrementAndGet() == 0 || TcpProxy.this.closed || mode == Mode.REFUSE) {
          close(false);
        }
      }
    }

    void close(boolean withReset) {
      if (closed) {
        return;
      }
      closed = true;
      links.remove(this);
      if (withReset) {
        reset(client);
        reset(server);
      } else {
        closeQuietly(client);
        closeQuietly(server);
      }
      signal();
    }
  }
}
