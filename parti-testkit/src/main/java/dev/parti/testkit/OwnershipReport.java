package dev.parti.testkit;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The result of {@link OwnershipChecker}: every overlap, every gap longer than the bound, the required
 * partitions unowned at the end, and totals for reporting. Times are {@link System#nanoTime()} values;
 * {@link #toString()} shows them relative to the window start.
 */
public final class OwnershipReport {
  /**
   * Two worker instances owned {@code partition} at the same time.
   *
   * @param partition the partition
   * @param firstOwner the instance that owned it first
   * @param secondOwner the instance that acquired it while the first still owned it
   * @param startNanos when the overlap began (clipped to the window)
   * @param durationNanos how long it lasted within the window
   * @param openAtEnd whether both still owned it at the window's end
   */
  public record Overlap(String partition, String firstOwner, String secondOwner, long startNanos, long durationNanos,
      boolean openAtEnd) {}

  /**
   * Two instances holding the same worker ID both owned partitions (not necessarily the same ones) at the
   * same time: one ID held twice (invariant 1).
   *
   * @param workerId the ID both held
   * @param firstInstance the instance that owned something under it first
   * @param secondInstance the other instance
   * @param startNanos when both began to own something (clipped to the window)
   * @param durationNanos how long both owned something, within the window
   * @param openAtEnd whether both still owned something at the window's end
   */
  public record IdConflict(String workerId, String firstInstance, String secondInstance, long startNanos,
      long durationNanos, boolean openAtEnd) {}

  /**
   * A required partition was owned by nobody for longer than the bound.
   *
   * @param partition the partition
   * @param startNanos when it became unowned (or the window start)
   * @param durationNanos how long it stayed unowned within the window
   * @param openAtEnd whether it was still unowned at the window's end
   */
  public record Gap(String partition, long startNanos, long durationNanos, boolean openAtEnd) {}

  private final long startNanos;
  private final long endNanos;
  private final Duration maxGap;
  private final List<Overlap> overlaps;
  private final List<IdConflict> idConflicts;
  private final List<Gap> gaps;
  private final Set<String> unownedAtEnd;
  private final boolean ownedAtEndRequired;
  private final long unownedNanos;
  private final long longestGapNanos;
  private final int requiredPartitions;
  private final Map<String, Set<String>> idsOfInstances;

  OwnershipReport(long startNanos, long endNanos, Duration maxGap, List<Overlap> overlaps, List<IdConflict> idConflicts,
      List<Gap> gaps, Set<String> unownedAtEnd, boolean ownedAtEndRequired, long unownedNanos, long longestGapNanos,
      int requiredPartitions, Map<String, Set<String>> idsOfInstances) {
    this.startNanos = startNanos;
    this.endNanos = endNanos;
    this.maxGap = maxGap;
    this.overlaps = List.copyOf(overlaps);
    this.idConflicts = List.copyOf(idConflicts);
    this.idsOfInstances = Map.copyOf(idsOfInstances);
    this.gaps = List.copyOf(gaps);
    this.unownedAtEnd = Set.copyOf(unownedAtEnd);
    this.ownedAtEndRequired = ownedAtEndRequired;
    this.unownedNanos = unownedNanos;
    this.longestGapNanos = longestGapNanos;
    this.requiredPartitions = requiredPartitions;
  }

  /** Every overlap within the window, ordered by start. */
  public List<Overlap> overlaps() {
    return overlaps;
  }

  /** Every stretch in which one worker ID was acting through two instances, ordered by start. */
  public List<IdConflict> idConflicts() {
    return idConflicts;
  }

  /** Every gap longer than the bound, ordered by start. */
  public List<Gap> gaps() {
    return gaps;
  }

  /** Required partitions owned by nobody at the window's end (a violation only if required). */
  public Set<String> unownedAtEnd() {
    return unownedAtEnd;
  }

  /** Total overlap time, summed over all overlaps (partition-nanoseconds). */
  public long overlapNanos() {
    return overlaps.stream().mapToLong(Overlap::durationNanos).sum();
  }

  /** Total unowned time of the required partitions within the window, short gaps included (partition-nanoseconds). */
  public long unownedNanos() {
    return unownedNanos;
  }

  /** The longest unowned stretch of any required partition within the window, short or not. */
  public long longestGapNanos() {
    return longestGapNanos;
  }

  /** Window start ({@link System#nanoTime()}). */
  public long startNanos() {
    return startNanos;
  }

  /** Window end ({@link System#nanoTime()}). */
  public long endNanos() {
    return endNanos;
  }

  /**
   * True when there is no overlap, no ID held by two instances at once, no gap over the bound and, if
   * required, no partition unowned at the end.
   */
  public boolean isClean() {
    return overlaps.isEmpty() && idConflicts.isEmpty() && gaps.isEmpty()
        && (!ownedAtEndRequired || unownedAtEnd.isEmpty());
  }

  /**
   * Throws an {@link AssertionError} listing every violation unless {@link #isClean()}.
   *
   * @throws AssertionError with the readable {@link #toString()} description
   */
  public void assertClean() {
    if (!isClean()) {
      throw new AssertionError("ownership violations:\n" + this);
    }
  }

  /** A readable summary: totals, then one line per violation with times relative to the window start. */
  @Override
  public String toString() {
    StringBuilder text = new StringBuilder();
    text.append(String.format(Locale.ROOT, "window %s, %d required partitions, max gap %s: %d overlaps (%s total), "
            + "%d IDs held twice, %d gaps over the bound, unowned %s in total, longest gap %s",
        ms(endNanos - startNanos), requiredPartitions, maxGap == null ? "unbounded" : ms(maxGap.toNanos()),
        overlaps.size(), ms(overlapNanos()), idConflicts.size(), gaps.size(), ms(unownedNanos), ms(longestGapNanos)));
    for (Overlap o : overlaps) {
      text.append(String.format(Locale.ROOT, "%n  OVERLAP %s: instances %s and %s both owned it from +%s for %s%s",
          o.partition(), named(o.firstOwner()), named(o.secondOwner()), ms(o.startNanos() - startNanos),
          ms(o.durationNanos()), o.openAtEnd() ? " (still at the end)" : ""));
    }
    for (IdConflict c : idConflicts) {
      text.append(String.format(Locale.ROOT, "%n  ID HELD TWICE %s: instances %s and %s both owned partitions from +%s for %s%s",
          c.workerId(), c.firstInstance(), c.secondInstance(), ms(c.startNanos() - startNanos), ms(c.durationNanos()),
          c.openAtEnd() ? " (still at the end)" : ""));
    }
    for (Gap g : gaps) {
      text.append(String.format(Locale.ROOT, "%n  GAP %s: owned by nobody from +%s for %s%s", g.partition(),
          ms(g.startNanos() - startNanos), ms(g.durationNanos()), g.openAtEnd() ? " (still at the end)" : ""));
    }
    if (!unownedAtEnd.isEmpty()) {
      text.append(String.format(Locale.ROOT, "%n  %s: %s", ownedAtEndRequired ? "UNOWNED AT END" : "unowned at end (allowed)",
          new java.util.TreeSet<>(unownedAtEnd)));
    }
    return text.toString();
  }

  /** An instance with the worker IDs it held, when they differ from its name. */
  private String named(String instance) {
    Set<String> ids = idsOfInstances.getOrDefault(instance, Set.of());
    return ids.isEmpty() || ids.equals(Set.of(instance)) ? instance : instance + " (ID " + String.join(",", ids) + ")";
  }

  private static String ms(long nanos) {
    return String.format(Locale.ROOT, "%.3f ms", nanos / 1_000_000.0);
  }
}
