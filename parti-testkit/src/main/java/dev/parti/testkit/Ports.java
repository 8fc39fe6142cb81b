package dev.parti.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** Free loopback ports, never the same one twice from this JVM so parallel servers do not collide. */
final class Ports {
  static final String LOOPBACK = "127.0.0.1";
  private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

  private Ports() {}

  /** Returns {@code count} distinct ports that were free on 127.0.0.1 a moment ago. */
  static int[] free(int count) {
    List<ServerSocket> held = new ArrayList<>();
    int[] ports = new int[count];
    try {
      int found = 0;
      int attempts = 0;
      while (found < count) {
        if (++attempts > count * 50) {
          throw new IllegalStateException("could not find " + count + " free loopback ports");
        }
        ServerSocket socket = new ServerSocket();
        held.add(socket);
        socket.setReuseAddress(false);
        socket.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), 0));
        int port = socket.getLocalPort();
        if (HANDED_OUT.add(port)) {
          ports[found++] = port;
        }
      }
      return ports;
    } catch (IOException e) {
      throw new UncheckedIOException("could not allocate a loopback port", e);
    } finally {
      for (ServerSocket socket : held) {
        try {
          socket.close();
        } catch (IOException ignored) {
          // closing a listening socket that never accepted anything
        }
      }
    }
  }

  /** Returns one free loopback port. */
  static int free() {
    return free(1)[0];
  }

  /** Whether a TCP connection to 127.0.0.1:port can be opened right now. */
  static boolean accepting(int port) {
    try (java.net.Socket socket = new java.net.Socket()) {
      socket.connect(new InetSocketAddress(LOOPBACK, port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
