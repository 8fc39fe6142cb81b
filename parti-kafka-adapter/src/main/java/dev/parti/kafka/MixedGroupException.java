package dev.parti.kafka;

import org.apache.kafka.common.KafkaException;

/**
 * The consumer group of a {@link PartiConsumer} also has members managed by Kafka's own group
 * coordinator (for example {@code KafkaConsumer}s of the old deployment still running): the broker
 * refuses the offset commits of consumers outside its group protocol while such members are live, and
 * both kinds of consumer would process the same partitions. A group is managed either by Kafka or by
 * Parti, never by both at once: stop every {@code KafkaConsumer} of the group before starting
 * {@code PartiConsumer}s (a rolling mix is not supported), or use another {@code group.id}.
 *
 * <p>Thrown by {@code poll()} and by the commit methods (and given to commit callbacks) of a
 * subscribed {@code PartiConsumer}. It is deliberately not a {@code CommitFailedException}, so code
 * that treats commit failures as a routine rebalance does not swallow it. The consumer checks the group
 * again while this condition lasts and resumes once the Kafka-managed members are gone.
 *
 * <p>A consumer configured with {@code parti.migration=kafka-to-parti} takes part in such a group instead
 * (see the migration guide, "Rolling migration"); while it waits for the last Kafka-managed members to leave,
 * its Parti side reports this exception with {@link #isMigrationWait()} true, and {@code PartiConsumer}
 * handles it itself ({@code poll()} returns no records meanwhile).
 */
public class MixedGroupException extends KafkaException {
    /** Serialization version. */
    private static final long serialVersionUID = 1L;

    private final String groupId;
    private final boolean migrationWait;

    /**
     * @param groupId the consumer group
     * @param message what was found and what to do
     * @param cause   the broker's refusal, or null when found by inspecting the group
     */
    public MixedGroupException(String groupId, String message, Throwable cause) {
        this(groupId, message, cause, false);
    }

    /**
     * @param groupId       the consumer group
     * @param message       what was found and what to do
     * @param cause         the broker's refusal, or null when found by inspecting the group
     * @param migrationWait whether this only says that a migrating consumer waits for the Kafka-managed members
     *                      to leave (an expected state of a rolling migration, not a misconfiguration)
     */
    public MixedGroupException(String groupId, String message, Throwable cause, boolean migrationWait) {
        super(message, cause);
        this.groupId = groupId;
        this.migrationWait = migrationWait;
    }

    /** Whether a migrating consumer ({@code parti.migration=kafka-to-parti}) is only waiting for the Kafka-managed members to leave. */
    public boolean isMigrationWait() {
        return migrationWait;
    }

    /** The consumer group with Kafka-managed members. */
    public String groupId() {
        return groupId;
    }
}
