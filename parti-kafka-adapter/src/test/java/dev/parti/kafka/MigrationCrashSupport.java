package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * What the crash tests of the rolling migration and rollback share: members run by {@link MigratingMemberMain} on
 * threads of the test JVM, a producer with known offsets, and the ledgers every member (in this JVM or a child)
 * appends to, read back to find lost records and records processed twice.
 */
final class MigrationCrashSupport {
    private MigrationCrashSupport() {
    }

    /** "partition offset" → the members that processed it, in ledger order (files {@code <member>.ledger} in dir). */
    static Map<String, List<String>> ledgers(Path dir) throws Exception {
        Map<String, List<String>> seen = new HashMap<>();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".ledger")).toList()) {
                String member = f.getFileName().toString().replace(".ledger", "");
                for (String line : Files.readAllLines(f)) {
                    if (!line.isBlank() && !line.startsWith("#")) {
                        seen.computeIfAbsent(line.trim(), k -> new ArrayList<>()).add(member);
                    }
                }
            }
        }
        return seen;
    }

    /**
     * Where {@code record} ("partition offset") stands in {@code member}'s ledger: the line numbers of each time it was
     * processed and of the phase changes around them (to tell on which side of a switch a record was processed twice).
     */
    static String whereInLedger(Path dir, String member, String record) throws Exception {
        List<String> lines = Files.readAllLines(dir.resolve(member + ".ledger"));
        StringBuilder sb = new StringBuilder(member + ": " + lines.size() + " lines;");
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).trim();
            if (l.equals(record) || l.startsWith("#")) {
                sb.append(' ').append(i).append('=').append(l);
            }
        }
        return sb.toString();
    }

    /** Produced records no ledger holds. */
    static List<String> missing(Path dir, Map<Integer, Long> produced) throws Exception {
        Set<String> seen = new HashSet<>(ledgers(dir).keySet());
        List<String> missing = new ArrayList<>();
        produced.forEach((p, end) -> {
            for (long o = 0; o < end; o++) {
                if (!seen.contains(p + " " + o)) {
                    missing.add(p + "@" + o);
                }
            }
        });
        return missing;
    }

    /**
     * Records processed more than once beyond what a crash or a fence explains. A processing is explained when its
     * member lost the partition afterwards ({@code # LOST <partition>} in its ledger, from {@code onPartitionsLost}:
     * nothing can be committed then, so the next owner, possibly the same member, starts again from the last commit,
     * which is at-least-once by contract), and once when it was {@code killed}'s and another member processed the record
     * too (the killed instance's uncommitted work). At most one unexplained processing per record is allowed.
     */
    static List<String> duplicatesBeyond(Path dir, String killed) throws Exception {
        Map<String, List<String>> all = new HashMap<>();
        Map<String, List<String>> unexplained = new HashMap<>();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".ledger")).toList()) {
                String member = f.getFileName().toString().replace(".ledger", "");
                List<String> lines = Files.readAllLines(f);
                Map<String, Integer> lastLost = new HashMap<>();
                for (int i = 0; i < lines.size(); i++) {
                    if (lines.get(i).startsWith("# LOST ")) {
                        lastLost.put(lines.get(i).substring("# LOST ".length()).trim(), i);
                    }
                }
                for (int i = 0; i < lines.size(); i++) {
                    String record = lines.get(i).trim();
                    if (record.isEmpty() || record.startsWith("#")) {
                        continue;
                    }
                    all.computeIfAbsent(record, k -> new ArrayList<>()).add(member);
                    if (lastLost.getOrDefault(record.substring(0, record.indexOf(' ')), -1) < i) {
                        unexplained.computeIfAbsent(record, k -> new ArrayList<>()).add(member);
                    }
                }
            }
        }
        List<String> duplicates = new ArrayList<>();
        all.forEach((record, by) -> {
            List<String> left = new ArrayList<>(unexplained.getOrDefault(record, List.of()));
            if (by.stream().anyMatch(m -> !m.equals(killed))) {
                left.remove(killed);
            }
            if (by.size() > 1 && left.size() > 1) {
                duplicates.add(record + " by " + by);
            }
        });
        return duplicates;
    }

    /** A producer thread writing 8 records per 20 ms round robin over {@code partitions}, until {@code producing} is false. */
    static Thread producer(String bootstrap, String topic, int partitions, Map<Integer, Long> produced, AtomicBoolean producing) {
        Map<String, Object> config = new HashMap<>();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
        config.put(ProducerConfig.ACKS_CONFIG, "1");
        config.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return new Thread(() -> {
            try (KafkaProducer<String, String> p = new KafkaProducer<>(config)) {
                long seq = 0;
                while (producing.get()) {
                    for (int i = 0; i < 8; i++, seq++) {
                        p.send(new ProducerRecord<>(topic, (int) (seq % partitions), null, Long.toString(seq)), (md, e) -> {
                            if (e == null) {
                                produced.merge(md.partition(), md.offset() + 1, Math::max);
                            }
                        });
                    }
                    Thread.sleep(20);
                }
                p.flush();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "producer-" + topic);
    }

    /** A member on a thread of this JVM, run by {@link MigratingMemberMain#run}. */
    static final class Member {
        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicReference<org.apache.kafka.clients.consumer.Consumer<String, String>> consumer = new AtomicReference<>();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread;

        static Member start(Map<String, Object> config, String topic, String name, Path logDir, Path dir) {
            Member m = new Member();
            m.thread = new Thread(() -> {
                try {
                    MigratingMemberMain.run(config, topic, name, logDir, dir.resolve(name + ".ledger"), m.running, m.consumer);
                } catch (Throwable t) {
                    m.failure.set(t);
                }
            }, "member-" + name);
            m.thread.start();
            return m;
        }

        /** The consumer as a {@link PartiConsumer}, or null (not created yet, or a KafkaConsumer). */
        PartiConsumer<String, String> parti() {
            return consumer.get() instanceof PartiConsumer<String, String> p ? p : null;
        }

        void stop() {
            running.set(false);
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            assertThat(thread.isAlive()).as(thread.getName() + " stopped").isFalse();
            assertThat(failure.get()).as(thread.getName() + " failure").isNull();
        }
    }
}
