package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class TcpProxyTest {
  @RegisterExtension
  static final NatsServerExtension NATS = new NatsServerExtension();

  private EchoServer echo;

  @BeforeEach
  void startEcho() throws IOException {
    echo = new EchoServer();
  }

  @AfterEach
  void stopEcho() throws Exception {
    echo.close();
  }

  @Test
  void forwardsBytesBothWays() throws Exception {
    try (TcpProxy proxy = TcpProxy.start("127.0.0.1", echo.port());
         Socket socket = new Socket("127.0.0.1", proxy.port())) {
      assertThat(roundTrip(socket, "hello")).isEqualTo("hello");
      assertThat(proxy.url("tcp")).isEqualTo("tcp://127.0.0.1:" + proxy.port());
      assertThat(proxy.openConnections()).isEqualTo(1);
    }
  }

  @Test
  void cutHoldsBytesWithoutClosingAndRestoreDeliversThem() throws Exception {
    try (TcpProxy proxy = TcpProxy.start("127.0.0.1", echo.port());
         Socket socket = new Socket("127.0.0.1", proxy.port())) {
      assertThat(roundTrip(socket, "a")).isEqualTo("a");

      proxy.cut();
      socket.getOutputStream().write("held".getBytes(StandardCharsets.UTF_8));
      socket.setSoTimeout(300);
      assertThatThrownBy(() -> socket.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
      assertThat(socket.isClosed()).isFalse();

      proxy.restore();
      socket.setSoTimeout(5_000);
      assertThat(read(socket.getInputStream(), 4)).isEqualTo("held");
    }
  }

  @Test
  void refuseResetsOpenAndNewConnectionsUntilRestored() throws Exception {
    try (TcpProxy proxy = TcpProxy.start("127.0.0.1", echo.port())) {
      Socket open = new Socket("127.0.0.1", proxy.port());
      assertThat(roundTrip(open, "x")).isEqualTo("x");

      proxy.refuse();
      open.setSoTimeout(5_000);
      assertThat(readEndsInError(open)).isTrue();
      open.close();
      try (Socket refused = new Socket("127.0.0.1", proxy.port())) {
        refused.setSoTimeout(5_000);
        assertThat(readEndsInError(refused)).isTrue();
      }
      await().atMost(Duration.ofSeconds(5)).until(() -> proxy.openConnections() == 0);

      proxy.restore();
      try (Socket again = new Socket("127.0.0.1", proxy.port())) {
        assertThat(roundTrip(again, "back")).isEqualTo("back");
      }
    }
  }

  @Test
  void latencyDelaysEachDirection() throws Exception {
    try (TcpProxy proxy = TcpProxy.start("127.0.0.1", echo.port());
         Socket socket = new Socket("127.0.0.1", proxy.port())) {
      proxy.latency(Duration.ofMillis(300));
      long start = System.nanoTime();
      assertThat(roundTrip(socket, "slow")).isEqualTo("slow");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(600));

      proxy.latency(Duration.ZERO);
      start = System.nanoTime();
      assertThat(roundTrip(socket, "fast")).isEqualTo("fast");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(300));
    }
  }

  @Test
  void cutDisconnectsANatsClientBehindTheProxyWhileADirectClientKeepsWorkingAndRestoreReconnectsIt()
      throws Exception {
    List<ConnectionListener.Events> events = new CopyOnWriteArrayList<>();
    try (TcpProxy proxy = TcpProxy.start("127.0.0.1", NATS.server().port())) {
      Options proxied = Options.builder()
          .server(proxy.url("nats"))
          .pingInterval(Duration.ofMillis(200))
          .maxPingsOut(2)
          .connectionTimeout(Duration.ofMillis(500))
          .reconnectWait(Duration.ofMillis(100))
          .maxReconnects(-1)
          .connectionListener((conn, event) -> events.add(event))
          .build();
      try (Connection viaProxy = Nats.connect(proxied); Connection direct = Nats.connect(NATS.url())) {
        proxy.cut();

        await().atMost(Duration.ofSeconds(5)).until(() -> events.contains(ConnectionListener.Events.DISCONNECTED));
        assertThat(direct.getStatus()).isEqualTo(Connection.Status.CONNECTED);
        direct.flush(Duration.ofSeconds(2));
        assertThat(direct.RTT()).isLessThan(Duration.ofSeconds(1));

        proxy.restore();

        await().atMost(Duration.ofSeconds(10)).until(() -> events.contains(ConnectionListener.Events.RECONNECTED));
        viaProxy.flush(Duration.ofSeconds(2));
        assertThat(viaProxy.getStatus()).isEqualTo(Connection.Status.CONNECTED);
      }
    }
  }

  @Test
  void closeStopsEveryProxyThread() throws Exception {
    TcpProxy proxy = TcpProxy.start("127.0.0.1", echo.port());
    Socket socket = new Socket("127.0.0.1", proxy.port());
    roundTrip(socket, "z");
    proxy.cut();

    proxy.close();

    socket.close();
    assertThat(Thread.getAllStackTraces().keySet())
        .extracting(Thread::getName)
        .noneMatch(name -> name.startsWith("parti-testkit-proxy-" + proxy.port() + "-"));
    assertThatThrownBy(proxy::restore).isInstanceOf(IllegalStateException.class);
  }

  private static String roundTrip(Socket socket, String text) throws IOException {
    socket.setSoTimeout(5_000);
    socket.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
    socket.getOutputStream().flush();
    return read(socket.getInputStream(), text.length());
  }

  private static String read(InputStream in, int length) throws IOException {
    byte[] bytes = in.readNBytes(length);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static boolean readEndsInError(Socket socket) {
    try {
      return socket.getInputStream().read() < 0;
    } catch (IOException reset) {
      return true;
    }
  }
}
