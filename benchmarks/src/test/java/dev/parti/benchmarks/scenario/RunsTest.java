package dev.parti.benchmarks.scenario;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.parti.testkit.OwnershipEvent;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    /**
     * Rolling restart over 2 partitions: a owns t-0, b owns t-1. At 10 s a closes (10.0-10.2 s, releases t-0 inside
     * its close) and a new a takes t-0 back at 11 s. At 20 s b closes (releases t-1 at 20.1 s, close returns 20.2 s);
     * the group gives t-1 to a at 20.3 s, then moves it to the new b at 25 s.
     */
    private static List<OwnershipEvent> rollingHistory() {
        List<OwnershipEvent> ev = new ArrayList<>();
        ev.add(OwnershipEvent.acquired("a", "t-0", 1 * S));
        ev.add(OwnershipEvent.acquired("b", "t-1", 1 * S));
        ev.add(OwnershipEvent.released("a", "t-0", 10 * S + S / 10));
        ev.add(OwnershipEvent.gone("a", 10 * S + S / 5));
        ev.add(OwnershipEvent.acquired("a", "t-0", 11 * S));
        ev.add(OwnershipEvent.released("b", "t-1", 20 * S + S / 10));
        ev.add(OwnershipEvent.gone("b", 20 * S + S / 5));
        ev.add(OwnershipEvent.acquired("a", "t-1", 20 * S + 3 * S / 10));
        ev.add(OwnershipEvent.released("a", "t-1", 25 * S));
        ev.add(OwnershipEvent.acquired("b", "t-1", 25 * S));
        return ev;
    }

    @Test
    void figuresOfARollingRestart() {
        List<OwnershipEvent> ev = rollingHistory();
        List<Runs.Close> closes = List.of(new Runs.Close("a", 10 * S, 10 * S + S / 5), new Runs.Close("b", 20 * S, 20 * S + S / 5));

        assertThat(Runs.moved(ev, 5 * S, 30 * S)).isZero(); // the end state equals the start state
        assertThat(Runs.acquisitions(ev, 5 * S, 30 * S)).isEqualTo(3);
        assertThat(Runs.handovers(ev, 5 * S, 30 * S)).isEqualTo(2); // t-1 to a, then back to b; a getting t-0 back is none
        assertThat(Runs.handovers(ev, 5 * S, 15 * S)).isZero();
        // all rounds: release in a's close, a's re-acquisition, b's release + hand-over to a (0.2 s apart), move to b
        assertThat(Runs.rounds(ev, 5 * S, 30 * S, S / 2)).isEqualTo(4);
        // without the releases inside close(): a's re-acquisition, t-1 to a, t-1 to b
        assertThat(Runs.rebalanceRounds(ev, 5 * S, 30 * S, S / 2, closes)).isEqualTo(3);
        assertThat(Runs.rebalanceRounds(ev, 5 * S, 15 * S, S / 2, closes)).isEqualTo(1);
        assertThat(Runs.unavailableSeconds(ev, Runs.partitionNames("t", 2), 5 * S, 30 * S)).isCloseTo(0.9 + 0.2, within(1e-9));
    }

    @Test
    void aRestartedWorkersBatchesCarryItsName(@TempDir Path dir) throws IOException {
        for (String file : List.of("w1.consumed", "w1~2.consumed")) {
            try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(dir.resolve(file)))) {
                out.writeLong(file.contains("~") ? 2 * S : S);
                out.writeInt(1);
                out.writeLong(7);
            }
        }

        List<Runs.Batch> batches = Runs.consumed(dir);

        assertThat(batches).extracting(Runs.Batch::worker).containsExactly("w1", "w1");
        assertThat(Runs.duplicates(batches, 0, 3 * S)).isEqualTo(1);
        assertThat(Runs.workerOfFile("w12~3.consumed")).isEqualTo("w12");
    }

    @Test
    void timelineShowsOwnersAndGaps() {
        String svg = Timeline.render("test", List.of(new Timeline.Panel("panel", history(), "t", 4, 9 * S, 14 * S,
                Map.of("c starts", 10 * S))));

        assertThat(svg).startsWith("<svg").contains("no owner", "c starts", "<title>c t-3</title>", "<title>b t-3</title>");
    }
}
