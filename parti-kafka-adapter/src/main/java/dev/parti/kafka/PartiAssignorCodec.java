package dev.parti.kafka;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.kafka.common.TopicPartition;

/**
 * The bytes {@link PartiAssignor} puts into Kafka's consumer protocol: the user data of a member's
 * subscription and of its assignment.
 *
 * <p>Both start with a {@code short} version. A reader accepts any version ≥ 1, reads the fields of
 * version 1 and ignores anything after them, so a later version may append fields (the rule Kafka's own
 * {@code ConsumerProtocol} follows). Strings are a {@code short} length and UTF-8 bytes (length −1 for
 * none); partition sets are grouped by topic, each partition number an {@code int}.
 *
 * <p>A <em>holding</em> map is home worker ID → partitions, where the empty string stands for the member
 * (or, in a memo, the buddy) itself; any other home names an absent worker the partition is kept for.
 */
final class PartiAssignorCodec {
    static final short VERSION = 1;
    /** Home key meaning "the member itself" in a holding map. */
    static final String SELF = "";

    private PartiAssignorCodec() {
    }

    /**
     * What a member sends with its subscription.
     *
     * @param workerId    the configured stable worker ID
     * @param weight      the configured weight (worker capacity), ≥ 1
     * @param effectiveId the ID the leader used for this member last time, {@code null} if none yet
     * @param generation  the group generation of {@code holdings}, −1 if none
     * @param holdings    home → partitions of the member's last target ({@link #SELF} for its own)
     * @param buddyId     the worker whose holdings {@code memo} records, {@code null} if none
     * @param memo        the buddy's holdings as last assigned ({@link #SELF} for the buddy's own)
     */
    record MemberData(String workerId, long weight, String effectiveId, int generation,
                      Map<String, List<TopicPartition>> holdings, String buddyId,
                      Map<String, List<TopicPartition>> memo) {
        MemberData {
            Objects.requireNonNull(workerId, "workerId");
            holdings = Map.copyOf(holdings);
            memo = Map.copyOf(memo);
        }
    }

    /**
     * What the leader sends with a member's assignment, beyond the partitions themselves.
     *
     * @param effectiveId the worker ID the leader used for this member
     * @param withheld    partitions the member is meant to own but that another member must release first
     * @param loans       home → partitions of the target kept for an absent worker (no {@link #SELF} key)
     * @param buddyId     the worker whose holdings {@code memo} records, {@code null} if none
     * @param memo        the buddy's holdings ({@link #SELF} for the buddy's own)
     */
    record AssignmentData(String effectiveId, List<TopicPartition> withheld,
                          Map<String, List<TopicPartition>> loans, String buddyId,
                          Map<String, List<TopicPartition>> memo) {
        AssignmentData {
            Objects.requireNonNull(effectiveId, "effectiveId");
            withheld = List.copyOf(withheld);
            loans = Map.copyOf(loans);
            memo = Map.copyOf(memo);
        }
    }

    /** Thrown for bytes that are not a version ≥ 1 encoding. */
    static final class MalformedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static ByteBuffer encode(MemberData data) {
        Writer w = new Writer();
        w.putShort(VERSION);
        w.putString(data.workerId());
        w.putLong(data.weight());
        w.putString(data.effectiveId());
        w.putInt(data.generation());
        w.putHoldings(data.holdings());
        w.putString(data.buddyId());
        w.putHoldings(data.memo());
        return w.toBuffer();
    }

    static MemberData decodeMember(ByteBuffer bytes) {
        Reader r = new Reader(bytes);
        try {
            r.version();
            String workerId = r.getString();
            if (workerId == null || workerId.isEmpty()) {
                throw new IllegalArgumentException("no worker ID");
            }
            long weight = r.buffer.getLong();
            String effectiveId = r.getString();
            int generation = r.buffer.getInt();
            Map<String, List<TopicPartition>> holdings = r.getHoldings();
            String buddyId = r.getString();
            Map<String, List<TopicPartition>> memo = r.getHoldings();
            return new MemberData(workerId, weight, effectiveId, generation, holdings, buddyId, memo);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new MalformedException("malformed PartiAssignor subscription user data: " + e, e);
        }
    }

    static ByteBuffer encode(AssignmentData data) {
        Writer w = new Writer();
        w.putShort(VERSION);
        w.putString(data.effectiveId());
        w.putPartitions(data.withheld());
        w.putHoldings(data.loans());
        w.putString(data.buddyId());
        w.putHoldings(data.memo());
        return w.toBuffer();
    }

