package dev.parti.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/** Temporary directories owned by the kit: created with a {@code parti-} prefix, deleted on close. */
final class TempDirs {
  private TempDirs() {}

  /** Creates a new directory under {@code java.io.tmpdir} named {@code parti-<what>-<random>}. */
  static Path create(String what) {
    try {
      return Files.createTempDirectory("parti-" + what + "-").toRealPath();
    } catch (IOException e) {
      throw new UncheckedIOException("could not create a temporary directory", e);
    }
  }

  /** Deletes a directory tree; a missing directory is fine. Retries once for files written during the walk. */
  static void delete(Path dir) {
    if (dir == null) {
      return;
    }
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      try {
        deleteOnce(dir);
        return;
      } catch (NoSuchFileException gone) {
        if (!Files.exists(dir)) {
          return;
        }
        last = gone;
      } catch (IOException e) {
        last = e;
      }
    }
    throw new UncheckedIOException("could not delete " + dir, last);
  }

  private static void deleteOnce(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.deleteIfExists(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
        if (exc instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw exc;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
        if (exc != null && !(exc instanceof NoSuchFileException)) {
          throw exc;
        }
        Files.deleteIfExists(d);
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
