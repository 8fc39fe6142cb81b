package dev.parti.testkit;

import java.io.Closeable;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An N-node JetStream cluster of real {@code nats-server} processes on loopback, modelled on Curator's
 * {@code TestingCluster}. Each node has its own client, monitoring and route port and its own store
 * directory, all fixed at construction; {@link #node(int)} returns the node's {@link NatsServer} handle,
 * so a test crashes a node with {@code node(1).kill()} and brings it back with {@code node(1).restart()}
 * (same ports, same store).
 *
 * <pre>{@code
 * try (NatsCluster cluster = NatsCluster.start(3);
 *      Connection nc = Nats.connect(Options.builder().servers(cluster.urls().toArray(String[]::new)).build())) {
 *   cluster.node(0).kill();
 *   ...
 *   cluster.node(0).restart();
 *   cluster.awaitHealthy(Duration.ofSeconds(20));
 * }
 * }</pre>
 *
 * <p>Needs a local {@code nats-server} binary (2.9+); the Testcontainers fallback covers single servers only.
 */
public final class NatsCluster implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(NatsCluster.class);
  private static final Pattern META_LEADER = Pattern.compile("\"leader\"\\s*:\\s*\"([^\"]*)\"");

  private final String clusterName;
  private final List<NatsServer> nodes;
  private boolean closed;

  private NatsCluster(String clusterName, List<NatsServer> nodes) {
    this.clusterName = clusterName;
    this.nodes = List.copyOf(nodes);
  }

  /** Starts a cluster of {@code nodes} servers and waits until every node sees a JetStream meta leader. */
  public static NatsCluster start(int nodes) {
    return builder().nodes(nodes).start();
  }

  /** A builder for a cluster with a chosen size, name, timeout or extra server arguments. */
  public static Builder builder() {
    return new Builder();
  }

  /** Client URLs of all nodes, comma-separated ({@code nats://127.0.0.1:a,nats://127.0.0.1:b,...}). */
  public String connectString() {
    return String.join(",", urls());
  }

  /** Client URLs of all nodes, in node order. */
  public List<String> urls() {
    return nodes.stream().map(NatsServer::url).collect(Collectors.toList());
  }

  /** Number of nodes. */
  public int size() {
    return nodes.size();
  }

  /** The cluster name every node was started with. */
  public String clusterName() {
    return clusterName;
  }

  /**
   * The handle of node {@code index} (0-based), named {@code node-<index>}: {@code kill()}, {@code stop()},
   * {@code restart()}, {@code url()}. Closing a node closes it for good and deletes its store.
   */
  public NatsServer node(int index) {
    Objects.checkIndex(index, nodes.size());
    return nodes.get(index);
  }

  /** All node handles, in node order. */
  public List<NatsServer> nodes() {
    return nodes;
  }

  /**
   * The server name of the current JetStream meta leader as reported by the first running node that
   * knows one; empty when no running node knows a leader.
   */
  public Optional<String> metaLeader() {
    for (NatsServer node : nodes) {
      if (node.isRunning()) {
        Optional<String> leader = metaLeaderSeenBy(node);
        if (leader.isPresent()) {
          return leader;
        }
      }
    }
    return Optional.empty();
  }

  /**
   * Waits until every running node answers {@code /healthz} OK (JetStream current, meta leader known) and
   * all of them name the same meta leader. Use after a {@code restart()} of a node to wait until it has
   * rejoined.
   *
   * @throws IllegalStateException when that does not happen within {@code timeout}, with each node's state
   */
  public void awaitHealthy(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    long pauseMillis = 20;
    while (true) {
      if (allRunningNodesHealthy()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("NATS cluster " + clusterName + " not healthy within " + timeout + ":\n"
            + describe());
      }
      ChildProcesses.pause(pauseMillis);
      pauseMillis = Math.min(200, pauseMillis * 2);
    }
  }

  private boolean allRunningNodesHealthy() {
    String leader = null;
    int running = 0;
    for (NatsServer node : nodes) {
      if (!node.isRunning()) {
        continue;
      }
      running++;
      if (!node.isHealthy()) {
        return false;
      }
      Optional<String> seen = metaLeaderSeenBy(node);
      if (seen.isEmpty() || (leader != null && !leader.equals(seen.get()))) {
        return false;
      }
      leader = seen.get();
    }
    return running > 0;
  }

  private static Optional<String> metaLeaderSeenBy(NatsServer node) {
    try {
      String jsz = node.monitor("/jsz");
      int meta = jsz.indexOf("\"meta_cluster\"");
      if (meta < 0) {
        return Optional.empty();
      }
      Matcher matcher = META_LEADER.matcher(jsz);
      if (matcher.find(meta) && !matcher.group(1).isEmpty()) {
        return Optional.of(matcher.group(1));
      }
      return Optional.empty();
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  private String describe() {
    StringBuilder text = new StringBuilder();
    for (NatsServer node : nodes) {
      text.append("  ").append(node.serverName().orElse("?")).append(' ').append(node.url())
          .append(node.isRunning() ? " running" : " not running")
          .append(node.isRunning() ? (node.isHealthy() ? ", healthy" : ", unhealthy") : "")
          .append(node.isRunning() ? ", meta leader " + metaLeaderSeenBy(node).orElse("unknown") : "")
          .append("; log ").append(node.logFile()).append('\n')
          .append(indent(node.logTail(8))).append('\n');
    }
    return text.toString();
  }

  private static String indent(String text) {
    return text.isEmpty() ? "" : "    " + text.replace("\n", "\n    ");
  }

  /** Stops all nodes (gracefully, in parallel) and deletes their directories. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (NatsServer node : nodes) {
      node.signalStop();
    }
    RuntimeException failure = null;
    for (NatsServer node : nodes) {
      try {
        node.close();
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public String toString() {
    return "NatsCluster[" + clusterName + ", " + connectString() + "]";
  }

  /** Settings for a {@link NatsCluster}. */
  public static final class Builder {
    private int nodes = 3;
    private String clusterName = "parti-test";
    private Duration startupTimeout = Duration.ofSeconds(30);
    private final List<String> extraArgs = new ArrayList<>();

    private Builder() {}

    /** Number of nodes, 1..9 (default 3). */
    public Builder nodes(int nodes) {
      if (nodes < 1 || nodes > 9) {
        throw new IllegalArgumentException("nodes must be 1..9: " + nodes);
      }
      this.nodes = nodes;
      return this;
    }

    /** The cluster name ({@code --cluster_name}, default {@code parti-test}). */
    public Builder clusterName(String clusterName) {
      if (clusterName == null || clusterName.isBlank() || clusterName.contains(" ")) {
        throw new IllegalArgumentException("cluster name must be a non-empty word: " + clusterName);
      }
      this.clusterName = clusterName;
      return this;
    }

    /** How long start and each node restart wait (default 30 s). */
    public Builder startupTimeout(Duration startupTimeout) {
      if (startupTimeout.isNegative() || startupTimeout.isZero()) {
        throw new IllegalArgumentException("startupTimeout must be positive: " + startupTimeout);
      }
      this.startupTimeout = startupTimeout;
      return this;
    }

    /** Extra command-line arguments for every node. */
    public Builder args(String... args) {
      for (String arg : args) {
        extraArgs.add(Objects.requireNonNull(arg, "arg"));
      }
      return this;
    }

    /**
     * Starts all nodes and waits until each is healthy and they agree on a meta leader.
     *
     * @throws IllegalStateException when no nats-server binary is found or the cluster does not form
     */
    public NatsCluster start() {
      Path binary = NatsServer.requireBinary();
      long started = System.nanoTime();
      for (int attempt = 1; ; attempt++) {
        NatsCluster cluster = create(binary);
        try {
          for (NatsServer node : cluster.nodes) {
            node.launch();
          }
          for (NatsServer node : cluster.nodes) {
            node.awaitReady();
          }
          cluster.awaitHealthy(startupTimeout);
          LOG.info("NATS cluster {} of {} nodes ready in {} ms: {}", clusterName, nodes,
              (System.nanoTime() - started) / 1_000_000, cluster.connectString());
          return cluster;
        } catch (PortInUse e) {
          cluster.close();
          if (attempt >= 3) {
            throw new IllegalStateException("NATS cluster could not bind its ports: " + e.getMessage(), e);
          }
        } catch (RuntimeException e) {
          cluster.close();
          throw e;
        }
      }
    }

    private NatsCluster create(Path binary) {
      int[] ports = Ports.free(3 * nodes);
      String routes = java.util.stream.IntStream.range(0, nodes)
          .mapToObj(i -> "nats://" + Ports.LOOPBACK + ":" + ports[3 * i + 2])
          .collect(Collectors.joining(","));
      List<NatsServer> servers = new ArrayList<>();
      try {
        for (int i = 0; i < nodes; i++) {
          NatsServer.Builder node = NatsServer.builder()
              .port(ports[3 * i])
              .monitorPort(ports[3 * i + 1])
              .serverName("node-" + i)
              .startupTimeout(startupTimeout)
              .args("--cluster_name", clusterName,
                  "--cluster", "nats://" + Ports.LOOPBACK + ":" + ports[3 * i + 2],
                  "--routes", routes)
              .args(extraArgs.toArray(String[]::new));
          servers.add(NatsServer.create(node, new NatsServer.ProcessRunner(binary)));
        }
      } catch (RuntimeException e) {
        servers.forEach(NatsServer::close);
        throw e;
      }
      return new NatsCluster(clusterName, servers);
    }
  }
}
