package dev.parti.benchmarks.scenario;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.OwnershipEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The scenario runner's figures on a hand-made history: no broker, no server, milliseconds. */
class RunsTest {
    private static final long S = 1_000_000_000L;

    /** 4 partitions: a owns 0-1, b owns 2-3; at 10 s c starts; b hands p3 to c with a 1 s gap at 11-12 s. */
    private static List<OwnershipEvent> history() {
        List<OwnershipEvent> ev = new ArrayList<>();
        ev.add(OwnershipEvent.acquired("a", "t-0", 1 * S));
        ev.add(OwnershipEvent.acquired("a", "t-1", 1 * S));
        ev.add(OwnershipEvent.acquired("b", "t-2", 1 * S));
        ev.add(OwnershipEvent.acquired("b", "t-3", 1 * S));
        ev.add(OwnershipEvent.released("b", "t-3", 11 * S));
        ev.add(OwnershipEvent.acquired("c", "t-3", 12 * S));
        return ev;
    }

    @Test
    void figuresOfAScaleOut() {
        List<OwnershipEvent> ev = history();
        Set<String> parts = Runs.partitionNames("t", 4);

        assertThat(Runs.unavailableSeconds(ev, parts, 10 * S, 20 * S)).isEqualTo(1.0);
        assertThat(Runs.moved(ev, 10 * S, 20 * S)).isEqualTo(1);
        assertThat(Runs.rounds(ev, 10 * S, 20 * S, S / 2)).isEqualTo(2);
        assertThat(Runs.balancedAt(ev, 10 * S, 4, 2)).isTrue();
        assertThat(Runs.balancedAt(ev, 20 * S, 4, 3)).isTrue(); // 2 + 1 + 1 within floor/ceil of 4/3
        assertThat(Runs.balancedSince(ev, 10 * S, 20 * S, 4, 3)).isEqualTo(12 * S);
        assertThat(Runs.overlaps(ev, parts, 0, 20 * S)).isZero();
    }

    @Test
    void duplicatesFirstRecordAndConsumedAgain() {
        long p3 = 3L << 40;
        List<Runs.Batch> batches = List.of(
                new Runs.Batch("b", 5 * S, new long[] {p3 | 1, p3 | 2}),
                new Runs.Batch("c", 12 * S, new long[] {p3 | 2, p3 | 3}),
                new Runs.Batch("c", 13 * S, new long[] {p3 | 4}));

        assertThat(Runs.duplicates(batches, 10 * S, 20 * S)).isEqualTo(1);
        assertThat(Runs.duplicates(batches, 13 * S, 20 * S)).isZero();
        assertThat(Runs.firstRecord(batches, "c", 10 * S)).isEqualTo(12 * S);
        assertThat(Runs.allConsumedAgain(batches, List.of(3), "b", 10 * S)).isEqualTo(12 * S);
        assertThat(Runs.allConsumedAgain(batches, List.of(3, 2), "b", 10 * S)).isEqualTo(-1);
    }

    @Test
    void timelineShowsOwnersAndGaps() {
        String svg = Timeline.render("test", List.of(new Timeline.Panel("panel", history(), "t", 4, 9 * S, 14 * S,
                Map.of("c starts", 10 * S))));

        assertThat(svg).startsWith("<svg").contains("no owner", "c starts", "<title>c t-3</title>", "<title>b t-3</title>");
    }
}
