package dev.parti.cli;

import dev.parti.Partition;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Committed and end offsets of a Kafka consumer group, read with the Admin client (like
 * {@code kafka-consumer-groups --describe}). Parti keeps offsets in Kafka under the same {@code group.id},
 * and the Kafka adapter names partitions {@code [topic, number]}.
 */
final class KafkaOffsets {
    /** Offsets of one partition; {@code committed} is null when the group has committed nothing there. */
    record Offsets(Long committed, long end) {
        /** end − committed, or null without a commit. */
        Long lag() {
            return committed == null ? null : Math.max(0, end - committed);
        }
    }

    private KafkaOffsets() { }

    /** The Kafka partition a Parti partition names, or null when it is not {@code [topic, number]}. */
    static TopicPartition topicPartition(Partition p) {
        if (p.keys().size() != 2) {
            return null;
        }
        try {
            return new TopicPartition(p.keys().get(0), Integer.parseInt(p.keys().get(1)));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * Offsets of {@code partitions} and of every partition the group has committed, sorted.
     *
     * @param commandConfig optional Admin client properties (security settings), like Kafka's tools take
     */
    static Map<TopicPartition, Offsets> read(String bootstrap, Path commandConfig, String group,
                                             Collection<TopicPartition> partitions, Duration timeout) {
        Properties props = new Properties();
        if (commandConfig != null) {
            try (Reader r = Files.newBufferedReader(commandConfig)) {
                props.load(r);
            } catch (IOException e) {
                throw new CliException("--command-config " + commandConfig + ": " + e.getMessage(), e);
            }
        }
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, "parti-cli");
        int ms = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        props.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Integer.toString(ms));
        props.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Integer.toString(ms));
        try (Admin admin = Admin.create(props)) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(ms, TimeUnit.MILLISECONDS);
            Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
            partitions.forEach(tp -> ask.put(tp, OffsetSpec.latest()));
            committed.keySet().forEach(tp -> ask.put(tp, OffsetSpec.latest()));
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = ask.isEmpty() ? Map.of()
                    : admin.listOffsets(ask).all().get(ms, TimeUnit.MILLISECONDS);
            Map<TopicPartition, Offsets> out = new TreeMap<>(
                    java.util.Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
            for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e : ends.entrySet()) {
                OffsetAndMetadata c = committed.get(e.getKey());
                out.put(e.getKey(), new Offsets(c == null ? null : c.offset(), e.getValue().offset()));
            }
            return out;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new CliException("reading offsets of Kafka group '" + group + "' from " + bootstrap + " failed: "
                    + cause.getClass().getSimpleName() + ": " + cause.getMessage(), cause);
        } catch (TimeoutException e) {
            throw new CliException("Kafka at " + bootstrap + " did not answer within " + timeout.toMillis() + " ms", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted while reading Kafka offsets", e);
        } catch (org.apache.kafka.common.KafkaException e) {
            throw new CliException("cannot talk to Kafka at " + bootstrap + ": " + e.getMessage(), e);
        }
    }
}
