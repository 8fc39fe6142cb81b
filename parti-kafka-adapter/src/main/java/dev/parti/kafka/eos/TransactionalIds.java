package dev.parti.kafka.eos;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;

/**
 * The {@code transactional.id} of the producer that owns the transactions of one input partition:
 * {@code <prefix>:<topic>:<partition>}, where the prefix defaults to the consumer's {@code group.id}.
 *
 * <p>The same input partition always gets the same id (across restarts, members and machines), which is
 * what makes {@code initTransactions()} of its next owner fence the previous one. Different partitions
 * get different ids, also for prefixes that contain {@code :} or {@code .}: a Kafka topic name never
 * contains {@code :}, so the last two {@code :} delimit the topic and the partition. Two groups that
 * process the same input topic must use different prefixes, or they fence each other.
 */
public final class TransactionalIds {
    /** The separator between prefix, topic and partition; never part of a Kafka topic name. */
    public static final char SEPARATOR = ':';

    private TransactionalIds() {
    }

    /**
     * The transactional id of {@code partition} under {@code prefix}.
     *
     * @throws ConfigException when the prefix is not valid (see {@link #validatePrefix(String)})
     */
    public static String of(String prefix, TopicPartition partition) {
        validatePrefix(prefix);
        if (partition == null) {
            throw new IllegalArgumentException("partition must not be null");
        }
        return prefix + SEPARATOR + partition.topic() + SEPARATOR + partition.partition();
    }

    /**
     * Checks a transactional id prefix: not null, not blank, no control characters (they would end up in
     * broker logs and tool output).
     *
     * @throws ConfigException naming the problem
     */
    public static String validatePrefix(String prefix) {
        if (prefix == null || prefix.isBlank()) {
            throw new ConfigException("transactional id prefix", prefix,
                    "must not be blank (it defaults to the consumer's group.id, which must then be set)");
        }
        for (int i = 0; i < prefix.length(); i++) {
            if (Character.isISOControl(prefix.charAt(i))) {
                throw new ConfigException("transactional id prefix", prefix,
                        "must not contain control characters (found one at index " + i + ")");
            }
        }
        return prefix;
    }
}
