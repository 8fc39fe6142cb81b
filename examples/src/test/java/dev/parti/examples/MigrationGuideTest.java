package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.MixedGroupException;
import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The steps of {@code migration-guide/README.md} on one group, with the guide's example application
 * ({@link SwapExample.OrderApp}): KafkaConsumer fleet → cut-over to PartiConsumer (continues from the
 * committed offsets) → verify offsets and lag with the Admin API (what {@code kafka-consumer-groups
 * --describe} shows) → rollback to KafkaConsumer (continues from Parti's commits); and the refusal of a
 * rolling mix.
 */
class MigrationGuideTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    static final int PARTITIONS = 3;

    static Properties kafkaSettings(String group) {
        Properties p = SwapExample.settings(KAFKA.bootstrapServers(), group, null);
        p.put("heartbeat.interval.ms", "200");
        p.put("session.timeout.ms", "3000");
        return p;
    }

    /** Runs the application on {@code consumer} until {@code total} records were processed in all, then closes it. */
    static void runUntil(Consumer<String, String> consumer, String topic, List<String> processed, int total) {
        try (SwapExample.OrderApp app = new SwapExample.OrderApp(consumer, r -> processed.add(r.value()))) {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            app.run(topic, () -> processed.size() >= total || System.nanoTime() > deadline);
        }
        assertThat(processed).as("processed within 60 s").hasSizeGreaterThanOrEqualTo(total);
    }

    @Test
    void cutOverVerifyAndRollBackContinueFromTheCommittedOffsetsWithoutReprocessing() throws Exception {
        String topic = Kit.unique("migrate");
        String group = Kit.unique("migrate-group");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        List<String> processed = new CopyOnWriteArrayList<>();

        // before: the KafkaConsumer fleet consumes and commits
        Kit.produce(KAFKA.bootstrapServers(), topic, PARTITIONS, 0, 30);
        runUntil(SwapExample.newKafkaConsumer(kafkaSettings(group)), topic, processed, 30);

        // step 2, cut-over: the old fleet is stopped (closed above); the PartiConsumer starts at the committed offsets
        Kit.produce(KAFKA.bootstrapServers(), topic, PARTITIONS, 30, 30);
        runUntil(SwapExample.newConsumer(Kit.withFastParti(kafkaSettings(group), NATS.url())), topic, processed, 60);
        assertThat(processed).containsExactlyInAnyOrderElementsOf(Kit.values(0, 60));

        // step 3, verify: the group's committed offsets and lag, as kafka-consumer-groups --describe shows them
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()))) {
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            Map<TopicPartition, OffsetSpec> latest = committed.keySet().stream()
                    .collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest()));
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(latest).all().get();
            assertThat(committed).hasSize(PARTITIONS);
            committed.forEach((tp, o) -> {
                assertThat(o.offset()).as("committed %s", tp).isEqualTo(20);
                assertThat(ends.get(tp).offset() - o.offset()).as("lag of %s", tp).isZero();
            });
        }

        // rollback: KafkaConsumer again, from where the PartiConsumers committed
        Kit.produce(KAFKA.bootstrapServers(), topic, PARTITIONS, 60, 30);
        runUntil(SwapExample.newKafkaConsumer(kafkaSettings(group)), topic, processed, 90);
        assertThat(processed).containsExactlyInAnyOrderElementsOf(Kit.values(0, 90));
    }

    @Test
    void aRollingMixIsRefusedWithAMixedGroupExceptionNamingTheGroupUntilTheOldFleetIsGone() {
        String topic = Kit.unique("mixed");
        String group = Kit.unique("mixed-group");
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Kit.produce(KAFKA.bootstrapServers(), topic, PARTITIONS, 0, 9);
        List<Throwable> thrown = new CopyOnWriteArrayList<>();
        try (KafkaConsumer<String, String> old = new KafkaConsumer<>(kafkaSettings(group))) {
            old.subscribe(List.of(topic));
            await().atMost(Duration.ofSeconds(60)).pollInSameThread().pollInterval(Duration.ofMillis(1))
                    .until(() -> {
                        old.poll(Duration.ofMillis(100));
                        return old.assignment().size() == PARTITIONS;
                    });
            try (PartiConsumer<String, String> parti = new PartiConsumer<>(Kit.withFastParti(kafkaSettings(group), NATS.url()))) {
                parti.subscribe(List.of(topic));
                await().atMost(Duration.ofSeconds(60)).pollInSameThread().pollInterval(Duration.ofMillis(1)).until(() -> {
                    try {
                        parti.poll(Duration.ofMillis(100));
                        old.poll(Duration.ZERO); // the old member stays live
                    } catch (MixedGroupException e) {
                        thrown.add(e);
                    }
                    return !thrown.isEmpty();
                });
                MixedGroupException e = (MixedGroupException) thrown.get(0);
                System.out.println("MixedGroupException: " + e.getMessage());
                assertThat(e.groupId()).isEqualTo(group);
                assertThat(e).hasMessageContaining("'" + group + "'");

                old.close(); // stop the old fleet: the PartiConsumer resumes
                List<String> got = new CopyOnWriteArrayList<>();
                await().atMost(Duration.ofSeconds(60)).pollInSameThread().pollInterval(Duration.ofMillis(1)).until(() -> {
                    try {
                        parti.poll(Duration.ofMillis(100)).forEach(r -> got.add(r.value()));
                    } catch (MixedGroupException stillMixed) {
                        return false;
                    }
                    return got.size() >= 9;
                });
                parti.commitSync();
            }
        }
    }
}
