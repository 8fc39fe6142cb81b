package dev.parti.kafka;

import static org.awaitility.Awaitility.await;

import dev.parti.testkit.OwnershipChecker;
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
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A consumer group of real {@link KafkaConsumer}s (classic protocol), one thread each, on a real broker,
 * with everything the assignor tests check:
 * <ul>
 *   <li>each member's ownership as its {@link ConsumerRebalanceListener} sees it, in a map a sampler thread
 *       checks every few milliseconds for a partition in two members' sets;</li>
 *   <li>an {@link OwnershipLog} of acquisitions and releases, checked with {@link OwnershipChecker};</li>
 *   <li>a producer writing a steady stream with known offsets, and every consumed offset, so that lost
 *       and duplicated records are seen. Members commit what they processed in
 *       {@code onPartitionsRevoked} (and nowhere else but at close); a commit below the group's last
 *       committed offset of a partition is a violation.</li>
 * </ul>
 * A member whose configuration has {@code parti.nats.url} runs a {@link PartiConsumer} instead (for the rolling
 * migration tests).
 */
final class PartiAssignorGroup implements AutoCloseable {
    static final String PARTI = PartiAssignor.class.getName();
    static final String COOPERATIVE_STICKY = org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class.getName();
    static final String RANGE = org.apache.kafka.clients.consumer.RangeAssignor.class.getName();

    private final String bootstrap;
    private final String groupId;
    private final String topic;
    private final int partitions;
    private final Map<String, Member> members = new ConcurrentHashMap<>();
    private final Map<String, Set<TopicPartition>> views = new ConcurrentHashMap<>();
    private final OwnershipLog log = OwnershipLog.inMemory();
    private final List<String> violations = new CopyOnWriteArrayList<>();
    private final Map<TopicPartition, Set<Long>> consumed = new ConcurrentHashMap<>();
    private final List<String> duplicates = new CopyOnWriteArrayList<>();
    private final AtomicLong samples = new AtomicLong();
    private final AtomicLong revocations = new AtomicLong();
    private final AtomicLong fullRevocations = new AtomicLong();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread sampler;
    private final long startNanos = System.nanoTime();
    private final Map<String, Double> rebalanceLatencyMax = new ConcurrentHashMap<>();
    private Thread producerThread;
    private final AtomicBoolean producing = new AtomicBoolean();
    private final Map<Integer, Long> produced = new ConcurrentHashMap<>();
    private final Map<TopicPartition, Long> committed = new ConcurrentHashMap<>();

    PartiAssignorGroup(String bootstrap, String groupId, String topic, int partitions) {
        this.bootstrap = bootstrap;
        this.groupId = groupId;
        this.topic = topic;
        this.partitions = partitions;
        this.sampler = new Thread(this::sample, "ownership-sampler-" + groupId);
        sampler.setDaemon(true);
        sampler.start();
    }

