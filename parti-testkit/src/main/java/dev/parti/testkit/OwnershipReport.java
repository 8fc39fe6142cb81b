package dev.parti.testkit;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The result of {@link OwnershipChecker}: every overlap, every gap longer than the bound, the required
 * partitions unowned at the end, and totals for reporting. Times are {@link System#nanoTime()} values;
 * {@link #toString()} shows them relative to the window start.
 */
public final class OwnershipReport {
  /**
   * Two workers owned {@code partition} at the same time.
   *
   * @param partition the partition
   * @param firstOwner the worker that owned it first
   * @param secondOwner the worker that acquired it while the first still owned it
   * @param startNanos when the overlap began (clipped to the window)
   * @param durationNanos how long it lasted within the window
   * @param openAtEnd whether both still owned it at the window's end
   */
  public record Overlap(String partition, String firstOwner, String secondOwner, long startNanos, long durationNanos,
      boolean openAtEnd) {}

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
  private final List<Gap> gaps;
  private final Set<String> unownedAtEnd;
  private final boolean ownedAtEndRequired;
  private final long unownedNanos;
  private final long longestGapNanos;
  private final int requiredPartitions;

  OwnershipReport(long startNanos, long endNanos, Duration maxGap, List<Overlap> overlaps, List<Gap> gaps,
      Set<String> unownedAtEnd, boolean ownedAtEndRequired, long unownedNanos, long longestGapNanos,
      int requiredPartitions) {
    this.startNanos = startNanos;
    this.endNanos = endNanos;
    this.maxGap = maxGap;
    this.overlaps = List.copyOf(overlaps);
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

  /** True when there is no overlap, no gap over the bound and, if required, no partition unowned at the end. */
  public boolean isClean() {
    return overlaps.isEmpty() && gaps.isEmpty() && (!ownedAtEndRequired || unownedAtEnd.isEmpty());
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
            + "%d gaps over the bound, unowned %s in total, longest gap %s",
        ms(endNanos - startNanos), requiredPartitions, maxGap == null ? "unbounded" : ms(maxGap.toNanos()),
        overlaps.size(), ms(overlapNanos()), gaps.size(), ms(unownedNanos), ms(longestGapNanos)));
    for (Overlap o : overlaps) {
      text.append(String.format(Locale.ROOT, "%n  OVERLAP %s: %s and %s both owned it from +%s for %s%s",
          o.partition(), o.firstOwner(), o.secondOwner(), ms(o.startNanos() - startNanos), ms(o.durationNanos()),
          o.openAtEnd() ? " (still at the end)" : ""));
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

  private static String ms(long nanos) {
    return String.format(Locale.ROOT, "%.3f ms", nanos / 1_000_000.0);
  }
}
