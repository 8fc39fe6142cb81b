package dev.parti.nats;

/** What happens to a partition's durable consumer when this worker releases the partition. */
public enum ConsumerCleanup {
    /**
     * Keep it: the consumer's ack floor is the partition's committed position (like a Kafka committed
     * offset); the next owner recreates it from there. Right for streams with limits retention, the default.
     */
    KEEP,
    /**
     * Delete it when this helper closes (not on an ordinary rebalance). The next owner then starts from the
     * oldest message still in the stream: right only for streams with work-queue retention, where acked
     * messages are removed and the stream itself is the position.
     */
    DELETE_ON_CLOSE
}
