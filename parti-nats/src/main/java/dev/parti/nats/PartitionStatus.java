package dev.parti.nats;

import dev.parti.Partition;

/**
 * One owned partition as the helper sees it, in {@link PartitionedConsumer#status()}.
 *
 * @param partition        the partition
 * @param phase            where its consumer is
 * @param consumerName     its durable consumer's name
 * @param failedAttempts   consecutive failed attempts to create the consumer (0 when running)
 * @param lastError        the last creation error, or null
 * @param handled          messages handled and acked in this ownership
 * @param lastHandledSequence stream sequence of the last message handled (0 for none)
 */
public record PartitionStatus(Partition partition, Phase phase, String consumerName, int failedAttempts, String lastError,
                              long handled, long lastHandledSequence) {
    /** Where a partition's consumer is. */
    public enum Phase {
        /** Creating the consumer (first attempt, or a retry below the failure threshold). */
        ACQUIRING,
        /** Fetching and handling. */
        RUNNING,
        /** Creating the consumer failed at least the failure threshold times; retrying with backoff. */
        FAILING,
        /** Recreating the consumer after a delivery was lost (keeps the order). */
        RESETTING,
        /** Being released. */
        RELEASING
    }
}
