package dev.parti.testkit;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real {@code nats-server} with JetStream, running as a child process on a free loopback port,
 * modelled on Curator's {@code TestingServer}: ports and store directory are fixed when the server is
 * built, so {@link #restart()} comes back at the same address with the same file-stored JetStream data.
 *
 * <ul>
 *   <li>{@link #stop()} shuts the server down gracefully (SIGTERM) and keeps its data;</li>
 *   <li>{@link #kill()} crashes it (SIGKILL) and keeps its data;</li>
 *   <li>{@link #restart()} starts it again on the same ports and store;</li>
 *   <li>{@link #close()} stops it and deletes its temporary directory; it cannot be restarted after that.</li>
 * </ul>
 *
 * <p>The binary is taken from the environment variable {@code NATS_SERVER_BIN}, else {@code nats-server}
 * on the {@code PATH}, else {@code /usr/sbin/nats-server}. Where none exists but a Docker engine answers
 * and Testcontainers is on the class path, the server runs in a {@code nats:2.10} container instead.
 * The server's output goes to {@link #logFile()}; a failed start reports the last lines of that log.
 *
 * <pre>{@code
 * try (NatsServer nats = NatsServer.start();
 *      Connection nc = Nats.connect(nats.url())) {
 *   ...
 *   nats.kill();
 *   nats.restart();   // same port, same JetStream store
 * }
 * }</pre>
 *
 * <p>Methods are thread-safe; lifecycle methods are serialised on the instance.
 */
public final class NatsServer implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(NatsServer.class);
  static final String BIN_ENV = "NATS_SERVER_BIN";
  static final String DEFAULT_BIN = "/usr/sbin/nats-server";
  static final String NOT_FOUND_MESSAGE = "nats-server not found; run `scripts/ensure-nats-server` or set "
      + BIN_ENV + " to a nats-server (2.9+) binary";
  private static final String JS_READY_PATH = "/healthz?js-enabled-only=true";
  private static final long STOP_GRACE_MILLIS = 10_000;
  private static final long RESTART_BIND_RETRY_MILLIS = 10_000;
  private static final int LOG_TAIL_LINES = 30;

  private enum State { LATENT, RUNNING, STOPPED, CLOSED }

  /** What runs the server: a child process, or a container in the Testcontainers fallback. */
  interface Runner {
    /** Starts the server without waiting for it to be ready. */
    void launch(Spec spec) throws IOException;

    /** Whether the server process or container is alive. */
    boolean isAlive();

    /** OS process id, or -1 when there is none on this machine. */
    long pid();

    /** Graceful stop, waiting up to {@code graceMillis}, then forced. */
    void stop(long graceMillis);

    /** Immediate crash (SIGKILL). */
    void kill();

    /** Host to connect to. */
    String host();

  }

  /** Everything fixed at construction. */
  record Spec(
      Path tempDir,
      Path storeDir,
      Path logFile,
      int clientPort,
      int monitorPort,
      boolean portsChosenByUs,
      String serverName,
      String user,
      String password,
      String token,
      List<String> extraArgs,
      Duration startupTimeout) {

    Spec withPorts(int client, int monitor) {
      return new Spec(tempDir, storeDir, logFile, client, monitor, portsChosenByUs, serverName,
          user, password, token, extraArgs, startupTimeout);
    }

    /** Server arguments after the binary. */
    List<String> serverArgs(String bindHost, String storePath) {
      List<String> args = new ArrayList<>(List.of(
          "-a", bindHost, "-p", Integer.toString(clientPort), "-m", Integer.toString(monitorPort),
          "-js", "-sd", storePath));
      if (serverName != null) {
        args.addAll(List.of("-n", serverName));
      }
      if (user != null) {
        args.addAll(List.of("--user", user, "--pass", password));
      }
      if (token != null) {
        args.addAll(List.of("--auth", token));
      }
      args.addAll(extraArgs);
      return args;
    }
  }

  private final Runner runner;
  private volatile Spec spec;
  private State state = State.LATENT;
  private long logOffsetAtLaunch;

  private NatsServer(Runner runner, Spec spec) {
    this.runner = runner;
    this.spec = spec;
  }

  /** Starts a server with JetStream on free loopback ports and waits until it accepts clients. */
  public static NatsServer start() {
    return builder().start();
  }

  /**
   * A {@link Builder#config} text with a system account and one application account {@code account} (JetStream
   * enabled) whose user {@code user}/{@code password} the clients use. With {@code importEvents}, the system
   * account exports {@code $SYS.ACCOUNT.<account>.DISCONNECT} as a stream and {@code account} imports it, so its
   * clients can subscribe to the account's client DISCONNECT events (Parti's proof of death); without, the same
   * accounts with no import, where that subscription hears nothing. Works on nats-server 2.9 and later.
   */
  public static String disconnectEventsConfig(String account, String user, String password, boolean importEvents) {
    String subject = "$SYS.ACCOUNT." + account + ".DISCONNECT";
    return "system_account: SYS\n"
        + "accounts {\n"
        + "  SYS {\n"
        + "    users: [{user: \"testkit-sys\", password: \"" + java.util.UUID.randomUUID() + "\"}]\n"
        + (importEvents ? "    exports: [{stream: \"" + subject + "\"}]\n" : "")
        + "  }\n"
        + "  " + account + " {\n"
        + "    jetstream: enabled\n"
        + "    users: [{user: \"" + user + "\", password: \"" + password + "\"}]\n"
        + (importEvents ? "    imports: [{stream: {account: SYS, subject: \"" + subject + "\"}}]\n" : "")
        + "  }\n"
        + "}\n";
  }

  /** A builder for a server with authentication, fixed ports, a given store directory or extra arguments. */
  public static Builder builder() {
    return new Builder();
  }

  /** Client URL, {@code nats://127.0.0.1:<port>}, without credentials. */
  public String url() {
    return "nats://" + runner.host() + ":" + port();
  }

  /** Client URL with the configured user and password or token embedded, or {@link #url()} without auth. */
  public String urlWithCredentials() {
    Spec s = spec;
    String auth = s.user() != null ? s.user() + ":" + s.password() + "@" : s.token() != null ? s.token() + "@" : "";
    return "nats://" + auth + runner.host() + ":" + port();
  }

  /** Client port; stays the same across restarts. */
  public int port() {
    return spec.clientPort();
  }

  /** HTTP monitoring port ({@code /varz}, {@code /jsz}, {@code /healthz}); stays the same across restarts. */
  public int monitorPort() {
    return spec.monitorPort();
  }

  /** JetStream store directory; kept by stop, kill and restart. */
  public Path storeDir() {
    return spec.storeDir();
  }

  /** The server's log file (all its output, appended across restarts). */
  public Path logFile() {
    return spec.logFile();
  }

  /** The last {@code lines} lines of {@link #logFile()}. */
  public String logTail(int lines) {
    return LogFiles.tail(spec.logFile(), lines);
  }

  /** The server name given with {@link Builder#serverName(String)}, if any. */
  public Optional<String> serverName() {
    return Optional.ofNullable(spec.serverName());
  }

  /** OS process id of the running server, empty when not running (or running in a container). */
  public synchronized OptionalLong pid() {
    long pid = state == State.RUNNING && runner.isAlive() ? runner.pid() : -1;
    return pid < 0 ? OptionalLong.empty() : OptionalLong.of(pid);
  }

  /** Whether the server process is alive. */
  public synchronized boolean isRunning() {
    return state == State.RUNNING && runner.isAlive();
  }

  /**
   * Whether {@code /healthz} answers OK: JetStream is enabled and, in a cluster, this node has a meta
   * leader and its streams are current. Never throws; false when the server does not answer.
   */
  public boolean isHealthy() {
    return healthz("/healthz").ok();
  }

  /** GETs a monitoring endpoint such as {@code /jsz} or {@code /varz}; the JSON body as text. */
  public String monitor(String pathAndQuery) {
    try {
      Http.Response response = Http.get(runner.host(), monitorPort(), pathAndQuery, 2_000);
      if (!response.ok()) {
        throw new IllegalStateException("GET " + pathAndQuery + " answered " + response.status() + ": " + response.body());
      }
      return response.body();
    } catch (IOException e) {
      throw new UncheckedIOException("monitoring port " + monitorPort() + " does not answer", e);
    }
  }

  /** Stops the server gracefully (SIGTERM, then SIGKILL after 10 s); data is kept for {@link #restart()}. */
  public synchronized void stop() {
    requireNotClosed("stop");
    if (state == State.RUNNING) {
      runner.stop(STOP_GRACE_MILLIS);
      state = State.STOPPED;
      LOG.info("nats-server on port {} stopped", port());
    }
  }

  /** Crashes the server (SIGKILL) and waits until the process is gone; data is kept for {@link #restart()}. */
  public synchronized void kill() {
    requireNotClosed("kill");
    if (state == State.RUNNING) {
      runner.kill();
      state = State.STOPPED;
      LOG.info("nats-server on port {} killed", port());
    }
  }

  /**
   * Starts the server again on the same ports with the same store, stopping it gracefully first if it
   * runs. Waits until JetStream is enabled and the client port answers; in a cluster, use
   * {@link NatsCluster#awaitHealthy(Duration)} to wait until the node has caught up. A port still held by
   * the previous process is retried for a few seconds.
   *
   * @throws IllegalStateException after {@link #close()}, or when the server does not come up
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
          throw new IllegalStateException("nats-server could not bind its ports again: " + e.getMessage(), e);
        }
        ChildProcesses.pause(200);
      }
    }
  }

  /** Stops the server and deletes its temporary directory with the store in it (a supplied store is kept). Idempotent. */
  @Override
  public synchronized void close() {
    if (state == State.CLOSED) {
      return;
    }
    try {
      runner.stop(STOP_GRACE_MILLIS); // also forgets a process that died on its own
    } finally {
      state = State.CLOSED;
      TempDirs.delete(spec.tempDir());
      ChildProcesses.forgetDirectory(spec.tempDir());
    }
  }

  @Override
  public String toString() {
    return "NatsServer[" + url() + ", " + state + "]";
  }

  // ---- package-private plumbing shared with NatsCluster ----

  /** Creates a server handle from a builder's settings without starting it. */
  static NatsServer create(Builder builder, Runner runner) {
    Path tempDir = TempDirs.create("nats");
    ChildProcesses.registerDirectory(tempDir);
    try {
      Path store = builder.storeDir == null ? tempDir.resolve("store") : builder.storeDir.toAbsolutePath();
      Files.createDirectories(store);
      boolean portsChosenByUs = builder.port == 0;
      int[] free = Ports.free(2);
      int client = builder.port == 0 ? free[0] : builder.port;
      int monitor = builder.monitorPort == 0 ? free[1] : builder.monitorPort;
      List<String> extra = new ArrayList<>();
      if (builder.configText != null) {
        Path config = tempDir.resolve("nats-server.conf");
        Files.writeString(config, builder.configText, StandardCharsets.UTF_8);
        extra.addAll(List.of("-c", config.toString()));
      }
      extra.addAll(builder.extraArgs);
      Spec spec = new Spec(tempDir, store, tempDir.resolve("nats-server.log"), client, monitor,
          portsChosenByUs, builder.serverName, builder.user, builder.password, builder.token,
          List.copyOf(extra), builder.startupTimeout);
      return new NatsServer(runner, spec);
    } catch (IOException | RuntimeException e) {
      TempDirs.delete(tempDir);
      ChildProcesses.forgetDirectory(tempDir);
      if (e instanceof IOException io) {
        throw new UncheckedIOException(io);
      }
      throw (RuntimeException) e;
    }
  }

  /** First start; fresh ports are tried when ours were taken in the meantime. */
  synchronized void firstStart() {
    for (int attempt = 1; ; attempt++) {
      try {
        launchAndAwait();
        return;
      } catch (PortInUse e) {
        if (!spec.portsChosenByUs() || attempt >= 5) {
          throw new IllegalStateException("nats-server could not bind: " + e.getMessage(), e);
        }
        int[] free = Ports.free(2);
        spec = spec.withPorts(free[0], free[1]);
      }
    }
  }

  /** Starts the process without waiting (cluster nodes start together). */
  synchronized void launch() {
    requireNotClosed("start");
    try {
      logOffsetAtLaunch = Files.exists(spec.logFile()) ? Files.size(spec.logFile()) : 0;
      runner.launch(spec);
      state = State.RUNNING;
    } catch (IOException e) {
      throw new UncheckedIOException("could not start nats-server", e);
    }
  }

  /** Waits until JetStream is enabled and the client port sends INFO. */
  synchronized void awaitReady() {
    long deadline = System.nanoTime() + spec.startupTimeout().toNanos();
    long pauseMillis = 10;
    while (true) {
      if (!runner.isAlive()) {
        state = State.STOPPED;
        String log = logSinceLaunch();
        if (log.toLowerCase(java.util.Locale.ROOT).contains("address already in use")) {
          throw new PortInUse("port " + spec.clientPort() + " or " + spec.monitorPort() + " is in use:\n" + tail(log));
        }
        throw new IllegalStateException("nats-server exited during start; last lines of " + spec.logFile()
            + ":\n" + tail(log));
      }
      if (healthz(JS_READY_PATH).ok() && clientSendsInfo()) {
        LOG.info("nats-server ready at {} (pid {}, store {})", url(), runner.pid(), spec.storeDir());
        return;
      }
      if (System.nanoTime() > deadline) {
        runner.kill();
        state = State.STOPPED;
        throw new IllegalStateException("nats-server not ready within " + spec.startupTimeout()
            + "; last lines of " + spec.logFile() + ":\n" + logTail(LOG_TAIL_LINES));
      }
      ChildProcesses.pause(pauseMillis);
      pauseMillis = Math.min(100, pauseMillis * 2);
    }
  }

  /** Sends the graceful-stop signal without waiting, so a cluster can stop its nodes in parallel. */
  synchronized void signalStop() {
    if (state == State.RUNNING && runner instanceof ProcessRunner process) {
      process.signalTerm();
    }
  }

  Spec spec() {
    return spec;
  }

  private void launchAndAwait() {
    launch();
    awaitReady();
  }

  private String logSinceLaunch() {
    try {
      byte[] all = Files.exists(spec.logFile()) ? Files.readAllBytes(spec.logFile()) : new byte[0];
      int from = (int) Math.min(logOffsetAtLaunch, all.length);
      return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return logTail(LOG_TAIL_LINES);
    }
  }

  private static String tail(String text) {
    String[] lines = text.split("\r?\n");
    return String.join("\n", Arrays.asList(lines).subList(Math.max(0, lines.length - LOG_TAIL_LINES), lines.length));
  }

  private Http.Response healthz(String path) {
    try {
      return Http.get(runner.host(), monitorPort(), path, 1_000);
    } catch (IOException e) {
      return new Http.Response(-1, e.toString());
    }
  }

  private boolean clientSendsInfo() {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(runner.host(), port()), 1_000);
      socket.setSoTimeout(1_000);
      BufferedReader reader = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
      String line = reader.readLine();
      return line != null && line.startsWith("INFO ");
    } catch (IOException e) {
      return false;
    }
  }

  private void requireNotClosed(String what) {
    if (state == State.CLOSED) {
      throw new IllegalStateException("cannot " + what + " a closed NatsServer (" + spec.logFile().getParent() + ")");
    }
  }

  // ---- binary lookup and runners ----

  /** The nats-server binary: NATS_SERVER_BIN, else PATH, else /usr/sbin/nats-server; empty when none. */
  static Optional<Path> findBinary() {
    return findBinary(System.getenv(), Path.of(DEFAULT_BIN));
  }

  /** {@link #findBinary()} with the environment and the last-resort path given, for tests. */
  static Optional<Path> findBinary(Map<String, String> env, Path fallback) {
    String fromEnv = env.get(BIN_ENV);
    if (fromEnv != null && !fromEnv.isBlank()) {
      Path path = Path.of(fromEnv);
      if (!Files.isExecutable(path)) {
        throw new IllegalStateException(BIN_ENV + "=" + fromEnv + " is not an executable file");
      }
      return Optional.of(path);
    }
    String pathVar = env.getOrDefault("PATH", "");
    for (String dir : pathVar.split(java.io.File.pathSeparator)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, "nats-server");
      if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Files.isExecutable(fallback) && !Files.isDirectory(fallback) ? Optional.of(fallback) : Optional.empty();
  }

  private static Runner chooseRunner() {
    Optional<Path> binary = findBinary();
    if (binary.isPresent()) {
      return new ProcessRunner(binary.get());
    }
    boolean docker = dockerAnswers();
    if (docker && !testcontainersPresent()) {
      throw new IllegalStateException(NOT_FOUND_MESSAGE + " (a Docker engine answers: add "
          + "org.testcontainers:testcontainers to the test class path to run nats in a container)");
    }
    if (docker) {
      LOG.warn("no nats-server binary found; falling back to a Testcontainers nats container");
      try {
        return (Runner) Class.forName("dev.parti.testkit.ContainerNatsRunner").getDeclaredConstructor().newInstance();
      } catch (ReflectiveOperationException | LinkageError e) {
        throw new IllegalStateException(NOT_FOUND_MESSAGE + " (the Testcontainers fallback failed: " + e + ")", e);
      }
    }
    throw new IllegalStateException(NOT_FOUND_MESSAGE);
  }

  /** Whether the ordinary requirement for clusters, a local binary, is met. */
  static Path requireBinary() {
    return findBinary().orElseThrow(() -> new IllegalStateException(NOT_FOUND_MESSAGE
        + " (NatsCluster needs a local binary; the Testcontainers fallback covers single servers only)"));
  }

  private static boolean testcontainersPresent() {
    try {
      Class.forName("org.testcontainers.containers.GenericContainer", false, NatsServer.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  private static boolean dockerAnswers() {
    try {
      Process docker = new ProcessBuilder("docker", "info")
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .start();
      if (!docker.waitFor(5, TimeUnit.SECONDS)) {
        docker.destroyForcibly();
        return false;
      }
      return docker.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Runs the binary as a child process with its output appended to the log file. */
  static final class ProcessRunner implements Runner {
    private final Path binary;
    private Process process;

    ProcessRunner(Path binary) {
      this.binary = binary;
    }

    @Override
    public void launch(Spec spec) throws IOException {
      List<String> command = new ArrayList<>();
      command.add(binary.toString());
      command.addAll(spec.serverArgs(Ports.LOOPBACK, spec.storeDir().toString()));
      Files.writeString(spec.logFile(), "=== parti-testkit: " + String.join(" ", redact(command)) + System.lineSeparator(),
          StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
      if (process != null) {
        ChildProcesses.forget(process); // a previous attempt that exited
      }
      process = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(spec.logFile().toFile()))
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      ChildProcesses.register(process);
    }

    private static List<String> redact(List<String> command) {
      List<String> copy = new ArrayList<>(command);
      for (int i = 0; i < copy.size() - 1; i++) {
        if (copy.get(i).equals("--pass") || copy.get(i).equals("--auth")) {
          copy.set(i + 1, "***");
        }
      }
      return copy;
    }

    @Override
    public boolean isAlive() {
      return process != null && process.isAlive();
    }

    @Override
    public long pid() {
      return process == null ? -1 : process.pid();
    }

    void signalTerm() {
      if (process != null && process.isAlive()) {
        process.destroy();
      }
    }

    @Override
    public void stop(long graceMillis) {
      if (process != null) {
        ChildProcesses.terminate(process, graceMillis);
        ChildProcesses.forget(process);
      }
    }

    @Override
    public void kill() {
      if (process != null) {
        ChildProcesses.killTree(process);
        ChildProcesses.forget(process);
      }
    }

    @Override
    public String host() {
      return Ports.LOOPBACK;
    }
  }

  /**
   * Settings for a {@link NatsServer}. Every setting is optional; {@link #start()} may be called more
   * than once, each call starting a separate server.
   */
  public static final class Builder {
    private String user;
    private String password;
    private String token;
    private int port;
    private int monitorPort;
    private Path storeDir;
    private String serverName;
    private final List<String> extraArgs = new ArrayList<>();
    private String configText;
    private Duration startupTimeout = Duration.ofSeconds(30);

    private Builder() {}

    /** Requires clients to authenticate with this user and password ({@code --user/--pass}). */
    public Builder user(String user, String password) {
      this.user = requireText(user, "user");
      this.password = requireText(password, "password");
      return this;
    }

    /** Requires clients to authenticate with this token ({@code --auth}). */
    public Builder token(String token) {
      this.token = requireText(token, "token");
      return this;
    }

    /** A fixed client port instead of a free one (1..65535). */
    public Builder port(int port) {
      this.port = requirePort(port);
      return this;
    }

    /** A fixed monitoring port instead of a free one (1..65535). */
    public Builder monitorPort(int monitorPort) {
      this.monitorPort = requirePort(monitorPort);
      return this;
    }

    /** The JetStream store directory; a directory supplied here is created if needed and never deleted. */
    public Builder storeDir(Path storeDir) {
      this.storeDir = Objects.requireNonNull(storeDir, "storeDir");
      return this;
    }

    /** The server name ({@code -n}); needed unique per node in a JetStream cluster. */
    public Builder serverName(String serverName) {
      this.serverName = requireText(serverName, "serverName");
      return this;
    }

    /** Extra command-line arguments appended after the kit's own, for example {@code "-D"} for debug logs. */
    public Builder args(String... args) {
      for (String arg : args) {
        extraArgs.add(Objects.requireNonNull(arg, "arg"));
      }
      return this;
    }

    /**
     * A configuration file's text, written to the server's temporary directory and passed with {@code -c} (the
     * kit's own arguments, such as ports and the store directory, still take precedence). For settings that have
     * no command-line flag: accounts, imports and exports, {@code max_payload}, {@code ping_interval}. With
     * accounts, leave {@link #user} unset and put the users in the accounts (see {@link #disconnectEventsConfig}).
     */
    public Builder config(String text) {
      this.configText = Objects.requireNonNull(text, "text");
      return this;
    }

    /** How long {@link #start()} and {@link NatsServer#restart()} wait for readiness (default 30 s). */
    public Builder startupTimeout(Duration startupTimeout) {
      if (startupTimeout.isNegative() || startupTimeout.isZero()) {
        throw new IllegalArgumentException("startupTimeout must be positive: " + startupTimeout);
      }
      this.startupTimeout = startupTimeout;
      return this;
    }

    /**
     * Starts the server and waits until it accepts clients with JetStream enabled.
     *
     * @throws IllegalStateException when both user and token are set, when no nats-server is found, or
     *     when the server does not come up (the message carries the end of its log)
     */
    public NatsServer start() {
      if (user != null && token != null) {
        throw new IllegalStateException("choose either user/password or token authentication, not both");
      }
      NatsServer server = create(this, chooseRunner());
      try {
        server.firstStart();
        return server;
      } catch (RuntimeException e) {
        server.close();
        throw e;
      }
    }

    private static String requireText(String value, String name) {
      if (value == null || value.isEmpty()) {
        throw new IllegalArgumentException(name + " must not be empty");
      }
      return value;
    }

    private static int requirePort(int port) {
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port out of range: " + port);
      }
      return port;
    }
  }
}
