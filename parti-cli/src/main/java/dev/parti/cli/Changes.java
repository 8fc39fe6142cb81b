package dev.parti.cli;

import dev.parti.Partition;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What changed between two {@link GroupView}s, in words: the events {@code parti watch} prints. A pure
 * function of the two views (and of why departed workers went), so it is tested without servers.
 */
final class Changes {
    /** Kinds of change, in the order they are reported within one step; {@code INFO} is the watch's own notice. */
    enum Kind { INFO, LEFT, JOINED, RESTARTED, LEADER, VERSION, APPLIED, FENCED, UNFENCED, DEGRADED, RECOVERED, LATE, ON_TIME,
        HANDOFFS, UNREADABLE, SCAN_FAILED, SCAN_RECOVERED }

    /** One change: when it was seen, its kind, the worker concerned (or null) and a sentence. */
    record Change(Instant at, Kind kind, String worker, String text, Map<String, Object> details) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("at", at.toString());
            m.put("kind", kind.name());
            m.put("worker", worker);
            m.put("text", text);
            m.putAll(details);
            return m;
        }
    }

    private Changes() { }

    /**
     * The changes from {@code a} to {@code b}.
     *
     * @param departures why a worker's heartbeat disappeared since {@code a} (worker → reason); a missing
     *                   entry reads "heartbeat gone"
     */
    static List<Change> between(GroupView a, GroupView b, Map<String, String> departures) {
        List<Change> out = new ArrayList<>();
        Instant at = b.at();
        long version = b.assignment() == null ? 0 : b.assignment().version();
        for (GroupView.Worker before : a.live()) {
            GroupView.Worker after = b.worker(before.id());
            if (after == null || after.heartbeatAge() == null) {
                String why = departures.getOrDefault(before.id(), "heartbeat gone");
                out.add(new Change(at, Kind.LEFT, before.id(), before.id() + " is gone: " + why
                        + (before.owned().isEmpty() ? "" : "; it held " + Describe.list(before.owned())),
                        Map.of("reason", why, "held", Json.ids(before.owned()))));
            }
        }
        for (GroupView.Worker after : b.live()) {
            GroupView.Worker before = a.worker(after.id());
            if (before == null || before.heartbeatAge() == null) {
                out.add(new Change(at, Kind.JOINED, after.id(), after.id() + " joined (instance "
                        + Describe.shortId(after.instance()) + ", weight " + after.weight() + ")",
                        Map.of("instance", after.instance(), "weight", after.weight())));
            } else if (!Objects.equals(before.instance(), after.instance())) {
                out.add(new Change(at, Kind.RESTARTED, after.id(), after.id() + " is run by a new instance "
                        + Describe.shortId(after.instance()) + " (was " + Describe.shortId(before.instance()) + ")",
                        Map.of("instance", after.instance(), "previousInstance", String.valueOf(before.instance()))));
            }
        }
        String leaderBefore = a.leader() == null ? null : a.leader().workerId() + "@" + a.leader().instance();
        String leaderAfter = b.leader() == null ? null : b.leader().workerId() + "@" + b.leader().instance();
        if (!Objects.equals(leaderBefore, leaderAfter)) {
            String from = a.leader() == null ? "none" : a.leader().workerId();
            String to = b.leader() == null ? "none" : b.leader().workerId();
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("from", a.leader() == null ? null : a.leader().workerId());
            d.put("to", b.leader() == null ? null : b.leader().workerId());
            out.add(new Change(at, Kind.LEADER, b.leader() == null ? null : b.leader().workerId(),
                    b.leader() == null ? "no leader (" + from + "'s lease ended); an election is due"
                            : "leader is " + to + " (was " + from + ")", d));
        }
        long versionBefore = a.assignment() == null ? 0 : a.assignment().version();
        if (version != versionBefore && b.assignment() != null) {
            Map<String, List<String>> gained = new TreeMap<>();
            Map<String, List<String>> lost = new TreeMap<>();
            Map<Partition, String> was = a.assignedOwners();
            Map<Partition, String> now = b.assignedOwners();
            now.forEach((p, w) -> {
                if (!w.equals(was.get(p))) {
                    gained.computeIfAbsent(w, k -> new ArrayList<>()).add(p.id());
                }
            });
            was.forEach((p, w) -> {
                if (!w.equals(now.get(p))) {
                    lost.computeIfAbsent(w, k -> new ArrayList<>()).add(p.id());
                }
            });
            StringBuilder s = new StringBuilder("version " + version + " published by " + b.assignment().leaderId()
                    + " (epoch " + b.assignment().epoch() + ")");
            if (gained.isEmpty() && lost.isEmpty()) {
                s.append(": no partition moves");
            }
            Set<String> ws = new TreeSet<>(gained.keySet());
            ws.addAll(lost.keySet());
            for (String w : ws) {
                s.append("; ").append(w);
                if (gained.containsKey(w)) {
                    s.append(" +").append(String.join(",", gained.get(w)));
                }
                if (lost.containsKey(w)) {
                    s.append(" -").append(String.join(",", lost.get(w)));
                }
            }
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("version", version);
            d.put("previousVersion", versionBefore);
            d.put("publishedBy", b.assignment().leaderId());
            d.put("gained", gained);
            d.put("lost", lost);
            out.add(new Change(at, Kind.VERSION, b.assignment().leaderId(), s.toString(), d));
        }
        for (GroupView.Worker after : b.live()) {
            GroupView.Worker before = a.worker(after.id());
            if (before == null || before.heartbeatAge() == null || !Objects.equals(before.instance(), after.instance())) {
                if (!after.owned().isEmpty() || after.appliedVersion() > 0) {
                    out.add(applied(at, after, List.of(), after));
                }
            } else if (before.appliedVersion() != after.appliedVersion() || !before.owned().equals(after.owned())) {
                out.add(applied(at, after, before.owned(), after));
            }
            boolean wasFenced = before != null && before.heartbeatAge() != null && before.fenced();
            if (after.fenced() && !wasFenced) {
                out.add(new Change(at, Kind.FENCED, after.id(), after.id() + " fenced itself: its lease went stale (NATS "
                        + "unreachable or the process paused); it owns nothing until a fresh version", Map.of()));
            } else if (!after.fenced() && wasFenced) {
                out.add(new Change(at, Kind.UNFENCED, after.id(), after.id() + " is no longer fenced", Map.of()));
            }
            List<String> degradedBefore = before == null || before.heartbeatAge() == null ? List.of() : before.degraded();
            if (!after.degraded().equals(degradedBefore)) {
                if (after.degraded().isEmpty()) {
                    out.add(new Change(at, Kind.RECOVERED, after.id(), after.id() + " is no longer degraded (was "
                            + String.join(", ", degradedBefore) + ")", Map.of("was", degradedBefore)));
                } else {
                    out.add(new Change(at, Kind.DEGRADED, after.id(), after.id() + " is degraded: "
                            + String.join(", ", after.degraded()), Map.of("reasons", after.degraded(), "was", degradedBefore)));
                }
            }
            boolean wasLate = before != null && before.heartbeatAge() != null && before.late();
            if (after.late() && !wasLate) {
                out.add(new Change(at, Kind.LATE, after.id(), after.id() + " heartbeat late: last written "
                        + Durations.human(after.heartbeatAge()) + " ago (session timeout "
                        + Durations.human(b.sessionTimeout()) + ")", Map.of("heartbeatAgeMs", after.heartbeatAge().toMillis())));
            } else if (!after.late() && wasLate) {
                out.add(new Change(at, Kind.ON_TIME, after.id(), after.id() + " heartbeats again", Map.of()));
            }
        }
        if (!a.handoffs().equals(b.handoffs())) {
            if (b.handoffs().isEmpty()) {
                if (!a.handoffs().isEmpty()) {
                    out.add(new Change(at, Kind.HANDOFFS, null, "all handoffs complete", Map.of("pending", 0)));
                }
            } else {
                List<String> items = new ArrayList<>();
                for (GroupView.Handoff h : b.handoffs()) {
                    items.add(h.partition().id() + ": " + (h.from() == null ? "" : h.from() + " ") + "-> "
                            + (h.to() == null ? "?" : h.to()));
                }
                out.add(new Change(at, Kind.HANDOFFS, null, b.handoffs().size() + " handoffs pending: "
                        + String.join(", ", items), Map.of("pending", b.handoffs().size(), "handoffs", items)));
            }
        }
        for (Map.Entry<String, String> u : b.unreadable().entrySet()) {
            if (!u.getValue().equals(a.unreadable().get(u.getKey()))) {
                out.add(new Change(at, Kind.UNREADABLE, null, "unreadable record " + u.getKey() + ": " + u.getValue(),
                        Map.of("record", u.getKey())));
            }
        }
        return out;
    }

    private static Change applied(Instant at, GroupView.Worker w, List<Partition> ownedBefore, GroupView.Worker after) {
        Set<Partition> acquired = new TreeSet<>(after.owned());
        acquired.removeAll(ownedBefore);
        Set<Partition> released = new TreeSet<>(ownedBefore);
        released.removeAll(after.owned());
        StringBuilder s = new StringBuilder(w.id() + " applied version " + after.appliedVersion() + ": owns "
                + after.owned().size());
        if (!acquired.isEmpty()) {
            s.append(", acquired ").append(Describe.list(List.copyOf(acquired)));
        }
        if (!released.isEmpty()) {
            s.append(", released ").append(Describe.list(List.copyOf(released)));
        }
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("appliedVersion", after.appliedVersion());
        d.put("acquired", Json.ids(List.copyOf(acquired)));
        d.put("released", Json.ids(List.copyOf(released)));
        return new Change(at, Kind.APPLIED, w.id(), s.toString(), d);
    }
}
