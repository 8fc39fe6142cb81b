package dev.parti.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * Fallback runner: {@code nats:2.10} in a Docker container through Testcontainers, used only when no
 * {@code nats-server} binary exists and {@code docker info} succeeds. Loaded reflectively, so the kit
 * works without Testcontainers on the class path. Host ports are bound 1:1 to the spec's ports and the
 * store directory is bind-mounted, so restart keeps address and data as with the binary.
 */
final class ContainerNatsRunner implements NatsServer.Runner {
  static final String IMAGE = "nats:2.10";
  private GenericContainer<?> container;

  ContainerNatsRunner() {}

  @Override
  public void launch(NatsServer.Spec spec) throws IOException {
    List<String> args = spec.serverArgs("0.0.0.0", "/data");
    GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(IMAGE))
        .withCommand(args.toArray(String[]::new))
        .withFileSystemBind(spec.storeDir().toString(), "/data", BindMode.READ_WRITE)
        .withLogConsumer(frame -> append(spec, frame.getUtf8String()));
    c.setPortBindings(List.of(spec.clientPort() + ":" + spec.clientPort(), spec.monitorPort() + ":" + spec.monitorPort()));
    try {
      c.start();
    } catch (RuntimeException e) {
      c.close();
      throw new IOException("could not start container " + IMAGE, e);
    }
    container = c;
  }

  private static void append(NatsServer.Spec spec, String text) {
    try {
      Files.writeString(spec.logFile(), text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean isAlive() {
    return container != null && container.isRunning();
  }

  @Override
  public long pid() {
    return -1;
  }

  @Override
  public void stop(long graceMillis) {
    if (container != null) {
      try {
        if (container.isRunning()) {
          container.getDockerClient().stopContainerCmd(container.getContainerId())
              .withTimeout((int) Math.max(1, graceMillis / 1000)).exec();
        }
      } finally {
        container.close();
        container = null;
      }
    }
  }

  @Override
  public void kill() {
    if (container != null) {
      try {
        if (container.isRunning()) {
          container.getDockerClient().killContainerCmd(container.getContainerId()).exec();
        }
      } finally {
        container.close();
        container = null;
      }
    }
  }

  @Override
  public String host() {
    return container != null ? container.getHost() : Ports.LOOPBACK;
  }
}
