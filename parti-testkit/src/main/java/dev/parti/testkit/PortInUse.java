package dev.parti.testkit;

/** A child server could not start because one of its ports was taken; the caller may retry. */
final class PortInUse extends RuntimeException {
  private static final long serialVersionUID = 1L;

  PortInUse(String message) {
    super(message);
  }
}
