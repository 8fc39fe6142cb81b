package dev.parti.testkit.internal;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * Main class of the child JVM that {@code dev.parti.testkit.KafkaBroker} starts: formats the log
 * directory on first start ({@code kafka-storage format --standalone}, skipped when {@code meta.properties}
 * exists) and then runs {@code kafka.Kafka} in the same JVM, which saves a second JVM start.
 * Not API.
 */
public final class KafkaBrokerMain {
  private KafkaBrokerMain() {}

  /**
   * Runs the broker.
   *
   * @param args {@code <server.properties> <clusterId>}
   */
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: KafkaBrokerMain <server.properties> <clusterId>");
      System.exit(2);
    }
    String config = args[0];
    String clusterId = args[1];
    Path logDir = Path.of(firstLogDir(Path.of(config)));
    if (!Files.exists(logDir.resolve("meta.properties"))) {
      int rc;
      try {
        rc = kafka.tools.StorageTool.execute(
            new String[] {"format", "--cluster-id", clusterId, "--config", config, "--standalone"}, System.out);
      } catch (Throwable t) {
        t.printStackTrace();
        rc = 1;
      }
      if (rc != 0) {
        System.err.println("kafka-storage format failed with exit code " + rc);
        System.out.flush();
        System.exit(rc);
      }
    }
    kafka.Kafka.main(new String[] {config});
  }

  private static String firstLogDir(Path config) throws IOException {
    Properties properties = new Properties();
    try (Reader reader = Files.newBufferedReader(config, StandardCharsets.UTF_8)) {
      properties.load(reader);
    }
    String dirs = properties.getProperty("log.dirs", properties.getProperty("log.dir"));
    if (dirs == null || dirs.isBlank()) {
      throw new IllegalArgumentException("no log.dirs in " + config);
    }
    return dirs.split(",")[0].trim();
  }
}
