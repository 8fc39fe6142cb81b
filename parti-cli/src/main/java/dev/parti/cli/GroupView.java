package dev.parti.cli;

import dev.parti.Partition;
import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway.Bucket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What an operator sees of a group at one moment, derived from a {@link GroupState} by a pure
 * function: the leader and its lease age, the published assignment, each worker with what it owns
 * (its heartbeat) next to what it is assigned (the published version), and the handoffs still in
 * progress. Used by {@code describe} (text and JSON) and by {@code watch} (which diffs two views).
 *
 * @param sessionTimeout the heartbeat bucket's TTL (null if unknown); a heartbeat older than half of
 *                       it is reported {@code late}
 */
record GroupView(String group, Instant at, Leader leader, Assignment assignment, List<Worker> workers,
                 List<Handoff> handoffs, Duration sessionTimeout, Duration leaderTtl, Map<String, String> unreadable) {

    /** The leader key: worker, instance, age of its last renewal. */
    record Leader(String workerId, String instance, Duration leaseAge) { }

    /** The published assignment record's header. */
    record Assignment(long version, String leaderId, long epoch, Duration age, int partitions) { }

    /**
     * One worker: the union of the IDs and heartbeats buckets.
     *
     * @param heartbeatAge null when it has no heartbeat (session expired, ID not yet)
     */
    record Worker(String id, String instance, String host, Duration heartbeatAge, long weight, long appliedVersion, boolean fenced,
                  List<Partition> owned, List<Partition> assigned, boolean hasId, boolean late, List<String> degraded) {
        Worker {
            degraded = degraded == null ? List.of() : List.copyOf(degraded);
        }

        /** One word for the STATUS column (then the worker's degraded reasons, if it reports any). */
        String status(long version) {
            String word = word(version);
            return degraded.isEmpty() || heartbeatAge == null ? word : word + " (" + String.join(",", degraded) + ")";
        }

        private String word(long version) {
            if (heartbeatAge == null) {
                return hasId ? "no-heartbeat" : "gone";
            }
            if (fenced) {
                return "fenced";
            }
            if (late) {
                return "late";
            }
            if (!degraded.isEmpty()) {
                return "degraded";
            }
            if (appliedVersion < version) {
                return "applying";
            }
            return "ok";
        }
    }

    /**
     * A partition whose owner per heartbeats differs from the published assignment.
     *
     * @param from       the worker still holding it (null: nobody holds it yet)
     * @param to         the worker it is published to (null: withheld until {@code from} releases it)
     * @param waitingFor what the move waits for, in words
     */
    record Handoff(Partition partition, String from, String to, String waitingFor) { }

    static GroupView of(GroupState s, Instant now) {
        Duration session = s.ttl(Bucket.HEARTBEATS);
        GroupState.Stored<Codec.LeaderRecord> l = s.currentLeader();
        Leader leader = l == null ? null : new Leader(l.value().workerId(), l.value().instance(), age(now, l.written()));
        GroupState.Stored<Codec.AssignmentRecord> a = s.currentAssignment();
        Codec.AssignmentRecord rec = a == null ? null : a.value();
        Assignment assignment = rec == null ? null : new Assignment(rec.version(), rec.leaderId(), rec.epoch(),
                age(now, a.written()), rec.owners().values().stream().mapToInt(List::size).sum());
        long version = rec == null ? 0 : rec.version();

        Set<String> ids = new TreeSet<>(s.ids.keySet());
        ids.addAll(s.heartbeats.keySet());
        if (rec != null) {
            ids.addAll(rec.owners().keySet()); // a worker gone from both buckets may still be published
        }
        List<Worker> workers = new ArrayList<>();
        for (String id : ids) {
            GroupState.Stored<Codec.Heartbeat> hb = s.heartbeats.get(id);
            GroupState.Stored<Codec.IdRecord> idRec = s.ids.get(id);
            List<Partition> assigned = rec == null ? List.of() : List.copyOf(new TreeSet<>(rec.of(id)));
            if (hb == null) {
                workers.add(new Worker(id, idRec == null ? null : idRec.value().instance(), null, null, 1, 0, false, List.of(),
                        assigned, idRec != null, false, List.of()));
                continue;
            }
            Duration age = age(now, hb.written());
            boolean late = session != null && age != null && age.compareTo(session.dividedBy(2)) > 0;
            workers.add(new Worker(id, hb.value().instance(), host(hb.value()), age, hb.value().capacity(), hb.value().appliedVersion(),
                    hb.value().fenced(), List.copyOf(new TreeSet<>(hb.value().owned())), assigned, idRec != null, late,
                    List.copyOf(hb.value().degraded())));
        }
        return new GroupView(s.group, now, leader, assignment, List.copyOf(workers), handoffs(s, rec),
                session, s.ttl(Bucket.LEADER), Map.copyOf(s.unreadable()));
    }

    /** Partitions whose holders (per heartbeats) are not exactly their published owner. */
    static List<Handoff> handoffs(GroupState s, Codec.AssignmentRecord rec) {
        Map<Partition, String> assignee = new TreeMap<>();
        if (rec != null) {
            rec.owners().forEach((w, ps) -> ps.forEach(p -> assignee.put(p, w)));
        }
        Map<Partition, Set<String>> holders = new TreeMap<>();
        s.heartbeats.forEach((w, hb) -> hb.value().owned().forEach(p -> holders.computeIfAbsent(p, k -> new TreeSet<>()).add(w)));
        Set<Partition> all = new TreeSet<>(assignee.keySet());
        all.addAll(holders.keySet());
        long version = rec == null ? 0 : rec.version();
        List<Handoff> out = new ArrayList<>();
        for (Partition p : all) {
            String to = assignee.get(p);
            Set<String> held = holders.getOrDefault(p, Set.of());
            if (to != null && held.size() == 1 && held.contains(to)) {
                continue;
            }
            if (to != null && held.isEmpty()) {
                out.add(new Handoff(p, null, to, to + " to apply version " + version));
                continue;
            }
            for (String from : held) {
                if (from.equals(to)) {
                    continue;
                }
                out.add(new Handoff(p, from, to, from + " to release it"));
            }
        }
        return out;
    }

    private static Duration age(Instant now, Instant written) {
        return written == null ? null : Duration.between(written, now);
    }

    /** The worker with this ID, or null. */
    Worker worker(String id) {
        for (Worker w : workers) {
            if (w.id().equals(id)) {
                return w;
            }
        }
        return null;
    }

    /** Workers with a heartbeat (live members). */
    List<Worker> live() {
        List<Worker> out = new ArrayList<>();
        for (Worker w : workers) {
            if (w.heartbeatAge() != null) {
                out.add(w);
            }
        }
        return out;
    }

    /** Partition → published owner. */
    Map<Partition, String> assignedOwners() {
        Map<Partition, String> out = new LinkedHashMap<>();
        for (Worker w : workers) {
            w.assigned().forEach(p -> out.put(p, w.id()));
        }
        return out;
    }

    /** Partition → holders per heartbeats. */
    Map<Partition, Set<String>> heldBy() {
        Map<Partition, Set<String>> out = new TreeMap<>();
        for (Worker w : workers) {
            w.owned().forEach(p -> out.computeIfAbsent(p, k -> new TreeSet<>()).add(w.id()));
        }
        return out;
    }

    /** {@code host:pid} from the heartbeat's metadata (format 1.1), null when the worker does not report it. */
    static String host(Codec.Heartbeat hb) {
        String host = hb.metadata().get(dev.parti.Worker.HOST_KEY);
        if (host == null) {
            return null;
        }
        String pid = hb.metadata().get(dev.parti.Worker.PID_KEY);
        return pid == null ? host : host + ":" + pid;
    }

}
