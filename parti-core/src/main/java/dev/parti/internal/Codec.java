package dev.parti.internal;

import dev.parti.Partition;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Encodes the records kept in KV as small line-oriented text ({@code name=value} lines, first line
 * the format tag), readable with {@code nats kv get}. Partition keys are URL-encoded and joined
 * with {@code /}; a weight other than 1 follows as {@code @w}; lists are comma-separated.
 * Decoding throws {@link IllegalArgumentException} on anything malformed; callers log and skip.
 */
public final class Codec {
    private static final String FORMAT = "parti/1";

    private Codec() { }

    /** The value of a worker-ID key. */
    public record IdRecord(String instance) { }

    /** The value of a heartbeat key. */
    public record Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity) { }

    /** The value of the leader key; the epoch is the key's revision. */
    public record LeaderRecord(String workerId, String instance) { }

    /** The published assignment: a version and worker ID → partitions. */
    public record AssignmentRecord(long version, String leaderId, long epoch, Map<String, List<Partition>> owners) {
        /** The partitions of one worker, empty if none. */
        public List<Partition> of(String workerId) {
            return owners.getOrDefault(workerId, List.of());
        }
    }

    public static byte[] encode(IdRecord r) {
        return lines(Map.of("instance", r.instance()));
    }

    public static IdRecord decodeId(byte[] bytes) {
        Map<String, String> m = parse(bytes);
        return new IdRecord(required(m, "instance"));
    }

    public static byte[] encode(Heartbeat h) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("instance", h.instance());
        m.put("applied", Long.toString(h.appliedVersion()));
        m.put("fenced", Boolean.toString(h.fenced()));
        m.put("capacity", Long.toString(h.capacity()));
        m.put("owned", partitions(h.owned()));
        return lines(m);
    }

    public static Heartbeat decodeHeartbeat(byte[] bytes) {
        Map<String, String> m = parse(bytes);
        return new Heartbeat(required(m, "instance"), parseLong(m, "applied"),
                new TreeSet<>(parsePartitions(m.getOrDefault("owned", ""))),
                Boolean.parseBoolean(m.getOrDefault("fenced", "false")),
                m.containsKey("capacity") ? parseLong(m, "capacity") : 1L);
    }

    public static byte[] encode(LeaderRecord r) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("worker", r.workerId());
        m.put("instance", r.instance());
        return lines(m);
    }

    public static LeaderRecord decodeLeader(byte[] bytes) {
        Map<String, String> m = parse(bytes);
        return new LeaderRecord(required(m, "worker"), required(m, "instance"));
    }

    public static byte[] encode(AssignmentRecord a) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("version", Long.toString(a.version()));
        m.put("leader", a.leaderId());
        m.put("epoch", Long.toString(a.epoch()));
        for (Map.Entry<String, List<Partition>> e : new TreeMap<>(a.owners()).entrySet()) {
            m.put("w." + enc(e.getKey()), partitions(e.getValue()));
        }
        return lines(m);
    }

    public static AssignmentRecord decodeAssignment(byte[] bytes) {
        Map<String, String> m = parse(bytes);
        Map<String, List<Partition>> owners = new TreeMap<>();
        for (Map.Entry<String, String> e : m.entrySet()) {
            if (e.getKey().startsWith("w.")) {
                owners.put(dec(e.getKey().substring(2)), List.copyOf(parsePartitions(e.getValue())));
            }
        }
        return new AssignmentRecord(parseLong(m, "version"), required(m, "leader"), parseLong(m, "epoch"), owners);
    }

    /**
     * Decodes only what one worker needs of an assignment record: the header and its own line. The
     * result's {@code owners} holds that worker alone (absent if it has nothing). A worker of a
     * 200 × 10 000 group thus allocates a few hundred kB per version instead of materialising every
     * other worker's partitions (B6).
     */
    public static AssignmentRecord decodeAssignmentOf(byte[] bytes, String workerId) {
        if (bytes == null) {
            throw new IllegalArgumentException("empty record");
        }
        String s = new String(bytes, StandardCharsets.UTF_8);
        int end = s.indexOf('\n');
        if (!FORMAT.equals(end < 0 ? s : s.substring(0, end))) {
            throw new IllegalArgumentException("not a " + FORMAT + " record");
        }
        String own = "w." + enc(workerId) + "=";
        Map<String, String> header = new HashMap<>();
        List<Partition> mine = null;
        int line = 1;
        for (int start = end + 1; end >= 0 && start < s.length(); start = end + 1, line++) {
            end = s.indexOf('\n', start);
            int stop = end < 0 ? s.length() : end;
            if (stop == start) {
                continue;
            }
            if (s.startsWith("w.", start)) {
                if (s.startsWith(own, start)) {
                    mine = List.copyOf(parsePartitions(s.substring(start + own.length(), stop)));
                }
                continue;
            }
            int eq = s.indexOf('=', start);
            if (eq <= start || eq > stop) {
                throw new IllegalArgumentException("malformed line " + line + ": " + s.substring(start, stop));
            }
            header.put(s.substring(start, eq), s.substring(eq + 1, stop));
        }
        return new AssignmentRecord(parseLong(header, "version"), required(header, "leader"), parseLong(header, "epoch"),
                mine == null ? Map.of() : Map.of(workerId, mine));
    }

    static String partitions(Collection<Partition> ps) {
        StringBuilder s = new StringBuilder();
        for (Partition p : ps) {
            if (s.length() > 0) {
                s.append(',');
            }
            for (int i = 0; i < p.keys().size(); i++) {
                if (i > 0) {
                    s.append('/');
                }
                s.append(enc(p.keys().get(i)));
            }
            if (p.weight() != Partition.DEFAULT_WEIGHT) {
                s.append('@').append(p.weight());
            }
        }
        return s.toString();
    }

    static List<Partition> parsePartitions(String s) {
        List<Partition> out = new ArrayList<>();
        if (s.isEmpty()) {
            return out;
        }
        for (String item : s.split(",", -1)) {
            long weight = Partition.DEFAULT_WEIGHT;
            int at = item.indexOf('@');
            if (at >= 0) {
                weight = Long.parseLong(item.substring(at + 1));
                item = item.substring(0, at);
            }
            List<String> keys = new ArrayList<>();
            for (String k : item.split("/", -1)) {
                keys.add(dec(k));
            }
            out.add(Partition.of(keys, weight));
        }
        return out;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static String dec(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static byte[] lines(Map<String, String> m) {
        StringBuilder s = new StringBuilder(FORMAT).append('\n');
        m.forEach((k, v) -> s.append(k).append('=').append(v).append('\n'));
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static Map<String, String> parse(byte[] bytes) {
        if (bytes == null) {
            throw new IllegalArgumentException("empty record");
        }
        String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n");
        if (lines.length == 0 || !FORMAT.equals(lines[0])) {
            throw new IllegalArgumentException("not a " + FORMAT + " record");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            if (lines[i].isEmpty()) {
                continue;
            }
            int eq = lines[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("malformed line " + i + ": " + lines[i]);
            }
            m.put(lines[i].substring(0, eq), lines[i].substring(eq + 1));
        }
        return m;
    }

    private static String required(Map<String, String> m, String key) {
        String v = m.get(key);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing field " + key);
        }
        return v;
    }

    private static long parseLong(Map<String, String> m, String key) {
        try {
            return Long.parseLong(required(m, key));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("field " + key + " is not a number: " + m.get(key), e);
        }
    }
}
