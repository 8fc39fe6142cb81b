package dev.parti.kafka.migration;

import dev.parti.kafka.PartiAssignor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Configurable;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The assignor a migrating {@code PartiConsumer} ({@code parti.migration=kafka-to-parti}, or {@code parti-to-kafka}
 * for the rollback) uses inside the
 * classic Kafka group it takes over: {@link PartiAssignor} (same protocol name {@value PartiAssignor#NAME}, same
 * assignments) plus a small trailer in the user data that lets the group agree on one switch to Parti.
 *
 * <p><b>Trailer.</b> Appended after {@link PartiAssignor}'s bytes, whose readers ignore what follows their
 * fields (so a plain {@code KafkaConsumer} with {@code PartiAssignor} leading the group reads these members
 * normally): one state byte, then the 8-byte marker {@link #MAGIC}. In a subscription the state says
 * {@link #READY} (a migrating member that can switch) or {@link #SWITCHING} (it has been told to switch); in
 * an assignment {@link #SWITCHING} tells the member to switch now, and {@link #PENDING} lists the members that cannot
 * switch yet.
 *
 * <p><b>What the group leader does</b> (only when it is itself a migrating member; a plain {@code
 * PartiAssignor} leader never sets the flag):
 * <ul>
 *   <li>some member without the trailer (a plain {@code KafkaConsumer}): {@code PartiAssignor}'s assignment, and
 *       (when some member is migrating) a {@link #PENDING} trailer listing the Kafka member IDs of the plain members,
 *       appended to the assignment of every migrating member and of every <em>static</em> plain member. A static
 *       member's assignment is what the broker hands, without a rebalance, to the next member started under its
 *       {@code group.instance.id}: that is how a migrating member replacing a plain one learns who still cannot
 *       switch ({@link KafkaToPartiMigration} then skips the rebalance that cannot lead to the switch). A plain
 *       {@code PartiAssignor} reads its assignment as before (its codec ignores what follows its fields); a dynamic
 *       plain member's assignment stays byte for byte {@code PartiAssignor}'s;</li>
 *   <li>every member {@link #READY}, none switching yet: {@code PartiAssignor}'s assignment, each one flagged
 *       {@link #SWITCHING} (this generation is the coordinated switch);</li>
 *   <li>some member already {@link #SWITCHING}: each member keeps exactly the partitions it owns (its cooperative
 *       owned partitions) and is flagged again; partitions of members that left stay unassigned in Kafka, since
 *       their owner is about to be chosen by Parti.</li>
 *   <li>every member {@link #READY} while the Parti group already runs ({@link SwitchSignal#partiMayRun()}: the
 *       members that switched left the Kafka group, and these joined it after them): the same as the previous case,
 *       so a member new to Kafka gets nothing there; it switches and leaves the Kafka group at once.</li>
 * </ul>
 * <p><b>Rolling rollback</b> ({@code parti.migration=parti-to-kafka}): a member rolling back from Parti appends a
 * {@link #ROLLBACK} trailer reporting the partitions it owns through Parti. While some member does, the leader applies
 * {@link #rollbackAssignment}: nothing moves, and the assignment that completes the group is flagged {@link #ROLLED}.
 * Thread-safety: Kafka calls one instance from its consumer's threads; state is in volatile fields.
 */
public final class MigrationAssignor implements ConsumerPartitionAssignor, Configurable {
    /**
     * Config key (not a {@code parti.*} key, set by the migration itself, never by users) carrying the {@link
     * SwitchSignal} that learns about the switch.
     */
    public static final String SIGNAL_CONFIG = "dev.parti.kafka.migration.signal";
    /** Marker ending the trailer: "PARTIMIG". */
    static final long MAGIC = 0x5041525449_4D4947L;
    /** Trailer state: a migrating member that can switch. */
    static final byte READY = 1;
    /** Trailer state: switching (in a subscription: told to switch; in an assignment: switch now). */
    static final byte SWITCHING = 2;
    /**
     * Trailer state, in a subscription only: a member rolling back from Parti, followed (before the state byte) by the
     * partitions it owns through Parti and a 4-byte length of their encoding.
     */
    static final byte ROLLBACK = 3;
    /** Trailer state, in an assignment only: every partition is assigned in Kafka, the rollback is complete. */
    static final byte ROLLED = 4;
    /**
     * Trailer state, in an assignment only: the group cannot switch at this generation; followed (before the state
     * byte) by the Kafka member IDs of the members that cannot switch (plain {@code KafkaConsumer}s) and a 4-byte length
     * of their encoding.
     */
    static final byte PENDING = 5;
    /**
     * The most bytes the {@link #PENDING} lists of one rebalance may add to the group's assignments (which the broker
     * keeps in one record of its offsets topic, 1 MB at most by default): each is as long as the group has plain members
     * and goes to every migrating and static plain member.
     */
    static final long PENDING_BUDGET_BYTES = 128 * 1024;
    private static final int TRAILER = 9;
    private static final Logger LOG = LoggerFactory.getLogger(MigrationAssignor.class);

    /** Learns, on the consumer's polling thread, that the group switches to Parti. */
    public interface SwitchSignal {
        /**
         * The assignment of {@code generation} told this member to switch; {@code members} is the number of members the
         * switch was announced to when this member is the Kafka group's leader that announced it, else 0 (the other
         * members learn nothing of the group's size). Parti's leader ends its cold-start window once that many members
         * of the generation have joined Parti. Called on the thread calling the Kafka consumer's {@code poll()}, once
         * per assignment carrying the flag.
         */
        void switchAnnounced(int generation, int members);

        /**
         * Whether this member is inside a Kafka rebalance: true when it sends its subscription (joining), false when
         * its assignment arrives. Leaving the group meanwhile would make Kafka report the partitions lost instead of
         * revoked (no commit in {@code onPartitionsRevoked}). Called on the thread calling the Kafka consumer's
         * {@code poll()}.
         */
        default void rebalancing(boolean inProgress) {
        }

        /**
         * Whether the Parti group may already run (a live Parti worker, or Parti's state could not be read). Asked by
         * the group leader only when every member of the Kafka group can switch and none is switching yet: a member
         * that joined the Kafka group after the others switched (it saw one of them at its {@code subscribe()}) must
         * then get nothing in Kafka. Called on the thread calling the Kafka consumer's {@code poll()}; may block for
         * a NATS read.
         */
        default boolean partiMayRun() {
            return false;
        }

        /** Whether this member rolls back from Parti to Kafka ({@code parti.migration=parti-to-kafka}); any thread. */
        default boolean rollsBack() {
            return false;
        }

        /**
         * Rolling rollback: the partitions this member owns through Parti, reported to the Kafka leader in its
         * subscription; null once the rollback is complete (the member is a plain {@code PartiAssignor} member then).
         * Called on the thread calling the Kafka consumer's {@code poll()}, when it joins.
         */
        default Set<TopicPartition> rollbackClaims() {
            return null;
        }

        /**
         * Rolling rollback: the assignment of {@code generation} says every partition of the group is assigned in
         * Kafka. Called on the thread calling the Kafka consumer's {@code poll()}, before the assignment's listener calls.
         */
        default void rolledBack(int generation) {
        }

        /**
         * An assignment of {@code generation} arrived (through a rebalance or, for a static member taking over a
         * {@code group.instance.id}, as the broker kept it): {@code cannotSwitch} holds the Kafka member IDs its
         * {@link #PENDING} trailer lists (the members the leader saw unable to switch), null when it has none. Called
         * on the thread calling the Kafka consumer's {@code poll()}, before the assignment's listener calls.
         */
        default void assigned(int generation, Set<String> cannotSwitch) {
        }
    }

    private final PartiAssignor delegate = new PartiAssignor();
    private volatile SwitchSignal signal;
    private volatile boolean switching;
    /**
     * The number of members this member, as the Kafka group's leader, announced the switch to in its last assignment
     * (0 when it announced none); read by its own {@code onAssignment} in the same rebalance. Polling thread.
     */
    private int announcedTo;

    /** Created by Kafka from {@code partition.assignment.strategy}; {@link #configure(Map)} follows. */
    public MigrationAssignor() {
    }

    /**
     * Configures the wrapped {@link PartiAssignor} and takes the {@link SwitchSignal} from {@value #SIGNAL_CONFIG}.
     *
     * @throws ConfigException when {@value #SIGNAL_CONFIG} is missing or not a {@link SwitchSignal}
     */
    @Override
    public void configure(Map<String, ?> configs) {
        Object s = configs.get(SIGNAL_CONFIG);
        if (!(s instanceof SwitchSignal)) {
            throw new ConfigException(SIGNAL_CONFIG, s, "MigrationAssignor is used by PartiConsumer with "
                    + "parti.migration=kafka-to-parti only; configure dev.parti.kafka.PartiAssignor on KafkaConsumers");
        }
        this.signal = (SwitchSignal) s;
        Map<String, Object> rest = new HashMap<>(configs);
        rest.remove(SIGNAL_CONFIG);
        delegate.configure(rest);
    }

    /** {@value PartiAssignor#NAME}, like {@link PartiAssignor}: the group sees one protocol. */
    @Override
    public String name() {
        return PartiAssignor.NAME;
    }

    /**
     * Cooperative, and eager for a bridge that also offers an eager-only assignor of the old fleet ({@code range}, say;
     * a consumer runs the protocol all its assignors support). Under eager the members report nothing owned, so a switch
     * keeps nothing in Kafka: the partitions wait for Parti, which delivers once the Kafka group is empty.
     */
    @Override
    public List<RebalanceProtocol> supportedProtocols() {
        return List.of(RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER);
    }

    @Override
    public ByteBuffer subscriptionUserData(Set<String> topics) {
        SwitchSignal s = signal;
        if (s != null) {
            s.rebalancing(true);
        }
        if (s != null && s.rollsBack()) {
            Set<TopicPartition> claims = s.rollbackClaims();
            ByteBuffer data = delegate.subscriptionUserData(topics);
            return claims == null ? data : withClaims(data, claims);
        }
        return withTrailer(delegate.subscriptionUserData(topics), switching ? SWITCHING : READY);
    }

    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription groupSubscription) {
        announcedTo = 0;
        Map<String, Subscription> subs = groupSubscription.groupSubscription();
        if (subs.values().stream().anyMatch(sub -> state(sub.userData()) == ROLLBACK)) {
            return rollbackAssignment(metadata, subs);
        }
        boolean allMigrating = !subs.isEmpty();
        boolean anySwitching = false;
        for (Subscription sub : subs.values()) {
            byte state = state(sub.userData());
            allMigrating &= state != 0;
            anySwitching |= state == SWITCHING;
        }
        if (!allMigrating) {
            return withPending(delegate.assign(metadata, groupSubscription), subs);
        }
        Map<String, Assignment> out = new HashMap<>();
        SwitchSignal s = signal;
        // The Kafka members and the Parti workers see each other in either order: a Parti worker writes its heartbeat
        // before it checks that the Kafka group is empty (MixedGroupGuard), and this leader reads the heartbeats after
        // every member here joined. So either that worker saw a member here and delivers nothing yet, or this read
        // sees its heartbeat.
        boolean partiRuns = !anySwitching && s != null && s.partiMayRun();
        if (!anySwitching && !partiRuns) {
            GroupAssignment planned = delegate.assign(metadata, groupSubscription);
            planned.groupAssignment().forEach((member, a) ->
                    out.put(member, new Assignment(a.partitions(), withTrailer(a.userData(), SWITCHING))));
            LOG.info("every member of the group can switch to Parti: announcing the switch to {} members", out.size());
            announcedTo = out.size();
        } else {
            for (Map.Entry<String, Subscription> e : subs.entrySet()) {
                List<TopicPartition> keep = new ArrayList<>();
                for (TopicPartition tp : e.getValue().ownedPartitions()) {
                    if (e.getValue().topics().contains(tp.topic())) {
                        keep.add(tp);
                    }
                }
                out.put(e.getKey(), new Assignment(keep, withTrailer(null, SWITCHING)));
            }
            if (partiRuns) {
                LOG.info("Parti already runs the group (or its state cannot be read): announcing the switch to {} members, "
                        + "which keep what they own in Kafka and get nothing more", out.size());
            } else {
                LOG.info("switching to Parti: {} members keep what they own, nothing moves in Kafka", out.size());
            }
        }
        return new GroupAssignment(out);
    }

    /**
     * The leader's rule with some plain member: {@code planned} ({@code PartiAssignor}'s), with a {@link #PENDING}
     * trailer listing the plain members appended to the assignment of every migrating member and of every static plain
     * member (one with a {@code group.instance.id} and {@code PartiAssignor} user data); the other assignments are
     * returned unchanged. Nothing is appended when no member is migrating, nor when the lists would add more than
     * {@link #PENDING_BUDGET_BYTES} to the assignments (a large group: its migrating static members then ask for the
     * rebalance, as in doubt).
     */
    static GroupAssignment withPending(GroupAssignment planned, Map<String, Subscription> subs) {
        Set<String> plain = plainMembers(subs);
        boolean anyMigrating = plain.size() < subs.size();
        if (!anyMigrating || plain.isEmpty()) {
            return planned;
        }
        List<String> recipients = new ArrayList<>();
        for (Map.Entry<String, Assignment> e : planned.groupAssignment().entrySet()) {
            Subscription sub = subs.get(e.getKey());
            ByteBuffer data = e.getValue().userData();
            boolean migrating = sub != null && !plain.contains(e.getKey());
            boolean staticPlain = sub != null && plain.contains(e.getKey()) && sub.groupInstanceId().isPresent()
                    && data != null && data.hasRemaining();
            if (migrating || staticPlain) {
                recipients.add(e.getKey());
            }
        }
        long bytesPerList = listBytes(plain);
        if (bytesPerList * recipients.size() > PENDING_BUDGET_BYTES) {
            // the broker stores every assignment in one record of the offsets topic: lists in all of them grow with the
            // square of the group's size, so a large group lists no one, and its migrating members ask (as in doubt)
            LOG.info("{} member(s) cannot switch to Parti yet; the list would take {} bytes in {} assignments, over {}: "
                    + "not told", plain.size(), bytesPerList * recipients.size(), recipients.size(), PENDING_BUDGET_BYTES);
            return planned;
        }
        Map<String, Assignment> out = new HashMap<>(planned.groupAssignment());
        int flagged = recipients.size();
        for (String member : recipients) {
            Assignment a = planned.groupAssignment().get(member);
            out.put(member, new Assignment(a.partitions(), withPending(a.userData(), plain)));
        }
        LOG.info("{} member(s) cannot switch to Parti yet ({}): told to {} member(s)", plain.size(), plain, flagged);
        return new GroupAssignment(out);
    }

    /** The members whose subscription has no migration trailer: plain members, which cannot switch. */
    private static Set<String> plainMembers(Map<String, Subscription> subs) {
        Set<String> plain = new java.util.TreeSet<>();
        for (Map.Entry<String, Subscription> e : subs.entrySet()) {
            if (state(e.getValue().userData()) == 0) {
                plain.add(e.getKey());
            }
        }
        return plain;
    }

    /** The bytes a {@link #PENDING} trailer listing {@code memberIds} adds to one assignment. */
    private static long listBytes(Set<String> memberIds) {
        long bytes = 8 + TRAILER;
        for (String id : memberIds) {
            bytes += 2 + id.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        return bytes;
    }

    /**
     * A plain {@link PartiAssignor} leading the group (a {@code KafkaConsumer}, not a migrating member): {@code planned}
     * with a {@link #PENDING} trailer listing every plain member (the leader and each member whose subscription has no
     * migration trailer) appended to the assignment of every static member that has {@code PartiAssignor} user data,
     * the leader's own included. Such an assignment is what the broker hands, without a rebalance, to the next member
     * started under that {@code group.instance.id}; a migrating member started so learns from it which members cannot
     * switch, and asks for no rebalance while one of them is still in the group ({@link KafkaToPartiMigration}): the
     * replacement of the last of them asks, and the group switches. When the lists would add more than {@link
     * #PENDING_BUDGET_BYTES} to the assignments, the leader lists only itself (those replacing the others then find it
     * there and ask for nothing; the leader's own replacement asks). Returned unchanged when the leader is a migrating
     * member (its subscription has a trailer; {@link #assign} then lists every plain member), when {@code
     * leaderMemberId} is null or not a member, and when no member is static. For {@code PartiAssignor}; not for
     * applications.
     *
     * @param planned        the leader's assignment
     * @param subs           the group's subscriptions
     * @param leaderMemberId the leader's own Kafka member ID, or null when it cannot tell
     * @return {@code planned}, or a copy with the trailers
     */
    public static GroupAssignment listingThePlainLeader(GroupAssignment planned, Map<String, Subscription> subs,
                                                        String leaderMemberId) {
        Subscription leader = leaderMemberId == null ? null : subs.get(leaderMemberId);
        if (leader == null || state(leader.userData()) != 0) {
            return planned;
        }
        Set<String> plain = plainMembers(subs);
        List<String> recipients = new ArrayList<>();
        for (Map.Entry<String, Assignment> e : planned.groupAssignment().entrySet()) {
            Subscription sub = subs.get(e.getKey());
            ByteBuffer data = e.getValue().userData();
            if (sub != null && sub.groupInstanceId().isPresent() && data != null && data.hasRemaining()) {
                recipients.add(e.getKey());
            }
        }
        if (recipients.isEmpty()) {
            return planned;
        }
        long bytesPerList = listBytes(plain);
        Set<String> listed = plain;
        if (bytesPerList * recipients.size() > PENDING_BUDGET_BYTES) {
            // a large group: the lists would grow with its square; the leader alone keeps them linear
            listed = Set.of(leaderMemberId);
            recipients.remove(leaderMemberId);
        }
        Map<String, Assignment> out = new HashMap<>(planned.groupAssignment());
        for (String member : recipients) {
            Assignment a = planned.groupAssignment().get(member);
            out.put(member, new Assignment(a.partitions(), withPending(a.userData(), listed)));
        }
        LOG.debug("plain leader {} listed {} member(s) as unable to switch to Parti in the assignments of {} static member(s)",
                leaderMemberId, listed.size(), recipients.size());
        return new GroupAssignment(out);
    }

    /**
     * The leader's rule while some member rolls back from Parti: every member keeps what it owns in Kafka (its
     * cooperative owned partitions); a partition nobody owns in Kafka goes to the one member that reports owning it
     * through Parti, and stays unassigned when two members report it or none does (its Parti owner has not joined the
     * Kafka group yet). Nothing moves. Once every partition of the subscribed topics is assigned, the assignment is
     * flagged {@link #ROLLED}: the group is run by Kafka from then on, and later rebalances are {@link PartiAssignor}'s.
     */
    static GroupAssignment rollbackAssignment(Cluster metadata, Map<String, Subscription> subs) {
        Map<TopicPartition, String> owner = new HashMap<>();
        Map<String, Set<String>> topicsOf = new HashMap<>();
        Set<String> allTopics = new java.util.TreeSet<>();
        for (Map.Entry<String, Subscription> e : subs.entrySet()) {
            Set<String> topics = Set.copyOf(e.getValue().topics());
            topicsOf.put(e.getKey(), topics);
            allTopics.addAll(topics);
            for (TopicPartition tp : e.getValue().ownedPartitions()) {
                if (topics.contains(tp.topic())) {
                    owner.putIfAbsent(tp, e.getKey());
                }
            }
        }
        Map<TopicPartition, String> claimedBy = new HashMap<>();
        Set<TopicPartition> contested = new java.util.HashSet<>();
        for (Map.Entry<String, Subscription> e : new java.util.TreeMap<>(subs).entrySet()) {
            ByteBuffer data = e.getValue().userData();
            if (state(data) != ROLLBACK) {
                continue;
            }
            for (TopicPartition tp : claims(data)) {
                if (!topicsOf.get(e.getKey()).contains(tp.topic()) || owner.containsKey(tp)) {
                    continue;
                }
                String before = claimedBy.putIfAbsent(tp, e.getKey());
                if (before != null && !before.equals(e.getKey())) {
                    contested.add(tp);
                }
            }
        }
        claimedBy.forEach((tp, member) -> {
            if (!contested.contains(tp)) {
                owner.put(tp, member);
            }
        });
        boolean covered = true;
        for (String topic : allTopics) {
            Integer count = metadata.partitionCountForTopic(topic);
            for (int p = 0; count != null && p < count; p++) {
                covered &= owner.containsKey(new TopicPartition(topic, p));
            }
        }
        Map<String, List<TopicPartition>> lists = new HashMap<>();
        subs.keySet().forEach(m -> lists.put(m, new ArrayList<>()));
        owner.forEach((tp, m) -> lists.get(m).add(tp));
        Map<String, Assignment> out = new HashMap<>();
        for (Map.Entry<String, List<TopicPartition>> e : lists.entrySet()) {
            e.getValue().sort(java.util.Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
            out.put(e.getKey(), new Assignment(e.getValue(), covered ? withTrailer(null, ROLLED) : null));
        }
        LOG.info("rolling back from Parti: {} members keep what they own{}", out.size(),
                covered ? "; every partition is assigned in Kafka, the rollback is complete"
                        : ", " + contested.size() + " partition(s) reported twice and the partitions of Parti members not yet "
                        + "in the Kafka group stay unassigned");
        return new GroupAssignment(out);
    }

    @Override
    public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
        ByteBuffer data = assignment.userData();
        byte state = state(data);
        delegate.onAssignment(new Assignment(assignment.partitions(), state == 0 ? data : strip(data)), metadata);
        SwitchSignal s = signal;
        if (s != null) {
            s.assigned(metadata == null ? -1 : metadata.generationId(), state == PENDING ? pending(data) : null);
        }
        if (state == ROLLED && s != null) {
            s.rolledBack(metadata == null ? -1 : metadata.generationId());
        }
        int announced = announcedTo;
        announcedTo = 0;
        if (state == SWITCHING) {
            switching = true;
            if (s != null) {
                s.switchAnnounced(metadata == null ? -1 : metadata.generationId(), announced);
            }
        }
        if (s != null) {
            s.rebalancing(false);
        }
    }

    /** The trailer's state in {@code data}, 0 when there is none. */
    static byte state(ByteBuffer data) {
        if (data == null || data.remaining() < TRAILER) {
            return 0;
        }
        int end = data.limit();
        if (data.getLong(end - 8) != MAGIC) {
            return 0;
        }
        byte state = data.get(end - 9);
        if (state == ROLLBACK || state == PENDING) {
            int len = end - data.position() >= TRAILER + 4 ? data.getInt(end - TRAILER - 4) : -1;
            return len >= 0 && len <= end - data.position() - TRAILER - 4 ? state : 0;
        }
        return state == READY || state == SWITCHING || state == ROLLED ? state : 0;
    }

    /** Writes a trailer's body. */
    private interface BodyWriter {
        void write(java.io.DataOutputStream out) throws java.io.IOException;
    }

    /** Reads a trailer's body. */
    private interface BodyReader<T> {
        T read(java.io.DataInputStream in) throws java.io.IOException;
    }

    /** {@code data} followed by the trailer {@code state} whose body {@code body} writes (then the body's 4-byte length). */
    private static ByteBuffer withBody(ByteBuffer data, byte state, BodyWriter body) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            body.write(out);
            out.writeInt(bytes.size());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        ByteBuffer src = data == null ? ByteBuffer.allocate(0) : data.duplicate();
        byte[] encoded = bytes.toByteArray();
        ByteBuffer out = ByteBuffer.allocate(src.remaining() + encoded.length + TRAILER);
        out.put(src).put(encoded).put(state).putLong(MAGIC);
        out.flip();
        return out;
    }

    /** The body of {@code data}'s trailer {@code state} as {@code reader} reads it; {@code absent} when there is none or it is malformed. */
    private static <T> T body(ByteBuffer data, byte state, BodyReader<T> reader, T absent, String what) {
        if (state(data) != state) {
            return absent;
        }
        int end = data.limit();
        int len = data.getInt(end - TRAILER - 4);
        ByteBuffer enc = data.duplicate();
        enc.position(end - TRAILER - 4 - len).limit(end - TRAILER - 4);
        byte[] bytes = new byte[enc.remaining()];
        enc.get(bytes);
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes))) {
            return reader.read(in);
        } catch (java.io.IOException | RuntimeException e) {
            LOG.warn("ignoring a malformed {}: {}", what, e.toString());
            return absent;
        }
    }

    /** {@code data} followed by a {@link #ROLLBACK} trailer reporting {@code claims}. */
    static ByteBuffer withClaims(ByteBuffer data, Set<TopicPartition> claims) {
        return withBody(data, ROLLBACK, out -> {
            out.writeInt(claims.size());
            for (TopicPartition tp : claims) {
                out.writeUTF(tp.topic());
                out.writeInt(tp.partition());
            }
        });
    }

    /** The partitions a {@link #ROLLBACK} trailer reports (empty when {@code data} has none or it is malformed). */
    static Set<TopicPartition> claims(ByteBuffer data) {
        return body(data, ROLLBACK, in -> {
            Set<TopicPartition> out = new java.util.HashSet<>();
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                out.add(new TopicPartition(in.readUTF(), in.readInt()));
            }
            return out;
        }, Set.of(), "rollback report");
    }

    /** {@code data} followed by a {@link #PENDING} trailer listing {@code memberIds}. */
    static ByteBuffer withPending(ByteBuffer data, Set<String> memberIds) {
        return withBody(data, PENDING, out -> {
            out.writeInt(memberIds.size());
            for (String id : memberIds) {
                out.writeUTF(id);
            }
        });
    }

    /** The member IDs a {@link #PENDING} trailer lists; null when {@code data} has none or it is malformed. */
    static Set<String> pending(ByteBuffer data) {
        return body(data, PENDING, in -> {
            Set<String> out = new java.util.TreeSet<>();
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                out.add(in.readUTF());
            }
            return out;
        }, null, "list of members that cannot switch");
    }

    static ByteBuffer withTrailer(ByteBuffer data, byte state) {
        ByteBuffer src = data == null ? ByteBuffer.allocate(0) : data.duplicate();
        ByteBuffer out = ByteBuffer.allocate(src.remaining() + TRAILER);
        out.put(src).put(state).putLong(MAGIC);
        out.flip();
        return out;
    }

    static ByteBuffer strip(ByteBuffer data) {
        ByteBuffer d = data.duplicate();
        int cut = TRAILER;
        byte state = state(data);
        if (state == ROLLBACK || state == PENDING) {
            cut += 4 + data.getInt(data.limit() - TRAILER - 4);
        }
        d.limit(d.limit() - cut);
        return d.slice();
    }

    @Override
    public String toString() {
        return "MigrationAssignor[" + delegate + (switching ? ", switching" : "") + "]";
    }
}
