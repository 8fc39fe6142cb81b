package dev.parti.testkit;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reading the end of a child's log file. */
final class LogFiles {
  private static final int MAX_TAIL_BYTES = 256 * 1024;

  private LogFiles() {}

  /** The last {@code lines} lines of {@code file} (at most 256 KiB are read), or "" when it does not exist. */
  static String tail(Path file, int lines) {
    if (lines < 0) {
      throw new IllegalArgumentException("lines must be >= 0: " + lines);
    }
    if (lines == 0 || file == null || !Files.exists(file)) {
      return "";
    }
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
      long length = raf.length();
      int toRead = (int) Math.min(length, MAX_TAIL_BYTES);
      byte[] bytes = new byte[toRead];
      raf.seek(length - toRead);
      raf.readFully(bytes);
      String text = new String(bytes, StandardCharsets.UTF_8);
      List<String> all = new ArrayList<>(List.of(text.split("\r?\n", -1)));
      if (!all.isEmpty() && all.get(all.size() - 1).isEmpty()) {
        all.remove(all.size() - 1);
      }
      if (toRead < length && !all.isEmpty()) {
        all.remove(0); // partial first line
      }
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(could not read " + file + ": " + e + ")";
    }
  }

  /** Whether {@code file} contains {@code needle} in its last 256 KiB. */
  static boolean contains(Path file, String needle) {
    return tail(file, Integer.MAX_VALUE).contains(needle);
  }
}
