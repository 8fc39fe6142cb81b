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
 */
public class MixedGroupException extends KafkaException {
    /** Serialization version. */
    private static final long serialVersionUID = 1L;

    private final String groupId;

    /**
     * @param groupId the consumer group
     * @param message what was found and what to do
     * @param cause   the broker's refusal, or null when found by inspecting the group
     */
    public MixedGroupException(String groupId, String message, Throwable cause) {
        super(message, cause);
        this.groupId = groupId;
    }

    /** The consumer group with Kafka-managed members. */
    public String groupId() {
        return groupId;
    }
}
