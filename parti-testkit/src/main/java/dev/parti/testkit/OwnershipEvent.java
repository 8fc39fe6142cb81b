package dev.parti.testkit;

import java.util.Objects;

/**
 * One entry of an {@link OwnershipLog}: at {@code nanos} ({@link System#nanoTime()}), the worker instance
 * {@code instance}, holding worker ID {@code workerId}, started or stopped owning {@code partition}, or
 * stopped being a live owner of everything ({@link Kind#GONE}, for example when a test killed it).
 *
 * <p>Owners are <em>instances</em>, one per start of a worker, never worker IDs: a worker restarted under
 * the same ID, or a second instance claiming a static ID, is a different owner, and two instances
 * holding one ID at the same time is exactly the failure {@link OwnershipChecker} must see. The
 * {@code workerId} is carried along so the checker can also report one ID acting through two instances
 * at once. The short forms without an instance ({@link #acquired(String, String, long)} and friends) use
 * the given name as both; callers must then make that name unique per start (for example {@code w1~2}
 * for the second start of {@code w1}).
 *
 * <p>Timestamps from different JVMs on the same Linux machine are comparable: HotSpot's
 * {@code System.nanoTime()} reads {@code CLOCK_MONOTONIC}, which is system-wide. That is an assumption of
 * the kit, not a guarantee of the Java specification, and it does not hold across machines.
 *
 * @param workerId the worker ID the instance held (informational; the owner is {@code instance}); no tab, CR or LF
 * @param partition what is owned, for example {@code orders-3}; {@link #ALL} for {@link Kind#GONE}; no tab, CR or LF
 * @param kind what happened
 * @param nanos when, as {@link System#nanoTime()}
 * @param instance who owns: one name per start of a worker; no tab, CR or LF
 */
public record OwnershipEvent(String workerId, String partition, Kind kind, long nanos, String instance) {
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
    requireField(instance, "instance");
    requireField(partition, "partition");
    Objects.requireNonNull(kind, "kind");
    if (kind == Kind.GONE && !ALL.equals(partition)) {
      throw new IllegalArgumentException("a GONE event applies to all partitions (" + ALL + "): " + partition);
    }
  }

  /** An event whose owner name is both the instance and the worker ID (the name must be unique per start). */
  public OwnershipEvent(String owner, String partition, Kind kind, long nanos) {
    this(owner, partition, kind, nanos, owner);
  }

  /** {@code owner} (instance and worker ID at once, unique per start) acquired {@code partition} at {@code nanos}. */
  public static OwnershipEvent acquired(String owner, String partition, long nanos) {
    return new OwnershipEvent(owner, partition, Kind.ACQUIRED, nanos);
  }

  /** {@code owner} (instance and worker ID at once) released {@code partition} at {@code nanos}. */
  public static OwnershipEvent released(String owner, String partition, long nanos) {
    return new OwnershipEvent(owner, partition, Kind.RELEASED, nanos);
  }

  /** {@code owner} (instance and worker ID at once) stopped owning everything at {@code nanos}. */
  public static OwnershipEvent gone(String owner, long nanos) {
    return new OwnershipEvent(owner, ALL, Kind.GONE, nanos);
  }

  /** Instance {@code instance}, holding worker ID {@code workerId}, acquired {@code partition} at {@code nanos}. */
  public static OwnershipEvent acquired(String instance, String workerId, String partition, long nanos) {
    return new OwnershipEvent(workerId, partition, Kind.ACQUIRED, nanos, instance);
  }

  /** Instance {@code instance}, holding worker ID {@code workerId}, released {@code partition} at {@code nanos}. */
  public static OwnershipEvent released(String instance, String workerId, String partition, long nanos) {
    return new OwnershipEvent(workerId, partition, Kind.RELEASED, nanos, instance);
  }

  /**
   * The line format of a directory-backed log: {@code nanos TAB kind TAB workerId TAB partition TAB instance}
   * (the instance field is left out when it equals the worker ID).
   */
  String toLine() {
    String line = nanos + "\t" + kind + "\t" + workerId + "\t" + partition;
    return instance.equals(workerId) ? line : line + "\t" + instance;
  }

  /** Parses {@link #toLine()} (four or five fields); throws IllegalArgumentException for anything else. */
  static OwnershipEvent parse(String line) {
    String[] fields = line.split("\t", -1);
    if (fields.length != 4 && fields.length != 5) {
      throw new IllegalArgumentException("not an ownership event line: " + line);
    }
    try {
      return new OwnershipEvent(fields[2], fields[3], Kind.valueOf(fields[1]), Long.parseLong(fields[0]),
          fields.length == 5 ? fields[4] : fields[2]);
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