    /** The consumer configuration of member {@code name}: classic protocol, short timings, no auto-commit. */
    Map<String, Object> config(String name, String assignors) {
        Map<String, Object> config = new HashMap<>();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        config.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignors);
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, groupId + "-" + name);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
        config.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        config.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 20_000);
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        config.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, 50);
        config.put(ConsumerConfig.RECONNECT_BACKOFF_MS_CONFIG, 50);
        config.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 200);
        config.put("metadata.max.age.ms", 5000);
        return config;
    }

    /** Starts member {@code name} with PartiAssignor alone and {@code parti.worker.id = name}. */
    Member start(String name) {
        Map<String, Object> config = config(name, PARTI);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        return start(name, config);
    }

    /** Starts member {@code name} with the given consumer configuration. */
    Member start(String name, Map<String, Object> config) {
        if (members.containsKey(name)) {
            throw new IllegalStateException(name + " runs already");
        }
        Member member = new Member(name, config);
        members.put(name, member);
        member.thread.start();
        return member;
    }

    /** Stops member {@code name}: commits what it processed and closes its consumer (leaving the group if dynamic). */
    void stop(String name) {
        Member member = members.remove(name);
        if (member == null) {
            throw new IllegalStateException("no member " + name);
        }
        member.stop();
    }

    /** The consumer member {@code name} runs, null before it is created or after it stopped. */
    org.apache.kafka.clients.consumer.Consumer<String, String> consumer(String name) {
        Member m = members.get(name);
        return m == null ? null : m.consumer;
    }

    Set<String> memberNames() {
        return new TreeSet<>(members.keySet());
    }

    /** Member → partitions, as the members' rebalance listeners see them. */
    Map<String, Set<TopicPartition>> ownership() {
        return new TreeMap<>(views);
    }

    /** Partition → member, from {@link #ownership()}. */
    Map<TopicPartition, String> owners() {
        Map<TopicPartition, String> result = new HashMap<>();
        views.forEach((name, set) -> set.forEach(tp -> result.put(tp, name)));
        return result;
    }

    /**
     * Waits until exactly {@code names} run, each has been assigned at least once, together they own every
     * partition, and their counts differ by at most one.
     */
    Map<String, Set<TopicPartition>> awaitBalanced(Collection<String> names, Duration timeout) {
        return awaitOwnership("balanced over " + names, timeout, view -> {
            if (!view.keySet().equals(new TreeSet<>(names))) {
                return false;
            }
            for (String name : names) {
                Member m = members.get(name);
                if (m == null || m.assignedCalls.get() == 0) {
                    return false;
                }
            }
            Set<TopicPartition> all = new HashSet<>();
            int min = Integer.MAX_VALUE;
            int max = 0;
            for (Set<TopicPartition> set : view.values()) {
                all.addAll(set);
                min = Math.min(min, set.size());
                max = Math.max(max, set.size());
            }
            return all.size() == partitions && max - min <= 1;
        });
    }

    /** Waits until the listener-maintained ownership satisfies {@code condition}. */
    Map<String, Set<TopicPartition>> awaitOwnership(String what, Duration timeout,
                                                    Predicate<Map<String, Set<TopicPartition>>> condition) {
        await(what).atMost(timeout).pollInterval(Duration.ofMillis(20)).until(() -> condition.test(ownership()));
        return ownership();
    }

    /** Starts producing about {@code perSecond} records per second, round robin over the partitions. */
    void startProducing(int perSecond) {
        Map<String, Object> config = new HashMap<>();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        // Not idempotent: right after topic creation the broker may answer NOT_LEADER_OR_FOLLOWER, after which
        // an idempotent producer can stay stuck in OUT_OF_ORDER_SEQUENCE_NUMBER retries for half a minute.
        // Duplicates by producer retry would get new offsets; the checks here are per offset.
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
        config.put(ProducerConfig.ACKS_CONFIG, "1");
        config.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 50);
        producing.set(true);
        CountDownLatch started = new CountDownLatch(1);
        producerThread = new Thread(() -> {
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
                // One record per partition first, acknowledged: every partition's leader is ready.
                List<java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata>> warmUp = new ArrayList<>();
                for (int p = 0; p < partitions; p++) {
                    warmUp.add(producer.send(new ProducerRecord<>(topic, p, null, "warm-up")));
                }
                for (var f : warmUp) {
                    var md = f.get(60, TimeUnit.SECONDS);
                    produced.merge(md.partition(), md.offset() + 1, Math::max);
                }
                started.countDown();
                long seq = 0;
                int batch = Math.max(1, perSecond / 50);
                while (producing.get()) {
                    for (int i = 0; i < batch; i++, seq++) {
                        int partition = (int) (seq % partitions);
                        producer.send(new ProducerRecord<>(topic, partition, null, Long.toString(seq)), (md, e) -> {
                            if (e == null) {
                                produced.merge(md.partition(), md.offset() + 1, Math::max);
                            } else {
                                violations.add("produce failed: " + e);
                            }
                        });
                    }
                    sleep(20);
                }
                producer.flush();
            } catch (Exception e) {
                violations.add("producer failed: " + e);
                started.countDown();
            }
        }, "producer-" + groupId);
        producerThread.start();
        try {
            started.await(70, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops the producer and returns the number of records written. */
    long stopProducing() throws InterruptedException {
        producing.set(false);
        producerThread.join(30_000);
        return produced.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Waits until every produced record has been consumed. */
    void awaitAllConsumed(Duration timeout) {
        await("every produced record consumed").atMost(timeout).pollInterval(Duration.ofMillis(50)).until(() -> {
            for (int p = 0; p < partitions; p++) {
                long end = produced.getOrDefault(p, 0L);
                Set<Long> got = consumed.getOrDefault(new TopicPartition(topic, p), Set.of());
                if (got.size() < end) {
                    return false;
                }
            }
            return true;
        });
    }

    /** Records consumed more than once ({@code partition@offset by member}). */
    List<String> duplicates() {
        return List.copyOf(duplicates);
    }

    /** Offsets below the produced end that nobody consumed. */
    List<String> missing() {
        List<String> result = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            long end = produced.getOrDefault(p, 0L);
            Set<Long> got = consumed.getOrDefault(new TopicPartition(topic, p), Set.of());
            for (long o = 0; o < end; o++) {
                if (!got.contains(o)) {
                    result.add(topic + "-" + p + "@" + o);
                }
            }
        }
        return result;
    }

    long consumedCount() {
        return consumed.values().stream().mapToLong(Set::size).sum();
    }

    /** Overlaps seen by the sampler or the listeners, and failures in member threads. */
    List<String> violations() {
        return List.copyOf(violations);
    }

    long samples() {
        return samples.get();
    }

    /** Non-empty {@code onPartitionsRevoked} calls so far, close included. */
    long revocations() {
        return revocations.get();
    }

    /** Non-empty revocations of everything the member owned (what the eager protocol does every rebalance). */
    long fullRevocations() {
        return fullRevocations.get();
    }

    /** The ownership log checked for overlaps (anywhere, any time since the group was created). */
    OwnershipReport ownershipReport() {
        return OwnershipChecker.builder().window(startNanos, System.nanoTime()).check(log.events());
    }

    /**
     * The ownership log checked over {@code [fromNanos, toNanos]} with every partition of the topic required: its
     * unowned partition-time is the unavailability of that stretch, and a partition unowned at the end is reported.
     */
    OwnershipReport ownershipReport(long fromNanos, long toNanos) {
        Set<String> all = new TreeSet<>();
        for (int p = 0; p < partitions; p++) {
            all.add(new TopicPartition(topic, p).toString());
        }
        return OwnershipChecker.builder().partitions(all).requireOwnedAtEnd(true).window(fromNanos, toNanos)
                .check(log.events());
    }

    /** The largest {@code rebalance-latency-max} any stopped member reported, in ms. */
    double rebalanceLatencyMaxMs() {
        return rebalanceLatencyMax.values().stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }

    /** The group as the broker describes it (for the chosen assignor's name). */
    ConsumerGroupDescription describe() {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            return admin.describeConsumerGroups(List.of(groupId)).all().get(10, TimeUnit.SECONDS).get(groupId);
        } catch (Exception e) {
            throw new IllegalStateException("cannot describe group " + groupId, e);
        }
    }

    /** Waits until the broker reports the group stable with {@code assignor} chosen. */
    void awaitAssignor(String assignor, Duration timeout) {
        await("group " + groupId + " uses " + assignor).atMost(timeout).pollInterval(Duration.ofMillis(100))
                .until(() -> {
                    ConsumerGroupDescription d = describe();
                    return assignor.equals(d.partitionAssignor())
                            && d.groupState() == org.apache.kafka.common.GroupState.STABLE;
                });
    }

    @Override
    public void close() throws InterruptedException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (producerThread != null && producing.get()) {
            stopProducing();
        }
        for (String name : memberNames()) {
            stop(name);
        }
        sampler.join(5_000);
    }

    private void sample() {
        while (!closed.get()) {
            Map<TopicPartition, String> seen = new HashMap<>();
            for (Map.Entry<String, Set<TopicPartition>> e : views.entrySet()) {
                for (TopicPartition tp : e.getValue()) {
                    String other = seen.put(tp, e.getKey());
                    if (other != null) {
                        violations.add("sampled " + tp + " in " + other + " and " + e.getKey());
                    }
                }
            }
            samples.incrementAndGet();
            sleep(2);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One consumer on its own thread. */
    /** One listener call: partitions assigned (or revoked), at the consumer's Kafka generation then (−1 on Parti). */
    record Change(boolean assigned, Set<TopicPartition> partitions, int generation) {
    }

    final class Member {
        final String name;
        final Map<String, Object> config;
        final Thread thread;
        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicLong assignedCalls = new AtomicLong();
        /** The consumer's {@code groupMetadata().generationId()} at each {@code onPartitionsAssigned} call (−1 on Parti). */
        final List<Integer> generations = new java.util.concurrent.CopyOnWriteArrayList<>();
        /** Every non-empty assignment and revocation the listener got, in order. */
        final List<Change> changes = new java.util.concurrent.CopyOnWriteArrayList<>();
        final Map<TopicPartition, Long> processed = new HashMap<>(); // consumer thread only
        private volatile Throwable failure;
        volatile org.apache.kafka.clients.consumer.Consumer<String, String> consumer;

        Member(String name, Map<String, Object> config) {
            this.name = name;
            this.config = Map.copyOf(config);
            this.thread = new Thread(this::run, "member-" + groupId + "-" + name);
        }

        private void run() {
            try (org.apache.kafka.clients.consumer.Consumer<String, String> consumer = config.containsKey("parti.nats.url")
                    ? new PartiConsumer<>(new HashMap<>(config)) : new KafkaConsumer<>(config)) {
                this.consumer = consumer;
                consumer.subscribe(List.of(topic), new Listener(consumer));
                while (running.get()) {
                    process(consumer.poll(Duration.ofMillis(50)));
                }
                commitBeforeClose(consumer);
                recordLatency(consumer);
            } catch (Throwable t) {
                failure = t;
                if (!closed.get()) { // while the whole group shuts down, members leave in the middle of rebalances
                    violations.add(name + " failed: " + t);
                }
            } finally {
                Set<TopicPartition> left = views.remove(name);
                if (left != null) {
                    left.forEach(tp -> log.released(name, tp.toString()));
                }
            }
        }

        private void process(ConsumerRecords<String, String> records) {
            for (ConsumerRecord<String, String> r : records) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (!views.getOrDefault(name, Set.of()).contains(tp)) {
                    violations.add(name + " consumed " + tp + "@" + r.offset() + " it does not own");
                }
                if (!consumed.computeIfAbsent(tp, k -> ConcurrentHashMap.newKeySet()).add(r.offset())) {
                    duplicates.add(tp + "@" + r.offset() + " by " + name);
                }
                processed.put(tp, r.offset() + 1);
            }
        }

        /**
         * A clean stop: commits what this member processed, polling (and processing) on while the group rebalances, so
         * that {@code close()} finds nothing left to commit. A {@code KafkaConsumer} closed in the middle of a rebalance
         * reports its partitions lost, not revoked (its listener cannot commit then), and their next owner would process
         * again everything since their last commit: Kafka's at-least-once, not what these tests check.
         */
        private void commitBeforeClose(org.apache.kafka.clients.consumer.Consumer<String, String> consumer) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    commit(consumer, consumer.assignment());
                    return;
                } catch (org.apache.kafka.common.errors.RebalanceInProgressException
                         | org.apache.kafka.clients.consumer.CommitFailedException e) {
                    if (System.nanoTime() - deadline > 0) {
                        System.out.println(name + ": no commit before close within 30 s: " + e);
                        return; // close() revokes what is still assigned, and the listener commits then
                    }
                    process(consumer.poll(Duration.ofMillis(50)));
                }
            }
        }

        private void recordLatency(org.apache.kafka.clients.consumer.Consumer<String, String> consumer) {
            for (Map.Entry<MetricName, ? extends Metric> e : consumer.metrics().entrySet()) {
                if (e.getKey().name().equals("rebalance-latency-max")
                        && e.getKey().group().equals("consumer-coordinator-metrics")) {
                    Object value = e.getValue().metricValue();
                    if (value instanceof Double d && !d.isNaN()) {
                        rebalanceLatencyMax.merge(name, d, Math::max);
                    }
                }
            }
        }

        void stop() {
            running.set(false);
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                violations.add(name + " did not stop");
            }
        }

        private void commit(org.apache.kafka.clients.consumer.Consumer<String, String> consumer,
                            Collection<TopicPartition> partitions) {
            Map<TopicPartition, OffsetAndMetadata> offsets = new LinkedHashMap<>();
            for (TopicPartition tp : partitions) {
                Long next = processed.get(tp);
                if (next != null && !next.equals(committed.get(tp))) { // committed already (before close, say)
                    offsets.put(tp, new OffsetAndMetadata(next));
                }
            }
            if (!offsets.isEmpty()) {
                consumer.commitSync(offsets);
                offsets.forEach((tp, om) -> {
                    Long before = committed.put(tp, om.offset());
                    if (before != null && before > om.offset()) {
                        violations.add(name + " committed " + tp + "@" + om.offset() + " below " + before);
                    }
                });
            }
        }

        private final class Listener implements ConsumerRebalanceListener {
            private final org.apache.kafka.clients.consumer.Consumer<String, String> consumer;

            Listener(org.apache.kafka.clients.consumer.Consumer<String, String> consumer) {
                this.consumer = consumer;
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
                if (revoked.isEmpty()) {
                    return;
                }
                revocations.incrementAndGet();
                changes.add(new Change(false, Set.copyOf(revoked), consumer.groupMetadata().generationId()));
                if (revoked.containsAll(views.getOrDefault(name, Set.of()))) {
                    fullRevocations.incrementAndGet();
                }
                commit(consumer, revoked); // commit-in-revoke: the next owner starts right after our last record
                remove(revoked);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> lost) {
                if (running.get() && !closed.get()) { // closing in the middle of a rebalance loses them: not a fault
                    violations.add(name + " lost " + lost);
                } else if (!closed.get()) { // one member stopped (the whole group closing loses partitions anyway)
                    System.out.println(name + " lost " + lost + " closing"); // what it processed since it committed comes again
                }
                remove(lost);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
                Set<TopicPartition> now = new HashSet<>(views.getOrDefault(name, Set.of()));
                for (TopicPartition tp : assigned) {
                    log.acquired(name, tp.toString());
                    now.add(tp);
                }
                views.put(name, Set.copyOf(now));
                generations.add(consumer.groupMetadata().generationId());
                if (!assigned.isEmpty()) {
                    changes.add(new Change(true, Set.copyOf(assigned), consumer.groupMetadata().generationId()));
                }
                assignedCalls.incrementAndGet();
            }

            private void remove(Collection<TopicPartition> gone) {
                Set<TopicPartition> now = new HashSet<>(views.getOrDefault(name, Set.of()));
                now.removeAll(gone);
                views.put(name, Set.copyOf(now));
                for (TopicPartition tp : gone) {
                    processed.remove(tp);
                    log.released(name, tp.toString());
                }
            }
        }
    }
}
