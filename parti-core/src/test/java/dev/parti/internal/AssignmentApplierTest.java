package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.AssignmentListener;
import dev.parti.MetricsRecorder;
import dev.parti.Partition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The applier's rules for a fenced worker, as a state machine (no I/O). The case below is the double owner
 * NemesisTest found on seed 6403024260867: a worker stopped past its session fences itself when it resumes,
 * but its watch then delivers a version the leader published during the pause (computed while the worker
 * still looked alive, so it still gives it partitions the leader has since given to someone else). That
 * version is newer than anything the worker had seen at the fence, so before the fix it was applied and the
 * worker owned the partitions again while their new owner did too.
 */
class AssignmentApplierTest {
    private static final Partition P0 = Partition.of("t", "0");
    private static final Partition P1 = Partition.of("t", "1");

    private final List<String> calls = new ArrayList<>();
    private final Set<Partition> held = new TreeSet<>();
    /** Runs inside onRevoked (a fence while the listener lets go). */
    private Runnable duringRevoke = () -> { };
    private final AssignmentApplier applier = new AssignmentApplier(new AssignmentListener() {
        @Override
        public void onAssigned(Set<Partition> added, long version) {
            held.addAll(added);
            calls.add("assigned " + added + " v" + version);
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            duringRevoke.run();
            held.removeAll(removed);
            calls.add("revoked " + removed + " v" + version);
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            held.removeAll(lost);
            calls.add("lost " + lost + " v" + version);
        }
    }, MetricsRecorder.NOOP);

    private static Codec.AssignmentRecord version(long v, Map<String, List<Partition>> owners) {
        return new Codec.AssignmentRecord(v, "w-leader", 1, owners);
    }

    @Test
    void aVersionPublishedWhileTheWorkerWasAwayIsNeverAppliedAfterItsFence() {
        applier.workerId("w-4");
        applier.offer(version(5, Map.of("w-4", List.of(P0, P1))));
        assertThat(applier.applyLatest(() -> true)).isTrue();

        // resumed past its session: the watchdog fences before the watch delivers what was published meanwhile
        applier.reportLost(applier.fence("stale lease"));
        // version 6 was published during the pause and still gives w-4 its partitions
        applier.offer(version(6, Map.of("w-4", List.of(P0, P1))));
        assertThat(applier.needsHorizon()).isTrue();
        assertThat(applier.applyLatest(() -> true)).as("applied before the horizon was read").isFalse();

        // back (heartbeat written), the worker reads the version current now: 7, where P0 and P1 are someone else's
        applier.horizon(7);
        assertThat(applier.needsHorizon()).isFalse();
        assertThat(applier.applyLatest(() -> true)).as("version 6 applied after the horizon 7").isFalse();
        applier.offer(version(7, Map.of("w-0", List.of(P0, P1))));
        assertThat(applier.applyLatest(() -> true)).isFalse();
        assertThat(held).isEmpty();
        assertThat(applier.snapshot().appliedVersion()).as("reported so the leader publishes a fresh version").isEqualTo(7);

        // the fresh version, published after the worker is back, is applied
        applier.offer(version(8, Map.of("w-4", List.of(P1), "w-0", List.of(P0))));
        assertThat(applier.applyLatest(() -> true)).isTrue();
        assertThat(held).containsExactly(P1);
        assertThat(calls).containsExactly("assigned [t/0, t/1] v5", "lost [t/0, t/1] v5", "assigned [t/1] v8");
    }

    @Test
    void anUnfencedWorkerNeedsNoHorizon() {
        applier.workerId("w-1");
        applier.offer(version(3, Map.of("w-1", List.of(P0))));
        assertThat(applier.needsHorizon()).isFalse();
        assertThat(applier.applyLatest(() -> true)).isTrue();
        applier.offer(version(4, Map.of("w-1", List.of(P0, P1))));
        assertThat(applier.applyLatest(() -> true)).isTrue();
        assertThat(held).containsExactly(P0, P1);
    }

    /**
     * Found by the simulator (seed 1008 with server clock steps): the lease lapsed while a slow onRevoked ran, and an
     * apply queued on the callback thread before the fence's onLost ran first, so the listener heard onAssigned for
     * partitions it still held, then onLost for them (and believed it owned nothing while Parti counted them owned).
     */
    @Test
    void aFenceDuringOnRevokedReportsItsLossBeforeAnythingIsAssignedAgain() {
        applier.workerId("w-2");
        applier.offer(version(5, Map.of("w-2", List.of(P0, P1))));
        assertThat(applier.applyLatest(() -> true)).isTrue();

        AssignmentApplier.Loss[] loss = new AssignmentApplier.Loss[1];
        duringRevoke = () -> loss[0] = applier.fence("stale lease");
        applier.offer(version(6, Map.of("w-2", List.of(P0), "w-0", List.of(P1))));
        assertThat(applier.applyLatest(() -> true)).as("fenced while revoking: version 6 is not applied").isFalse();
        duringRevoke = () -> { };
        assertThat(loss[0].partitions()).containsExactly(P0);

        // back: a heartbeat, the horizon read (6), and version 7 gives P0 to w-2 again; the apply queued before
        // the fence's onLost runs first
        applier.horizon(6);
        applier.offer(version(7, Map.of("w-2", List.of(P0), "w-0", List.of(P1))));
        assertThat(applier.applyLatest(() -> true)).as("applied before onLost of the fence was called").isFalse();
        applier.reportLost(loss[0]);
        assertThat(applier.applyLatest(() -> true)).isTrue();
        assertThat(held).containsExactly(P0);
        assertThat(calls).containsExactly("assigned [t/0, t/1] v5", "revoked [t/1] v6", "lost [t/0] v5", "assigned [t/0] v7");
    }
}
