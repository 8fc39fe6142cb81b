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
 * The assignor a migrating {@code PartiConsumer} ({@code parti.migration=kafka-to-parti}) uses inside the
 * classic Kafka group it takes over: {@link PartiAssignor} (same protocol name {@value PartiAssignor#NAME}, same
 * assignments) plus a small trailer in the user data that lets the group agree on one switch to Parti.
 *
 * <p><b>Trailer.</b> Appended after {@link PartiAssignor}'s bytes, whose readers ignore what follows their
 * fields (so a plain {@code KafkaConsumer} with {@code PartiAssignor} leading the group reads these members
 * normally): one state byte, then the 8-byte marker {@link #MAGIC}. In a subscription the state says
 * {@link #READY} (a migrating member that can switch) or {@link #SWITCHING} (it has been told to switch); in
 * an assignment {@link #SWITCHING} tells the member to switch now.
 *
 * <p><b>What the group leader does</b> (only when it is itself a migrating member; a plain {@code
 * PartiAssignor} leader never sets the flag):
 * <ul>
 *   <li>some member without the trailer (a plain {@code KafkaConsumer}): {@code PartiAssignor}'s assignment,
 *       unchanged;</li>
 *   <li>every member {@link #READY}, none switching yet: {@code PartiAssignor}'s assignment, each one flagged
 *       {@link #SWITCHING} (this generation is the coordinated switch);</li>
 *   <li>some member already {@link #SWITCHING}: each member keeps exactly the partitions it owns (its cooperative
 *       owned partitions) and is flagged again; partitions of members that left stay unassigned in Kafka, since
 *       their owner is about to be chosen by Parti.</li>
 * </ul>
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
    private static final int TRAILER = 9;
    private static final Logger LOG = LoggerFactory.getLogger(MigrationAssignor.class);

    /** Learns, on the consumer's polling thread, that the group switches to Parti. */
    public interface SwitchSignal {
        /**
         * The assignment of {@code generation} told this member to switch. Called on the thread calling the
         * Kafka consumer's {@code poll()}, once per assignment carrying the flag.
         */
        void switchAnnounced(int generation);

        /**
         * Whether this member is inside a Kafka rebalance: true when it sends its subscription (joining), false when
         * its assignment arrives. Leaving the group meanwhile would make Kafka report the partitions lost instead of
         * revoked (no commit in {@code onPartitionsRevoked}). Called on the thread calling the Kafka consumer's
         * {@code poll()}.
         */
        default void rebalancing(boolean inProgress) {
        }
    }

    private final PartiAssignor delegate = new PartiAssignor();
    private volatile SwitchSignal signal;
    private volatile boolean switching;

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

    /** Cooperative only: the switch relies on members reporting what they own. */
    @Override
    public List<RebalanceProtocol> supportedProtocols() {
        return List.of(RebalanceProtocol.COOPERATIVE);
    }

    @Override
    public ByteBuffer subscriptionUserData(Set<String> topics) {
        SwitchSignal s = signal;
        if (s != null) {
            s.rebalancing(true);
        }
        return withTrailer(delegate.subscriptionUserData(topics), switching ? SWITCHING : READY);
    }

    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription groupSubscription) {
        Map<String, Subscription> subs = groupSubscription.groupSubscription();
        boolean allMigrating = !subs.isEmpty();
        boolean anySwitching = false;
        for (Subscription sub : subs.values()) {
            byte state = state(sub.userData());
            allMigrating &= state != 0;
            anySwitching |= state == SWITCHING;
        }
        if (!allMigrating) {
            return delegate.assign(metadata, groupSubscription);
        }
        Map<String, Assignment> out = new HashMap<>();
        if (!anySwitching) {
            GroupAssignment planned = delegate.assign(metadata, groupSubscription);
            planned.groupAssignment().forEach((member, a) ->
                    out.put(member, new Assignment(a.partitions(), withTrailer(a.userData(), SWITCHING))));
            LOG.info("every member of the group can switch to Parti: announcing the switch to {} members", out.size());
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
            LOG.info("switching to Parti: {} members keep what they own, nothing moves in Kafka", out.size());
        }
        return new GroupAssignment(out);
    }

    @Override
    public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
        ByteBuffer data = assignment.userData();
        byte state = state(data);
        delegate.onAssignment(new Assignment(assignment.partitions(), state == 0 ? data : strip(data)), metadata);
        SwitchSignal s = signal;
        if (state == SWITCHING) {
            switching = true;
            if (s != null) {
                s.switchAnnounced(metadata == null ? -1 : metadata.generationId());
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
        return state == READY || state == SWITCHING ? state : 0;
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
        d.limit(d.limit() - TRAILER);
        return d.slice();
    }

    @Override
    public String toString() {
        return "MigrationAssignor[" + delegate + (switching ? ", switching" : "") + "]";
    }
}
