package dev.parti.internal;

import dev.parti.internal.Codec.AssignmentRecord;
import dev.parti.internal.KvGateway.Bucket;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The assignment a group's last workers left in its bucket, retired by a process that is not one of its workers: a
 * rolling migration's Kafka leader, as it announces the switch to Parti.
 *
 * <p>The assignment bucket has no TTL, so a group that ran on Parti, stopped (rolled back to Kafka, say) and comes
 * back later finds its old assignment there. A leader starts from the published assignment, which is right when
 * workers may still hold it. But once no worker of the group is live, every worker that ever held it has had its
 * session end: the record only says where partitions were, not who holds them. Its worker IDs come back with new
 * instances (a pool's IDs, static IDs), so a leader would take them for restarted workers, re-address their old
 * lines to them and place partitions from there. A migration knows better where they are (in Kafka).
 *
 * <p>Retiring publishes a version with no worker, by compare-and-set on the revision read <em>before</em> the
 * heartbeats were listed. A leader that began since then has fenced the chain (a write), so the retirement loses
 * its CAS and changes nothing; a worker whose heartbeat came after the listing holds nothing from the old record (a
 * line is applied only by the instance it is addressed to) and its leader starts from the retired version, a cold
 * start. Versions keep increasing, so no worker ignores the next leader's versions as old ones.
 */
public final class LeftoverAssignment {
    /**
     * What {@link #retireUnlessLive} found and did.
     *
     * @param liveWorkers the IDs with a heartbeat (nothing was written when there is any)
     * @param retiredVersion the version published with no worker, 0 when nothing was retired (a live worker, no
     *                       assignment or one with no worker already, or the CAS lost to a leader)
     * @param retiredFrom the version it replaced, 0 when nothing was retired
     */
    public record Outcome(List<String> liveWorkers, long retiredVersion, long retiredFrom) { }

    private LeftoverAssignment() {
    }

    /**
     * Retires the group's published assignment when none of its workers is live (see the class comment).
     *
     * @param kv the group's buckets, opened
     * @param by who retires it, written as the version's leader ID (logs only)
     * @throws KvGateway.KvUnavailableException when NATS cannot be reached
     * @throws KvGateway.KvRejectedException when the server refuses
     */
    public static Outcome retireUnlessLive(KvGateway kv, String by) {
        return retireUnlessLive(new AssignmentPublisher(kv), () -> kv.keys(Bucket.HEARTBEATS), by);
    }

    /** The steps, with the listing of the live workers apart (a test runs a leader's fence just before it). */
    static Outcome retireUnlessLive(AssignmentPublisher publisher, Supplier<List<String>> liveWorkers, String by) {
        AssignmentRecord current = publisher.load(); // its revision first: the CAS below then fails on any later leader
        List<String> live = liveWorkers.get();
        if (!live.isEmpty()) {
            return new Outcome(List.copyOf(live), 0, 0);
        }
        if (current == null || current.owners().isEmpty()) {
            return new Outcome(List.of(), 0, 0);
        }
        AssignmentRecord retired = publisher.publish(Map.of(), Map.of(), by, current.epoch(), () -> true);
        return retired == null ? new Outcome(List.of(), 0, 0) : new Outcome(List.of(), retired.version(), current.version());
    }
}
