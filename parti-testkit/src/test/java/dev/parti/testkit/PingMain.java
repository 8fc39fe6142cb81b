package dev.parti.testkit;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A tiny worker for WorkerProcess tests: prints {@code READY <port>}, then answers each line with {@code pong <line>}. */
public final class PingMain {
  private PingMain() {}

  /** Entry point; runs until killed. */
  public static void main(String[] args) throws Exception {
    try (ServerSocket listener = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
      System.out.println("READY " + listener.getLocalPort());
      System.out.flush();
      while (true) {
        try (Socket socket = listener.accept();
             BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(socket.getOutputStream(), true, StandardCharsets.UTF_8)) {
          String line;
          while ((line = in.readLine()) != null) {
            out.println("pong " + line);
          }
        }
      }
    }
  }
}
