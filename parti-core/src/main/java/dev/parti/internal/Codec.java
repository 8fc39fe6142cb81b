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
 * Encodes the records kept in KV as small line-oriented UTF-8 text, readable with {@code nats kv get}.
 *
 * <h2>Format, version 1</h2>
 * The first line is the format tag {@code parti/1}: the format version. Every other line is
 * {@code name=value}; empty lines are skipped. Partition keys are URL-encoded and joined with
 * {@code /}; a weight other than 1 follows as {@code @w}; partition lists are comma-separated.
 * <pre>
 * worker-ID key (bucket ids, key = worker ID)      leader key (bucket leader, key "leader")
 *   parti/1                                          parti/1
 *   instance=&lt;instance UUID&gt;                         worker=&lt;worker ID&gt;
 *                                                    instance=&lt;instance UUID&gt;
 * heartbeat (bucket heartbeats, key = worker ID)   assignment (bucket assignment, key "current")
 *   parti/1                                          parti/1
 *   instance=&lt;instance UUID&gt;                         version=&lt;n &ge; 1&gt;
 *   applied=&lt;assignment version applied&gt;             leader=&lt;leader's worker ID&gt;
 *   fenced=true|false          (optional, false)     epoch=&lt;leader epoch&gt;
 *   capacity=&lt;n&gt;              (optional, 1)         w.&lt;URL-encoded worker ID&gt;=&lt;partitions&gt;   (one per worker)
 *                                                    i.&lt;URL-encoded worker ID&gt;=&lt;instance&gt;     (optional; since 1.1)
 *   owned=&lt;partitions&gt;        (optional, none)
 *   rebalance=&lt;n&gt;             (optional, 0; since 1.1)
 *   meta.&lt;key&gt;=&lt;value&gt;       (optional, none; since 1.1; one per key, both URL-encoded)
 *   connection=&lt;server id&gt;:&lt;client id&gt;  (optional, none; only with disconnect events)
 *   writes=&lt;server id&gt;:&lt;client id&gt;      (optional, none; only with disconnect events; since 1.2)
 * </pre>
 * The epoch of the leader record is the key's revision, not a field.
 *
 * <h2>Revisions of version 1</h2>
 * <ul>
 *   <li>1.0: the fields above without {@code rebalance} and {@code meta.*}.</li>
 *   <li>1.1: the heartbeat gains the worker's metadata ({@code meta.<key>}, e.g. {@code meta.host},
 *   {@code meta.pid}) and a counter of the rebalances it requested ({@code rebalance}). A 1.0 reader
 *   ignores both (unknown fields, below); a 1.1 reader reads a 1.0 heartbeat as one with no metadata and
 *   counter 0. A heartbeat with neither is byte for byte a 1.0 heartbeat. The assignment gains, per worker, the
 *   instance its line is addressed to ({@code i.<worker>}): a later instance holding the same worker ID
 *   never applies a line addressed to an earlier one. A 1.0 reader ignores the tags; a record without
 *   them (written by a 1.0 leader) addresses every line to whichever instance holds the ID.</li>
 *   <li>1.2 (crash detection with proof of death only): the heartbeat's {@code connection} names the worker's
 *   liveness connection, and {@code writes} the connection its writes travel over. A 1.1 reader ignores
 *   {@code writes} and reads {@code connection} as before: the liveness connection, too, is closed at the
 *   worker's end only by its death or by its own client (on which it fences), so a 1.1 leader's proof stays
 *   sound (docs/PROTOCOL.md, proof of death). A 1.2 reader reads a 1.1 heartbeat's {@code connection} as both.</li>
 * </ul>
 *
 * <h2>Compatibility</h2>
 * Readers ignore fields they do not know, so a later release may add a field without changing the
 * tag. A change that version-1 readers would misread (a field removed or given another meaning) must
 * use a new tag, which version-1 readers refuse. Every record written so far carries {@code parti/1} and
 * decodes unchanged, except one: an assignment record above the server's max payload is written in pieces
 * named by a manifest tagged {@code parti/2} ({@link ChunkedAssignment}), which version-1 readers refuse as
 * a newer format and {@link #decodeAssignment} refuses by name.
 *
 * <h2>Decode errors</h2>
 * Decoding never guesses: it throws a {@link DecodeException} (an {@link IllegalArgumentException},
 * so callers that catch that keep working), of one of two kinds the caller can tell apart:
 * <ul>
 *   <li>{@link UnsupportedFormatException}: a well-formed tag of a newer format ({@code parti/N}, N &gt;
 *       {@value #FORMAT_VERSION}), e.g. written by a newer release during a rolling upgrade. The
 *       record is probably valid; this reader cannot understand it and must not overwrite it as if
 *       it were garbage.</li>
 *   <li>{@link MalformedRecordException}: anything else unreadable: no record, not a Parti record, a
 *       malformed line, a missing or non-numeric field, a bad partition list.</li>
 * </ul>
 */
public final class Codec {
    /** The format version this release writes and the newest it reads. */
    public static final int FORMAT_VERSION = 1;
    private static final String TAG_PREFIX = "parti/";
    private static final String FORMAT = TAG_PREFIX + FORMAT_VERSION;
    /** Prefix of the heartbeat's metadata fields (format 1.1). */
    private static final String META = "meta.";
    /** Prefix of the assignment's instance tags (format 1.1). */
    private static final String INSTANCE = "i.";

    private Codec() { }

    /** A record that cannot be decoded; see the class comment for the two kinds. */
    public abstract static class DecodeException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        DecodeException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A record in a newer format than this release reads ({@code parti/N}, N &gt; {@value #FORMAT_VERSION}). */
    public static final class UnsupportedFormatException extends DecodeException {
        private static final long serialVersionUID = 1L;
        private final int version;

        UnsupportedFormatException(String kind, int version) {
            super(kind + " record is in format version " + version + " (tag " + TAG_PREFIX + version
                    + "), newer than the version " + FORMAT_VERSION + " this release reads: written by a newer Parti", null);
            this.version = version;
        }

        UnsupportedFormatException(String kind, int version, String message) {
            super(kind + " record in format version " + version + ": " + message, null);
            this.version = version;
        }

        /** The format version found in the record. */
        public int version() {
            return version;
        }
    }

    /** A record that is not a readable Parti record of a known format. */
    public static final class MalformedRecordException extends DecodeException {
        private static final long serialVersionUID = 1L;

        MalformedRecordException(String kind, String problem, Throwable cause) {
            super("unreadable " + kind + " record: " + problem, cause);
        }
    }

    /** Runs a decoder; any failure that is not already a {@link DecodeException} becomes a malformed record. */
    private static <T> T decoding(String kind, byte[] bytes, java.util.function.Function<String, T> decoder) {
        if (bytes == null || bytes.length == 0) {
            throw new MalformedRecordException(kind, "empty record", null);
        }
        String text = new String(bytes, StandardCharsets.UTF_8);
        try {
            checkTag(kind, text);
            return decoder.apply(text);
        } catch (DecodeException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new MalformedRecordException(kind, e.getMessage(), e);
        }
    }

    /** The first line must be {@code parti/N}; N above {@link #FORMAT_VERSION} is a newer format. */
    private static void checkTag(String kind, String text) {
        int end = text.indexOf('\n');
        String tag = end < 0 ? text : text.substring(0, end);
        if (tag.equals(FORMAT)) {
            return;
        }
        String shown = tag.length() > 40 ? tag.substring(0, 40) + "..." : tag;
        if (!tag.startsWith(TAG_PREFIX)) {
            throw new MalformedRecordException(kind, "not a " + FORMAT + " record (first line '" + shown + "')", null);
        }
        String digits = tag.substring(TAG_PREFIX.length());
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new MalformedRecordException(kind, "bad format tag '" + shown + "'", null);
        }
        int version = Integer.parseInt(digits);
        if (version > FORMAT_VERSION) {
            throw new UnsupportedFormatException(kind, version);
        }
        throw new MalformedRecordException(kind, "unknown format tag '" + shown + "'", null);
    }

    /** The value of a worker-ID key. */
    public record IdRecord(String instance) { }

    /**
     * The value of a heartbeat key.
     *
     * @param metadata          the worker's metadata, sorted (empty when none, as written by 1.0)
     * @param rebalanceRequests how many rebalances this instance requested (0 when none, as written by 1.0)
     * @param degraded          the worker's active degraded reasons by name ({@code DegradedReason.id()}), sorted;
     *                          for operators ({@code parti watch}, {@code parti describe}), never for the leader's
     *                          decisions (a line {@code degraded=} that readers before it skip; empty when none)
     * @param connection        the identity of the NATS connection the worker heartbeats over,
     *                          {@code <server id>:<client id>}, published only by a worker that fences itself when that
     *                          connection drops (crash detection with proof of death, {@code PartiConfig.disconnectEvents});
     *                          null when none (a line {@code connection=} that readers before it skip). From 1.2 on it
     *                          names the worker's liveness connection (a connection that carries nothing, opened only to
     *                          be closed by the worker's kernel when it dies), and {@code writes} names the connection
     *                          its writes travel over
     * @param writes            the identity of the NATS connection the worker's KV writes travel over, when it differs
     *                          from {@code connection} (a line {@code writes=} that readers before it skip); null when
     *                          none: then {@code connection} is that connection too (format 1.1)
     */
    public record Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity,
                            Map<String, String> metadata, long rebalanceRequests, Set<String> degraded, String connection,
                            String writes) {
        /** Copies the metadata and reasons (null means none). */
        public Heartbeat {
            metadata = metadata == null || metadata.isEmpty() ? Map.of()
                    : java.util.Collections.unmodifiableMap(new TreeMap<>(metadata));
            degraded = degraded == null || degraded.isEmpty() ? Set.of()
                    : java.util.Collections.unmodifiableSet(new TreeSet<>(degraded));
        }

        /** A heartbeat whose writes travel over the connection it names (format 1.1), or that names none. */
        public Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity,
                         Map<String, String> metadata, long rebalanceRequests, Set<String> degraded, String connection) {
            this(instance, appliedVersion, owned, fenced, capacity, metadata, rebalanceRequests, degraded, connection, null);
        }

        /** The connection the worker's writes travel over: {@code writes}, or {@code connection} when none is named. */
        public String writesConnection() {
            return writes != null ? writes : connection;
        }

        /** A heartbeat without a connection identity. */
        public Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity,
                         Map<String, String> metadata, long rebalanceRequests, Set<String> degraded) {
            this(instance, appliedVersion, owned, fenced, capacity, metadata, rebalanceRequests, degraded, null);
        }

        /** A heartbeat without degraded reasons. */
        public Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity,
                         Map<String, String> metadata, long rebalanceRequests) {
            this(instance, appliedVersion, owned, fenced, capacity, metadata, rebalanceRequests, Set.of());
        }

        /** A heartbeat of format 1.0: no metadata, no rebalance requested. */
        public Heartbeat(String instance, long appliedVersion, Set<Partition> owned, boolean fenced, long capacity) {
            this(instance, appliedVersion, owned, fenced, capacity, Map.of(), 0);
        }

        /** The same heartbeat reporting {@code owned} instead. */
        public Heartbeat withOwned(Set<Partition> owned) {
            return new Heartbeat(instance, appliedVersion, owned, fenced, capacity, metadata, rebalanceRequests, degraded,
                    connection, writes);
        }
    }

    /** The value of the leader key; the epoch is the key's revision. */
    public record LeaderRecord(String workerId, String instance) { }

    /**
     * The published assignment: a version and worker ID → partitions.
     *
     * @param instances worker ID → the instance its line is addressed to (format 1.1; empty in records
     *                  written before, whose lines are addressed to whichever instance holds the ID)
     */
    public record AssignmentRecord(long version, String leaderId, long epoch, Map<String, List<Partition>> owners,
                                   Map<String, String> instances) {
        /** Copies the instances (null means none). */
        public AssignmentRecord {
            instances = instances == null || instances.isEmpty() ? Map.of()
                    : java.util.Collections.unmodifiableMap(new TreeMap<>(instances));
        }

        /** A record without instance tags (format 1.0). */
        public AssignmentRecord(long version, String leaderId, long epoch, Map<String, List<Partition>> owners) {
            this(version, leaderId, epoch, owners, Map.of());
        }

        /** The partitions of one worker, empty if none. */
        public List<Partition> of(String workerId) {
            return owners.getOrDefault(workerId, List.of());
        }

        /** The instance the line of {@code workerId} is addressed to, or null when untagged. */
        public String instanceOf(String workerId) {
            return instances.get(workerId);
        }

        /** Whether the line of {@code workerId} may be applied by {@code instance}: untagged, or tagged with it. */
        public boolean addressedTo(String workerId, String instance) {
            String tag = instances.get(workerId);
            return tag == null || tag.equals(instance);
        }
    }

    public static byte[] encode(IdRecord r) {
        return lines(Map.of("instance", r.instance()));
    }

    /** @throws DecodeException when unreadable or of a newer format */
    public static IdRecord decodeId(byte[] bytes) {
        return decoding("worker-ID", bytes, text -> new IdRecord(required(parse(text), "instance")));
    }

    public static byte[] encode(Heartbeat h) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("instance", h.instance());
        m.put("applied", Long.toString(h.appliedVersion()));
        m.put("fenced", Boolean.toString(h.fenced()));
        m.put("capacity", Long.toString(h.capacity()));
        m.put("owned", partitions(h.owned()));
        if (h.rebalanceRequests() != 0) {
            m.put("rebalance", Long.toString(h.rebalanceRequests()));
        }
        if (!h.degraded().isEmpty()) {
            m.put("degraded", String.join(",", h.degraded()));
        }
        if (h.connection() != null) {
            m.put("connection", h.connection());
        }
        if (h.writes() != null) {
            m.put("writes", h.writes());
        }
        h.metadata().forEach((k, v) -> m.put(META + enc(k), enc(v)));
        return lines(m);
    }

    /** @throws DecodeException when unreadable or of a newer format */
    public static Heartbeat decodeHeartbeat(byte[] bytes) {
        return decoding("heartbeat", bytes, text -> {
            Map<String, String> m = parse(text);
            Map<String, String> metadata = new TreeMap<>();
            m.forEach((k, v) -> {
                if (k.startsWith(META) && k.length() > META.length()) {
                    metadata.put(dec(k.substring(META.length())), dec(v));
                }
            });
            return new Heartbeat(required(m, "instance"), parseLong(m, "applied"),
                    new TreeSet<>(parsePartitions(m.getOrDefault("owned", ""))),
                    Boolean.parseBoolean(m.getOrDefault("fenced", "false")),
                    m.containsKey("capacity") ? parseLong(m, "capacity") : 1L,
                    metadata, m.containsKey("rebalance") ? parseLong(m, "rebalance") : 0L,
                    m.getOrDefault("degraded", "").isEmpty() ? Set.of() : Set.of(m.get("degraded").split(",")),
                    m.getOrDefault("connection", "").isEmpty() ? null : m.get("connection"),
                    m.getOrDefault("writes", "").isEmpty() ? null : m.get("writes"));
        });
    }

    public static byte[] encode(LeaderRecord r) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("worker", r.workerId());
        m.put("instance", r.instance());
        return lines(m);
    }

    /** @throws DecodeException when unreadable or of a newer format */
    public static LeaderRecord decodeLeader(byte[] bytes) {
        return decoding("leader", bytes, text -> {
            Map<String, String> m = parse(text);
            return new LeaderRecord(required(m, "worker"), required(m, "instance"));
        });
    }

    public static byte[] encode(AssignmentRecord a) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("version", Long.toString(a.version()));
        m.put("leader", a.leaderId());
        m.put("epoch", Long.toString(a.epoch()));
        for (Map.Entry<String, List<Partition>> e : new TreeMap<>(a.owners()).entrySet()) {
            m.put("w." + enc(e.getKey()), partitions(e.getValue()));
        }
        for (Map.Entry<String, String> e : a.instances().entrySet()) {
            m.put(INSTANCE + enc(e.getKey()), e.getValue());
        }
        return lines(m);
    }

    /**
     * Decodes an inline assignment record (format 1). A chunked record's manifest (format 2) is refused
     * with a message naming it: {@link ChunkedAssignment#decode} reads both forms.
     *
     * @throws DecodeException when unreadable or of a newer format
     */
    public static AssignmentRecord decodeAssignment(byte[] bytes) {
        refuseManifest(bytes);
        return decoding("assignment", bytes, text -> {
            Map<String, String> m = parse(text);
            Map<String, List<Partition>> owners = new TreeMap<>();
            Map<String, String> instances = new TreeMap<>();
            for (Map.Entry<String, String> e : m.entrySet()) {
                if (e.getKey().startsWith("w.")) {
                    owners.put(dec(e.getKey().substring(2)), List.copyOf(parsePartitions(e.getValue())));
                } else if (e.getKey().startsWith(INSTANCE)) {
                    instances.put(dec(e.getKey().substring(INSTANCE.length())), e.getValue());
                }
            }
            return new AssignmentRecord(parseLong(m, "version"), required(m, "leader"), parseLong(m, "epoch"), owners,
                    instances);
        });
    }

    /**
     * Decodes only what one worker needs of an assignment record: the header and its own line. The
     * result's {@code owners} holds that worker alone (absent if it has nothing). A worker of a
     * 200 × 10 000 group thus allocates a few hundred kB per version instead of materialising every
     * other worker's partitions (B6).
     *
     * @throws DecodeException when unreadable or of a newer format
     */
    public static AssignmentRecord decodeAssignmentOf(byte[] bytes, String workerId) {
        refuseManifest(bytes);
        return decoding("assignment", bytes, s -> {
            int end = s.indexOf('\n');
            String own = "w." + enc(workerId) + "=";
            String ownTag = INSTANCE + enc(workerId) + "=";
            Map<String, String> header = new HashMap<>();
            List<Partition> mine = null;
            String tag = null;
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
                if (s.startsWith(INSTANCE, start)) {
                    if (s.startsWith(ownTag, start)) {
                        tag = s.substring(start + ownTag.length(), stop);
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
                    mine == null ? Map.of() : Map.of(workerId, mine), tag == null ? Map.of() : Map.of(workerId, tag));
        });
    }

    /** A chunked record's manifest is not an inline record: say so rather than "a newer format". */
    private static void refuseManifest(byte[] bytes) {
        if (ChunkedAssignment.isManifest(bytes)) {
            throw new UnsupportedFormatException("assignment", ChunkedAssignment.FORMAT_VERSION,
                    "a chunked assignment record (manifest, tag " + ChunkedAssignment.TAG
                            + "): read it with ChunkedAssignment.decode, which fetches its pieces");
        }
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

    /** The fields of a record whose tag {@link #checkTag} accepted. */
    private static Map<String, String> parse(String text) {
        String[] lines = text.split("\n");
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
