package dev.parti.testkit;

import java.time.Duration;
import java.util.Locale;

/**
 * Measures start time and resident memory of the kit's servers; a program, not a test. Run it with the
 * module's test class path, for example:
 * {@code java -cp "$(cat cp.txt):target/classes:target/test-classes" dev.parti.testkit.StartupFootprint}.
 * Start times are wall-clock from the call to readiness as the kit defines it; RSS is VmRSS of the child.
 */
public final class StartupFootprint {
  private StartupFootprint() {}

  /** Prints one line per measurement; args[0] = repetitions (default 3), args[1] = Kafka log level. */
  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    String level = args.length > 1 ? args[1] : "WARN";
    for (int i = 0; i < rounds; i++) {
      long t0 = System.nanoTime();
      try (NatsServer nats = NatsServer.start()) {
        long ready = System.nanoTime() - t0;
        long rss = ChildProcesses.residentBytes(nats.pid().orElseThrow());
        print("nats-server start", ready, rss);
      }
      t0 = System.nanoTime();
      try (NatsCluster cluster = NatsCluster.start(3)) {
        long ready = System.nanoTime() - t0;
        long rss = cluster.nodes().stream().mapToLong(n -> ChildProcesses.residentBytes(n.pid().orElseThrow())).sum();
        print("nats 3-node cluster start (RSS summed)", ready, rss);
      }
      t0 = System.nanoTime();
      try (KafkaBroker kafka = KafkaBroker.builder().logLevel(level).start()) {
        long ready = System.nanoTime() - t0;
        long pid = kafka.pid().orElseThrow();
        print("kafka first start (format + start)", ready, ChildProcesses.residentBytes(pid));
        System.out.printf(Locale.ROOT, "%-42s %7d ms%n", "kafka child CPU time until ready",
            ProcessHandle.of(pid).flatMap(p -> p.info().totalCpuDuration()).map(Duration::toMillis).orElse(-1L));
        kafka.createTopic("warm", 4);
        KafkaBrokerTest.produceQuietly(kafka.bootstrapServers(), "warm", 1000);
        print("kafka after topic + 1000 records", 0, ChildProcesses.residentBytes(pid));
        t0 = System.nanoTime();
        kafka.stop();
        print("kafka graceful stop", System.nanoTime() - t0, -1);
        t0 = System.nanoTime();
        kafka.restart();
        print("kafka restart after stop", System.nanoTime() - t0, ChildProcesses.residentBytes(kafka.pid().orElseThrow()));
        kafka.kill();
        t0 = System.nanoTime();
        kafka.restart();
        print("kafka restart after kill", System.nanoTime() - t0, ChildProcesses.residentBytes(kafka.pid().orElseThrow()));
        if (!"WARN".equals(level)) {
          try {
            System.out.println(java.nio.file.Files.readString(kafka.logFile()));
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }
      }
    }
  }

  private static void print(String what, long nanos, long rssBytes) {
    System.out.printf(Locale.ROOT, "%-42s %7s ms %8s MB%n", what, nanos == 0 ? "-" : Long.toString(Duration.ofNanos(nanos).toMillis()),
        rssBytes < 0 ? "-" : String.format(Locale.ROOT, "%.0f", rssBytes / 1024.0 / 1024.0));
  }
}
