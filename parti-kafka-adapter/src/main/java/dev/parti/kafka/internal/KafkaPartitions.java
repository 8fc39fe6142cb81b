package dev.parti.kafka.internal;

import dev.parti.Partition;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.TopicPartition;

/**
 * Conversion between Kafka's {@link TopicPartition} and Parti's {@link Partition}: a Kafka partition is
 * the Parti partition with the keys {@code [topic, partitionNumber]} and weight 1.
 */
public final class KafkaPartitions {
    /** Topic, then partition number. */
    public static final Comparator<TopicPartition> ORDER =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    private KafkaPartitions() {
    }

    /** The Parti partition {@code [topic, partition]}. */
    public static Partition toPartition(TopicPartition tp) {
        return Partition.of(tp.topic(), Integer.toString(tp.partition()));
    }

    /**
     * The Kafka partition of {@code p}.
     *
     * @throws IllegalArgumentException when {@code p} is not of the form {@code [topic, number]}
     */
    public static TopicPartition toTopicPartition(Partition p) {
        List<String> keys = p.keys();
        if (keys.size() != 2) {
            throw new IllegalArgumentException("Not a Kafka partition (expected keys [topic, number]): " + p);
        }
        try {
            int n = Integer.parseInt(keys.get(1));
            if (n < 0) {
                throw new IllegalArgumentException("Not a Kafka partition (negative number): " + p);
            }
            return new TopicPartition(keys.get(0), n);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Not a Kafka partition (second key is not a number): " + p, e);
        }
    }

    /** The Kafka partitions of {@code ps}, sorted by {@link #ORDER}. */
    public static Set<TopicPartition> toTopicPartitions(Collection<Partition> ps) {
        Set<TopicPartition> out = new TreeSet<>(ORDER);
        for (Partition p : ps) {
            out.add(toTopicPartition(p));
        }
        return out;
    }

    /** A sorted copy, for stable logs and callback arguments. */
    public static Set<TopicPartition> sorted(Collection<TopicPartition> tps) {
        Set<TopicPartition> out = new TreeSet<>(ORDER);
        out.addAll(tps);
        return out;
    }

    /**
     * Sets each partition of {@code records} that {@code consumer} still has assigned back to the first of its records:
     * records fetched but not handed out are fetched again by the next poll. Caller's thread (the consumer's).
     */
    public static void rewind(org.apache.kafka.clients.consumer.Consumer<?, ?> consumer,
                              org.apache.kafka.clients.consumer.ConsumerRecords<?, ?> records) {
        rewind(consumer.assignment(), records, consumer::seek);
    }

    /** {@link #rewind(org.apache.kafka.clients.consumer.Consumer, org.apache.kafka.clients.consumer.ConsumerRecords)} for a consumer given by its assignment and its {@code seek}. */
    public static void rewind(Set<TopicPartition> assigned, org.apache.kafka.clients.consumer.ConsumerRecords<?, ?> records,
                              java.util.function.ObjLongConsumer<TopicPartition> seek) {
        for (TopicPartition tp : records.partitions()) {
            if (assigned.contains(tp)) {
                seek.accept(tp, records.records(tp).get(0).offset());
            }
        }
    }

    /** An insertion-ordered copy of {@code a} without the elements of {@code b}. */
    static Set<TopicPartition> minus(Collection<TopicPartition> a, Collection<TopicPartition> b) {
        Set<TopicPartition> out = new LinkedHashSet<>(a);
        out.removeAll(b);
        return out;
    }
}
