package dev.parti.testkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Checks an ownership history against Parti's two safety properties within a time window:
 * <ol>
 *   <li>no overlap: two workers never own the same partition at the same time;</li>
 *   <li>bounded gaps: each required partition is never unowned for longer than {@code maxGap}
 *       (invariant 7: session timeout + stabilization window + 1 s), and optionally is owned at the end.</li>
 * </ol>
 *
 * <p>Rules: events are ordered by time; at equal timestamps releases and {@code GONE} come before
 * acquisitions, so a hand-off at the same nanosecond is not an overlap. Acquiring a partition a worker
 * already owns, or releasing one it does not own, changes nothing. {@code GONE} ends every ownership of
 * the worker. Events before the window build the starting state; events after it are ignored. Overlaps
 * are checked on every partition in the events; gaps only on the required partitions.
 *
 * <pre>{@code
 * OwnershipReport report = OwnershipChecker.builder()
 *     .partitions(Set.of("t-0", "t-1"))
 *     .maxGap(Duration.ofSeconds(8))
 *     .window(start, System.nanoTime())
 *     .requireOwnedAtEnd(true)
 *     .check(log.events());
 * report.assertClean();
 * }</pre>
 */
public final class OwnershipChecker {
  private OwnershipChecker() {}

  /**
   * Checks {@code events} for overlaps anywhere and for gaps longer than {@code maxGap} on
   * {@code partitions}, within {@code [startNanos, endNanos]}; does not require ownership at the end.
   */
  public static OwnershipReport check(Collection<OwnershipEvent> events, Duration maxGap, Set<String> partitions,
      long startNanos, long endNanos) {
    return builder().maxGap(maxGap).partitions(partitions).window(startNanos, endNanos).check(events);
  }

  /** A checker with every option: partitions, maximum gap, window, ownership at the end. */
  public static Builder builder() {
    return new Builder();
  }

  /** Options of a check. Defaults: no required partitions, no gap limit, window from the first to the last event. */
  public static final class Builder {
    private Set<String> partitions = Set.of();
    private Duration maxGap;
    private Long startNanos;
    private Long endNanos;
    private boolean requireOwnedAtEnd;

    private Builder() {}

    /** Partitions that must always be owned (gap check). Overlaps are checked on all partitions regardless. */
    public Builder partitions(Set<String> partitions) {
      this.partitions = Set.copyOf(partitions);
      return this;
    }

    /** The longest allowed unowned stretch of a required partition; longer gaps are violations. */
    public Builder maxGap(Duration maxGap) {
      if (maxGap.isNegative()) {
        throw new IllegalArgumentException("maxGap must not be negative: " + maxGap);
      }
      this.maxGap = maxGap;
      return this;
    }

    /** The checked window, in {@link System#nanoTime()} values; {@code start <= end}. */
    public Builder window(long startNanos, long endNanos) {
      if (endNanos - startNanos < 0) {
        throw new IllegalArgumentException("window end before start: " + startNanos + " > " + endNanos);
      }
      this.startNanos = startNanos;
      this.endNanos = endNanos;
      return this;
    }

    /** Whether a required partition unowned at the window's end is a violation, however short the gap. */
    public Builder requireOwnedAtEnd(boolean requireOwnedAtEnd) {
      this.requireOwnedAtEnd = requireOwnedAtEnd;
      return this;
    }

    /** Runs the check. */
    public OwnershipReport check(Collection<OwnershipEvent> events) {
      Objects.requireNonNull(events, "events");
      List<OwnershipEvent> sorted = new ArrayList<>(events);
      sorted.sort(Comparator.comparingLong(OwnershipEvent::nanos).thenComparingInt(e -> order(e.kind())));
      long start = startNanos != null ? startNanos : sorted.isEmpty() ? 0 : sorted.get(0).nanos();
      long end = endNanos != null ? endNanos : sorted.isEmpty() ? start : sorted.get(sorted.size() - 1).nanos();
      return evaluate(sorted, start, end, this);
    }
  }

  private static int order(OwnershipEvent.Kind kind) {
    return switch (kind) {
      case RELEASED -> 0;
      case GONE -> 1;
      case ACQUIRED -> 2;
    };
  }

  /** An ownership interval of one worker on one partition; {@code to == Long.MAX_VALUE} while open. */
  private record Interval(String worker, long from, long to) {}