    static AssignmentData decodeAssignment(ByteBuffer bytes) {
        Reader r = new Reader(bytes);
        try {
            r.version();
            String effectiveId = r.getString();
            if (effectiveId == null || effectiveId.isEmpty()) {
                throw new IllegalArgumentException("no effective worker ID");
            }
            List<TopicPartition> withheld = r.getPartitions();
            Map<String, List<TopicPartition>> loans = r.getHoldings();
            String buddyId = r.getString();
            Map<String, List<TopicPartition>> memo = r.getHoldings();
            return new AssignmentData(effectiveId, withheld, loans, buddyId, memo);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new MalformedException("malformed PartiAssignor assignment user data: " + e, e);
        }
    }

    /** A growable big-endian buffer. */
    private static final class Writer {
        private ByteBuffer buffer = ByteBuffer.allocate(256);

        private void ensure(int more) {
            if (buffer.remaining() < more) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buffer.capacity() * 2, buffer.position() + more));
                buffer.flip();
                bigger.put(buffer);
                buffer = bigger;
            }
        }

        void putShort(short v) {
            ensure(2);
            buffer.putShort(v);
        }

        void putInt(int v) {
            ensure(4);
            buffer.putInt(v);
        }

        void putLong(long v) {
            ensure(8);
            buffer.putLong(v);
        }

        void putString(String s) {
            if (s == null) {
                putShort((short) -1);
                return;
            }
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            if (bytes.length > Short.MAX_VALUE) {
                throw new IllegalArgumentException("string longer than " + Short.MAX_VALUE + " bytes: "
                        + s.substring(0, 40) + "…");
            }
            putShort((short) bytes.length);
            ensure(bytes.length);
            buffer.put(bytes);
        }

        /** Grouped by topic in topic order, partition numbers ascending. */
        void putPartitions(List<TopicPartition> partitions) {
            Map<String, int[]> byTopic = groupByTopic(partitions);
            putInt(byTopic.size());
            for (Map.Entry<String, int[]> e : byTopic.entrySet()) {
                putString(e.getKey());
                int[] numbers = e.getValue();
                putInt(numbers.length);
                ensure(4 * numbers.length);
                for (int n : numbers) {
                    buffer.putInt(n);
                }
            }
        }

        void putHoldings(Map<String, List<TopicPartition>> holdings) {
            Map<String, List<TopicPartition>> sorted = new TreeMap<>(holdings);
            putInt(sorted.size());
            for (Map.Entry<String, List<TopicPartition>> e : sorted.entrySet()) {
                putString(e.getKey());
                putPartitions(e.getValue());
            }
        }

        ByteBuffer toBuffer() {
            buffer.flip();
            return buffer.asReadOnlyBuffer();
        }
    }

    private static Map<String, int[]> groupByTopic(List<TopicPartition> partitions) {
        Map<String, List<Integer>> lists = new TreeMap<>();
        for (TopicPartition tp : partitions) {
            lists.computeIfAbsent(tp.topic(), t -> new ArrayList<>()).add(tp.partition());
        }
        Map<String, int[]> result = new LinkedHashMap<>();
        for (Map.Entry<String, List<Integer>> e : lists.entrySet()) {
            int[] numbers = e.getValue().stream().mapToInt(Integer::intValue).toArray();
            Arrays.sort(numbers);
            result.put(e.getKey(), numbers);
        }
        return result;
    }

    private static final class Reader {
        private final ByteBuffer buffer;

        Reader(ByteBuffer bytes) {
            if (bytes == null || !bytes.hasRemaining()) {
                throw new MalformedException("no PartiAssignor user data", null);
            }
            this.buffer = bytes.duplicate();
        }

        void version() {
            short version = buffer.getShort();
            if (version < 1) {
                throw new IllegalArgumentException("unsupported version " + version);
            }
        }

        String getString() {
            short length = buffer.getShort();
            if (length < 0) {
                return null;
            }
            byte[] bytes = new byte[length];
            buffer.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }

        int count() {
            int n = buffer.getInt();
            if (n < 0 || n > buffer.remaining()) {
                throw new IllegalArgumentException("bad count " + n);
            }
            return n;
        }

        List<TopicPartition> getPartitions() {
            int topics = count();
            List<TopicPartition> result = new ArrayList<>();
            for (int t = 0; t < topics; t++) {
                String topic = getString();
                if (topic == null || topic.isEmpty()) {
                    throw new IllegalArgumentException("empty topic name");
                }
                int n = count();
                for (int i = 0; i < n; i++) {
                    result.add(new TopicPartition(topic, buffer.getInt()));
                }
            }
            return result;
        }

        Map<String, List<TopicPartition>> getHoldings() {
            int homes = count();
            Map<String, List<TopicPartition>> result = new LinkedHashMap<>();
            for (int h = 0; h < homes; h++) {
                String home = getString();
                if (home == null) {
                    throw new IllegalArgumentException("null home");
                }
                result.put(home, getPartitions());
            }
            return result;
        }
    }
}
