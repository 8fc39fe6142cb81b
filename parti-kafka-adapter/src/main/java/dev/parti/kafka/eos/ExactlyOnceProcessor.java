package dev.parti.kafka.eos;

import dev.parti.kafka.internal.Causes;
import java.io.Closeable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.Serializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exactly-once consume–transform–produce on a {@link dev.parti.kafka.PartiConsumer}: one transactional
 * producer per input partition, so that the next owner of a partition fences the previous one through
 * Kafka's producer epoch (the model Kafka Streams used before KIP-447).
 *
 * <h2>Why a producer per partition</h2>
 * With {@code KafkaConsumer}, {@code producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata())}
 * is fenced by the group generation: the broker refuses the offsets of a member that is no longer in the
 * current generation. A {@code PartiConsumer} is not a member of a Kafka group (its
 * {@code groupMetadata()} carries generation −1), so the broker cannot tell a zombie (a member paused
 * past its session, or cut off from NATS under the {@code hold} policy) from the partition's new owner.
 * Here every input partition {@code t-p} has its own producer with {@code transactional.id}
 * {@code <prefix>:t:p} ({@link TransactionalIds}); it is opened when the partition is assigned, and its
 * {@code initTransactions()} bumps the producer epoch of that id: any earlier holder's open transaction
 * is aborted and its later {@code send}/{@code commitTransaction} fail with
 * {@link ProducerFencedException}. Then the consumer is positioned at the committed offset read
 * <em>after</em> the fence, so nothing the old owner committed is processed twice, and nothing it had not
 * committed is lost.
 *
 * <pre>{@code
 * Map<String, Object> c = ...;                              // bootstrap.servers, group.id, deserializers, parti.nats.url
 * ExactlyOnceProcessor.checkConsumerConfig(c);              // read_committed, enable.auto.commit=false
 * try (PartiConsumer<String, String> consumer = new PartiConsumer<>(c);
 *      ExactlyOnceProcessor<String, String, String, String> eos =
 *          ExactlyOnceProcessor.builder(consumer, producerConfigs).build()) {
 *     eos.subscribe(List.of("orders"), myListener);         // or consumer.subscribe(topics, eos.listener(myListener))
 *     while (running) {
 *         eos.process(consumer.poll(Duration.ofMillis(200)),
 *                 (in, out) -> out.send(new ProducerRecord<>("orders-priced", in.key(), price(in.value()))));
 *     }
 * }
 * }</pre>
 *
 * <h2>What {@link #process} does</h2>
 * For each input partition of the polled records, one transaction on that partition's producer: begin,
 * the transform for each record in order (it sends its output through {@link Output}), the offset after
 * the last record with {@code sendOffsetsToTransaction}, commit. Outcomes per partition
 * ({@link ProcessResult}):
 * <ul>
 *   <li>committed: output and offsets visible to {@code read_committed} readers atomically;</li>
 *   <li>fenced ({@link ProducerFencedException} or {@link InvalidProducerEpochException} anywhere in the
 *   transaction): another member owns the partition now. The producer is closed, nothing of the
 *   transaction becomes visible, and the partition is paused on the consumer until its rebalance listener
 *   reports it revoked or lost;</li>
 *   <li>any other failure (a timeout, a broker error, an ambiguous commit): the transaction is aborted (if
 *   the producer cannot abort, it is replaced by a new one, whose {@code initTransactions()} resolves the
 *   old transaction), and the partition is rewound to its committed offset as read after that, so the
 *   records come again in a later poll.</li>
 * </ul>
 * An exception thrown by the transform aborts that partition's transaction, rewinds every partition of the
 * batch that was not committed yet to its first record in this batch, and propagates: the same records
 * come again at the next poll.
 *
 * <h2>Rebalance listener and how it composes with yours</h2>
 * {@link #listener(ConsumerRebalanceListener)} wraps your listener (use {@link #subscribe} or pass the
 * wrapper to the consumer's {@code subscribe}). The order is:
 * <ul>
 *   <li>{@code onPartitionsAssigned(added)}: producers of {@code added} opened (fencing earlier holders),
 *   positions set to the committed offsets, <em>then</em> your {@code onPartitionsAssigned} (a seek of
 *   yours there wins);</li>
 *   <li>{@code onPartitionsRevoked(revoked)}: your {@code onPartitionsRevoked} first (the producers are
 *   still open, no transaction is: {@code process} always finishes its transactions), then the producers
 *   are closed;</li>
 *   <li>{@code onPartitionsLost(lost)}: the producers are closed at once, without waiting (the new owner
 *   fences them anyway), then your {@code onPartitionsLost}.</li>
 * </ul>
 * If a producer cannot be opened, its partition is paused, the others proceed, your listener is called,
 * and then a {@code KafkaException} naming the partitions comes out of {@code poll()}; each later
 * {@code process} call retries opening it.
 *
 * <h2>Threads, cost, misuse</h2>
 * Not thread-safe: call {@code process}, {@code subscribe} and {@code close} on the thread that polls the
 * consumer (the listener runs there too, inside {@code poll()}). Each open producer has its own network
 * thread ({@code kafka-producer-network-thread | <prefix>:<topic>:<partition>}), its own connections to
 * the brokers it writes to and to the transaction coordinator, and its own buffer; {@link #close()} closes
 * them all (not the consumer). When several partitions are assigned at once, their producers are opened
 * in parallel ({@link Builder#openParallelism(int)}) on threads {@code parti-eos-open-<group>-N} that live
 * only during that {@code onPartitionsAssigned} call. The offsets are sent with a {@code ConsumerGroupMetadata} for the group
 * alone (generation −1, no member): fencing comes from the producer epoch, never from the group. Do not
 * call {@code sendOffsetsToTransaction} with {@code PartiConsumer.groupMetadata()} on any other producer:
 * the broker accepts it and nothing fences a zombie. Records of a partition that has no producer here
 * (the consumer was subscribed without {@link #listener}, or uses {@code assign()}) are refused with an
 * {@link IllegalStateException}.
 *
 * @param <KI> input key type
 * @param <VI> input value type
 * @param <KO> output key type
 * @param <VO> output value type
 */
public final class ExactlyOnceProcessor<KI, VI, KO, VO> implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(ExactlyOnceProcessor.class);

    /** Default number of producers opened at once when several partitions are assigned. */
    public static final int DEFAULT_OPEN_PARALLELISM = 8;

    /** Default time {@link #close()} and a revoke give each producer to close. */
    public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(5);

    /**
     * The transform of one input record: sends its output (zero or more records) through {@code output}.
     * Runs on the polling thread, inside the input partition's transaction.
     */
    @FunctionalInterface
    public interface Transform<KI, VI, KO, VO> {
        /** Transforms {@code record}; a runtime exception aborts the transaction (see {@link #process}). */
        void apply(ConsumerRecord<KI, VI> record, Output<KO, VO> output);
    }

    /** Where a {@link Transform} sends its output: the transactional producer of the input partition. */
    @FunctionalInterface
    public interface Output<KO, VO> {
        /** Sends {@code record} within the current transaction (asynchronously; failures surface at commit). */
        Future<RecordMetadata> send(ProducerRecord<KO, VO> record);
    }

    private final Consumer<KI, VI> consumer;
    private final String groupId;
    private final String prefix;
    private final Map<String, Object> producerConfigs;
    private final Supplier<? extends Serializer<KO>> keySerializer;
    private final Supplier<? extends Serializer<VO>> valueSerializer;
    private final Duration closeTimeout;
    private final int openParallelism;
    /** The group alone: generation −1, no member (accepted by the broker; fencing comes from the producer epoch). */
    private final ConsumerGroupMetadata groupOnly;
    private final Map<TopicPartition, Producer<KO, VO>> producers = new HashMap<>();
    private final Set<TopicPartition> fenced = new HashSet<>();
    private final Set<TopicPartition> unopened = new HashSet<>();
    private boolean closed;
    /** Test hook: runs after the offsets were sent and before commitTransaction (a zombie is frozen there). */
    java.util.function.Consumer<TopicPartition> beforeCommit = tp -> { };

    private ExactlyOnceProcessor(Builder<KI, VI, KO, VO> b) {
        this.consumer = b.consumer;
        this.groupId = b.consumer.groupMetadata().groupId();
        this.prefix = TransactionalIds.validatePrefix(b.prefix != null ? b.prefix : groupId);
        this.producerConfigs = b.producerConfigs;
        this.keySerializer = b.keySerializer;
        this.valueSerializer = b.valueSerializer;
        this.closeTimeout = b.closeTimeout;
        this.openParallelism = b.openParallelism;
        this.groupOnly = groupOnly(groupId);
    }

    /**
     * The metadata of the group alone, made here rather than taken from {@code consumer.groupMetadata()}, so that
     * this path keeps working if {@code PartiConsumer.groupMetadata()} ever carries a marker that makes the broker
     * refuse it in transactions. kafka-clients 4.x deprecates the constructor for removal: when it goes, take
     * {@code consumer.groupMetadata()} of an unmarked consumer instead.
     */
    @SuppressWarnings("removal")
    private static ConsumerGroupMetadata groupOnly(String groupId) {
        return new ConsumerGroupMetadata(groupId, -1, "", java.util.Optional.empty());
    }

    /** Threads of one assignment's opening pool: {@code parti-eos-open-<group>-N}, daemon, gone after the pool is shut down. */
    private ThreadFactory openThreads() {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, "parti-eos-open-" + groupId + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * A builder for a processor on {@code consumer} (normally a {@code PartiConsumer} with {@code group.id},
     * {@code isolation.level=read_committed} and {@code enable.auto.commit=false}; see
     * {@link #checkConsumerConfig(Map)}), whose producers use {@code producerConfigs} (at least
     * {@code bootstrap.servers}, and the serializers unless given to the builder) plus a
     * {@code transactional.id} per partition.
     *
     * @throws ConfigException when {@code producerConfigs} sets {@code transactional.id}, disables
     *         idempotence, or lacks {@code bootstrap.servers}
     */
    public static <KI, VI, KO, VO> Builder<KI, VI, KO, VO> builder(Consumer<KI, VI> consumer,
                                                                   Map<String, ?> producerConfigs) {
        return new Builder<>(consumer, producerConfigs);
    }

    /**
     * Checks the settings of a consumer meant for this processor: {@code isolation.level} must be
     * {@code read_committed} (the consumer must not see the aborted output of a fenced member, and its
     * committed-offset reads must wait for open transactions) and {@code enable.auto.commit} must be
     * {@code false} (an auto-commit would move offsets outside the transactions); {@code group.id} must be set.
     *
     * @throws ConfigException naming the first setting that is wrong or missing
     */
    public static void checkConsumerConfig(Map<String, ?> consumerConfigs) {
        Objects.requireNonNull(consumerConfigs, "consumerConfigs");
        Object group = consumerConfigs.get(ConsumerConfig.GROUP_ID_CONFIG);
        if (group == null || group.toString().isBlank()) {
            throw new ConfigException(ConsumerConfig.GROUP_ID_CONFIG, group,
                    "must be set: it names the group and the transactional ids of the output producers");
        }
        Object isolation = consumerConfigs.get(ConsumerConfig.ISOLATION_LEVEL_CONFIG);
        if (isolation == null || !"read_committed".equals(isolation.toString().toLowerCase(Locale.ROOT))) {
            throw new ConfigException(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation,
                    "must be read_committed for exactly-once processing (the default is read_uncommitted)");
        }
        Object autoCommit = consumerConfigs.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
        if (autoCommit == null || !"false".equals(autoCommit.toString().trim().toLowerCase(Locale.ROOT))) {
            throw new ConfigException(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, autoCommit,
                    "must be false for exactly-once processing (the default is true): offsets are committed "
                            + "inside the output transactions");
        }
    }

    /** The consumer group ({@code group.id} of the consumer). */
    public String groupId() {
        return groupId;
    }

    /** The transactional id of the producer of {@code partition}: {@code <prefix>:<topic>:<partition>}. */
    public String transactionalId(TopicPartition partition) {
        return TransactionalIds.of(prefix, partition);
    }

    /** The input partitions that have an open producer right now. */
    public Set<TopicPartition> openPartitions() {
        return Collections.unmodifiableSet(new HashSet<>(producers.keySet()));
    }

    /** The input partitions fenced by another member and not yet revoked or lost (paused). */
    public Set<TopicPartition> fencedPartitions() {
        return Collections.unmodifiableSet(new HashSet<>(fenced));
    }

    /**
     * Subscribes the consumer to {@code topics} with {@link #listener(ConsumerRebalanceListener) listener(userListener)}.
     */
    public void subscribe(Collection<String> topics, ConsumerRebalanceListener userListener) {
        requireOpen();
        consumer.subscribe(topics, listener(userListener));
    }

    /** Subscribes the consumer to {@code topics} with a listener that only manages the producers. */
    public void subscribe(Collection<String> topics) {
        subscribe(topics, new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            }
        });
    }

    /** Subscribes the consumer to {@code pattern} with {@link #listener(ConsumerRebalanceListener) listener(userListener)}. */
    public void subscribe(Pattern pattern, ConsumerRebalanceListener userListener) {
        requireOpen();
        consumer.subscribe(pattern, listener(userListener));
    }

    /**
     * A rebalance listener that opens and closes the producers with the assignment and calls
     * {@code userListener} in the order described in the class documentation. Its methods run where the
     * consumer calls them (the polling thread, inside {@code poll()}, {@code close()} or {@code unsubscribe()}).
     */
    public ConsumerRebalanceListener listener(ConsumerRebalanceListener userListener) {
        Objects.requireNonNull(userListener, "userListener");
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                KafkaException failure = null;
                if (!closed) {
                    failure = openAll(partitions);
                }
                userListener.onPartitionsAssigned(partitions);
                if (failure != null) {
                    throw failure;
                }
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                try {
                    userListener.onPartitionsRevoked(partitions);
                } finally {
                    closeAll(partitions, closeTimeout);
                }
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                try {
                    closeAll(partitions, Duration.ZERO);
                } finally {
                    userListener.onPartitionsLost(partitions);
                }
            }
        };
    }

    /**
     * Processes {@code records} (the result of one {@code poll()} of the consumer) with one transaction per
     * input partition, as described in the class documentation. Call it on the polling thread before the
     * next {@code poll()}.
     *
     * @throws IllegalStateException when records come from a partition that has no producer here, or after close
     * @throws RuntimeException      what the transform threw, after aborting and rewinding
     */
    public ProcessResult process(ConsumerRecords<KI, VI> records, Transform<KI, VI, KO, VO> transform) {
        requireOpen();
        Objects.requireNonNull(transform, "transform");
        retryUnopened();
        Map<TopicPartition, Integer> committed = new LinkedHashMap<>();
        Set<TopicPartition> fencedNow = new LinkedHashSet<>();
        Set<TopicPartition> retried = new LinkedHashSet<>();
        Set<TopicPartition> skipped = new LinkedHashSet<>();
        List<TopicPartition> pending = new ArrayList<>(records.partitions());
        for (TopicPartition tp : pending) {
            if (!fenced.contains(tp) && !unopened.contains(tp) && !producers.containsKey(tp)) {
                throw new IllegalStateException("Records of " + tp + " but no transactional producer is open for it: "
                        + "subscribe with ExactlyOnceProcessor.subscribe(...) or pass ExactlyOnceProcessor.listener(...) "
                        + "to the consumer's subscribe(), so that producers open and close with the assignment "
                        + "(assign() is not supported).");
            }
        }
        for (int i = 0; i < pending.size(); i++) {
            TopicPartition tp = pending.get(i);
            List<ConsumerRecord<KI, VI>> batch = records.records(tp);
            if (batch.isEmpty()) {
                continue;
            }
            if (fenced.contains(tp) || unopened.contains(tp)) {
                skipped.add(tp);
                continue;
            }
            try {
                switch (transact(tp, producers.get(tp), batch, transform)) {
                    case COMMITTED -> committed.put(tp, batch.size());
                    case FENCED -> fencedNow.add(tp);
                    case RETRIED -> retried.add(tp);
                }
            } catch (RuntimeException transformFailure) {
                for (TopicPartition later : pending.subList(i + 1, pending.size())) {
                    List<ConsumerRecord<KI, VI>> b = records.records(later);
                    if (!b.isEmpty() && producers.containsKey(later) && !fenced.contains(later)) {
                        consumer.seek(later, b.get(0).offset());
                    }
                }
                throw transformFailure;
            }
        }
        return new ProcessResult(committed, fencedNow, retried, skipped);
    }

    /** Closes every producer (aborting nothing that is committed; no transaction is open between calls). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeAll(new ArrayList<>(producers.keySet()), closeTimeout);
        fenced.clear();
        unopened.clear();
    }

    private enum Outcome { COMMITTED, FENCED, RETRIED }

    private Outcome transact(TopicPartition tp, Producer<KO, VO> producer, List<ConsumerRecord<KI, VI>> batch,
                             Transform<KI, VI, KO, VO> transform) {
        long first = batch.get(0).offset();
        ConsumerRecord<KI, VI> last = batch.get(batch.size() - 1);
        try {
            producer.beginTransaction();
        } catch (KafkaException e) {
            return failed(tp, producer, batch, e);
        }
        RuntimeException transformFailure = null;
        try {
            for (ConsumerRecord<KI, VI> r : batch) {
                transform.apply(r, producer::send);
            }
        } catch (RuntimeException e) {
            transformFailure = e;
        }
        if (transformFailure != null) {
            if (transformFailure instanceof KafkaException ke && isFencing(ke)) {
                fence(tp, ke);
                return Outcome.FENCED;
            }
            abortOrReplace(tp, producer, transformFailure);
            if (producers.containsKey(tp)) {
                consumer.seek(tp, first);
            }
            throw transformFailure;
        }
        try {
            producer.sendOffsetsToTransaction(
                    Map.of(tp, new OffsetAndMetadata(last.offset() + 1, last.leaderEpoch(), "")),
                    groupOnly);
            beforeCommit.accept(tp);
            producer.commitTransaction();
            return Outcome.COMMITTED;
        } catch (KafkaException e) {
            return failed(tp, producer, batch, e);
        }
    }

    private Outcome failed(TopicPartition tp, Producer<KO, VO> producer, List<ConsumerRecord<KI, VI>> batch, KafkaException e) {
        if (isFencing(e)) {
            fence(tp, e);
            return Outcome.FENCED;
        }
        long first = batch.get(0).offset();
        log.warn("Transaction of {} ({} records from offset {}) failed, aborting and rewinding to the committed offset: {}",
                tp, batch.size(), first, e.toString());
        abortOrReplace(tp, producer, e);
        if (producers.containsKey(tp)) {
            rewindToCommitted(tp, first);
        }
        return Outcome.RETRIED;
    }

    /** Aborts the open transaction; when the producer cannot, replaces it (its initTransactions resolves the old one). */
    private void abortOrReplace(TopicPartition tp, Producer<KO, VO> producer, RuntimeException cause) {
        try {
            producer.abortTransaction();
            return;
        } catch (KafkaException e) {
            if (isFencing(e)) {
                fence(tp, e);
                return;
            }
            log.warn("Could not abort the transaction of {} after {}; replacing its producer: {}", tp, cause, e.toString());
        }
        closeProducer(tp, Duration.ZERO);
        try {
            producers.put(tp, open(tp));
        } catch (KafkaException e) {
            if (isFencing(e)) {
                fence(tp, e);
            } else {
                markUnopened(tp, e);
            }
        }
    }

    private void rewindToCommitted(TopicPartition tp, long fallback) {
        OffsetAndMetadata c = consumer.committed(Set.of(tp)).get(tp);
        if (c != null) {
            consumer.seek(tp, c);
        } else {
            consumer.seek(tp, fallback);
        }
    }

    private void fence(TopicPartition tp, KafkaException e) {
        log.warn("Transactions of {} are fenced: another member opened producer '{}' and owns the partition now ({}). "
                + "Nothing of the open transaction is visible to read_committed readers; {} is paused until it is "
                + "revoked or lost.", tp, transactionalId(tp), e.toString(), tp);
        closeProducer(tp, Duration.ZERO);
        fenced.add(tp);
        pauseIfAssigned(tp);
    }

    private KafkaException openAll(Collection<TopicPartition> partitions) {
        List<TopicPartition> opened = new ArrayList<>();
        Map<TopicPartition, KafkaException> failed = new LinkedHashMap<>();
        List<TopicPartition> todo = new ArrayList<>(partitions);
        for (TopicPartition tp : todo) {
            fenced.remove(tp);
            unopened.remove(tp);
            closeProducer(tp, Duration.ZERO); // not expected: assigned twice without a revoke
        }
        Map<TopicPartition, Future<Producer<KO, VO>>> pending = new LinkedHashMap<>();
        ExecutorService pool = todo.size() < 2 || openParallelism < 2 ? null
                : Executors.newFixedThreadPool(Math.min(openParallelism, todo.size()), openThreads());
        try {
            for (TopicPartition tp : todo) {
                if (pool == null) {
                    java.util.concurrent.CompletableFuture<Producer<KO, VO>> f = new java.util.concurrent.CompletableFuture<>();
                    try {
                        f.complete(open(tp));
                    } catch (RuntimeException e) {
                        f.completeExceptionally(e);
                    }
                    pending.put(tp, f);
                } else {
                    pending.put(tp, pool.submit(() -> open(tp)));
                }
            }
            boolean interrupted = false;
            for (Map.Entry<TopicPartition, Future<Producer<KO, VO>>> e : pending.entrySet()) {
                TopicPartition tp = e.getKey();
                try {
                    producers.put(tp, e.getValue().get());
                    opened.add(tp);
                } catch (ExecutionException ex) {
                    Throwable cause = ex.getCause();
                    KafkaException ke = cause instanceof KafkaException k ? k : new KafkaException(cause);
                    failed.put(tp, ke);
                    markUnopened(tp, ke);
                } catch (InterruptedException ex) {
                    interrupted = true; // finish collecting: every producer opened must be kept or closed
                    try {
                        producers.put(tp, e.getValue().get());
                        opened.add(tp);
                    } catch (InterruptedException | ExecutionException again) {
                        KafkaException ke = new KafkaException("opening was interrupted", again);
                        failed.put(tp, ke);
                        markUnopened(tp, ke);
                    }
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        } finally {
            if (pool != null) {
                pool.shutdown(); // every task has completed: its threads end now
                try {
                    pool.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        positionAtCommitted(opened);
        if (failed.isEmpty()) {
            return null;
        }
        KafkaException first = failed.values().iterator().next();
        return new KafkaException("Could not open the transactional producers of " + failed.keySet() + " ("
                + first + "); they are paused and opening is retried at the next process() call", first);
    }

    /** After the fence: the committed offsets are final (read_committed reads wait for open transactions). */
    private void positionAtCommitted(List<TopicPartition> opened) {
        if (opened.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> c = consumer.committed(new HashSet<>(opened));
        for (TopicPartition tp : opened) {
            OffsetAndMetadata offset = c.get(tp);
            if (offset != null) {
                consumer.seek(tp, offset);
            }
        }
        Set<TopicPartition> paused = new HashSet<>(consumer.paused());
        paused.retainAll(opened);
        if (!paused.isEmpty()) {
            consumer.resume(paused);
        }
    }

    private void retryUnopened() {
        if (unopened.isEmpty()) {
            return;
        }
        Set<TopicPartition> assigned = consumer.assignment();
        List<TopicPartition> opened = new ArrayList<>();
        for (TopicPartition tp : new ArrayList<>(unopened)) {
            if (!assigned.contains(tp)) {
                unopened.remove(tp);
                continue;
            }
            try {
                producers.put(tp, open(tp));
                unopened.remove(tp);
                opened.add(tp);
            } catch (KafkaException e) {
                log.warn("Still cannot open the transactional producer of {}: {}", tp, e.toString());
            }
        }
        positionAtCommitted(opened);
    }

    private void markUnopened(TopicPartition tp, KafkaException e) {
        log.warn("Could not open the transactional producer '{}' of {}; the partition is paused: {}",
                transactionalId(tp), tp, e.toString());
        unopened.add(tp);
        pauseIfAssigned(tp);
    }

    private void pauseIfAssigned(TopicPartition tp) {
        if (consumer.assignment().contains(tp)) {
            consumer.pause(Set.of(tp));
        }
    }

    private Producer<KO, VO> open(TopicPartition tp) {
        String id = transactionalId(tp);
        Map<String, Object> configs = new HashMap<>(producerConfigs);
        configs.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
        Object clientId = producerConfigs.get(ProducerConfig.CLIENT_ID_CONFIG);
        configs.put(ProducerConfig.CLIENT_ID_CONFIG, clientId == null ? id : clientId + "-" + tp);
        Producer<KO, VO> producer = new KafkaProducer<>(configs,
                keySerializer == null ? null : keySerializer.get(), valueSerializer == null ? null : valueSerializer.get());
        try {
            producer.initTransactions();
            log.debug("Opened transactional producer '{}' for {}", id, tp);
            return producer;
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            throw e instanceof KafkaException ke ? ke : new KafkaException("initTransactions of '" + id + "' failed", e);
        }
    }

    private void closeAll(Collection<TopicPartition> partitions, Duration timeout) {
        for (TopicPartition tp : partitions) {
            fenced.remove(tp);
            unopened.remove(tp);
            closeProducer(tp, timeout);
        }
    }

    private void closeProducer(TopicPartition tp, Duration timeout) {
        Producer<KO, VO> p = producers.remove(tp);
        if (p != null) {
            try {
                p.close(timeout);
            } catch (RuntimeException e) {
                log.warn("Closing the producer of {} failed: {}", tp, e.toString());
            }
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("This ExactlyOnceProcessor has been closed.");
        }
    }

    static boolean isFencing(Throwable e) {
        return Causes.causedBy(e, ProducerFencedException.class, InvalidProducerEpochException.class);
    }

    /** Settings of an {@link ExactlyOnceProcessor}. */
    public static final class Builder<KI, VI, KO, VO> {
        private final Consumer<KI, VI> consumer;
        private final Map<String, Object> producerConfigs;
        private Supplier<? extends Serializer<KO>> keySerializer;
        private Supplier<? extends Serializer<VO>> valueSerializer;
        private String prefix;
        private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
        private int openParallelism = DEFAULT_OPEN_PARALLELISM;

        private Builder(Consumer<KI, VI> consumer, Map<String, ?> producerConfigs) {
            this.consumer = Objects.requireNonNull(consumer, "consumer");
            Objects.requireNonNull(producerConfigs, "producerConfigs");
            Object txnId = producerConfigs.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
            if (txnId != null) {
                throw new ConfigException(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId,
                        "is set per input partition by ExactlyOnceProcessor (<prefix>:<topic>:<partition>); remove it "
                                + "and use transactionalIdPrefix(...) to choose the prefix");
            }
            Object idempotence = producerConfigs.get(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);
            if (idempotence != null && "false".equalsIgnoreCase(idempotence.toString().trim())) {
                throw new ConfigException(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, idempotence,
                        "must not be false: transactions need the idempotent producer");
            }
            if (producerConfigs.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG) == null) {
                throw new ConfigException(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, null, "must be set for the output producers");
            }
            this.producerConfigs = Map.copyOf(producerConfigs);
        }

        /**
         * Serializers for the output, one new instance per producer (a producer closes its serializers when it
         * closes); default: {@code key.serializer} and {@code value.serializer} of the producer settings.
         */
        public Builder<KI, VI, KO, VO> serializers(Supplier<? extends Serializer<KO>> keySerializer,
                                                   Supplier<? extends Serializer<VO>> valueSerializer) {
            this.keySerializer = Objects.requireNonNull(keySerializer, "keySerializer");
            this.valueSerializer = Objects.requireNonNull(valueSerializer, "valueSerializer");
            return this;
        }

        /**
         * The prefix of the transactional ids (default: the consumer's {@code group.id}). Keep it stable:
         * changing it while the group runs disables fencing between members using the old and the new prefix.
         */
        public Builder<KI, VI, KO, VO> transactionalIdPrefix(String prefix) {
            this.prefix = TransactionalIds.validatePrefix(prefix);
            return this;
        }

        /** How long a revoke and {@link #close()} wait for each producer to close (default 5 s); at least 0. */
        public Builder<KI, VI, KO, VO> closeTimeout(Duration closeTimeout) {
            if (closeTimeout == null || closeTimeout.isNegative()) {
                throw new IllegalArgumentException("closeTimeout must be zero or positive, was " + closeTimeout);
            }
            this.closeTimeout = closeTimeout;
            return this;
        }

        /**
         * How many producers are opened at once when several partitions are assigned together (default 8;
         * 1 opens them one after the other on the polling thread). Above 1, an assignment of several partitions
         * opens them on a pool of that many threads ({@code parti-eos-open-<group>-N}) that exists only during
         * that {@code onPartitionsAssigned} call; the polling thread waits for all of them.
         */
        public Builder<KI, VI, KO, VO> openParallelism(int openParallelism) {
            if (openParallelism < 1) {
                throw new IllegalArgumentException("openParallelism must be at least 1, was " + openParallelism);
            }
            this.openParallelism = openParallelism;
            return this;
        }

        /**
         * The processor.
         *
         * @throws org.apache.kafka.common.errors.InvalidGroupIdException when the consumer has no {@code group.id}
         */
        public ExactlyOnceProcessor<KI, VI, KO, VO> build() {
            return new ExactlyOnceProcessor<>(this);
        }
    }
}
