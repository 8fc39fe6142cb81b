package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The simulator with a small max payload ({@code scripts/simulate --partitions 200 --max-payload 1280}): every
 * assignment record is published in pieces (a manifest and pieces, {@link ChunkedAssignment}) under the usual
 * faults, and every check holds (the checker reads each manifest with all its pieces). Seed 536411767 froze the
 * group before a new leader's fence learnt to re-encode an inline record that no longer fits.
 */
class ChunkedSimulationTest {

    /** {@code scripts/simulate}'s defaults (20 s of faults, 12 s quiet) with 200 partitions and a 1280-byte max payload. */
    private static Simulation.Options options(long seed) {
        Simulation.Options o = new Simulation.Options();
        o.seed = seed;
        o.partitions = 200;
        o.maxPayload = 1280;
        return o;
    }

    private static SimMain.Stats run(long firstSeed, int seeds) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        SimMain.Stats st = SimMain.run(options(firstSeed), firstSeed, new SimMain.Budget(seeds, -1), false, true,
                List.of(), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        System.out.println(out);
        System.out.println("[measure] chunked records: " + st.summary());
        assertThat(st.failures).as(out).isZero();
        return st;
    }

    @Test
    void aRangeOfSeedsWithChunkedRecordsPassesEveryCheck() {
        SimMain.Stats st = run(1, 4);
        assertThat(st.publications).isGreaterThan(4 * 5L);
    }

    @Test
    void theSeedThatFrozeTheGroupBeforeTheFenceCouldGoToPiecesPasses() {
        run(536411767L, 1);
    }
}
