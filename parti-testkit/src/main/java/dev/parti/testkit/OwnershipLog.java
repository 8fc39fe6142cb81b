package dev.parti.testkit;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * An append-only record of who owned which partition when, to be checked with {@link OwnershipChecker}.
 * Workers call {@link #acquired(String, String, String)} when they start processing a partition and
 * {@link #released(String, String, String)} when they stop; the test calls {@link #gone(String)} when it
 * kills a worker instance that could not record its releases.
 *
 * <p>Owners are instances (one name per start of a worker), not worker IDs: see {@link OwnershipEvent}. The
 * two-argument forms use one name as both instance and worker ID.
 *
 * <p>Two forms:
 * <ul>
 *   <li>{@link #inMemory()}: for workers in this JVM.</li>
 *   <li>{@link #inDirectory(Path)}: for workers in several processes. Each log instance appends to its own
 *       file in the shared directory ({@code <pid>-<n>.ownership}), one line per event, flushed to the OS per
 *       event so it survives a SIGKILL of the writer; {@link #read(Path)} merges all files.</li>
 * </ul>
 *
 * <p>An event may carry a time in the past: a worker that fences itself after a pause (SIGSTOP, GC) should
 * record {@code record(OwnershipEvent.released(worker, partition, leaseExpiryNanos))}, the instant its lease
 * ran out by its own monotonic clock, because that is when it stopped being a safe owner. The checker then
 * shows whether the safety margin kept that instant before the successor's acquisition. Events need not be
 * recorded in time order.
 *
 * <p>Timestamps are {@link System#nanoTime()}; across processes this assumes one Linux machine, where
 * HotSpot reads the system-wide {@code CLOCK_MONOTONIC} (see {@link OwnershipEvent}). Methods are
 * thread-safe.
 */
public final class OwnershipLog implements Closeable {
  private static final String FILE_SUFFIX = ".ownership";
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final List<OwnershipEvent> memory = new ArrayList<>();
  private final Path directory;
  private final Path file;
  private BufferedWriter writer;
  private boolean closed;

  private OwnershipLog(Path directory, Path file, BufferedWriter writer) {
    this.directory = directory;
    this.file = file;
    this.writer = writer;
  }

  /** A log kept in this JVM's memory. */
  public static OwnershipLog inMemory() {
    return new OwnershipLog(null, null, null);
  }

  /**
   * A log writing to a new file of its own in {@code directory} (created if needed), for sharing one
   * directory between processes. Pass the directory to child processes, for example as a program argument.
   */
  public static OwnershipLog inDirectory(Path directory) {
    try {
      Files.createDirectories(directory);
      Path file = directory.resolve(ProcessHandle.current().pid() + "-" + INSTANCES.incrementAndGet() + FILE_SUFFIX);
      BufferedWriter writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8,
          StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      writer.write("# parti ownership log: nanos kind worker partition; pid " + ProcessHandle.current().pid() + "\n");
      writer.flush();
      return new OwnershipLog(directory, file, writer);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create an ownership log in " + directory, e);
    }
  }

  /** Records that {@code owner} (instance and worker ID at once, unique per start) acquired {@code partition} now. */
  public void acquired(String owner, String partition) {
    record(OwnershipEvent.acquired(owner, partition, System.nanoTime()));
  }

  /** Records that {@code owner} (instance and worker ID at once) released {@code partition} now. */
  public void released(String owner, String partition) {
    record(OwnershipEvent.released(owner, partition, System.nanoTime()));
  }

  /** Records that instance {@code instance}, holding worker ID {@code workerId}, acquired {@code partition} now. */
  public void acquired(String instance, String workerId, String partition) {
    record(OwnershipEvent.acquired(instance, workerId, partition, System.nanoTime()));
  }

  /** Records that instance {@code instance}, holding worker ID {@code workerId}, released {@code partition} now. */
  public void released(String instance, String workerId, String partition) {
    record(OwnershipEvent.released(instance, workerId, partition, System.nanoTime()));
  }

  /** Records that instance {@code instance} is no longer a live owner of anything, now (for example right after killing it). */
  public void gone(String instance) {
    record(OwnershipEvent.gone(instance, System.nanoTime()));
  }

  /**
   * Appends {@code event}; with a directory, the line is written and flushed before this returns.
   *
   * @throws IllegalStateException after {@link #close()}
   */
  public synchronized void record(OwnershipEvent event) {
    if (closed) {
      throw new IllegalStateException("ownership log is closed");
    }
    if (writer != null) {
      try {
        writer.write(event.toLine());
        writer.write('\n');
        writer.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot append to " + file, e);
      }
    } else {
      memory.add(event);
    }
  }

  /**
   * The events to check: for an in-memory log, everything recorded here; for a directory log, everything
   * in the directory (this and every other process's file), ordered by time.
   */
  public List<OwnershipEvent> events() {
    if (directory != null) {
      return read(directory);
    }
    synchronized (this) {
      return List.copyOf(memory);
    }
  }

  /** The shared directory of a directory log. */
  public Optional<Path> directory() {
    return Optional.ofNullable(directory);
  }

  /**
   * Reads and merges every log file in {@code directory}, ordered by time (stable for equal timestamps).
   * A torn last line (writer killed mid-line) is skipped; malformed lines elsewhere are an error.
   */
  public static List<OwnershipEvent> read(Path directory) {
    List<OwnershipEvent> all = new ArrayList<>();
    try (Stream<Path> files = Files.list(directory)) {
      List<Path> sorted = files.filter(p -> p.getFileName().toString().endsWith(FILE_SUFFIX)).sorted().toList();
      for (Path file : sorted) {
        all.addAll(readFile(file));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read ownership logs in " + directory, e);
    }
    all.sort(Comparator.comparingLong(OwnershipEvent::nanos));
    return all;
  }

  private static List<OwnershipEvent> readFile(Path file) throws IOException {
    String text = Files.readString(file, StandardCharsets.UTF_8);
    boolean complete = text.endsWith("\n");
    String[] lines = text.split("\n", -1);
    int last = lines.length - 1; // after the final '\n' comes "" (or a torn line)
    List<OwnershipEvent> events = new ArrayList<>();
    for (int i = 0; i <= last; i++) {
      String line = lines[i];
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      try {
        events.add(OwnershipEvent.parse(line));
      } catch (IllegalArgumentException e) {
        if (i == last && !complete) {
          break; // torn by a kill mid-write
        }
        throw new IllegalStateException(file + " line " + (i + 1) + ": " + e.getMessage(), e);
      }
    }
    return events;
  }

  /** Closes the file of a directory log; recording afterwards throws. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (writer != null) {
      try {
        writer.close();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot close " + file, e);
      } finally {
        writer = null;
      }
    }
  }
}
