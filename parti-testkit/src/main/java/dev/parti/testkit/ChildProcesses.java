package dev.parti.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Bookkeeping for the kit's child processes and directories: one shutdown hook kills every child
 * still registered and deletes every directory still registered, so an aborted test run leaves
 * nothing behind. The hook thread is created once and only runs at JVM exit.
 */
final class ChildProcesses {
  private static final Set<Process> PROCESSES = ConcurrentHashMap.newKeySet();
  private static final Set<Path> DIRECTORIES = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(ChildProcesses::cleanUpAtExit, "parti-testkit-shutdown"));
  }

  private ChildProcesses() {}

  /** Kills {@code process} (and its descendants) at JVM exit unless {@link #forget(Process)} is called first. */
  static void register(Process process) {
    PROCESSES.add(process);
  }

  /** Removes {@code process} from the exit-time cleanup. */
  static void forget(Process process) {
    PROCESSES.remove(process);
  }

  /** Deletes {@code dir} at JVM exit unless {@link #forgetDirectory(Path)} is called first. */
  static void registerDirectory(Path dir) {
    DIRECTORIES.add(dir);
  }

  /** Removes {@code dir} from the exit-time cleanup. */
  static void forgetDirectory(Path dir) {
    DIRECTORIES.remove(dir);
  }

  private static void cleanUpAtExit() {
    for (Process process : PROCESSES) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
    for (Process process : PROCESSES) {
      try {
        process.waitFor(2, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    for (Path dir : DIRECTORIES) {
      try {
        TempDirs.delete(dir);
      } catch (RuntimeException ignored) {
        // best effort at exit
      }
    }
  }

  /** The {@code java} launcher of the running JVM, for child JVMs. */
  static String javaExecutable() {
    Path fromHome = Path.of(System.getProperty("java.home"), "bin", isWindows() ? "java.exe" : "java");
    if (Files.isExecutable(fromHome)) {
      return fromHome.toString();
    }
    return ProcessHandle.current().info().command()
        .orElseThrow(() -> new IllegalStateException("cannot locate the java executable of this JVM"));
  }

  /** The class path of the running JVM ({@code java.class.path}). */
  static String currentClassPath() {
    return System.getProperty("java.class.path");
  }

  private static boolean isWindows() {
    return System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("windows");
  }

  /** SIGKILLs {@code process} and all its descendants and waits until it is gone. */
  static void killTree(Process process) {
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
    awaitExit(process, 30_000);
  }

  /**
   * Sends SIGTERM and waits up to {@code graceMillis}; SIGKILLs when the process has not exited by then.
   * Returns true when the process exited on its own.
   */
  static boolean terminate(Process process, long graceMillis) {
    if (!process.isAlive()) {
      return true;
    }
    process.destroy();
    if (awaitExit(process, graceMillis)) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      return true;
    }
    killTree(process);
    return false;
  }

  /** Waits for exit; true when the process exited within {@code millis}. Interrupts are re-asserted. */
  static boolean awaitExit(Process process, long millis) {
    try {
      return process.waitFor(millis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !process.isAlive();
    }
  }

  /** Sends {@code signal} (for example {@code STOP}, {@code CONT}) to {@code pid} with the {@code kill} command. */
  static void signal(long pid, String signal) {
    ProcessBuilder builder = new ProcessBuilder("kill", "-" + signal, Long.toString(pid))
        .redirectErrorStream(true);
    try {
      Process kill = builder.start();
      String output = new String(kill.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      if (!kill.waitFor(10, TimeUnit.SECONDS)) {
        kill.destroyForcibly();
        throw new IllegalStateException("kill -" + signal + " " + pid + " did not finish");
      }
      if (kill.exitValue() != 0) {
        throw new IllegalStateException("kill -" + signal + " " + pid + " failed: " + output.strip());
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot run kill -" + signal + " " + pid, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while sending " + signal + " to " + pid, e);
    }
  }

  /**
   * Waits until every thread of {@code pid} is stopped (state {@code T} in {@code /proc/<pid>/task/<tid>/stat}), up
   * to {@code timeoutMillis}; returns at once where there is no {@code /proc} (the signal is then all we have).
   */
  static void awaitStopped(long pid, long timeoutMillis) {
    java.nio.file.Path tasks = java.nio.file.Path.of("/proc", Long.toString(pid), "task");
    if (!java.nio.file.Files.isDirectory(tasks)) {
      return;
    }
    long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
    while (!allStopped(tasks)) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("process " + pid + " not stopped " + timeoutMillis + " ms after SIGSTOP");
      }
      pause(5);
    }
  }

  private static boolean allStopped(java.nio.file.Path tasks) {
    try (java.util.stream.Stream<java.nio.file.Path> ts = java.nio.file.Files.list(tasks)) {
      for (java.nio.file.Path t : (Iterable<java.nio.file.Path>) ts::iterator) {
        String stat;
        try {
          stat = java.nio.file.Files.readString(t.resolve("stat"));
        } catch (IOException gone) {
          continue; // the thread ended meanwhile
        }
        // pid (comm) state ...: comm may hold spaces and parentheses, so read after the last ')'
        char state = stat.substring(stat.lastIndexOf(')') + 2).charAt(0);
        if (state != 'T' && state != 't' && state != 'Z' && state != 'X') {
          return false;
        }
      }
      return true;
    } catch (IOException e) {
      return true; // the process is gone: nothing left running
    }
  }

  /** Sleeps a short while between readiness polls; interruption turns into an IllegalStateException. */
  static void pause(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting", e);
    }
  }

  /** Resident set size of {@code pid} in bytes from /proc (Linux), or -1 where unknown. */
  static long residentBytes(long pid) {
    Path status = Path.of("/proc", Long.toString(pid), "status");
    try {
      for (String line : Files.readAllLines(status)) {
        if (line.startsWith("VmRSS:")) {
          String[] parts = line.substring(6).trim().split("\\s+");
          return Long.parseLong(parts[0]) * 1024L;
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }
}
