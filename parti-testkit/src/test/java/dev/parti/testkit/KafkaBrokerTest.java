package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class KafkaBrokerTest {
  @RegisterExtension
  static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();

  @Test
  void producedRecordsAreConsumedAndTheCommittedOffsetIsStored() throws Exception {
    KAFKA.broker().createTopic("round-trip", 3);
    produce(KAFKA.bootstrapServers(), "round-trip", 30);

    try (KafkaConsumer<String, String> consumer = consumer(KAFKA.bootstrapServers(), "g1")) {
      consumer.subscribe(List.of("round-trip"));
      List<ConsumerRecord<String, String>> records = pollAtLeast(consumer, 30);
      assertThat(records).hasSize(30);
      assertThat(records).extracting(ConsumerRecord::partition).containsOnly(0, 1, 2);
      consumer.commitSync();

      Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(java.util.Set.of(
          new TopicPartition("round-trip", 0), new TopicPartition("round-trip", 1), new TopicPartition("round-trip", 2)));
      assertThat(committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum()).isEqualTo(30);
    }
  }

  @Test
  void topicsAreNotCreatedAutomaticallyAndDuplicatesAreRefused() {
    KAFKA.broker().createTopic("once", 1);
    assertThatThrownBy(() -> KAFKA.broker().createTopic("once", 1))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("exists");
    assertThat(KAFKA.broker().config()).containsEntry("auto.create.topics.enable", "false");
  }

  @Test
  void killAndRestartKeepTopicsRecordsAndCommittedOffsetsOnTheSamePort() throws Exception {
    KafkaBroker broker = KAFKA.broker();
    broker.createTopic("kept", 2);
    produce(broker.bootstrapServers(), "kept", 10);
    try (KafkaConsumer<String, String> consumer = consumer(broker.bootstrapServers(), "g-restart")) {
      consumer.subscribe(List.of("kept"));
      pollAtLeast(consumer, 10);
      consumer.commitSync();
    }
    String bootstrap = broker.bootstrapServers();

    broker.kill();
    assertThat(broker.isRunning()).isFalse();
    assertThat(broker.pid()).isEmpty();
    broker.restart();

    assertThat(broker.bootstrapServers()).isEqualTo(bootstrap);
    produce(bootstrap, "kept", 5);
    try (KafkaConsumer<String, String> consumer = consumer(bootstrap, "g-restart")) {
      consumer.subscribe(List.of("kept"));
      List<ConsumerRecord<String, String>> records = pollAtLeast(consumer, 5);
      assertThat(records).hasSize(5); // only the new ones: the committed offsets survived
    }
  }

  @Test
  void gracefulStopAndRestartKeepTheBrokerUsable() throws Exception {
    KafkaBroker broker = KAFKA.broker();
    broker.stop();
    assertThat(broker.isRunning()).isFalse();

    broker.restart();

    assertThat(broker.isRunning()).isTrue();
    broker.createTopic("after-stop", 1);
    produce(broker.bootstrapServers(), "after-stop", 1);
  }

  @Test
  void theLogFileShowsTheStartAndTheClassWideBrokerIsShared() {
    assertThat(KAFKA.broker().logTail(20)).contains("Kafka Server started");
    assertThat(KAFKA.bootstrapServers()).isEqualTo("127.0.0.1:" + KAFKA.broker().port());
    assertThat(KAFKA.broker().logDir()).exists();
  }

  static void produce(String bootstrap, String topic, int count) throws Exception {
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.LINGER_MS_CONFIG, "0"), new StringSerializer(), new StringSerializer())) {
      for (int i = 0; i < count; i++) {
        producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get();
      }
    }
  }

  static void produceQuietly(String bootstrap, String topic, int count) {
    try {
      produce(bootstrap, topic, count);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
    return new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.GROUP_ID_CONFIG, group,
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
        ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000",
        ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500"), new StringDeserializer(), new StringDeserializer());
  }

  static List<ConsumerRecord<String, String>> pollAtLeast(KafkaConsumer<String, String> consumer, int count) {
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (records.size() < count && System.nanoTime() < deadline) {
      consumer.poll(Duration.ofMillis(200)).forEach(records::add);
    }
    return records;
  }
}
