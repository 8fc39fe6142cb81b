package dev.parti.testkit;

import java.nio.file.Path;

/**
 * A worker for WorkerProcess tests: prints its environment variable {@code GREETING}, system property
 * {@code flavour}, worker name and arguments, records {@code ACQUIRED} of partition {@code args[1]} by worker
 * {@code args[2]} in the ownership log directory {@code args[0]}, then exits with code {@code args[3]}.
 */
public final class ReportMain {
  private ReportMain() {}

  /** Entry point. */
  public static void main(String[] args) {
    System.out.println("GREETING=" + System.getenv("GREETING"));
    System.out.println("flavour=" + System.getProperty("flavour"));
    System.out.println("name=" + System.getProperty("parti.worker.name"));
    System.out.println("dir=" + System.getProperty("parti.worker.dir"));
    System.out.println("args=" + String.join(",", args));
    try (OwnershipLog log = OwnershipLog.inDirectory(Path.of(args[0]))) {
      log.acquired(args[2], args[1]);
    }
    System.exit(Integer.parseInt(args[3]));
  }
}
