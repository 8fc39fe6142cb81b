package dev.parti.benchmarks.eos;

import dev.parti.kafka.PartiConsumer;
import dev.parti.kafka.eos.ExactlyOnceProcessor;
import dev.parti.kafka.eos.ProcessResult;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Exactly-once consume–transform–produce throughput and cost, in one run on one broker:
 * <ul>
 *   <li>{@code kafka-txn}: a {@code KafkaConsumer} (classic group protocol) with one transactional producer,
 *   one transaction per poll, offsets sent with {@code consumer.groupMetadata()} (KIP-447 fencing);</li>
 *   <li>{@code parti-eos}: a {@code PartiConsumer} with {@code ExactlyOnceProcessor}, one producer and one
 *   transaction per input partition per poll (producer-epoch fencing).</li>
 * </ul>
 * One member drains {@code --records} records (100-byte values) of an input topic with P partitions into a
 * fresh output topic; throughput counts from the first polled record to the last commit (joining and opening
 * producers excluded, reported separately as time to first commit). Also: producers, producer network threads
 * and producer connections (JMX {@code connection-count}) while running, and JVM threads. Implementations
 * alternate order per repeat; the summary shows medians.
 *
 * <p>Run (from the repository root):
 * <pre>
 * ./mvnw -B -ntp -q -pl benchmarks -am compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath
 * java -Xmx1g -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
 *   -cp "benchmarks/target/classes:$(cat benchmarks/target/bench.classpath)" dev.parti.benchmarks.eos.EosBench \
 *   --partitions 4,16,64 --records 20000 --repeats 3
 * </pre>
 * Writes {@code benchmarks/target/eos-bench.md} (override with {@code --out FILE}). With the default
 * {@code max.partition.fetch.bytes} a poll of a backlog mostly holds records of one partition, so both paths
 * run about one transaction per poll; {@code --partition-fetch-bytes 8192} spreads each poll over several
 * partitions (as with a live, evenly spread input), which is the expensive case for one transaction per
 * partition.
 */
public final class EosBench {
    private final NatsServer nats;
    private final KafkaBroker kafka;
    private final int records;
    private final int partitionFetchBytes;
    private int seq;

    private EosBench(NatsServer nats, KafkaBroker kafka, int records, int partitionFetchBytes) {
        this.nats = nats;
        this.kafka = kafka;
        this.records = records;
        this.partitionFetchBytes = partitionFetchBytes;
    }

