package dev.parti.internal;

import dev.parti.Partition;
import dev.parti.internal.Codec.AssignmentRecord;
import java.io.ByteArrayOutputStream;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The assignment record in pieces, for records above the server's max payload (format 2 of the
 * assignment record, tag {@code parti/2}). A record that fits is written inline as always (format 1,
 * {@link Codec#encode(AssignmentRecord)}); only a larger one is cut into pieces, written first under
 * keys of their own in the assignment bucket, and then named by a small <i>manifest</i> that replaces
 * the {@code current} key by the usual compare-and-set: the one CAS stays the fence of the whole record.
 *
 * <h2>Format 2 (the manifest, key {@code current})</h2>
 * <pre>
 *   parti/2
 *   version=&lt;n&gt;
 *   leader=&lt;leader's worker ID&gt;
 *   epoch=&lt;leader epoch&gt;
 *   pieces=&lt;key prefix&gt;                  piece n is the key &lt;prefix&gt;.&lt;n&gt;
 *   size=&lt;bytes of all pieces together&gt;
 *   p.&lt;n&gt;=&lt;length&gt;,&lt;hash&gt;,&lt;first&gt;      one per piece, n = 0, 1, ...
 * </pre>
 * The pieces, concatenated in order, are the body of the record: for each worker in ascending order of
 * its ID, its line {@code w.<worker>=<partitions>} and, when tagged, its instance line {@code i.<worker>=...},
 * exactly as in format 1 (so a reader may append them to a format-1 header and decode that). A piece
 * holds whole worker blocks up to a target size; a block above the max payload is split over several
 * pieces, the later ones continuations. {@code hash} is the first 16 bytes of the piece's SHA-256,
 * base64url without padding; {@code first} the URL-encoded ID of the worker whose block starts the
 * piece, empty for a continuation. So one worker reads the manifest and the piece its block starts in
 * (plus continuations): its cost follows its own line and the target piece size, not the group.
 *
 * <h2>Safety</h2>
 * Piece keys are unique per publication attempt ({@code piece.<version>.<writer>.<attempt>}), never
 * rewritten; a piece that is missing or does not match its hash means the manifest that named it was
 * replaced (its pieces are purged after a later version is published): {@link StalePieceException},
 * and the reader reads {@code current} again. A reader therefore never applies a mix of two versions.
 * A reader of a release before format 2 refuses the manifest as a newer format (it names
 * {@code parti/2}) and never misapplies it; such a reader only meets it where it could not have read
 * an inline record either (it would have been above the max payload).
 */
public final class ChunkedAssignment {
    /** The format version of the manifest. */
    public static final int FORMAT_VERSION = 2;
    static final String TAG = "parti/" + FORMAT_VERSION;
    /** Key prefix of every piece in the assignment bucket. */
    public static final String PIECE_PREFIX = "piece";
    private static final String W = "w.";
    private static final String I = "i.";
    /** A piece is never smaller than this (unless the max payload is), to keep the number of pieces down. */
    static final int MIN_TARGET = 4096;
    /** Rough bytes of one piece's line in the manifest, to size pieces so that the manifest stays small. */
    private static final int MANIFEST_BYTES_PER_PIECE = 48;

    private ChunkedAssignment() { }

    /** One piece as the manifest names it: its byte length, hash, and the worker whose block starts in it (null: continuation). */
    public record PieceRef(int length, String hash, String first) { }

    /** The value of {@code current} for a chunked record. */
    public record Manifest(long version, String leaderId, long epoch, String prefix, long size, List<PieceRef> pieces) {
        public Manifest {
            pieces = List.copyOf(pieces);
        }

        /** The key of piece {@code n}. */
        public String key(int n) {
            return prefix + "." + n;
        }

        /** The same pieces under another leader's header (a new leader's fence). */
        public Manifest withLeader(String leader, long newEpoch) {
            return new Manifest(version, leader, newEpoch, prefix, size, pieces);
        }
    }

    /** A piece to write: key and value. */
    public record Piece(String key, byte[] value) { }

    /** What to write for a record: the value of {@code current}, and (chunked) the pieces to write before it. */
    public record Encoded(byte[] current, Manifest manifest, List<Piece> pieces) {
        public boolean chunked() {
            return manifest != null;
        }
    }

    /** Reads a piece by key; null when it is absent. */
    @FunctionalInterface
    public interface PieceSource {
        byte[] get(String key);
    }

    /**
     * A piece named by a manifest is missing or does not match its hash: the manifest was replaced since
     * it was read (and its pieces purged). Read {@code current} again.
     */
    public static final class StalePieceException extends Codec.DecodeException {
        private static final long serialVersionUID = 1L;

        StalePieceException(String message) {
            super(message, null);
        }
    }

    /** Whether {@code current} holds a manifest (tag {@code parti/2}) rather than an inline record. */
    public static boolean isManifest(byte[] current) {
        if (current == null || current.length < TAG.length()) {
            return false;
        }
        for (int i = 0; i < TAG.length(); i++) {
            if (current[i] != TAG.charAt(i)) {
                return false;
            }
        }
        return current.length == TAG.length() || current[TAG.length()] == '\n';
    }

    /** Whether {@code key} is a piece key, and its version (-1 when it is not a piece key). */
    static long pieceVersion(String key) {
        if (!key.startsWith(PIECE_PREFIX + ".")) {
            return -1;
        }
        int end = key.indexOf('.', PIECE_PREFIX.length() + 1);
        try {
            return Long.parseLong(end < 0 ? key.substring(PIECE_PREFIX.length() + 1) : key.substring(PIECE_PREFIX.length() + 1, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The prefix of a piece key (its publication), e.g. {@code piece.7.ab12-3} of {@code piece.7.ab12-3.0}. */
    static String prefixOf(String pieceKey) {
        int last = pieceKey.lastIndexOf('.');
        return last < 0 ? pieceKey : pieceKey.substring(0, last);
    }

    /**
     * Encodes {@code r}: inline when its format-1 encoding is at most {@code limit} bytes, else in
     * pieces of at most {@code limit} bytes under keys {@code prefix.<n>} plus a manifest.
     *
     * @param prefix a valid KV key unique to this publication attempt, starting with {@value #PIECE_PREFIX}{@code .<version>.}
     * @throws IllegalArgumentException when even the manifest would exceed {@code limit}
     */
    public static Encoded encode(AssignmentRecord r, int limit, String prefix) {
        byte[] inline = Codec.encode(r);
        if (inline.length <= limit) {
            return new Encoded(inline, null, List.of());
        }
        return chunk(r, limit, prefix);
    }

    /** The chunked form, whatever the size (tests). */
    static Encoded chunk(AssignmentRecord r, int limit, String prefix) {
        List<byte[]> blocks = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        long size = 0;
        TreeSet<String> workers = new TreeSet<>(r.owners().keySet());
        workers.addAll(r.instances().keySet());
        for (String id : workers) {
            StringBuilder b = new StringBuilder();
            List<Partition> ps = r.owners().get(id);
            if (ps != null) {
                b.append(W).append(enc(id)).append('=').append(Codec.partitions(ps)).append('\n');
            }
            String tag = r.instances().get(id);
            if (tag != null) {
                b.append(I).append(enc(id)).append('=').append(tag).append('\n');
            }
            byte[] block = b.toString().getBytes(StandardCharsets.UTF_8);
            blocks.add(block);
            ids.add(id);
            size += block.length;
        }
        // pieces of the target size; should the manifest not fit (many blocks above the target), larger pieces
        for (long target = target(size, limit); ; target *= 2) {
            Encoded e = cut(r, blocks, ids, size, (int) Math.min(limit, target), limit, prefix);
            if (e.current().length <= limit) {
                return e;
            }
            if (target >= limit) {
                throw new IllegalArgumentException("assignment version " + r.version() + " is " + size + " bytes in "
                        + e.pieces().size() + " pieces, and even their manifest (" + e.current().length
                        + " bytes) is above the max payload (" + limit + " bytes)");
            }
        }
    }

    private static Encoded cut(AssignmentRecord r, List<byte[]> blocks, List<String> ids, long size, int target, int limit,
                               String prefix) {
        List<Piece> pieces = new ArrayList<>();
        List<PieceRef> refs = new ArrayList<>();
        ByteArrayOutputStream piece = new ByteArrayOutputStream();
        String first = null;
        for (int i = 0; i < blocks.size(); i++) {
            byte[] block = blocks.get(i);
            if (piece.size() > 0 && piece.size() + block.length > target) {
                add(pieces, refs, prefix, piece.toByteArray(), first);
                piece.reset();
            }
            if (block.length > limit) {
                // a block above the max payload: split over pieces of their own, the later ones continuations
                for (int off = 0; off < block.length; off += limit) {
                    byte[] part = java.util.Arrays.copyOfRange(block, off, Math.min(block.length, off + limit));
                    add(pieces, refs, prefix, part, off == 0 ? ids.get(i) : null);
                }
                continue;
            }
            if (piece.size() == 0) {
                first = ids.get(i);
            }
            piece.writeBytes(block);
        }
        if (piece.size() > 0) {
            add(pieces, refs, prefix, piece.toByteArray(), first);
        }
        Manifest m = new Manifest(r.version(), r.leaderId(), r.epoch(), prefix, size, refs);
        return new Encoded(encode(m), m, pieces);
    }

    /**
     * The target size of a piece: about the square root of 48 × the record's size (so that a worker
     * reads about as much manifest as piece), never below {@value #MIN_TARGET} bytes (or a quarter of the
     * max payload, when that is smaller) and big enough that the manifest stays within half the max payload.
     */
    static int target(long size, int limit) {
        long t = Math.max(Math.min(MIN_TARGET, limit / 4), (long) Math.sqrt((double) MANIFEST_BYTES_PER_PIECE * size));
        t = Math.max(t, 2L * MANIFEST_BYTES_PER_PIECE * size / Math.max(1, limit) + 1);
        return (int) Math.min(limit, Math.max(1, t));
    }

    private static void add(List<Piece> pieces, List<PieceRef> refs, String prefix, byte[] value, String first) {
        pieces.add(new Piece(prefix + "." + pieces.size(), value));
        refs.add(new PieceRef(value.length, hash(value), first));
    }

    /** The manifest's value. */
    public static byte[] encode(Manifest m) {
        StringBuilder s = new StringBuilder(TAG).append('\n');
        s.append("version=").append(m.version()).append('\n');
        s.append("leader=").append(m.leaderId()).append('\n');
        s.append("epoch=").append(m.epoch()).append('\n');
        s.append("pieces=").append(m.prefix()).append('\n');
        s.append("size=").append(m.size()).append('\n');
        for (int n = 0; n < m.pieces().size(); n++) {
            PieceRef p = m.pieces().get(n);
            s.append("p.").append(n).append('=').append(p.length()).append(',').append(p.hash()).append(',')
                    .append(p.first() == null ? "" : enc(p.first())).append('\n');
        }
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Decodes a manifest (not its pieces).
     *
     * @throws Codec.DecodeException when {@code current} is not a readable manifest
     */
    public static Manifest decodeManifest(byte[] current) {
        if (!isManifest(current)) {
            throw new Codec.MalformedRecordException("assignment", "not a chunked assignment manifest (tag " + TAG + ")", null);
        }
        try {
            String[] lines = new String(current, StandardCharsets.UTF_8).split("\n");
            Map<String, String> header = new LinkedHashMap<>();
            Map<Integer, PieceRef> refs = new java.util.TreeMap<>();
            for (int i = 1; i < lines.length; i++) {
                String line = lines[i];
                if (line.isEmpty()) {
                    continue;
                }
                int eq = line.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("malformed line " + i + ": " + line);
                }
                String k = line.substring(0, eq);
                String v = line.substring(eq + 1);
                if (k.startsWith("p.")) {
                    String[] f = v.split(",", -1);
                    if (f.length < 3) {
                        throw new IllegalArgumentException("malformed piece line " + i + ": " + line);
                    }
                    refs.put(Integer.parseInt(k.substring(2)), new PieceRef(Integer.parseInt(f[0]), f[1],
                            f[2].isEmpty() ? null : dec(f[2])));
                } else {
                    header.put(k, v);
                }
            }
            List<PieceRef> pieces = new ArrayList<>(refs.values());
            int n = 0;
            for (Integer index : refs.keySet()) {
                if (index != n++) {
                    throw new IllegalArgumentException("piece " + (n - 1) + " missing from the manifest");
                }
            }
            String prefix = required(header, "pieces");
            return new Manifest(Long.parseLong(required(header, "version")), required(header, "leader"),
                    Long.parseLong(required(header, "epoch")), prefix, Long.parseLong(required(header, "size")), pieces);
        } catch (Codec.DecodeException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new Codec.MalformedRecordException("assignment", "chunked manifest: " + e.getMessage(), e);
        }
    }

    /** The version of the record in {@code current}, inline or chunked, from its header alone. */
    public static long version(byte[] current) {
        if (isManifest(current)) {
            return decodeManifest(current).version();
        }
        return Codec.decodeAssignmentOf(current, "").version();
    }

    /**
     * The whole record in {@code current}: an inline record as {@link Codec#decodeAssignment}, a manifest
     * with all its pieces, each checked against its hash.
     *
     * @throws StalePieceException  when a piece is missing or does not match: read {@code current} again
     * @throws Codec.DecodeException when unreadable or of a newer format
     */
    public static AssignmentRecord decode(byte[] current, PieceSource pieces) {
        if (!isManifest(current)) {
            return Codec.decodeAssignment(current);
        }
        Manifest m = decodeManifest(current);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (int n = 0; n < m.pieces().size(); n++) {
            body.writeBytes(fetch(m, n, pieces));
        }
        return Codec.decodeAssignment(withHeader(m, body.toByteArray()));
    }

    /**
     * What worker {@code workerId} needs of the record in {@code current}: as
     * {@link Codec#decodeAssignmentOf}, reading of a manifest only the pieces its block is in.
     *
     * @throws StalePieceException  when a piece is missing or does not match: read {@code current} again
     * @throws Codec.DecodeException when unreadable or of a newer format
     */
    public static AssignmentRecord decodeOf(byte[] current, String workerId, PieceSource pieces) {
        if (!isManifest(current)) {
            return Codec.decodeAssignmentOf(current, workerId);
        }
        Manifest m = decodeManifest(current);
        int start = -1;
        for (int n = 0; n < m.pieces().size(); n++) {
            String first = m.pieces().get(n).first();
            if (first != null) {
                if (first.compareTo(workerId) > 0) {
                    break;
                }
                start = n;
            }
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (start >= 0) {
            body.writeBytes(fetch(m, start, pieces));
            for (int n = start + 1; n < m.pieces().size() && m.pieces().get(n).first() == null; n++) {
                body.writeBytes(fetch(m, n, pieces));
            }
        }
        return Codec.decodeAssignmentOf(withHeader(m, body.toByteArray()), workerId);
    }

    private static byte[] fetch(Manifest m, int n, PieceSource pieces) {
        String key = m.key(n);
        byte[] v = pieces.get(key);
        PieceRef ref = m.pieces().get(n);
        if (v == null) {
            throw new StalePieceException("piece " + key + " of assignment version " + m.version()
                    + " is gone: a newer version replaced it");
        }
        if (v.length != ref.length() || !hash(v).equals(ref.hash())) {
            throw new StalePieceException("piece " + key + " of assignment version " + m.version()
                    + " does not match its hash in the manifest");
        }
        return v;
    }

    private static byte[] withHeader(Manifest m, byte[] body) {
        byte[] header = ("parti/1\nversion=" + m.version() + "\nleader=" + m.leaderId() + "\nepoch=" + m.epoch() + "\n")
                .getBytes(StandardCharsets.UTF_8);
        byte[] all = java.util.Arrays.copyOf(header, header.length + body.length);
        System.arraycopy(body, 0, all, header.length, body.length);
        return all;
    }

    /** The first 16 bytes of SHA-256, base64url without padding. */
    static String hash(byte[] value) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(value);
            return Base64.getUrlEncoder().withoutPadding().encodeToString(java.util.Arrays.copyOf(d, 16));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    private static String required(Map<String, String> m, String key) {
        String v = m.get(key);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing field " + key);
        }
        return v;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static String dec(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }
}
