package dev.parti.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A minimal HTTP/1.0 GET on plain sockets for monitoring endpoints. It starts no thread and keeps no
 * connection, unlike {@code HttpURLConnection} (keep-alive timer) and {@code HttpClient} (selector thread).
 */
final class Http {
  /** Status code and body of a response. */
  record Response(int status, String body) {
    boolean ok() {
      return status == 200;
    }
  }

  private Http() {}

  /** GETs {@code path} from {@code host:port}; throws IOException when nothing answers in time. */
  static Response get(String host, int port, String path, int timeoutMillis) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(host, port), timeoutMillis);
      socket.setSoTimeout(timeoutMillis);
      OutputStream out = socket.getOutputStream();
      out.write(("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      ByteArrayOutputStream buffer = new ByteArrayOutputStream();
      in.transferTo(buffer);
      String text = buffer.toString(StandardCharsets.UTF_8);
      int lineEnd = text.indexOf("\r\n");
      if (!text.startsWith("HTTP/") || lineEnd < 0) {
        throw new IOException("not an HTTP response from " + host + ":" + port);
      }
      String[] statusLine = text.substring(0, lineEnd).split(" ");
      int status = Integer.parseInt(statusLine[1]);
      int bodyStart = text.indexOf("\r\n\r\n");
      String body = bodyStart < 0 ? "" : text.substring(bodyStart + 4);
      return new Response(status, body);
    } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
      throw new IOException("malformed HTTP response from " + host + ":" + port, e);
    }
  }
}
