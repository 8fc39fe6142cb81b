package dev.parti.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.kafka.PartiAssignor;
import dev.parti.kafka.PartiConsumerConfig;
import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.ConsumerAwareRebalanceListener;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.kafka.listener.MessageListener;

/**
 * The rolling Kafka → Parti migration, and the rolling rollback Parti → Kafka, with Spring Kafka listener containers, as
 * an application rolls them out. Forward:
 * each instance is a {@link ConcurrentMessageListenerContainer} whose consumers first come from a
 * {@link DefaultKafkaConsumerFactory} (classic protocol, {@link PartiAssignor}), then, one instance at a time, from a
 * {@link PartiConsumerFactory} with {@code parti.migration=kafka-to-parti}. The container commits as it always does
 * ({@code AckMode.BATCH}, and the pending offsets when partitions are revoked), under load from a producer that runs
 * throughout. The rollback the same way in reverse (see its test). Ownership is logged per container instance from the
 * container's rebalance listener; every record handled is counted, and a record handled by an instance that did not own
 * its partition is reported. Every consumer exception a container hands its error handler is recorded (Spring logs it as
 * {@code ERROR Consumer exception}): none may be a {@code MixedGroupException}. During the rollback a container that has
 * not noticed it yet may commit through Parti after another member joined the Kafka group; the broker refuses that
 * commit, and the {@code PartiConsumer} makes it a Kafka commit instead of throwing.
 */
class SpringRollingMigrationTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final int PARTITIONS = 8;
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final AtomicInteger IDS = new AtomicInteger();

    private final OwnershipLog log = OwnershipLog.inMemory();
    /** partition@offset -> how many times a listener handled it. */
    private final Map<String, AtomicInteger> ledger = new ConcurrentHashMap<>();
    /** Records handled by an instance while it did not own their partition. */
    private final List<String> notOwned = new CopyOnWriteArrayList<>();
    private final Map<String, Set<TopicPartition>> owned = new ConcurrentHashMap<>();
    private final Map<String, ConcurrentMessageListenerContainer<String, String>> running = new LinkedHashMap<>();
    /** The consumer exceptions the containers handed their error handler (commit failures among them). */
    private final List<String> consumerErrors = new CopyOnWriteArrayList<>();

    @Test
    void containersOnKafkaConsumersReplacedOneByOneByContainersOnPartiConsumersHandleEveryRecordOnce() throws Exception {
        String topic = "spring-migrate-" + IDS.incrementAndGet();
        String group = topic + "-group";
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Producer producer = new Producer(topic);
        producer.start();
        try {
            start("kafka-1", kafkaFactory(group, "kafka-1"), topic, group);
            start("kafka-2", kafkaFactory(group, "kafka-2"), topic, group);
            awaitOwners(Set.of("kafka-1", "kafka-2"));

            start("parti-1", partiFactory(group, "parti-1", PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI), topic, group);
            awaitOwners(Set.of("kafka-1", "kafka-2", "parti-1"));
            stop("kafka-1");
            awaitOwners(Set.of("kafka-2", "parti-1"));
            start("parti-2", partiFactory(group, "parti-2", PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI), topic, group);
            awaitOwners(Set.of("kafka-2", "parti-1", "parti-2"));
            stop("kafka-2"); // the last Kafka-managed member: the group switches to Parti

            try (Admin admin = admin()) {
                await("the Kafka group empty and both Parti instances owning partitions").atMost(WAIT)
                        .pollInterval(Duration.ofMillis(100)).until(() ->
                                admin.describeConsumerGroups(List.of(group)).all().get().get(group).members().isEmpty()
                                        && ownersNow().equals(Set.of("parti-1", "parti-2")));
            }
            producer.stopAndWait();
            awaitEveryRecordHandledAndCommitted(topic, group);
        } finally {
            producer.stopAndWait();
            for (String name : new ArrayList<>(running.keySet())) {
                stop(name);
            }
        }
        checkEveryRecordHandledOnceByItsOwner(topic);
    }

    /**
     * The rolling rollback (Parti → Kafka) the same way: containers on {@link PartiConsumerFactory} (a group run by
     * Parti) are first replaced one at a time by containers on {@code PartiConsumerFactory} with {@code
     * parti.migration=parti-to-kafka}; once the last plain one is gone the group hands itself back to Kafka's
     * coordinator; then those are replaced one at a time by containers on {@link DefaultKafkaConsumerFactory} with
     * {@link PartiAssignor}, ending on plain {@code KafkaConsumer}s.
     */
    @Test
    void containersOnPartiConsumersRolledBackOneByOneToContainersOnKafkaConsumersHandleEveryRecordOnce() throws Exception {
        String topic = "spring-rollback-" + IDS.incrementAndGet();
        String group = topic + "-group";
        KAFKA.broker().createTopic(topic, PARTITIONS);
        Producer producer = new Producer(topic);
        producer.start();
        try {
            start("parti-1", partiFactory(group, "parti-1", PartiConsumerConfig.MIGRATION_NONE), topic, group);
            start("parti-2", partiFactory(group, "parti-2", PartiConsumerConfig.MIGRATION_NONE), topic, group);
            awaitOwners(Set.of("parti-1", "parti-2"));

            // first rolling deployment: every instance restarted with the rollback setting
            start("rb-1", partiFactory(group, "rb-1", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), topic, group);
            awaitOwners(Set.of("parti-1", "parti-2", "rb-1"));
            stop("parti-1");
            awaitOwners(Set.of("parti-2", "rb-1"));
            start("rb-2", partiFactory(group, "rb-2", PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA), topic, group);
            awaitOwners(Set.of("parti-2", "rb-1", "rb-2"));
            stop("parti-2"); // every live member rolls back now: the group goes back to Kafka's coordinator
            awaitKafkaMembers(group, 2);
            awaitOwners(Set.of("rb-1", "rb-2"));

            // second rolling deployment: plain KafkaConsumers with PartiAssignor
            start("kafka-1", kafkaFactory(group, "kafka-1"), topic, group);
            awaitOwners(Set.of("rb-1", "rb-2", "kafka-1"));
            stop("rb-1");
            awaitOwners(Set.of("rb-2", "kafka-1"));
            start("kafka-2", kafkaFactory(group, "kafka-2"), topic, group);
            awaitOwners(Set.of("rb-2", "kafka-1", "kafka-2"));
            stop("rb-2");
            awaitOwners(Set.of("kafka-1", "kafka-2"));
            awaitKafkaMembers(group, 2);

            producer.stopAndWait();
            awaitEveryRecordHandledAndCommitted(topic, group);
        } finally {
            producer.stopAndWait();
            for (String name : new ArrayList<>(running.keySet())) {
                stop(name);
            }
        }
        checkEveryRecordHandledOnceByItsOwner(topic);
    }

    /** Every record produced was handled, and the group's commits reached the end of every partition. */
    private void awaitEveryRecordHandledAndCommitted(String topic, String group) throws Exception {
        Map<TopicPartition, Long> ends = endOffsets(topic);
        long total = ends.values().stream().mapToLong(Long::longValue).sum();
        assertThat(total).as("records produced under load").isGreaterThan(200);
        await("every record handled").atMost(WAIT).until(() -> ledger.size() >= total);
        try (Admin admin = admin()) {
            await("the containers' commits reach the end offsets").atMost(WAIT).untilAsserted(() -> {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                ends.forEach((tp, end) -> assertThat(committed.get(tp)).as("commit of %s", tp).isNotNull()
                        .extracting(OffsetAndMetadata::offset).isEqualTo(end));
            });
        }
    }

    private void checkEveryRecordHandledOnceByItsOwner(String topic) throws Exception {
        Map<TopicPartition, Long> ends = endOffsets(topic);
        List<String> twice = ledger.entrySet().stream().filter(e -> e.getValue().get() > 1).map(Map.Entry::getKey).sorted().toList();
        List<String> missing = new ArrayList<>();
        ends.forEach((tp, end) -> {
            for (long o = 0; o < end; o++) {
                if (!ledger.containsKey(tp.partition() + "@" + o)) {
                    missing.add(tp.partition() + "@" + o);
                }
            }
        });
        assertThat(missing).as("records never handled").isEmpty();
        assertThat(twice).as("records handled twice (the containers commit in their revocation)").isEmpty();
        assertThat(notOwned).as("records handled by an instance that did not own their partition").isEmpty();
        consumerErrors.forEach(e -> System.out.println("consumer exception: " + e));
        assertThat(consumerErrors).as("consumer exceptions reaching a container").noneMatch(e -> e.contains("MixedGroupException"));
        OwnershipReport report = OwnershipChecker.builder()
                .partitions(IntStream.range(0, PARTITIONS).mapToObj(p -> topic + "-" + p).collect(Collectors.toSet()))
                .maxGap(WAIT)
                .check(log.events());
        assertThat(report.overlaps()).as("partitions owned by two instances at once").isEmpty();
    }

    /** Waits until the Kafka group is stable with {@code members} members holding every partition between them. */
    private static void awaitKafkaMembers(String group, int members) throws Exception {
        try (Admin admin = admin()) {
            await("the Kafka group stable with " + members + " members holding every partition").atMost(WAIT)
                    .pollInterval(Duration.ofMillis(100)).until(() -> {
                        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                        return d.groupState() == GroupState.STABLE && d.members().size() == members
                                && d.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum() == PARTITIONS;
                    });
        }
    }

    private ConsumerFactory<String, String> kafkaFactory(String group, String name) {
        Map<String, Object> config = base(group);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        return new DefaultKafkaConsumerFactory<>(config);
    }

    private ConsumerFactory<String, String> partiFactory(String group, String name, String migration) {
        Map<String, Object> config = base(group);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.put(PartiConsumerConfig.MIGRATION_CONFIG, migration);
        config.put("parti.nats.url", NATS.url());
        config.put("parti.heartbeat.interval.ms", 100);
        config.put("parti.session.timeout.ms", 2000);
        config.put("parti.leader.ttl.ms", 1000);
        config.put("parti.worker.id.ttl.ms", 4000);
        config.put("parti.cold.start.window.ms", 300);
        config.put("parti.planned.scale.window.ms", 300);
        config.put("parti.rebalance.cooldown.ms", 100);
        return new PartiConsumerFactory<>(config);
    }

    /** What the application's consumers have in common: the classic protocol with PartiAssignor (migration step 1). */
    private static Map<String, Object> base(String group) {
        Map<String, Object> config = new HashMap<>();
        config.put("bootstrap.servers", KAFKA.bootstrapServers());
        config.put("group.id", group);
        config.put("group.protocol", "classic");
        config.put("partition.assignment.strategy", PartiAssignor.class.getName());
        config.put("key.deserializer", StringDeserializer.class);
        config.put("value.deserializer", StringDeserializer.class);
        config.put("auto.offset.reset", "earliest");
        config.put("session.timeout.ms", 6000);
        config.put("heartbeat.interval.ms", 500);
        config.put("fetch.max.wait.ms", 100);
        return config;
    }

    private void start(String name, ConsumerFactory<String, String> factory, String topic, String group) {
        owned.put(name, ConcurrentHashMap.newKeySet());
        ContainerProperties props = new ContainerProperties(topic);
        props.setGroupId(group);
        props.setClientId(name);
        props.setMessageListener((MessageListener<String, String>) r -> {
            if (!owned.get(name).contains(new TopicPartition(r.topic(), r.partition()))) {
                notOwned.add(name + " handled " + r.partition() + "@" + r.offset());
            }
            ledger.computeIfAbsent(r.partition() + "@" + r.offset(), k -> new AtomicInteger()).incrementAndGet();
        });
        props.setConsumerRebalanceListener(new ConsumerAwareRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
                for (TopicPartition tp : partitions) {
                    owned.get(name).add(tp);
                    log.acquired(name, tp.toString());
                }
            }

            @Override
            public void onPartitionsRevokedAfterCommit(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
                release(name, partitions);
            }

            @Override
            public void onPartitionsLost(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
                release(name, partitions);
            }
        });
        ConcurrentMessageListenerContainer<String, String> container = new ConcurrentMessageListenerContainer<>(factory, props);
        container.setConcurrency(1);
        container.setCommonErrorHandler(new DefaultErrorHandler() {
            @Override
            public void handleOtherException(Exception thrown, Consumer<?, ?> consumer, MessageListenerContainer c,
                                             boolean batchListener) {
                consumerErrors.add(name + ": " + thrown);
                super.handleOtherException(thrown, consumer, c, batchListener);
            }
        });
        container.setBeanName(name);
        container.start();
        running.put(name, container);
    }

    private void release(String name, Collection<TopicPartition> partitions) {
        for (TopicPartition tp : partitions) {
            if (owned.get(name).remove(tp)) {
                log.released(name, tp.toString());
            }
        }
    }

    private void stop(String name) {
        ConcurrentMessageListenerContainer<String, String> container = running.remove(name);
        if (container != null) {
            container.stop();
            log.gone(name);
        }
    }

    /** The instances that own at least one partition now, once every partition is owned. */
    /**
     * The instances that own at least one partition now, once every partition is owned.
     *
     * @throws AssertionError when two running instances own one partition (the ownership log reports it too, at the end)
     */
    private Set<String> ownersNow() {
        Set<String> owners = new HashSet<>();
        Map<TopicPartition, String> ownerOf = new HashMap<>();
        for (Map.Entry<String, Set<TopicPartition>> e : owned.entrySet()) {
            if (running.containsKey(e.getKey()) && !e.getValue().isEmpty()) {
                owners.add(e.getKey());
                for (TopicPartition tp : e.getValue()) {
                    String other = ownerOf.put(tp, e.getKey());
                    if (other != null) {
                        throw new AssertionError(tp + " owned by " + other + " and " + e.getKey() + " at once");
                    }
                }
            }
        }
        return ownerOf.size() == PARTITIONS ? owners : Set.of();
    }

    private void awaitOwners(Set<String> expected) {
        await("partitions spread over " + expected).atMost(WAIT).pollInterval(Duration.ofMillis(50))
                .until(() -> ownersNow().equals(expected));
    }

    private static Admin admin() {
        return Admin.create(Map.of("bootstrap.servers", KAFKA.bootstrapServers()));
    }

    private static Map<TopicPartition, Long> endOffsets(String topic) throws Exception {
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            Map<TopicPartition, Long> ends = new HashMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, info) -> ends.put(tp, info.offset()));
            return ends;
        }
    }

    /** A steady load of about 200 records/s over every partition, until stopped. */
    private static final class Producer {
        private final Thread thread;
        private volatile boolean stop;

        Producer(String topic) {
            thread = new Thread(() -> {
                // one request in flight: an idempotent producer whose first batch to a topic just created is refused
                // while a later one is written retries OUT_OF_ORDER_SEQUENCE_NUMBER until it times out (KAFKA-15591)
                Map<String, Object> p = Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "acks", "all", "linger.ms", 0,
                        "max.in.flight.requests.per.connection", 1);
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    for (int i = 0; !stop; i++) {
                        producer.send(new ProducerRecord<>(topic, i % PARTITIONS, null, "v-" + i));
                        if (i % 10 == 9) {
                            producer.flush();
                            Thread.sleep(50);
                        }
                    }
                    producer.flush();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "spring-migration-producer");
        }

        void start() {
            thread.start();
        }

        void stopAndWait() throws InterruptedException {
            stop = true;
            thread.join(30_000);
        }
    }
}
