package dev.parti.testkit;

import dev.parti.testkit.internal.KafkaBrokerMain;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker (KRaft, combined broker and controller) in a child JVM, on free
 * loopback ports, modelled on Curator's {@code TestingServer}: ports and log directory are fixed at
 * construction, so {@link #restart()} returns at the same address with the same topics and committed
 * offsets.
 *
 * <p>The child runs {@code kafka.Kafka} from {@code org.apache.kafka:kafka_2.13} on this JVM's class path,
 * after formatting its log directory with {@code kafka-storage format --standalone} in the same JVM.
 * Settings for fast tests: one partition per topic by default, replication factor 1 everywhere,
 * 4 offsets-topic partitions, no initial rebalance delay, {@code group.min.session.timeout.ms=1000} so
 * consumers may use short sessions, and <b>{@code auto.create.topics.enable=false}</b>: a test states the
 * partition count it means with {@link #createTopic(String, int)} (override with
 * {@link Builder#property(String, String)}). The JVM runs with a 256 MB heap, SerialGC and C1 only (start-up
 * over peak throughput; for a throughput benchmark pass {@code -XX:TieredStopAtLevel=4 -Xmx1g} to
 * {@link Builder#jvmArgs(String...)}).
 *
 * <p>Logging: the broker's output goes to {@link #logFile()}. When {@code log4j-slf4j2-impl} is on the
 * class path the child uses it with a WARN-level configuration written next to the log; otherwise the
 * broker logs through whatever slf4j backend the class path has, into the same file.
 *
 * <pre>{@code
 * try (KafkaBroker kafka = KafkaBroker.start()) {
 *   kafka.createTopic("orders", 6);
 *   ... new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()), ...)
 * }
 * }</pre>
 */
public final class KafkaBroker implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaBroker.class);
  private static final String LOG4J_SLF4J_PROVIDER = "org.apache.logging.slf4j.SLF4JServiceProvider";
  private static final long STOP_GRACE_MILLIS = 30_000;
  private static final long RESTART_BIND_RETRY_MILLIS = 15_000;
  private static final int LOG_TAIL_LINES = 40;
  /**
   * JVM options of the child before {@link Builder#jvmArgs(String...)}: a small heap, SerialGC, C1 only and no
   * bytecode verification of the (trusted) class path, which together cut start-up CPU by about a third.
   */
  static final List<String> DEFAULT_JVM_ARGS = List.of(
      "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
      "-XX:ReservedCodeCacheSize=64m", "-Xshare:auto", "-XX:-UsePerfData", "-Djava.awt.headless=true",
      "-XX:+IgnoreUnrecognizedVMOptions", "-XX:+UnlockDiagnosticVMOptions", "-XX:-BytecodeVerificationRemote");

  private enum State { RUNNING, STOPPED, CLOSED }

  private final Path tempDir;
  private final Path dataDir;
  private final Path configFile;
  private final Path logFile;
  private final String clusterId;
  private final Map<String, String> overrides;
  private final List<String> jvmArgs;
  private final Duration startupTimeout;
  private final String logLevel;
  private final boolean portsChosenByUs;
  private int port;
  private int controllerPort;
  private Process process;
  private State state = State.STOPPED;
  private long logOffsetAtLaunch;

  private KafkaBroker(Builder builder) {
    this.tempDir = TempDirs.create("kafka");
    ChildProcesses.registerDirectory(tempDir);
    this.dataDir = tempDir.resolve("data");
    this.configFile = tempDir.resolve("server.properties");
    this.logFile = tempDir.resolve("kafka.log");
    this.clusterId = Uuid.randomUuid().toString();
    this.overrides = Map.copyOf(builder.properties);
    this.jvmArgs = List.copyOf(builder.jvmArgs);
    this.startupTimeout = builder.startupTimeout;
    this.logLevel = builder.logLevel;
    this.portsChosenByUs = builder.port == 0;
    int[] free = Ports.free(2);
    this.port = builder.port == 0 ? free[0] : builder.port;
    this.controllerPort = free[1];
  }

  /** Starts a broker on free loopback ports and waits until it answers an Admin client. */
  public static KafkaBroker start() {
    return builder().start();
  }

  /** A builder for a broker with extra properties, JVM options or a fixed port. */
  public static Builder builder() {
    return new Builder();
  }

  /** {@code 127.0.0.1:<port>}, for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return Ports.LOOPBACK + ":" + port;
  }

  /** The client (PLAINTEXT) port; stays the same across restarts. */
  public synchronized int port() {
    return port;
  }

  /** The KRaft controller port; stays the same across restarts. */
  public synchronized int controllerPort() {
    return controllerPort;
  }

  /** The cluster id the log directory was formatted with. */
  public String clusterId() {
    return clusterId;
  }

  /** The broker's log directory ({@code log.dirs}); kept by stop, kill and restart. */
  public Path logDir() {
    return dataDir;
  }

  /** The child JVM's output: Kafka's WARN+ log lines, the start line, and anything printed. */
  public Path logFile() {
    return logFile;
  }

  /** The last {@code lines} lines of {@link #logFile()}. */
  public String logTail(int lines) {
    return LogFiles.tail(logFile, lines);
  }

  /** The child JVM's process id, empty when not running. */
  public synchronized OptionalLong pid() {
    return process != null && process.isAlive() ? OptionalLong.of(process.pid()) : OptionalLong.empty();
  }

  /** Whether the broker JVM is alive. */
  public synchronized boolean isRunning() {
    return state == State.RUNNING && process != null && process.isAlive();
  }

  /**
   * Creates a topic with {@code partitions} partitions (replication factor 1) and waits until every partition
   * has a leader. An existing topic with that name is an error.
   */
  public void createTopic(String name, int partitions) {
    createTopic(name, partitions, Map.of());
  }

  /** Like {@link #createTopic(String, int)} with topic configs such as {@code retention.ms}. */
  public void createTopic(String name, int partitions, Map<String, String> configs) {
    if (partitions < 1) {
      throw new IllegalArgumentException("partitions must be >= 1: " + partitions);
    }
    try (Admin admin = admin()) {
      admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs))).all()
          .get(30, TimeUnit.SECONDS);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!allLeadersElected(admin, name, partitions)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("topic " + name + " has no leader for every partition after 30 s");
        }
        ChildProcesses.pause(20);
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof TopicExistsException exists) {
        throw new IllegalStateException("topic " + name + " exists already", exists);
      }
      throw new IllegalStateException("could not create topic " + name + ": " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException("creating topic " + name + " timed out", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topic " + name, e);
    }
  }

  private static boolean allLeadersElected(Admin admin, String topic, int partitions) throws InterruptedException {
    try {
      TopicDescription description = admin.describeTopics(Set.of(topic)).allTopicNames()
          .get(5, TimeUnit.SECONDS).get(topic);
      return description.partitions().size() == partitions
          && description.partitions().stream().map(TopicPartitionInfo::leader).allMatch(l -> l != null && !l.isEmpty());
    } catch (ExecutionException | TimeoutException e) {
      return false;
    }
  }

  /** Stops the broker gracefully (SIGTERM, controlled shutdown; SIGKILL after 30 s); data is kept. */
  public synchronized void stop() {
    requireNotClosed("stop");
    if (state == State.RUNNING) {
      ChildProcesses.terminate(process, STOP_GRACE_MILLIS);
      ChildProcesses.forget(process);
      state = State.STOPPED;
      LOG.info("Kafka broker {} stopped", bootstrapServers());
    }
  }

  /** Crashes the broker (SIGKILL) and waits until the JVM is gone; data is kept. */
  public synchronized void kill() {
    requireNotClosed("kill");
    if (state == State.RUNNING) {
      ChildProcesses.killTree(process);
      ChildProcesses.forget(process);
      state = State.STOPPED;
      LOG.info("Kafka broker {} killed", bootstrapServers());
    }
  }

  /**
   * Starts the broker again on the same ports with the same log directory (stopping it gracefully first if it
   * runs) and waits until it answers. Topics, records and committed offsets survive. After {@link #kill()} the
   * restarted controller first waits out the old broker session ({@code broker.session.timeout.ms}, 3 s here)
   * before it accepts the broker again, so a restart after a kill takes about 3 s longer than after a stop.
   *
   * @throws IllegalStateException after {@link #close()}, or when the broker does not come up
   */
  public synchronized void restart() {
    requireNotClosed("restart");
    if (state == State.RUNNING) {
      stop();
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RESTART_BIND_RETRY_MILLIS);
    while (true) {
      try {
        launchAndAwait();
        return;
      } catch (PortInUse e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("Kafka broker could not bind its ports again: " + e.getMessage(), e);
        }
        ChildProcesses.pause(250);
      }
    }
  }

  /** Stops the broker and deletes its temporary directory (log directory and log file). Idempotent. */
  @Override
  public synchronized void close() {
    if (state == State.CLOSED) {
      return;
    }
    try {
      if (process != null && process.isAlive()) {
        ChildProcesses.terminate(process, STOP_GRACE_MILLIS);
      }
    } finally {
      if (process != null) {
        ChildProcesses.forget(process);
      }
      state = State.CLOSED;
      TempDirs.delete(tempDir);
      ChildProcesses.forgetDirectory(tempDir);
    }
  }

  @Override
  public String toString() {
    return "KafkaBroker[" + bootstrapServers() + ", " + state + "]";
  }

  // ---- start ----

  private synchronized void firstStart() {
    for (int attempt = 1; ; attempt++) {
      try {
        launchAndAwait();
        return;
      } catch (PortInUse e) {
        if (!portsChosenByUs || attempt >= 5) {
          throw new IllegalStateException("Kafka broker could not bind: " + e.getMessage(), e);
        }
        TempDirs.delete(dataDir); // formatted with the old controller endpoint
        int[] free = Ports.free(2);
        port = free[0];
        controllerPort = free[1];
      }
    }
  }

  private void launchAndAwait() {
    long started = System.nanoTime();
    launch();
    awaitReady(started);
  }

  private void launch() {
    try {
      Files.createDirectories(dataDir);
      writeConfig();
      Path log4j = writeLog4jConfig();
      logOffsetAtLaunch = Files.exists(logFile) ? Files.size(logFile) : 0;
      List<String> command = new ArrayList<>();
      command.add(ChildProcesses.javaExecutable());
      command.addAll(DEFAULT_JVM_ARGS);
      command.addAll(jvmArgs);
      command.add("-Dlog4j2.configurationFile=" + log4j.toUri());
      if (ClassLoader.getSystemResource(LOG4J_SLF4J_PROVIDER.replace('.', '/') + ".class") != null
          || KafkaBroker.class.getClassLoader().getResource(LOG4J_SLF4J_PROVIDER.replace('.', '/') + ".class") != null) {
        command.add("-Dslf4j.provider=" + LOG4J_SLF4J_PROVIDER);
      }
      command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
      command.add("-cp");
      command.add(ChildProcesses.currentClassPath());
      command.add(KafkaBrokerMain.class.getName());
      command.add(configFile.toString());
      command.add(clusterId);
      Files.writeString(logFile, "=== parti-testkit: starting Kafka broker on " + bootstrapServers() + System.lineSeparator(),
          StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      process = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
          .start();
      process.getOutputStream().close();
      ChildProcesses.register(process);
      state = State.RUNNING;
    } catch (IOException e) {
      throw new UncheckedIOException("could not start the Kafka broker JVM", e);
    }
  }

  private void awaitReady(long startedNanos) {
    long deadline = startedNanos + startupTimeout.toNanos();
    Admin client = null;
    try {
      while (true) {
        if (!process.isAlive()) {
          state = State.STOPPED;
          ChildProcesses.forget(process);
          String log = logSinceLaunch();
          if (log.contains("Address already in use")) {
            throw new PortInUse("port " + port + " or " + controllerPort + " is in use:\n" + tail(log));
          }
          throw new IllegalStateException("Kafka broker exited during start (exit code " + process.exitValue()
              + "); last lines of " + logFile + ":\n" + tail(log));
        }
        if (client == null && Ports.accepting(port)) {
          client = admin();
        }
        if (client != null && answers(client)) {
          LOG.info("Kafka broker ready at {} in {} ms (pid {}, log dir {})", bootstrapServers(),
              (System.nanoTime() - startedNanos) / 1_000_000, process.pid(), dataDir);
          return;
        }
        if (System.nanoTime() > deadline) {
          ChildProcesses.killTree(process);
          ChildProcesses.forget(process);
          state = State.STOPPED;
          throw new IllegalStateException("Kafka broker not ready within " + startupTimeout + "; last lines of "
              + logFile + ":\n" + logTail(LOG_TAIL_LINES));
        }
        ChildProcesses.pause(client == null ? 50 : 100);
      }
    } finally {
      if (client != null) {
        client.close(Duration.ofSeconds(5));
      }
    }
  }

  private static boolean answers(Admin admin) {
    try {
      return !admin.describeCluster().nodes().get(2, TimeUnit.SECONDS).isEmpty();
    } catch (ExecutionException | TimeoutException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the Kafka broker", e);
    }
  }

  private Admin admin() {
    Properties properties = new Properties();
    properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    properties.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    properties.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
    properties.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
    properties.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
    properties.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "50");
    properties.put(AdminClientConfig.CLIENT_ID_CONFIG, "parti-testkit-admin");
    return Admin.create(properties);
  }

  private String logSinceLaunch() {
    try {
      byte[] all = Files.exists(logFile) ? Files.readAllBytes(logFile) : new byte[0];
      int from = (int) Math.min(logOffsetAtLaunch, all.length);
      return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return logTail(LOG_TAIL_LINES);
    }
  }

  private static String tail(String text) {
    String[] lines = text.split("\r?\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - LOG_TAIL_LINES), lines.length));
  }

  /** The broker configuration: our defaults, then the builder's overrides. */
  Map<String, String> config() {
    Map<String, String> config = new LinkedHashMap<>();
    config.put("process.roles", "broker,controller");
    config.put("node.id", "1");
    config.put("listeners", "PLAINTEXT://" + Ports.LOOPBACK + ":" + port + ",CONTROLLER://" + Ports.LOOPBACK + ":"
        + controllerPort);
    config.put("advertised.listeners", "PLAINTEXT://" + Ports.LOOPBACK + ":" + port);
    config.put("controller.listener.names", "CONTROLLER");
    config.put("inter.broker.listener.name", "PLAINTEXT");
    config.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    config.put("controller.quorum.bootstrap.servers", Ports.LOOPBACK + ":" + controllerPort);
    config.put("log.dirs", dataDir.toString());
    config.put("num.partitions", "1");
    config.put("auto.create.topics.enable", "false");
    config.put("offsets.topic.replication.factor", "1");
    config.put("offsets.topic.num.partitions", "4");
    config.put("transaction.state.log.replication.factor", "1");
    config.put("transaction.state.log.min.isr", "1");
    config.put("transaction.state.log.num.partitions", "4");
    config.put("share.coordinator.state.topic.replication.factor", "1");
    config.put("share.coordinator.state.topic.min.isr", "1");
    config.put("group.initial.rebalance.delay.ms", "0");
    config.put("group.min.session.timeout.ms", "1000");
    // After a kill, the restarted controller waits one broker session before it accepts the broker's new
    // registration: keep that short (defaults 9 s / 2 s).
    config.put("broker.session.timeout.ms", "3000");
    config.put("broker.heartbeat.interval.ms", "500");
    config.put("log.cleaner.dedupe.buffer.size", "2097152");
    config.put("num.network.threads", "2");
    config.put("num.io.threads", "2");
    config.put("background.threads", "2");
    config.put("num.recovery.threads.per.data.dir", "1");
    config.putAll(overrides);
    return config;
  }

  private void writeConfig() throws IOException {
    try (Writer writer = Files.newBufferedWriter(configFile, StandardCharsets.UTF_8)) {
      writer.write("# written by parti-testkit KafkaBroker\n");
      for (Map.Entry<String, String> entry : config().entrySet()) {
        writer.write(escape(entry.getKey()) + "=" + escape(entry.getValue()) + "\n");
      }
    }
  }

  private static String escape(String value) {
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:");
  }

  private Path writeLog4jConfig() throws IOException {
    Path file = tempDir.resolve("log4j2.properties");
    Files.writeString(file, String.join("\n",
        "# written by parti-testkit KafkaBroker: " + logLevel + " and up to stdout, which goes to kafka.log",
        "status = warn",
        "appender.out.type = Console",
        "appender.out.name = OUT",
        "appender.out.target = SYSTEM_OUT",
        "appender.out.layout.type = PatternLayout",
        "appender.out.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = " + logLevel,
        "rootLogger.appenderRef.out.ref = OUT",
        "logger.started.name = kafka.server.KafkaRaftServer",
        "logger.started.level = info",
        ""), StandardCharsets.UTF_8);
    return file;
  }

  private void requireNotClosed(String what) {
    if (state == State.CLOSED) {
      throw new IllegalStateException("cannot " + what + " a closed KafkaBroker (" + tempDir + ")");
    }
  }

  /** Settings for a {@link KafkaBroker}; {@link #start()} may be called more than once. */
  public static final class Builder {
    private final Map<String, String> properties = new LinkedHashMap<>();
    private final List<String> jvmArgs = new ArrayList<>();
    private Duration startupTimeout = Duration.ofSeconds(60);
    private String logLevel = "WARN";
    private int port;

    private Builder() {}

    /**
     * A broker property, overriding the kit's default (for example {@code auto.create.topics.enable=true} or
     * {@code group.consumer.min.session.timeout.ms}). Listener, node and directory settings are the kit's.
     */
    public Builder property(String key, String value) {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
      String lower = key.toLowerCase(Locale.ROOT);
      if (lower.equals("log.dirs") || lower.equals("log.dir") || lower.equals("node.id") || lower.contains("listener")
          || lower.startsWith("controller.quorum") || lower.equals("process.roles")) {
        throw new IllegalArgumentException(key + " is managed by KafkaBroker");
      }
      properties.put(key, value);
      return this;
    }

    /** JVM options for the broker, after the defaults (small heap, SerialGC, C1 only); {@code -Xmx512m} raises the heap. */
    public Builder jvmArgs(String... args) {
      for (String arg : args) {
        jvmArgs.add(Objects.requireNonNull(arg, "jvmArg"));
      }
      return this;
    }

    /** The broker's log level in {@link KafkaBroker#logFile()} (default {@code WARN}; {@code INFO} to debug a test). */
    public Builder logLevel(String level) {
      String upper = level.toUpperCase(Locale.ROOT);
      if (!List.of("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF").contains(upper)) {
        throw new IllegalArgumentException("not a log level: " + level);
      }
      this.logLevel = upper;
      return this;
    }

    /** A fixed client port instead of a free one. */
    public Builder port(int port) {
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port out of range: " + port);
      }
      this.port = port;
      return this;
    }

    /** How long {@link #start()} and {@link KafkaBroker#restart()} wait for the broker (default 60 s). */
    public Builder startupTimeout(Duration startupTimeout) {
      if (startupTimeout.isNegative() || startupTimeout.isZero()) {
        throw new IllegalArgumentException("startupTimeout must be positive: " + startupTimeout);
      }
      this.startupTimeout = startupTimeout;
      return this;
    }

    /**
     * Formats a fresh log directory, starts the broker and waits until an Admin client sees it.
     *
     * @throws IllegalStateException when the broker does not come up (the message carries the end of its log)
     */
    public KafkaBroker start() {
      KafkaBroker broker = new KafkaBroker(this);
      try {
        broker.firstStart();
        return broker;
      } catch (RuntimeException e) {
        broker.close();
        throw e;
      }
    }
  }
}
