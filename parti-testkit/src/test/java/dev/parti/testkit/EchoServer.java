package dev.parti.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** A loopback echo server for proxy tests; one daemon thread per connection, all stopped by close. */
final class EchoServer implements AutoCloseable {
  private final ServerSocket listener;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private final Set<Thread> threads = ConcurrentHashMap.newKeySet();

  EchoServer() throws IOException {
    listener = new ServerSocket();
    listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    start("echo-accept", this::acceptLoop);
  }

  int port() {
    return listener.getLocalPort();
  }

  private void start(String name, Runnable body) {
    Thread thread = new Thread(body, name);
    thread.setDaemon(true);
    threads.add(thread);
    thread.start();
  }

  private void acceptLoop() {
    try {
      while (true) {
        Socket socket = listener.accept();
        sockets.add(socket);
        start("echo-" + socket.getPort(), () -> echo(socket));
      }
    } catch (IOException closed) {
      // listener closed
    }
  }

  private static void echo(Socket socket) {
    try (socket; InputStream in = socket.getInputStream(); OutputStream out = socket.getOutputStream()) {
      in.transferTo(out);
    } catch (IOException ignored) {
      // connection ended
    }
  }

  @Override
  public void close() throws Exception {
    listener.close();
    for (Socket socket : sockets) {
      socket.close();
    }
    for (Thread thread : threads) {
      thread.join(5_000);
    }
  }
}
