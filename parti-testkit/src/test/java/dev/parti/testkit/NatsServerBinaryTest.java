package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NatsServerBinaryTest {
  @TempDir
  Path dir;

  @Test
  void theEnvironmentVariableWinsOverPathAndTheFallback() throws Exception {
    Path fromEnv = executable("custom-nats");
    Path onPath = executable("nats-server");

    assertThat(NatsServer.findBinary(Map.of(NatsServer.BIN_ENV, fromEnv.toString(), "PATH", dir.toString()), onPath))
        .contains(fromEnv);
  }

  @Test
  void aBinaryOnThePathWinsOverTheFallback() throws Exception {
    Path onPath = executable("nats-server");

    assertThat(NatsServer.findBinary(Map.of("PATH", "/nonexistent:" + dir), Path.of("/nonexistent/nats-server")))
        .contains(onPath);
  }

  @Test
  void theFallbackIsUsedLast() throws Exception {
    Path fallback = executable("fallback-nats");

    assertThat(NatsServer.findBinary(Map.of("PATH", "/nonexistent"), fallback)).contains(fallback);
    assertThat(NatsServer.findBinary(Map.of(), dir.resolve("missing"))).isEmpty();
  }

  @Test
  void anEnvironmentVariableNamingNoExecutableIsAnError() {
    assertThatThrownBy(() -> NatsServer.findBinary(Map.of(NatsServer.BIN_ENV, "/no/such/nats-server"), dir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("/no/such/nats-server");
  }

  @Test
  void theNotFoundMessageSaysHowToGetABinary() {
    assertThat(NatsServer.NOT_FOUND_MESSAGE)
        .contains("nats-server not found").contains("scripts/ensure-nats-server").contains("NATS_SERVER_BIN");
  }

  private Path executable(String name) throws Exception {
    Path file = Files.writeString(dir.resolve(name), "#!/bin/sh\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    return file;
  }
}
