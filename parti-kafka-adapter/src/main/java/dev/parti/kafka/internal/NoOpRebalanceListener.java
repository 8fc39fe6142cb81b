package dev.parti.kafka.internal;

import java.util.Collection;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;

/**
 * The listener of a subscription made without one, and of an inner consumer whose callbacks this library makes itself:
 * it does nothing ({@code onPartitionsLost} too, by its default, which calls {@code onPartitionsRevoked}).
 */
public final class NoOpRebalanceListener implements ConsumerRebalanceListener {
    /** The one instance. */
    public static final NoOpRebalanceListener INSTANCE = new NoOpRebalanceListener();

    private NoOpRebalanceListener() {
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
    }
}
