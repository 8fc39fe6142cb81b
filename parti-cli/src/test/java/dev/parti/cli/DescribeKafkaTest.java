package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code parti describe --bootstrap-server}: committed offset, end offset and lag next to each owner, from a real broker. */
class DescribeKafkaTest {
    private static NatsServer nats;
    private static KafkaBroker kafka;

    @BeforeAll
    static void start() {
        nats = NatsServer.start();
        kafka = KafkaBroker.start();
    }

    @AfterAll
    static void stop() {
        if (kafka != null) {
            kafka.close();
        }
        if (nats != null) {
            nats.close();
        }
    }

    @Test
    void describeShowsOffsetsAndLagPerPartitionNextToItsOwner() throws Exception {
        String group = "lagging";
        String topic = "events";
        kafka.createTopic(topic, 4);
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int partition = 0; partition < 4; partition++) {
                for (int i = 0; i < 10 + partition; i++) {
                    producer.send(new ProducerRecord<>(topic, partition, null, "r" + i));
                }
            }
            producer.flush();
        }
        // the group has committed 3 records of partitions 0..2 and nothing of partition 3
        Map<TopicPartition, OffsetAndMetadata> commits = new HashMap<>();
        for (int partition = 0; partition < 3; partition++) {
            commits.put(new TopicPartition(topic, partition), new OffsetAndMetadata(3));
        }
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
            admin.alterConsumerGroupOffsets(group, commits).all().get();
        }

        try (Workers w = new Workers(group, nats.url(), Workers.topic(topic, 4))) {
            PartiManager a = w.start();
            PartiManager b = w.start();
            await().atMost(Duration.ofSeconds(10)).until(w::balanced);
            // the managers apply a version before their next heartbeat reports it: describe reads the heartbeats, so
            // until then it shows the move as pending ("->w-0"); wait for the settled view
            Cli.Result[] last = new Cli.Result[1];
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                last[0] = Cli.run("describe", "-s", nats.url(), "-g", group, "--bootstrap-server", kafka.bootstrapServers(), "--json");
                return last[0].exit() == 0 && !last[0].out().contains("\"->");
            });
            Cli.Result r = last[0];
            assertThat(r.exit()).as(r.toString()).isZero();
            JsonNode kafkaRows = new ObjectMapper().readTree(r.out()).path("kafka");
            assertThat(kafkaRows).hasSize(4);
            Map<String, String> owner = new HashMap<>();
            for (PartiManager m : w.started) {
                for (Partition part : m.currentAssignment()) {
                    owner.put(part.keys().get(1), m.workerId());
                }
            }
            for (JsonNode row : kafkaRows) {
                int partition = row.path("partition").asInt();
                assertThat(row.path("topic").asText()).isEqualTo(topic);
                assertThat(row.path("owner").asText()).isEqualTo(owner.get(Integer.toString(partition)));
                assertThat(row.path("endOffset").asLong()).isEqualTo(10 + partition);
                if (partition < 3) {
                    assertThat(row.path("committedOffset").asLong()).isEqualTo(3);
                    assertThat(row.path("lag").asLong()).isEqualTo(7 + partition);
                } else {
                    assertThat(row.path("committedOffset").isNull()).isTrue();
                    assertThat(row.path("lag").isNull()).isTrue();
                }
            }
            assertThat(owner.values()).containsOnly(a.workerId(), b.workerId());

            Cli.Result text = Cli.run("describe", "-s", nats.url(), "-g", group, "-b", kafka.bootstrapServers());
            assertThat(text.exit()).as(text.toString()).isZero();
            PartiCliTest.sample("describe-with-kafka.txt", text.out());
            assertThat(text.out()).contains("TOPIC", "COMMITTED-OFFSET", "END-OFFSET", "LAG");
            assertThat(text.out()).containsPattern("events\\s+0\\s+w-\\d\\s+3\\s+10\\s+7");
        }

        Cli.Result noKafka = Cli.run("describe", "-s", nats.url(), "-g", group, "-b", "127.0.0.1:1", "--timeout", "2s");
        assertThat(noKafka.exit()).isEqualTo(1);
        assertThat(noKafka.err()).contains("Kafka", "127.0.0.1:1");
    }
}
