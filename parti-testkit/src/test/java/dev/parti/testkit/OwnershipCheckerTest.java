package dev.parti.testkit;

import static dev.parti.testkit.OwnershipEvent.acquired;
import static dev.parti.testkit.OwnershipEvent.gone;
import static dev.parti.testkit.OwnershipEvent.released;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OwnershipCheckerTest {
  private static final Duration NO_GAP_LIMIT = Duration.ofDays(1);

  private static OwnershipReport check(List<OwnershipEvent> events, Duration maxGap, Set<String> partitions,
      long start, long end) {
    return OwnershipChecker.check(events, maxGap, partitions, start, end);
  }

  @Test
  void aHandOffWhereTheOldOwnerReleasesFirstIsClean() {
    var events = List.of(acquired("a", "p", 0), released("a", "p", 100), acquired("b", "p", 100));

    OwnershipReport report = check(events, Duration.ofNanos(10), Set.of("p"), 0, 200);

    assertThat(report.isClean()).isTrue();
    assertThat(report.overlaps()).isEmpty();
    assertThat(report.gaps()).isEmpty();
    assertThat(report.overlapNanos()).isZero();
    assertThatCode(report::assertClean).doesNotThrowAnyException();
  }

  @Test
  void atEqualTimestampsReleasesCountBeforeAcquisitionsWhateverTheInputOrder() {
    var events = List.of(acquired("a", "p", 0), acquired("b", "p", 100), released("a", "p", 100));

    assertThat(check(events, NO_GAP_LIMIT, Set.of("p"), 0, 200).overlaps()).isEmpty();
  }

  @Test
  void anAcquisitionBeforeTheOldOwnerReleasesIsAnOverlapWithBothOwnersStartAndDuration() {
    var events = List.of(acquired("a", "p", 0), acquired("b", "p", 100), released("a", "p", 150));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of("p"), 0, 200);

    assertThat(report.overlaps()).containsExactly(new OwnershipReport.Overlap("p", "a", "b", 100, 50, false));
    assertThat(report.overlapNanos()).isEqualTo(50);
    assertThat(report.isClean()).isFalse();
  }

  @Test
  void anOverlapStillRunningAtTheEndIsOpenAndLastsUntilTheEnd() {
    var events = List.of(acquired("a", "p", 0), acquired("b", "p", 100));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of("p"), 0, 250);

    assertThat(report.overlaps()).containsExactly(new OwnershipReport.Overlap("p", "a", "b", 100, 150, true));
  }

  @Test
  void threeSimultaneousOwnersGiveOneOverlapPerPair() {
    var events = List.of(acquired("a", "p", 0), acquired("b", "p", 10), acquired("c", "p", 20),
        released("a", "p", 30), released("b", "p", 40), released("c", "p", 50));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of(), 0, 100);

    assertThat(report.overlaps()).containsExactlyInAnyOrder(
        new OwnershipReport.Overlap("p", "a", "b", 10, 20, false),
        new OwnershipReport.Overlap("p", "a", "c", 20, 10, false),
        new OwnershipReport.Overlap("p", "b", "c", 20, 20, false));
    assertThat(report.overlapNanos()).isEqualTo(50);
  }

  @Test
  void overlapsAreClippedToTheWindowAndThoseOutsideItIgnored() {
    var events = List.of(
        acquired("a", "early", 0), acquired("b", "early", 10), released("a", "early", 20),
        acquired("a", "p", 0), acquired("b", "p", 50), released("a", "p", 500));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of(), 100, 300);

    assertThat(report.overlaps()).containsExactly(new OwnershipReport.Overlap("p", "a", "b", 100, 200, true));
  }

  @Test
  void overlapsAreFoundOnPartitionsOutsideTheRequiredSet() {
    var events = List.of(acquired("a", "other", 0), acquired("b", "other", 5));

    assertThat(check(events, NO_GAP_LIMIT, Set.of("p"), 0, 10).overlaps())
        .extracting(OwnershipReport.Overlap::partition).containsExactly("other");
  }

  @Test
  void aGapLongerThanTheBoundIsReportedAndOneExactlyAtTheBoundIsNot() {
    var events = List.of(acquired("a", "p", 0), released("a", "p", 100), acquired("b", "p", 400));

    OwnershipReport tooLong = check(events, Duration.ofNanos(299), Set.of("p"), 0, 1000);
    OwnershipReport atBound = check(events, Duration.ofNanos(300), Set.of("p"), 0, 1000);

    assertThat(tooLong.gaps()).containsExactly(new OwnershipReport.Gap("p", 100, 300, false));
    assertThat(atBound.gaps()).isEmpty();
    assertThat(atBound.isClean()).isTrue();
    assertThat(atBound.unownedNanos()).isEqualTo(300);
    assertThat(atBound.longestGapNanos()).isEqualTo(300);
  }

  @Test
  void aPartitionNotYetOwnedWhenTheWindowOpensHasAGapFromTheWindowStart() {
    var events = List.of(acquired("a", "p", 500));

    assertThat(check(events, Duration.ofNanos(100), Set.of("p"), 0, 1000).gaps())
        .containsExactly(new OwnershipReport.Gap("p", 0, 500, false));
  }

  @Test
  void ownershipAcquiredBeforeTheWindowCountsInsideIt() {
    var events = List.of(acquired("a", "p", -1000), released("a", "p", 900));

    OwnershipReport report = check(events, Duration.ofNanos(200), Set.of("p"), 0, 1000);

    assertThat(report.gaps()).isEmpty();
    assertThat(report.unownedNanos()).isEqualTo(100);
    assertThat(report.unownedAtEnd()).containsExactly("p");
  }

  @Test
  void aPartitionNobodyEverOwnedIsOneOpenGapOverTheWholeWindow() {
    OwnershipReport report = check(List.of(acquired("a", "q", 0)), Duration.ofNanos(100), Set.of("p", "q"), 0, 1000);

    assertThat(report.gaps()).containsExactly(new OwnershipReport.Gap("p", 0, 1000, true));
    assertThat(report.unownedAtEnd()).containsExactly("p");
  }

  @Test
  void ownershipAtTheEndIsRequiredOnlyWhenAsked() {
    var events = List.of(acquired("a", "p", 0), released("a", "p", 990));

    OwnershipReport lenient = OwnershipChecker.builder().partitions(Set.of("p")).maxGap(Duration.ofNanos(100))
        .window(0, 1000).check(events);
    OwnershipReport strict = OwnershipChecker.builder().partitions(Set.of("p")).maxGap(Duration.ofNanos(100))
        .window(0, 1000).requireOwnedAtEnd(true).check(events);

    assertThat(lenient.isClean()).isTrue();
    assertThat(strict.isClean()).isFalse();
    assertThat(strict.unownedAtEnd()).containsExactly("p");
    assertThatThrownBy(strict::assertClean).isInstanceOf(AssertionError.class).hasMessageContaining("UNOWNED AT END: [p]");
  }

  @Test
  void aReleaseExactlyAtTheWindowEndLeavesThePartitionUnownedAtTheEnd() {
    var events = List.of(acquired("a", "p", 0), released("a", "p", 1000));

    OwnershipReport report = OwnershipChecker.builder().partitions(Set.of("p")).window(0, 1000)
        .requireOwnedAtEnd(true).check(events);

    assertThat(report.unownedAtEnd()).containsExactly("p");
    assertThat(report.gaps()).isEmpty(); // zero-length, no bound given
  }

  @Test
  void goneEndsEveryOwnershipOfAKilledWorker() {
    var events = List.of(acquired("a", "p0", 0), acquired("a", "p1", 0), gone("a", 100),
        acquired("b", "p0", 150), acquired("b", "p1", 150));

    OwnershipReport report = check(events, Duration.ofNanos(60), Set.of("p0", "p1"), 0, 1000);

    assertThat(report.isClean()).isTrue();
    assertThat(report.unownedNanos()).isEqualTo(100);
  }

  @Test
  void withoutGoneAKilledWorkerStillCountsAsOwnerAndOverlapsItsSuccessor() {
    var events = List.of(acquired("a", "p0", 0), acquired("b", "p0", 150));

    assertThat(check(events, NO_GAP_LIMIT, Set.of("p0"), 0, 1000).overlaps()).hasSize(1);
  }

  @Test
  void aRepeatedAcquireKeepsTheFirstStartAndAReleaseByANonOwnerChangesNothing() {
    var events = List.of(acquired("a", "p", 0), acquired("a", "p", 50), released("b", "p", 60),
        acquired("b", "p", 100), released("a", "p", 120));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of("p"), 0, 200);

    assertThat(report.overlaps()).containsExactly(new OwnershipReport.Overlap("p", "a", "b", 100, 20, false));
  }

  @Test
  void eventsAfterTheWindowEndAreIgnored() {
    var events = List.of(acquired("a", "p", 0), acquired("b", "p", 2000));

    assertThat(check(events, NO_GAP_LIMIT, Set.of("p"), 0, 1000).isClean()).isTrue();
  }

  @Test
  void theResultDoesNotDependOnTheOrderOfTheInput() {
    List<OwnershipEvent> events = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      String partition = "p" + (i % 2);
      events.add(acquired("w" + (i % 3), partition, i * 10L));
      events.add(released("w" + (i % 3), partition, i * 10L + 25));
    }
    OwnershipReport expected = check(events, Duration.ofNanos(5), Set.of("p0", "p1", "p2", "p3", "p4"), 0, 600);
    Random random = new Random(42);
    for (int round = 0; round < 20; round++) {
      List<OwnershipEvent> shuffled = new ArrayList<>(events);
      Collections.shuffle(shuffled, random);
      OwnershipReport actual = check(shuffled, Duration.ofNanos(5), Set.of("p0", "p1", "p2", "p3", "p4"), 0, 600);
      assertThat(actual.overlaps()).isEqualTo(expected.overlaps());
      assertThat(actual.gaps()).isEqualTo(expected.gaps());
      assertThat(actual.unownedNanos()).isEqualTo(expected.unownedNanos());
    }
    assertThat(expected.overlaps()).isNotEmpty();
    assertThat(expected.gaps()).isNotEmpty();
  }

  @Test
  void assertCleanDescribesEveryViolationReadably() {
    var events = List.of(acquired("w-1", "orders-3", 1_000_000), acquired("w-2", "orders-3", 3_000_000),
        released("w-1", "orders-3", 5_000_000));

    OwnershipReport report = check(events, Duration.ofMillis(1), Set.of("orders-3", "orders-4"), 0, 10_000_000);

    assertThatThrownBy(report::assertClean)
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("OVERLAP orders-3: instances w-1 and w-2 both owned it from +3.000 ms for 2.000 ms")
        .hasMessageContaining("GAP orders-4: owned by nobody from +0.000 ms for 10.000 ms")
        .hasMessageContaining("GAP orders-4: owned by nobody from +0.000 ms for 10.000 ms (still at the end)");
  }

  /**
   * The failure issue 12 says was invisible: one worker ID held by two instances (a static-ID takeover
   * or an ID stolen after a pause). Keyed by worker ID, the second acquisition of "p" by "w-0" would be a
   * no-op and the history would look clean; keyed by instance it is an overlap and an ID held twice.
   */
  @Test
  void twoInstancesHoldingOneIdAndOnePartitionAreAnOverlapAndAnIdHeldTwice() {
    var events = List.of(
        OwnershipEvent.acquired("w-0#1", "w-0", "p", 0),
        OwnershipEvent.acquired("w-0#2", "w-0", "p", 100),
        OwnershipEvent.released("w-0#1", "w-0", "p", 160),
        OwnershipEvent.released("w-0#2", "w-0", "p", 300));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of("p"), 0, 400);

    assertThat(report.overlaps()).containsExactly(new OwnershipReport.Overlap("p", "w-0#1", "w-0#2", 100, 60, false));
    assertThat(report.idConflicts())
        .containsExactly(new OwnershipReport.IdConflict("w-0", "w-0#1", "w-0#2", 100, 60, false));
    assertThatThrownBy(report::assertClean).hasMessageContaining("instances w-0#1 (ID w-0) and w-0#2 (ID w-0)")
        .hasMessageContaining("ID HELD TWICE w-0: instances w-0#1 and w-0#2 both owned partitions from +0.000 ms");

    // the same history with the owner named by worker ID only: nothing to see
    var byId = events.stream().map(e -> new OwnershipEvent(e.workerId(), e.partition(), e.kind(), e.nanos())).toList();
    assertThat(check(byId, NO_GAP_LIMIT, Set.of("p"), 0, 400).overlaps()).isEmpty();
  }

  @Test
  void twoInstancesHoldingOneIdOnDifferentPartitionsAtOnceAreAnIdHeldTwiceButNoOverlap() {
    var events = List.of(
        OwnershipEvent.acquired("old", "orders-1", "p", 0),
        OwnershipEvent.acquired("new", "orders-1", "q", 50),
        OwnershipEvent.released("old", "orders-1", "p", 80),
        OwnershipEvent.acquired("new", "orders-1", "p", 90));

    OwnershipReport report = check(events, NO_GAP_LIMIT, Set.of(), 0, 200);

    assertThat(report.overlaps()).isEmpty();
    assertThat(report.idConflicts())
        .containsExactly(new OwnershipReport.IdConflict("orders-1", "old", "new", 50, 30, false));
    assertThat(report.isClean()).isFalse();
  }

  @Test
  void anInstanceThatLetsGoBeforeTheNextInstanceOfItsIdActsIsClean() {
    var events = List.of(
        OwnershipEvent.acquired("old", "w-0", "p", 0),
        OwnershipEvent.gone("old", 100),
        OwnershipEvent.acquired("new", "w-0", "p", 100),
        OwnershipEvent.acquired("new", "w-0", "q", 120));

    OwnershipReport report = check(events, Duration.ofNanos(50), Set.of("p"), 0, 200);

    assertThat(report.isClean()).isTrue();
    assertThat(report.idConflicts()).isEmpty();
  }

  @Test
  void theBuilderDefaultsToTheSpanOfTheEvents() {
    var events = List.of(acquired("a", "p", 100), released("a", "p", 300), acquired("b", "p", 400));

    OwnershipReport report = OwnershipChecker.builder().partitions(Set.of("p")).maxGap(Duration.ofNanos(50))
        .check(events);

    assertThat(report.startNanos()).isEqualTo(100);
    assertThat(report.endNanos()).isEqualTo(400);
    assertThat(report.gaps()).containsExactly(new OwnershipReport.Gap("p", 300, 100, false));
  }

  @Test
  void invalidOptionsAreRejected() {
    assertThatThrownBy(() -> OwnershipChecker.builder().window(10, 5)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> OwnershipChecker.builder().maxGap(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> acquired("a\tb", "p", 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new OwnershipEvent("a", "p", OwnershipEvent.Kind.GONE, 0))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
