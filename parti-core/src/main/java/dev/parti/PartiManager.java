package dev.parti;

import dev.parti.internal.GroupMember;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;

/**
 * One worker of a Parti group: claims a stable worker ID, takes part in leader election,
 * heartbeats, and receives its share of the partitions through an {@link AssignmentListener}.
 * When it is the leader, it also runs the calculator that assigns partitions to all workers.
 *
 * <pre>{@code
 * PartiConfig config = PartiConfig.builder("orders")
 *     .natsUrl("nats://127.0.0.1:4222")
 *     .partitionSource(PartitionSource.of(partitions))
 *     .build();
 * try (PartiManager parti = new PartiManager(config, listener)) {
 *     parti.start();
 *     ...
 * }
 * }</pre>
 *
 * <p>Threads: {@code start()} runs on the caller's thread until the worker has an ID; then the
 * worker's protocol runs as {@code parti-<group>-main} and every listener call, in order, as {@code
 * parti-<group>-callbacks}: single-threaded executors that borrow a thread of pools shared by the workers of this
 * JVM only while they run something (the thread carries that name meanwhile; a hung listener holds one pool thread
 * and delays no other worker). {@link #close()} stops both and closes the NATS connection if Parti opened it; the
 * shared threads end with the last worker. The connection Parti opens is shared by the workers of this JVM that use
 * the same servers and options (closed with the last of them), and so is one watch dispatcher; {@link
 * PartiConfig.Builder#shareConnection(boolean)} opts out.
 */
public final class PartiManager implements AutoCloseable {
    private final GroupMember member;

    /**
     * @param config   validated settings
     * @param listener told about partitions gained and lost, on the callback thread
     */
    public PartiManager(PartiConfig config, AssignmentListener listener) {
        this.member = new GroupMember(Objects.requireNonNull(config, "config"), Objects.requireNonNull(listener, "listener"));
    }

    /**
     * Connects (if given a URL), creates the group's buckets if needed, claims a worker ID and
     * writes the first heartbeat; returns in {@link ManagerState#WAITING_ASSIGNMENT}. The assignment
     * arrives later through the listener.
     *
     * @throws PartiException when NATS is unreachable within the start-up timeout, refuses the
     *         buckets, or the worker-ID pool is exhausted
     * @throws IllegalStateException when called twice
     */
    public void start() {
        member.start();
    }

    /** Leaves the group: revokes everything, deletes the heartbeat and releases the ID, so the group rebalances at once. */
    @Override
    public void close() {
        member.close(false);
    }

    /**
     * Stops this worker. With {@code remainInGroup} it keeps its ID and heartbeat until they expire:
     * nothing is rebalanced before the session timeout, and a restart with the same static
     * {@link PartiConfig#workerId()} gets the same partitions back. Idempotent.
     */
    public void close(boolean remainInGroup) {
        member.close(remainInGroup);
    }

    /** This worker's ID, or null before {@link #start()}. */
    public String workerId() {
        return member.workerId();
    }

    /**
     * Whether this worker holds the leader lease now: it won the election and its last renewal is
     * younger than {@code leaderTtl} minus the safety margin. A leader whose renewals stall stops
     * answering true before another worker can be elected, so at most one live worker answers true
     * (clocks advancing at the same rate assumed, as for every lease).
     */
    public boolean isLeader() {
        return member.isLeader();
    }

    /** The partitions this worker owns now (after the listener calls that gave them). */
    public Set<Partition> currentAssignment() {
        return member.currentAssignment();
    }

    /** The assignment version last applied, 0 before the first. */
    public long assignmentVersion() {
        return member.assignmentVersion();
    }

    /**
     * Whether this worker is a safe owner right now: it holds its ID and its last successful
     * heartbeat write started less than {@code sessionTimeout − safetyMargin} ago (by its own
     * monotonic clock). Work on owned partitions done while this is false may overlap with a new
     * owner; the Kafka adapter refuses commits then.
     */
    public boolean isLeaseValid() {
        return member.isLeaseValid();
    }

    /** The current state. */
    public ManagerState state() {
        return member.state();
    }

    /**
     * Why this manager is degraded now (empty when it is not): e.g. {@link DegradedReason#KV_UNAVAILABLE}.
     * Changes are also reported to {@link StateListener#onDegraded}/{@link StateListener#onRecovered}
     * and {@link MetricsRecorder#degraded}.
     */
    public java.util.Set<DegradedReason> degradedReasons() {
        return member.degradedReasons();
    }

