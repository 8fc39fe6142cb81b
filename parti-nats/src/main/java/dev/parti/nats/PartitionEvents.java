package dev.parti.nats;

import dev.parti.Partition;
import java.time.Duration;

/**
 * Told about the consumers behind the owned partitions: how this helper surfaces persistent failures.
 * {@link PartitionedConsumer#status()} gives the same information as a snapshot.
 *
 * <p><b>Thread:</b> {@link #onAcquired}, {@link #onConsumerFailing} and {@link #onConsumerRecovered}
 * run on the helper's consumer thread ({@code parti-nats-<group>-consumers}); {@link #onReleased} and
 * {@link #onRevokeTimeout} on Parti's callback thread, inside the revocation. Never concurrently with
 * itself on one thread; keep them short. <b>Exceptions</b> are logged and ignored.
 */
public interface PartitionEvents {
    /** The partition's consumer runs; messages from stream sequence {@code startSequence} on are fetched. */
    default void onAcquired(Partition partition, String consumerName, long startSequence) {
    }

    /**
     * Creating the partition's consumer failed {@code attempts} times in a row (the configured failure
     * threshold); the helper keeps retrying with backoff, and the partition's messages are not consumed
     * meanwhile although Parti counts it as owned by this worker.
     */
    default void onConsumerFailing(Partition partition, int attempts, Exception lastError) {
    }

    /** A partition reported failing has its consumer now, after {@code attempts} failed attempts. */
    default void onConsumerRecovered(Partition partition, int attempts) {
    }

    /**
     * The partition was released: fetching stopped, its handler returned and its acks were confirmed
     * ({@code clean}), or the revoke timeout passed first ({@code clean == false}).
     */
    default void onReleased(Partition partition, boolean clean) {
    }

    /** A handler was still running when the revoke timeout passed; it was interrupted and the release reported anyway. */
    default void onRevokeTimeout(Partition partition, Duration waited) {
    }
}