  private static OwnershipReport evaluate(List<OwnershipEvent> sorted, long start, long end, Builder options) {
    Map<String, List<Interval>> intervals = intervals(sorted, end);

    List<OwnershipReport.Overlap> overlaps = new ArrayList<>();
    for (Map.Entry<String, List<Interval>> entry : intervals.entrySet()) {
      findOverlaps(entry.getKey(), entry.getValue(), start, end, overlaps);
    }
    overlaps.sort(Comparator.comparingLong(OwnershipReport.Overlap::startNanos)
        .thenComparing(OwnershipReport.Overlap::partition));

    List<OwnershipReport.Gap> gaps = new ArrayList<>();
    long unownedNanos = 0;
    long longestGap = 0;
    Set<String> unownedAtEnd = new TreeSet<>();
    for (String partition : new TreeSet<>(options.partitions)) {
      List<long[]> unowned = unownedStretches(intervals.getOrDefault(partition, List.of()), start, end);
      for (long[] stretch : unowned) {
        long duration = stretch[1] - stretch[0];
        boolean open = stretch[1] == end && !ownedAt(intervals.get(partition), end);
        unownedNanos += duration;
        longestGap = Math.max(longestGap, duration);
        if (options.maxGap != null && duration > options.maxGap.toNanos()) {
          gaps.add(new OwnershipReport.Gap(partition, stretch[0], duration, open));
        }
      }
      if (!ownedAt(intervals.get(partition), end)) {
        unownedAtEnd.add(partition);
      }
    }
    gaps.sort(Comparator.comparingLong(OwnershipReport.Gap::startNanos).thenComparing(OwnershipReport.Gap::partition));
    return new OwnershipReport(start, end, options.maxGap, overlaps, gaps, unownedAtEnd, options.requireOwnedAtEnd,
        unownedNanos, longestGap, options.partitions.size());
  }

  /** Per partition, the ownership intervals from events up to {@code end}. */
  private static Map<String, List<Interval>> intervals(List<OwnershipEvent> sorted, long end) {
    Map<String, List<Interval>> closed = new LinkedHashMap<>();
    Map<String, Map<String, Long>> open = new HashMap<>(); // partition -> worker -> since
    for (OwnershipEvent event : sorted) {
      if (event.nanos() - end > 0) {
        break;
      }
      switch (event.kind()) {
        case ACQUIRED -> open.computeIfAbsent(event.partition(), p -> new LinkedHashMap<>())
            .putIfAbsent(event.workerId(), event.nanos());
        case RELEASED -> {
          Map<String, Long> owners = open.get(event.partition());
          Long since = owners == null ? null : owners.remove(event.workerId());
          if (since != null) {
            closed.computeIfAbsent(event.partition(), p -> new ArrayList<>())
                .add(new Interval(event.workerId(), since, event.nanos()));
          }
        }
        case GONE -> {
          for (Map.Entry<String, Map<String, Long>> entry : open.entrySet()) {
            Long since = entry.getValue().remove(event.workerId());
            if (since != null) {
              closed.computeIfAbsent(entry.getKey(), p -> new ArrayList<>())
                  .add(new Interval(event.workerId(), since, event.nanos()));
            }
          }
        }
      }
    }
    for (Map.Entry<String, Map<String, Long>> entry : open.entrySet()) {
      for (Map.Entry<String, Long> owner : entry.getValue().entrySet()) {
        closed.computeIfAbsent(entry.getKey(), p -> new ArrayList<>())
            .add(new Interval(owner.getKey(), owner.getValue(), Long.MAX_VALUE));
      }
    }
    for (List<Interval> list : closed.values()) {
      list.sort(Comparator.comparingLong(Interval::from));
    }
    return closed;
  }

  private static void findOverlaps(String partition, List<Interval> list, long start, long end,
      List<OwnershipReport.Overlap> out) {
    for (int i = 0; i < list.size(); i++) {
      Interval first = list.get(i);
      for (int j = i + 1; j < list.size(); j++) {
        Interval second = list.get(j);
        if (second.from() >= first.to()) {
          break; // sorted by from: no later interval overlaps first
        }
        if (second.worker().equals(first.worker())) {
          continue;
        }
        long from = Math.max(second.from(), start);
        long bothUntil = Math.min(first.to(), second.to());
        if (from < bothUntil && from <= end) { // both own at some instant of [start, end]
          long to = Math.min(bothUntil, end);
          out.add(new OwnershipReport.Overlap(partition, first.worker(), second.worker(), from, to - from,
              bothUntil > end));
        }
      }
    }
  }

  /** Unowned stretches of one partition within [start, end], as {from, to} pairs. */
  private static List<long[]> unownedStretches(List<Interval> list, long start, long end) {
    List<long[]> stretches = new ArrayList<>();
    long cursor = start; // everything before cursor is accounted for
    for (Interval interval : list) { // sorted by from
      if (interval.to() <= cursor) {
        continue;
      }
      if (interval.from() > cursor) {
        long gapEnd = Math.min(interval.from(), end);
        if (gapEnd > cursor) {
          stretches.add(new long[] {cursor, gapEnd});
        }
      }
      cursor = Math.max(cursor, interval.to());
      if (cursor >= end) {
        return stretches;
      }
    }
    if (cursor < end) {
      stretches.add(new long[] {cursor, end});
    }
    return stretches;
  }

  private static boolean ownedAt(List<Interval> list, long instant) {
    if (list == null) {
      return false;
    }
    for (Interval interval : list) {
      if (interval.from() <= instant && instant < interval.to()) {
        return true;
      }
    }
    return false;
  }
}
