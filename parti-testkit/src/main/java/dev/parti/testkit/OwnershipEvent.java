package dev.parti.testkit;

import java.util.Objects;

/**
 * One entry of an {@link OwnershipLog}: at {@code nanos} ({@link System#nanoTime()}), worker
 * {@code workerId} started or stopped owning {@code partition}, or stopped being a live owner of
 * everything ({@link Kind#GONE}, for example when a test killed it).
 *
 * <p>Timestamps from different JVMs on the same Linux machine are comparable: HotSpot's
 * {@code System.nanoTime()} reads {@code CLOCK_MONOTONIC}, which is system-wide. That is an assumption of
 * the kit, not a guarantee of the Java specification, and it does not hold across machines.
 *
 * @param workerId who owns; no tab, CR or LF
 * @param partition what is owned, for example {@code orders-3}; {@link #ALL} for {@link Kind#GONE}; no tab, CR or LF
 * @param kind what happened
 * @param nanos when, as {@link System#nanoTime()}
 */
public record OwnershipEvent(String workerId, String partition, Kind kind, long nanos) {
  /** The partition field of a {@link Kind#GONE} event. */
  public static final String ALL = "*";

  /** What happened. */
  public enum Kind {
    /** The worker started owning (processing) the partition. */
    ACQUIRED,
    /** The worker stopped owning the partition. */
    RELEASED,
    /** The worker is no longer a live owner of anything it held (killed, or declared dead by the test). */
    GONE
  }

  /** Validates the fields. */
  public OwnershipEvent {
    requireField(workerId, "workerId");
    requireField(partition, "partition");
    Objects.requireNonNull(kind, "kind");
    if (kind == Kind.GONE && !ALL.equals(partition)) {
      throw new IllegalArgumentException("a GONE event applies to all partitions (" + ALL + "): " + partition);
    }
  }

  /** {@code workerId} acquired {@code partition} at {@code nanos}. */
  public static OwnershipEvent acquired(String workerId, String partition, long nanos) {
    return new OwnershipEvent(workerId, partition, Kind.ACQUIRED, nanos);
  }

  /** {@code workerId} released {@code partition} at {@code nanos}. */
  public static OwnershipEvent released(String workerId, String partition, long nanos) {
    return new OwnershipEvent(workerId, partition, Kind.RELEASED, nanos);
  }

  /** {@code workerId} stopped owning everything at {@code nanos}. */
  public static OwnershipEvent gone(String workerId, long nanos) {
    return new OwnershipEvent(workerId, ALL, Kind.GONE, nanos);
  }

  /** The line format of a directory-backed log: {@code nanos TAB kind TAB workerId TAB partition}. */
  String toLine() {
    return nanos + "\t" + kind + "\t" + workerId + "\t" + partition;
  }

  /** Parses {@link #toLine()}; throws IllegalArgumentException for anything else. */
  static OwnershipEvent parse(String line) {
    String[] fields = line.split("\t", -1);
    if (fields.length != 4) {
      throw new IllegalArgumentException("not an ownership event line: " + line);
    }
    try {
      return new OwnershipEvent(fields[2], fields[3], Kind.valueOf(fields[1]), Long.parseLong(fields[0]));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not an ownership event line: " + line, e);
    }
  }

  private static void requireField(String value, String name) {
    Objects.requireNonNull(value, name);
    if (value.isEmpty() || value.indexOf('\t') >= 0 || value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
      throw new IllegalArgumentException(name + " must be non-empty without tab or line breaks: '" + value + "'");
    }
  }
}
