package dev.parti.testkit;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.Supplier;

/**
 * Lifecycle shared by the JUnit extensions: a resource started in {@code beforeAll} lives for the class
 * (nested classes see the same one); otherwise one is started per test in {@code beforeEach}.
 */
final class Scoped<T extends Closeable> {
  private T classWide;
  private int classDepth;
  private T perTest;

  synchronized void beforeAll(Supplier<T> factory) {
    if (classDepth++ == 0) {
      classWide = factory.get();
    }
  }

  synchronized void afterAll() {
    if (classDepth > 0 && --classDepth == 0) {
      T resource = classWide;
      classWide = null;
      close(resource);
    }
  }

  synchronized void beforeEach(Supplier<T> factory) {
    if (classWide == null) {
      perTest = factory.get();
    }
  }

  synchronized void afterEach() {
    T resource = perTest;
    perTest = null;
    close(resource);
  }

  synchronized T get(String what) {
    T resource = perTest != null ? perTest : classWide;
    if (resource == null) {
      throw new IllegalStateException(what + " is only available while a test of its class runs");
    }
    return resource;
  }

  private static void close(Closeable resource) {
    if (resource != null) {
      try {
        resource.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
