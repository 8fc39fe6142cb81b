package dev.parti.benchmarks;

import dev.parti.Partition;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.common.TopicPartition;

/**
 * The inputs every assignor gets, in one vocabulary (Kafka's {@link TopicPartition}s and member IDs),
 * converted to each assignor's own types by {@link Assigner}.
 *
 * <p>Partitions are spread over {@value #TOPICS} topics ({@code topic-0} … {@code topic-3}), the first
 * topics taking the remainder; as in Kafka's metadata, the partitions of a topic share one topic
 * string; workers are {@code w-0000}, {@code w-0001}, … so ID order equals
 * number order. Lists are shuffled with a fixed seed, so no assignor gets pre-sorted input.
 */
public final class Scenario {
    /** Topics the partitions are spread over. */
    public static final int TOPICS = 4;
    private static final long SEED = 20_260_427L;

    private Scenario() {
    }

    /** Member ID of worker number {@code i}. */
    public static String worker(int i) {
        return String.format("w-%04d", i);
    }

    /** Workers {@code 0 … n − 1}, shuffled. */
    public static List<String> workers(int n) {
        List<String> ws = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ws.add(worker(i));
        }
        Collections.shuffle(ws, new Random(SEED));
        return ws;
    }

    /** {@code p} partitions over {@value #TOPICS} topics, shuffled. */
    public static List<TopicPartition> partitions(int p) {
        List<TopicPartition> ps = new ArrayList<>(p);
        int topics = Math.min(TOPICS, Math.max(1, p));
        for (int t = 0; t < topics; t++) {
            String topic = "topic-" + t;
            int count = p / topics + (t < p % topics ? 1 : 0);
            for (int i = 0; i < count; i++) {
                ps.add(new TopicPartition(topic, i));
            }
        }
        Collections.shuffle(ps, new Random(SEED + 1));
        return ps;
    }

    /** Topics of {@code partitions}, in first-seen order. */
    public static List<String> topics(List<TopicPartition> partitions) {
        return partitions.stream().map(TopicPartition::topic).distinct().sorted().toList();
    }

    /**
     * The B1 timing input's previous ownership: the partitions dealt round robin (in topic, partition
     * order) over workers {@code 0 … n − 2}, so worker {@code n − 1} has just joined a balanced group.
     * With one worker, nobody owned anything.
     */
    public static Map<String, List<TopicPartition>> scaleOutPrevious(int n, List<TopicPartition> partitions) {
        Map<String, List<TopicPartition>> owned = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            owned.put(worker(i), new ArrayList<>());
        }
        if (n < 2) {
            return owned;
        }
        List<TopicPartition> sorted = new ArrayList<>(partitions);
        sorted.sort((a, b) -> a.topic().equals(b.topic())
                ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
        for (int i = 0; i < sorted.size(); i++) {
            owned.get(worker(i % (n - 1))).add(sorted.get(i));
        }
        return owned;
    }

    /** The Parti partition for a Kafka topic partition: keys {@code [topic, partition]}, weight 1. */
    public static Partition toParti(TopicPartition tp) {
        return Partition.of(tp.topic(), Integer.toString(tp.partition()));
    }

    /** The Kafka topic partition of a Parti partition made by {@link #toParti(TopicPartition)}. */
    public static TopicPartition toKafka(Partition p) {
        return new TopicPartition(p.keys().get(0), Integer.parseInt(p.keys().get(1)));
    }
}
