package dev.parti.testkit;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Java main class running in a child JVM on this JVM's class path: a worker that a test can crash
 * ({@link #kill()}), freeze like a long GC pause ({@link #suspend()}, SIGSTOP) and thaw ({@link #resume()},
 * SIGCONT). Its stdout and stderr go to {@link #logFile()}; {@link #logTail(int)} reads the end.
 *
 * <pre>{@code
 * try (WorkerProcess worker = WorkerProcess.builder(MyWorkerMain.class)
 *         .args(nats.url(), "w-1")
 *         .jvmArgs("-Xmx128m")
 *         .start()) {
 *   worker.suspend();   // a zombie: alive, silent
 *   worker.resume();
 *   worker.kill();      // kill -9
 * }
 * }</pre>
 *
 * <p>The child gets the system properties {@code parti.worker.name} and {@code parti.worker.dir} (its
 * own temporary directory, deleted on close). Signals are sent with the {@code kill} command (Linux, macOS).
 */
public final class WorkerProcess implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(WorkerProcess.class);
  private static final AtomicInteger COUNTER = new AtomicInteger();

  private final String name;
  private final Path tempDir;
  private final Path logFile;
  private final Process process;
  private boolean suspended;
  private boolean closed;

  private WorkerProcess(String name, Path tempDir, Path logFile, Process process) {
    this.name = name;
    this.tempDir = tempDir;
    this.logFile = logFile;
    this.process = process;
  }

  /** Starts {@code mainClass} with {@code args} in a child JVM with default settings. */
  public static WorkerProcess start(Class<?> mainClass, String... args) {
    return builder(mainClass).args(args).start();
  }

  /** A builder for a child JVM running {@code mainClass}. */
  public static Builder builder(Class<?> mainClass) {
    return new Builder(mainClass.getName());
  }

  /** A builder for a child JVM running the main class named {@code mainClassName}. */
  public static Builder builder(String mainClassName) {
    return new Builder(mainClassName);
  }

  /** The worker's name (for logs and thread-free bookkeeping); defaults to the main class's simple name and a counter. */
  public String name() {
    return name;
  }

  /** The child's OS process id. */
  public long pid() {
    return process.pid();
  }

  /** Whether the child has not exited (a suspended child is alive). */
  public boolean isAlive() {
    return process.isAlive();
  }

  /** Whether {@link #suspend()} was called without a {@link #resume()} since. */
  public synchronized boolean isSuspended() {
    return suspended && process.isAlive();
  }

  /** The child's log file: its stdout and stderr. */
  public Path logFile() {
    return logFile;
  }

  /** The last {@code lines} lines of the child's output. */
  public String logTail(int lines) {
    return LogFiles.tail(logFile, lines);
  }

  /** The child's own temporary directory ({@code -Dparti.worker.dir}); deleted on close. */
  public Path tempDir() {
    return tempDir;
  }

  /** Crashes the child and its descendants (SIGKILL) and waits until it is gone. */
  public synchronized void kill() {
    ChildProcesses.killTree(process);
    suspended = false;
    LOG.info("worker {} (pid {}) killed", name, process.pid());
  }

  /**
   * Asks the child to exit (SIGTERM, running its shutdown hooks) and waits up to {@code grace}; kills it when
   * it has not exited by then. A suspended child is resumed first so it can handle the signal.
   *
   * @return true when the child exited on its own within {@code grace}
   */
  public synchronized boolean stop(Duration grace) {
    if (!process.isAlive()) {
      return true;
    }
    if (suspended) {
      resume();
    }
    return ChildProcesses.terminate(process, grace.toMillis());
  }

  /** Freezes the child (SIGSTOP): it stays alive, keeps its sockets and leases, and does nothing. */
  public synchronized void suspend() {
    requireAlive("suspend");
    ChildProcesses.signal(process.pid(), "STOP");
    // kill(1) returns once the signal is sent; on a loaded machine a thread may still run for a moment (a full run
    // once saw the suspended child answer): return only when every thread of it is stopped
    ChildProcesses.awaitStopped(process.pid(), 5_000);
    suspended = true;
    LOG.info("worker {} (pid {}) suspended", name, process.pid());
  }

  /** Thaws a suspended child (SIGCONT). */
  public synchronized void resume() {
    requireAlive("resume");
    ChildProcesses.signal(process.pid(), "CONT");
    suspended = false;
    LOG.info("worker {} (pid {}) resumed", name, process.pid());
  }

  /** Waits up to {@code timeout} for the child to exit; its exit code, or empty when it still runs. */
  public OptionalInt waitFor(Duration timeout) {
    if (ChildProcesses.awaitExit(process, timeout.toMillis())) {
      return OptionalInt.of(process.exitValue());
    }
    return OptionalInt.empty();
  }

  /** Kills the child if it is alive and deletes its temporary directory (with its log). Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (process.isAlive()) {
        ChildProcesses.killTree(process);
      } else {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
      }
    } finally {
      ChildProcesses.forget(process);
      TempDirs.delete(tempDir);
      ChildProcesses.forgetDirectory(tempDir);
    }
  }

  @Override
  public String toString() {
    return "WorkerProcess[" + name + ", pid " + process.pid() + (process.isAlive() ? "" : ", exited") + "]";
  }

  private void requireAlive(String what) {
    if (!process.isAlive()) {
      throw new IllegalStateException("cannot " + what + " worker " + name + ": it has exited");
    }
  }

  /** Settings for a {@link WorkerProcess}. */
  public static final class Builder {
    private final String mainClass;
    private String name;
    private String classPath;
    private final List<String> jvmArgs = new ArrayList<>(List.of("-XX:+UseSerialGC", "-Xshare:auto"));
    private final List<String> args = new ArrayList<>();
    private final Map<String, String> env = new LinkedHashMap<>();

    private Builder(String mainClass) {
      if (mainClass == null || mainClass.isBlank()) {
        throw new IllegalArgumentException("main class must be named");
      }
      this.mainClass = mainClass;
    }

    /** A name for logs; default: main class simple name and a counter. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    /** JVM options added after the defaults ({@code -XX:+UseSerialGC -Xshare:auto}), for example {@code -Xmx128m}. */
    public Builder jvmArgs(String... jvmArgs) {
      for (String arg : jvmArgs) {
        this.jvmArgs.add(Objects.requireNonNull(arg, "jvmArg"));
      }
      return this;
    }

    /** Program arguments passed to {@code main}. */
    public Builder args(String... args) {
      for (String arg : args) {
        this.args.add(Objects.requireNonNull(arg, "arg"));
      }
      return this;
    }

    /** An environment variable of the child (the child inherits this JVM's environment otherwise). */
    public Builder env(String key, String value) {
      env.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
      return this;
    }

    /** The child's class path; default: this JVM's {@code java.class.path}. */
    public Builder classPath(String classPath) {
      this.classPath = Objects.requireNonNull(classPath, "classPath");
      return this;
    }

    /** Starts the child JVM; does not wait for anything inside it. */
    public WorkerProcess start() {
      String simpleName = mainClass.substring(mainClass.lastIndexOf('.') + 1);
      String workerName = name != null ? name : simpleName + "-" + COUNTER.incrementAndGet();
      Path tempDir = TempDirs.create("worker");
      ChildProcesses.registerDirectory(tempDir);
      Path logFile = tempDir.resolve("worker.log");
      List<String> command = new ArrayList<>();
      command.add(ChildProcesses.javaExecutable());
      command.addAll(jvmArgs);
      command.add("-Dparti.worker.name=" + workerName);
      command.add("-Dparti.worker.dir=" + tempDir);
      command.add("-cp");
      command.add(classPath != null ? classPath : ChildProcesses.currentClassPath());
      command.add(mainClass);
      command.addAll(args);
      ProcessBuilder builder = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
      builder.environment().putAll(env);
      try {
        Process process = builder.start();
        ChildProcesses.register(process);
        process.getOutputStream().close(); // the child reads EOF from stdin
        LOG.info("worker {} started: {} (pid {})", workerName, mainClass, process.pid());
        return new WorkerProcess(workerName, tempDir, logFile, process);
      } catch (IOException e) {
        TempDirs.delete(tempDir);
        ChildProcesses.forgetDirectory(tempDir);
        throw new UncheckedIOException("could not start worker " + workerName, e);
      }
    }
  }
}
