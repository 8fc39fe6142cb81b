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
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Checks an ownership history against Parti's safety properties within a time window:
 * <ol>
 *   <li>no overlap: two worker instances never own the same partition at the same time;</li>
 *   <li>no ID held twice: two instances with the same worker ID never own anything at the same time
 *       (one owning {@code p1} while the other owns {@code p2} is invariant 1 broken, even without an
 *       overlap on one partition);</li>
 *   <li>bounded gaps: each required partition is never unowned for longer than {@code maxGap}
 *       (invariant 7: session timeout + stabilization window + 1 s), and optionally is owned at the end.</li>
 * </ol>
 *
 * <p>Owners are instances ({@link OwnershipEvent#instance()}, one per start), never worker IDs: two
 * instances holding one ID are two owners. Ownership is a set of intervals over time, not a sample at one
 * instant: every overlap of two intervals inside the window counts, however short.
 *
 * <p>Rules: events are ordered by time; at equal timestamps releases and {@code GONE} come before
 * acquisitions, so a hand-off at the same nanosecond is not an overlap. Acquiring a partition an instance
 * already owns, or releasing one it does not own, changes nothing. {@code GONE} ends every ownership of
 * the instance. Events before the window build the starting state; events after it are ignored. Overlaps
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

  /**
   * An ownership interval of one instance (holding worker ID {@code workerId} when it acquired) on one
   * partition; {@code to == Long.MAX_VALUE} while open.
   */
  private record Interval(String worker, String workerId, long from, long to) {}

  /** What an open interval remembers until it is closed. */
  private record Open(String workerId, long since) {}

  private static OwnershipReport evaluate(List<OwnershipEvent> sorted, long start, long end, Builder options) {
    Map<String, List<Interval>> intervals = intervals(sorted, end);

    List<OwnershipReport.Overlap> overlaps = new ArrayList<>();
    for (Map.Entry<String, List<Interval>> entry : intervals.entrySet()) {
      findOverlaps(entry.getKey(), entry.getValue(), start, end, overlaps);
    }
    overlaps.sort(Comparator.comparingLong(OwnershipReport.Overlap::startNanos)
        .thenComparing(OwnershipReport.Overlap::partition));
    List<OwnershipReport.IdConflict> idConflicts = idConflicts(intervals, start, end);
    Map<String, Set<String>> idsOfInstances = new TreeMap<>();
    for (OwnershipEvent event : sorted) {
      if (event.kind() != OwnershipEvent.Kind.GONE) {
        idsOfInstances.computeIfAbsent(event.instance(), i -> new TreeSet<>()).add(event.workerId());
      }
    }

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
    return new OwnershipReport(start, end, options.maxGap, overlaps, idConflicts, gaps, unownedAtEnd,
        options.requireOwnedAtEnd, unownedNanos, longestGap, options.partitions.size(), idsOfInstances);
  }

  /** Per partition, the ownership intervals (by instance) from events up to {@code end}. */
  private static Map<String, List<Interval>> intervals(List<OwnershipEvent> sorted, long end) {
    Map<String, List<Interval>> closed = new LinkedHashMap<>();
    Map<String, Map<String, Open>> open = new HashMap<>(); // partition -> instance -> since
    for (OwnershipEvent event : sorted) {
      if (event.nanos() - end > 0) {
        break;
      }
      switch (event.kind()) {
        case ACQUIRED -> open.computeIfAbsent(event.partition(), p -> new LinkedHashMap<>())
            .putIfAbsent(event.instance(), new Open(event.workerId(), event.nanos()));
        case RELEASED -> {
          Map<String, Open> owners = open.get(event.partition());
          Open since = owners == null ? null : owners.remove(event.instance());
          if (since != null) {
            closed.computeIfAbsent(event.partition(), p -> new ArrayList<>())
                .add(new Interval(event.instance(), since.workerId(), since.since(), event.nanos()));
          }
        }
        case GONE -> {
          for (Map.Entry<String, Map<String, Open>> entry : open.entrySet()) {
            Open since = entry.getValue().remove(event.instance());
            if (since != null) {
              closed.computeIfAbsent(entry.getKey(), p -> new ArrayList<>())
                  .add(new Interval(event.instance(), since.workerId(), since.since(), event.nanos()));
            }
          }
        }
      }
    }
    for (Map.Entry<String, Map<String, Open>> entry : open.entrySet()) {
      for (Map.Entry<String, Open> owner : entry.getValue().entrySet()) {
        closed.computeIfAbsent(entry.getKey(), p -> new ArrayList<>())
            .add(new Interval(owner.getKey(), owner.getValue().workerId(), owner.getValue().since(), Long.MAX_VALUE));
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

  /**
   * Per worker ID, the stretches of time in which two different instances holding that ID both owned
   * something (any partitions) inside [start, end].
   */
  private static List<OwnershipReport.IdConflict> idConflicts(Map<String, List<Interval>> intervals, long start,
      long end) {
    // worker ID -> instance -> its ownership intervals under that ID, over all partitions
    Map<String, Map<String, List<Interval>>> byId = new TreeMap<>();
    for (List<Interval> list : intervals.values()) {
      for (Interval interval : list) {
        byId.computeIfAbsent(interval.workerId(), id -> new TreeMap<>())
            .computeIfAbsent(interval.worker(), i -> new ArrayList<>()).add(interval);
      }
    }
    List<OwnershipReport.IdConflict> out = new ArrayList<>();
    for (Map.Entry<String, Map<String, List<Interval>>> id : byId.entrySet()) {
      List<String> instances = new ArrayList<>(id.getValue().keySet());
      for (int i = 0; i < instances.size(); i++) {
        List<long[]> first = union(id.getValue().get(instances.get(i)));
        for (int j = i + 1; j < instances.size(); j++) {
          List<long[]> second = union(id.getValue().get(instances.get(j)));
          for (long[] a : first) {
            for (long[] b : second) {
              long from = Math.max(Math.max(a[0], b[0]), start);
              long bothUntil = Math.min(a[1], b[1]);
              if (from < bothUntil && from <= end) {
                long to = Math.min(bothUntil, end);
                boolean firstEarlier = a[0] <= b[0];
                out.add(new OwnershipReport.IdConflict(id.getKey(), firstEarlier ? instances.get(i) : instances.get(j),
                    firstEarlier ? instances.get(j) : instances.get(i), from, to - from, bothUntil > end));
              }
            }
          }
        }
      }
    }
    out.sort(Comparator.comparingLong(OwnershipReport.IdConflict::startNanos));
    return out;
  }

  /** The union of intervals as sorted, disjoint {from, to} pairs. */
  private static List<long[]> union(List<Interval> list) {
    List<Interval> sorted = new ArrayList<>(list);
    sorted.sort(Comparator.comparingLong(Interval::from));
    List<long[]> out = new ArrayList<>();
    for (Interval interval : sorted) {
      long[] last = out.isEmpty() ? null : out.get(out.size() - 1);
      if (last != null && interval.from() <= last[1]) {
        last[1] = Math.max(last[1], interval.to());
      } else {
        out.add(new long[] {interval.from(), interval.to()});
      }
    }
    return out;
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