    /**
     * Reports a persistent fault in the work this worker does for its partitions, outside Parti's own
     * protocol (a consumer that cannot be created, a missing stream, a permission refused), so operators see
     * it where they see Parti's own faults: {@link DegradedReason#EXTERNAL_FAULT} is raised, the manager is
     * {@link ManagerState#DEGRADED}, and {@link StateListener#onDegraded}, {@link MetricsRecorder#degraded}
     * and the log report it once. The assignment is not changed: the worker keeps its partitions and its
     * lease. Reporting the same {@code source} again reports nothing new; several sources may be reported
     * at once, and the reason clears when the last one is cleared with {@link #clearFault(String)}. Ignored
     * after {@link #close()}. Any thread.
     *
     * @param source a stable name of what failed, e.g. {@code "parti-nats:orders/3"}; not blank
     * @param detail what happened, for the log and {@link StateListener#onDegraded}
     * @throws IllegalArgumentException when {@code source} is blank
     */
    public void reportFault(String source, String detail) {
        member.reportFault(requireSource(source), Objects.requireNonNull(detail, "detail"));
    }

    /**
     * The fault reported for {@code source} with {@link #reportFault(String, String)} is over. When no
     * reported source is left, {@link DegradedReason#EXTERNAL_FAULT} clears (and the manager leaves
     * {@link ManagerState#DEGRADED} if nothing else holds it there). Clearing a source never reported does
     * nothing. Any thread.
     *
     * @throws IllegalArgumentException when {@code source} is blank
     */
    public void clearFault(String source) {
        member.clearFault(requireSource(source));
    }

    private static String requireSource(String source) {
        if (source == null || source.isBlank()) {
            throw new IllegalArgumentException("fault source must be a non-blank name, was '" + source + "'");
        }
        return source;
    }

    /** Waits until the manager is in {@code state}; returns false on timeout. */
    public boolean awaitState(ManagerState state, Duration timeout) throws InterruptedException {
        return member.awaitState(state, timeout);
    }

    /**
     * Makes the leader read its {@link PartitionSource} again and rebalance if partitions were
     * added, removed or re-weighted. On a follower it has no effect: the leader reads the source
     * before each rebalance and when it calls this itself.
     */
    public void refreshPartitions() {
        member.refreshPartitions();
    }

    /**
     * Sets the metadata this worker publishes in its heartbeat, which the leader's strategy and
     * partition source see as {@link Worker#metadata()}: e.g. what a Kafka member subscribes to.
     * Replaces what an earlier call set; the default keys {@link Worker#HOST_KEY} and {@link
     * Worker#PID_KEY} stay unless {@code metadata} overrides them. May be called before {@link #start()}
     * (the first heartbeat carries it) or at any time after, from any thread: the heartbeat is then
     * written at once, and the leader rebalances when a live worker's metadata changed (after the
     * rebalance cooldown). Workers of releases before metadata existed publish none.
     *
     * @param metadata keys non-empty, values non-null; at most 16 384 characters in all
     * @throws IllegalArgumentException when a key is empty or a value null, or the metadata is too large
     */
    public void setMetadata(java.util.Map<String, String> metadata) {
        member.setMetadata(Objects.requireNonNull(metadata, "metadata"));
    }

    /** The metadata this worker publishes (the defaults {@code host}, {@code pid} and what {@link #setMetadata} set), immutable. */
    public java.util.Map<String, String> metadata() {
        return member.metadata();
    }

    /**
     * Asks for a rebalance of the whole group, from any worker (leader or not), like Kafka's {@code
     * enforceRebalance()}. Thread: any; it returns at once. Effect: this worker's heartbeat is written
     * at once with a new rebalance request; the leader then (after the rebalance cooldown) runs the
     * strategy again and publishes a new assignment version even if no partition moves, so every
     * worker's {@link AssignmentListener#onAssigned} is called (with the partitions added, possibly
     * none) and, for partitions that move, {@code onRevoked} first. Requests made close together may
     * be served by one rebalance. A request made while no leader is in place is lost.
     *
     * @throws IllegalStateException when the manager is not started
     */
    public void requestRebalance() {
        member.requestRebalance();
    }

    /**
     * Adds a state listener. It is called on the callback thread ({@code parti-<group>-callbacks}), in
     * the order the changes happened, never concurrently with itself or with the {@link AssignmentListener}.
     */
    public void addStateListener(StateListener listener) {
        member.addStateListener(Objects.requireNonNull(listener, "listener"));
    }
}