    /** Entry point; see the class documentation for the arguments. */
    public static void main(String[] args) throws Exception {
        List<Integer> partitions = List.of(4, 16, 64);
        int records = 20_000;
        int repeats = 3;
        int partitionFetchBytes = 1_048_576; // Kafka's default max.partition.fetch.bytes
        Path out = Path.of("benchmarks/target/eos-bench.md");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--partitions" -> partitions = java.util.Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
                case "--records" -> records = Integer.parseInt(args[++i]);
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--partition-fetch-bytes" -> partitionFetchBytes = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (use --partitions 4,16,64 --records N --repeats N --partition-fetch-bytes N --out FILE)");
            }
        }
        String loadStart = loadAverage();
        Map<String, List<Map<String, Object>>> runs = new TreeMap<>();
        try (NatsServer nats = NatsServer.start();
             KafkaBroker kafka = KafkaBroker.builder().jvmArgs("-Xmx768m").start()) {
            EosBench bench = new EosBench(nats, kafka, records, partitionFetchBytes);
            for (int p : partitions) {
                String in = "eos-in-" + p;
                kafka.createTopic(in, p);
                bench.produce(in, p);
                for (int r = 1; r <= repeats; r++) {
                    List<String> order = r % 2 == 1 ? List.of("kafka-txn", "parti-eos") : List.of("parti-eos", "kafka-txn");
                    for (String impl : order) {
                        Map<String, Object> m = bench.drain(impl, in, p);
                        System.out.println(impl + " P=" + p + " run " + r + ": " + m);
                        runs.computeIfAbsent(p + "/" + impl, k -> new ArrayList<>()).add(m);
                    }
                }
            }
        }
        String md = summary(runs, records, repeats, partitionFetchBytes, loadStart, loadAverage());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, md);
        System.out.println(md);
        System.out.println("written to " + out);
    }

    private void produce(String topic, int partitions) throws Exception {
        String pad = "x".repeat(92);
        // not idempotent: right after topic creation an idempotent producer can loop on OUT_OF_ORDER_SEQUENCE_NUMBER
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers(),
                "acks", "all", "linger.ms", 10, "enable.idempotence", false, "max.in.flight.requests.per.connection", 1),
                new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                sent.add(p.send(new ProducerRecord<>(topic, i % partitions, "k-" + i, String.format("v-%06d", i) + pad)));
            }
            for (java.util.concurrent.Future<?> f : sent) {
                f.get(60, TimeUnit.SECONDS);
            }
        }
    }

    private Map<String, Object> consumerConfig(String group) {
        Map<String, Object> c = new HashMap<>();
        c.put("bootstrap.servers", kafka.bootstrapServers());
        c.put("group.id", group);
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("isolation.level", "read_committed");
        c.put("max.partition.fetch.bytes", partitionFetchBytes);
        return c;
    }

    private Map<String, Object> drain(String impl, String in, int partitions) throws Exception {
        String group = "eos-bench-" + (++seq);
        String out = group + "-out";
        kafka.createTopic(out, partitions);
        Map<String, Object> producer = Map.of("bootstrap.servers", kafka.bootstrapServers(), "linger.ms", 5);
        int threadsBefore = Thread.activeCount();
        Map<String, Object> m = new LinkedHashMap<>();
        long start = System.nanoTime();
        if (impl.equals("kafka-txn")) {
            Map<String, Object> p = new HashMap<>(producer);
            p.put("transactional.id", group + "-txn");
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerConfig(group), new StringDeserializer(), new StringDeserializer());
                 KafkaProducer<String, String> txn = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                txn.initTransactions();
                consumer.subscribe(List.of(in));
                loop(m, start, threadsBefore, 1, consumer, records -> {
                    txn.beginTransaction();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (ConsumerRecord<String, String> r : records) {
                        txn.send(new ProducerRecord<>(out, r.key(), transform(r.value())));
                        offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    txn.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    txn.commitTransaction();
                    return records.count();
                });
            }
        } else {
            Map<String, Object> c = consumerConfig(group);
            c.put("parti.nats.url", nats.url());
            c.put("parti.cold.start.window.ms", 300);
            c.put("parti.planned.scale.window.ms", 300);
            c.put("parti.rebalance.cooldown.ms", 100);
            ExactlyOnceProcessor.checkConsumerConfig(c);
            try (PartiConsumer<String, String> consumer = new PartiConsumer<>(c, new StringDeserializer(), new StringDeserializer());
                 ExactlyOnceProcessor<String, String, String, String> eos = ExactlyOnceProcessor
                         .<String, String, String, String>builder(consumer, producer)
                         .serializers(StringSerializer::new, StringSerializer::new).build()) {
                long[] openNanos = new long[1];
                ConsumerRebalanceListener inner = eos.listener(new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    }
                });
                consumer.subscribe(List.of(in), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        inner.onPartitionsRevoked(parts);
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        long t = System.nanoTime();
                        inner.onPartitionsAssigned(parts);
                        openNanos[0] += System.nanoTime() - t;
                    }
                });
                loop(m, start, threadsBefore, partitions, consumer, records -> {
                    ProcessResult r = eos.process(records, (rec, o) -> o.send(new ProducerRecord<>(out, rec.key(), transform(rec.value()))));
                    if (!r.fenced().isEmpty() || !r.retried().isEmpty()) {
                        throw new IllegalStateException("unexpected outcome " + r);
                    }
                    return r.recordsCommitted();
                });
                m.put("open_producers_ms", TimeUnit.NANOSECONDS.toMillis(openNanos[0]));
            }
        }
        return m;
    }

    private interface Step {
        int process(ConsumerRecords<String, String> records);
    }

    private void loop(Map<String, Object> m, long start, int threadsBefore, int producers,
                      Consumer<String, String> consumer, Step step) throws Exception {
        int done = 0;
        int transactions = 0;
        long first = 0;
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (done < records) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("drained only " + done + " of " + records + " records in 5 minutes");
            }
            ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(100));
            if (polled.isEmpty()) {
                continue;
            }
            if (first == 0) {
                first = System.nanoTime();
                m.put("to_first_record_ms", TimeUnit.NANOSECONDS.toMillis(first - start));
            }
            done += step.process(polled);
            transactions += producers == 1 ? 1 : polled.partitions().size();
            if (done >= records / 2 && !m.containsKey("producer_connections")) {
                m.put("producers", producers);
                m.put("producer_threads", producerThreads());
                m.put("producer_connections", producerConnections());
                m.put("jvm_threads_added", Thread.activeCount() - threadsBefore);
            }
        }
        long end = System.nanoTime();
        m.put("records", done);
        m.put("transactions", transactions);
        m.put("records_per_s", Math.round(done / ((end - first) / 1e9)));
    }

    private static String transform(String value) {
        return "out-" + value;
    }

    private static long producerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("kafka-producer-network-thread")).count();
    }

    /** Sum of the {@code connection-count} metric of every producer in this JVM (JMX, as Kafka registers it). */
    private static long producerConnections() throws Exception {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        Set<ObjectName> names = server.queryNames(new ObjectName("kafka.producer:type=producer-metrics,client-id=*"), null);
        long sum = 0;
        for (ObjectName n : names) {
            Object v = server.getAttribute(n, "connection-count");
            if (v instanceof Number num) {
                sum += Math.round(num.doubleValue());
            }
        }
        return sum;
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "n/a";
        }
    }

    private static long median(List<Map<String, Object>> runs, String key) {
        List<Long> v = runs.stream().filter(m -> m.get(key) instanceof Number)
                .map(m -> ((Number) m.get(key)).longValue()).sorted().toList();
        return v.isEmpty() ? -1 : v.get(v.size() / 2);
    }

    private static String summary(Map<String, List<Map<String, Object>>> runs, int records, int repeats,
                                  int partitionFetchBytes, String loadStart, String loadEnd) {
        StringBuilder s = new StringBuilder();
        s.append("# Exactly-once consume-transform-produce: PartiConsumer + ExactlyOnceProcessor vs transactional KafkaConsumer\n\n");
        s.append("Run ").append(Instant.now()).append(", ").append(records).append(" records of ~100 bytes per drain, ")
                .append(repeats).append(" repeats, medians, max.partition.fetch.bytes ").append(partitionFetchBytes)
                .append(" (both consumers); one broker, one nats-server; load average at start ")
                .append(loadStart).append(", at end ").append(loadEnd).append(".\n\n");
        s.append("| partitions | implementation | records/s (median) | ratio to kafka-txn | transactions | producers | producer threads | producer connections | JVM threads added | time to first record ms | opening producers ms |\n");
        s.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        Map<Integer, Map<String, List<Map<String, Object>>>> byP = new TreeMap<>();
        runs.forEach((k, v) -> {
            String[] parts = k.split("/");
            byP.computeIfAbsent(Integer.valueOf(parts[0]), x -> new TreeMap<>()).put(parts[1], v);
        });
        byP.forEach((p, impls) -> {
            long base = impls.containsKey("kafka-txn") ? median(impls.get("kafka-txn"), "records_per_s") : -1;
            impls.forEach((impl, list) -> {
                long tput = median(list, "records_per_s");
                s.append("| ").append(p).append(" | ").append(impl).append(" | ").append(tput).append(" | ")
                        .append(base > 0 ? String.format("%.2f", (double) tput / base) : "n/a").append(" | ")
                        .append(median(list, "transactions")).append(" | ")
                        .append(median(list, "producers")).append(" | ")
                        .append(median(list, "producer_threads")).append(" | ")
                        .append(median(list, "producer_connections")).append(" | ")
                        .append(median(list, "jvm_threads_added")).append(" | ")
                        .append(median(list, "to_first_record_ms")).append(" | ")
                        .append(impl.equals("parti-eos") ? String.valueOf(median(list, "open_producers_ms")) : "—").append(" |\n");
            });
        });
        s.append("\nRaw runs:\n\n```\n");
        runs.forEach((k, v) -> v.forEach(m -> s.append(k).append(' ').append(m).append('\n')));
        s.append("```\n");
        return s.toString();
    }
}
