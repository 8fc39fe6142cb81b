package dev.parti.internal;

/**
 * Test-only switches that put back bugs fixed for issue 12, one at a time, so that the deterministic
 * simulation can show it finds them (and how many seeds it needs). Every switch is off by default;
 * nothing outside this package's tests sets them, and production code never does. Each is read at
 * exactly the place of the fix it undoes.
 */
final class ReintroducedBugs {
    /** Hole 4: no lease check right before the publication's write (only the one before the calculator's round). */
    static volatile boolean noLeaseCheckAtPublish;
    /** Hole 3: a newer instance of a static member acquires at once, while the older one may still own. */
    static volatile boolean staticTakeoverAtOnce;
    /** Hole 7: a fenced worker stops reporting its partitions held at once, before {@code onLost} returned. */
    static volatile boolean fenceReleasesAtOnce;
    /** Hole 4: a new leader does not fence the assignment chain, so a deposed leader's late write can land. */
    static volatile boolean noChainFence;

    /** Found by the simulator: a worker back from an ended session acquires from a version published while it was away. */
    static volatile boolean noFenceFloorAfterSessionLoss;

    /** Hole 12: the leader takes a heartbeat key gone by the server's clock as the end of the worker's lease. */
    static volatile boolean trustServerExpiry;

    /** Found by NemesisTest: watches are not opened again after a reconnect (they may have died with a restarted server). */
    static volatile boolean noRewatchOnReconnect;

    /**
     * The cover of a watch that misses an event removed: the assignment key is polled only after a reconnect, never
     * periodically (neither while waiting for an assignment nor at rest).
     */
    static volatile boolean noPeriodicAssignmentPoll;

    /**
     * Found by the simulator (watch stalls): a new leader moves partitions while a worker it found at the start of its
     * term has not applied the version it started from, so a line of an earlier leader it never saw may still reach
     * that worker late.
     */
    static volatile boolean newLeaderTrustsUnknownVersions;

    /**
     * Found by the simulator (watch stalls, two members per process): the leader counts a worker gone once the grace
     * after a read that missed its key has passed, without reading the key again, though the worker may have come
     * back right after that read and its new heartbeat sit in a stalled watch.
     */
    static volatile boolean goneWithoutASecondRead;

    /**
     * Found by the simulator (findings 7 and 16): the leader addresses the line of a worker it does not count live
     * to that worker's last instance, which may come back unseen, apply it, and have it moved by the next version
     * without waiting for its release.
     */
    static volatile boolean linesForWorkersNotLive;

    /**
     * Found by the simulator: only a heartbeat ends a stale-lease episode, so when the ID's renewal is what makes
     * the lease valid again, the worker acquires inside the episode and a lease going stale again is not acted on:
     * no fence.
     */
    static volatile boolean staleEpisodeEndsOnlyWithAHeartbeat;

    /** Found by the simulator: close() does not wait for the onLost of a fence made just before it (finding 19). */
    static volatile boolean closeIgnoresAFencesLoss;

    /**
     * Found by the simulator (finding 18): a line addressed to the instance that ran a static ID before the current one,
     * in a version it had not acknowledged, is not counted held by it, so the current instance gets the same partitions
     * while the earlier one, whose successor's takeover read came before that version, may still apply it.
     */
    static volatile boolean formerInstanceLinesNotHeld;

    /**
     * Found by StaticMemberStopTest (an availability bug, not a safety one): a new instance of a static ID reports
     * nothing applied, so every remembered line of the ID counted held, also those of the earlier instance that a
     * version it had applied since superseded; a worker holding a partition such a line once gave the ID lost it until
     * the earlier instance's session ended.
     */
    static volatile boolean formerInstanceOldLinesHeld;

    /**
     * Found by the simulator (finding 20): nothing is applied right after a fenced worker's horizon read, so a version
     * the watch delivered while that read was under way (refused then, as the horizon was pending) waits for a newer
     * one that never comes: the leader sees the worker report the version before it and publishes nothing.
     */
    static volatile boolean noApplyAfterHorizon;

    private ReintroducedBugs() {
    }

    /** Turns every switch off. */
    static void reset() {
        noLeaseCheckAtPublish = false;
        staticTakeoverAtOnce = false;
        fenceReleasesAtOnce = false;
        noChainFence = false;
        noFenceFloorAfterSessionLoss = false;
        trustServerExpiry = false;
        noRewatchOnReconnect = false;
        noPeriodicAssignmentPoll = false;
        newLeaderTrustsUnknownVersions = false;
        goneWithoutASecondRead = false;
        linesForWorkersNotLive = false;
        staleEpisodeEndsOnlyWithAHeartbeat = false;
        closeIgnoresAFencesLoss = false;
        formerInstanceLinesNotHeld = false;
        formerInstanceOldLinesHeld = false;
        noApplyAfterHorizon = false;
    }
}
