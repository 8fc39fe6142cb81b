package dev.parti.nats;

import dev.parti.Partition;
import io.nats.client.Message;

/**
 * Handles the messages of the partitions this worker owns.
 *
 * <p><b>Thread:</b> the thread of the jnats dispatcher the partition was given to (one of
 * {@link PartitionedConsumer.Builder#handlerThreads(int)}). Calls for one partition never overlap, in this
 * worker or (through Parti's two-phase handoff) in any other, and come in stream order; partitions on
 * different dispatchers run in parallel, and a call that blocks delays the other partitions of its dispatcher.
 * <p><b>Acknowledgement:</b> the helper acks the message when this method returns normally. Do not ack
 * it yourself.
 * <p><b>Exceptions:</b> the same message is handed again after a backoff
 * ({@link PartitionedConsumer.Builder#retryBackoff}: the partition's consumer is recreated after its last
 * handled message, so the dispatcher's other partitions go on meanwhile), until it succeeds or the
 * partition is taken away; it is never skipped, so a partition's order is kept. An {@link InterruptedException} or an interrupt means the partition is being
 * released past the revoke timeout: return quickly.
 * <p><b>Redelivery:</b> a message may be handed more than once after a crash of its previous owner or a
 * lost acknowledgement (at-least-once); {@code message.metaData().streamSequence()} identifies it.
 */
@FunctionalInterface
public interface PartitionHandler {
    /** Handles {@code message} of {@code partition}. */
    void handle(Partition partition, Message message) throws Exception;
}
