package dev.parti.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.WorkerProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * What the crash tests of the rolling migration and rollback share: members run by {@link MigratingMemberMain} on
 * threads of the test JVM ({@link Member}) or in child JVMs that can be killed ({@link Child}), their Kafka settings, a
 * producer with known offsets, a watcher of the group's committed offsets, the ownership logs read back (who holds what
 * now), and the ledgers every member appends to, read back to find lost records and records processed twice.
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

    /** {@link #duplicatesBeyond(Path, Set)} with one killed member. */
    static List<String> duplicatesBeyond(Path dir, String killed) throws Exception {
        return duplicatesBeyond(dir, Set.of(killed));
    }

    /**
     * Records processed more than once beyond what a crash or a fence explains. A processing is explained when its
     * member lost the partition afterwards ({@code # LOST <partition>} in its ledger, from {@code onPartitionsLost}:
     * nothing can be committed then, so the next owner, possibly the same member, starts again from the last commit,
     * which is at-least-once by contract), and once per member of {@code killed} whose processing it was when another
     * member processed the record too (a killed instance's uncommitted work). At most one unexplained processing per
     * record is allowed.
     */
    static List<String> duplicatesBeyond(Path dir, Set<String> killed) throws Exception {
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
            for (String k : killed) {
                if (by.stream().anyMatch(m -> !m.equals(k))) {
                    left.remove(k);
                }
            }
            if (by.size() > 1 && left.size() > 1) {
                duplicates.add(record + " by " + by);
            }
        });
        return duplicates;
    }

    /**
     * The Kafka settings of member {@code name} of the crash tests: the classic protocol with {@link PartiAssignor}
     * (migration step 1), the worker ID {@code name}, a short Kafka session so a killed member leaves the Kafka group
     * after 3 s.
     */
    static Map<String, Object> kafkaMember(String bootstrap, String groupId, String name) {
        Map<String, Object> config = new HashMap<>(Fixtures.consumerBase(bootstrap, groupId));
        config.put("group.protocol", "classic");
        config.put("partition.assignment.strategy", PartiAssignor.class.getName());
        config.put("client.id", groupId + "-" + name);
        config.put(PartiAssignor.WORKER_ID_CONFIG, name);
        config.put("session.timeout.ms", "3000");
        config.put("heartbeat.interval.ms", "500");
        config.put("metadata.max.age.ms", "5000");
        return config;
    }

    /**
     * Partition → the instances that hold it now according to the ownership logs in {@code logDir} (acquired and not
     * released since, the instance not gone).
     */
    static Map<String, Set<String>> holders(Path logDir) {
        Map<String, Set<String>> holders = new TreeMap<>();
        for (OwnershipEvent e : OwnershipLog.read(logDir)) {
            switch (e.kind()) {
                case ACQUIRED -> holders.computeIfAbsent(e.partition(), k -> new TreeSet<>()).add(e.instance());
                case RELEASED -> holders.getOrDefault(e.partition(), new TreeSet<>()).remove(e.instance());
                case GONE -> holders.values().forEach(h -> h.remove(e.instance()));
            }
        }
        holders.values().removeIf(Set::isEmpty);
        return holders;
    }

    /** Whether the ownership logs show {@code instance} alone holding each of the {@code partitions} of {@code topic}. */
    static boolean holdsAll(Path logDir, String instance, String topic, int partitions) {
        Map<String, Set<String>> now = holders(logDir);
        for (int p = 0; p < partitions; p++) {
            if (!Set.of(instance).equals(now.get(topic + "-" + p))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether the ownership logs show {@code instance} holding every partition of {@code topic}, others perhaps too (a
     * paused instance that has not logged its loss yet).
     */
    static boolean holdsEvery(Path logDir, String instance, String topic, int partitions) {
        Map<String, Set<String>> now = holders(logDir);
        for (int p = 0; p < partitions; p++) {
            if (!now.getOrDefault(topic + "-" + p, Set.of()).contains(instance)) {
                return false;
            }
        }
        return true;
    }

    /** The consumer group's description, fetched with a short-lived Admin; null while the group does not exist. */
    static ConsumerGroupDescription describe(String bootstrap, String groupId) throws Exception {
        try (Admin admin = Fixtures.admin(bootstrap)) {
            return admin.describeConsumerGroups(List.of(groupId)).all().get(30, TimeUnit.SECONDS).get(groupId);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException) {
                return null;
            }
            throw e;
        }
    }

    /** The group's committed offsets now, fetched with a short-lived Admin. */
    static Map<TopicPartition, Long> committedOffsets(String bootstrap, String groupId) throws Exception {
        try (Admin admin = Fixtures.admin(bootstrap)) {
            Map<TopicPartition, Long> out = new HashMap<>();
            admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                    .forEach((tp, om) -> {
                        if (om != null) {
                            out.put(tp, om.offset());
                        }
                    });
            return out;
        }
    }

    /**
     * A thread sampling the group's committed offsets every 20 ms (and once more at {@link #close()}), recording every
     * partition whose committed offset is lower than at the previous sample: with commit-in-revoke commits are rare,
     * so a commit that went backwards stays visible until the partition's next owner commits.
     */
    static final class CommitWatcher implements AutoCloseable {
        private final Admin admin;
        private final String groupId;
        private final Map<TopicPartition, Long> last = new HashMap<>();
        private final List<String> backwards = new CopyOnWriteArrayList<>();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;
        private volatile int samples;

        CommitWatcher(String bootstrap, String groupId) {
            this.admin = Fixtures.admin(bootstrap);
            this.groupId = groupId;
            this.thread = new Thread(() -> {
                while (running.get()) {
                    sample();
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "commit-watcher-" + groupId);
            thread.start();
        }

        private synchronized void sample() {
            Map<TopicPartition, OffsetAndMetadata> now;
            try {
                now = admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                return; // the group may not exist yet; the next sample tries again
            }
            samples++;
            now.forEach((tp, om) -> {
                if (om == null) {
                    return;
                }
                Long before = last.put(tp, om.offset());
                if (before != null && om.offset() < before) {
                    backwards.add(tp + " committed " + om.offset() + " after " + before);
                }
            });
        }

        /** Commits seen going backwards so far. */
        List<String> backwards() {
            return List.copyOf(backwards);
        }

        /** The last committed offset seen per partition. */
        synchronized Map<TopicPartition, Long> committed() {
            return Map.copyOf(last);
        }

        int samples() {
            return samples;
        }

        /** Stops sampling after one last sample. Idempotent. */
        @Override
        public void close() throws InterruptedException {
            if (!running.getAndSet(false)) {
                return;
            }
            thread.interrupt();
            thread.join(15_000);
            sample();
            admin.close(Duration.ofSeconds(5));
        }
    }

    /**
     * A member run by {@link MigratingMemberMain} in a child JVM (killable with SIGKILL), named {@code name}, its
     * ledger {@code <name>.ledger} in {@code dir}, its configuration written to {@code <name>.properties} there.
     */
    static final class Child implements AutoCloseable {
        final String name;
        final WorkerProcess process;
        private final String logName;
        private Path go;

        private Child(String name, WorkerProcess process, String logName) {
            this.name = name;
            this.process = process;
            this.logName = logName;
        }

        static Child start(Map<String, Object> config, String topic, String name, Path logDir, Path dir) throws Exception {
            Path configFile = dir.resolve(name + ".properties");
            StringBuilder sb = new StringBuilder();
            config.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            Files.writeString(configFile, sb.toString());
            return new Child(name, WorkerProcess.builder(MigratingMemberMain.class).name(name).args(configFile.toString(), topic,
                    name, logDir.toString(), dir.resolve(name + ".ledger").toString()).jvmArgs("-Xmx256m").start(),
                    config.get("group.id") + "-" + name + ".log");
        }

        /**
         * Like {@link #start}, but the member starts only at {@link #release()}: the JVM is up and warmed up by then
         * (its classes loaded and its first connections made, by clients that touch no group; it printed {@code
         * HELD}), so a test can restart a killed instance within a session on a busy machine. {@link #awaitHeld} waits
         * for that state.
         */
        static Child startHeld(Map<String, Object> config, String topic, String name, Path logDir, Path dir)
                throws Exception {
            Path configFile = dir.resolve(name + ".properties");
            StringBuilder sb = new StringBuilder();
            config.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            Files.writeString(configFile, sb.toString());
            Path go = dir.resolve(name + ".go");
            Child c = new Child(name, WorkerProcess.builder(MigratingMemberMain.class).name(name).args(configFile.toString(),
                    topic, name, logDir.toString(), dir.resolve(name + ".ledger").toString())
                    .jvmArgs("-Xmx256m", "-D" + MigratingMemberMain.START_WHEN + "=" + go).start(),
                    config.get("group.id") + "-" + name + ".log");
            c.go = go;
            return c;
        }

        /** Waits until a child started with {@link #startHeld} is up and waits for {@link #release()}. */
        void awaitHeld(Duration wait) {
            org.awaitility.Awaitility.await(name + " up and held").atMost(wait).pollInterval(Duration.ofMillis(20))
                    .until(() -> !lines("HELD").isEmpty());
        }

        /** Starts the member of a child started with {@link #startHeld}. */
        void release() throws java.io.IOException {
            Files.createFile(go);
        }

        /** The phases it printed, in order (its whole log is read: a tail may miss them among Kafka's lines). */
        List<String> phases() {
            return lines("PHASE ");
        }

        /** Its current phase, or "" before the first. */
        String phase() {
            List<String> p = phases();
            return p.isEmpty() ? "" : p.get(p.size() - 1);
        }

        /** Whether, as it last printed, its Parti side leads the Parti group while it is in {@code phase}. */
        boolean leadsIn(String phase) {
            List<String> phaseAndLeader = lines("PHASE ", "LEADER ");
            String p = "";
            String leader = "LEADER false";
            for (String l : phaseAndLeader) {
                if (l.startsWith("PHASE ")) {
                    p = l.substring("PHASE ".length()).trim();
                } else {
                    leader = l.trim();
                }
            }
            return p.equals(phase) && leader.equals("LEADER true");
        }

        private List<String> lines(String prefix) {
            return lines(prefix, prefix).stream().map(l -> l.substring(prefix.length()).trim()).toList();
        }

        private List<String> lines(String prefix, String orPrefix) {
            try {
                return Files.readAllLines(process.logFile()).stream().filter(l -> l.startsWith(prefix) || l.startsWith(orPrefix))
                        .toList();
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                return List.of(); // not written yet
            }
        }

        /** SIGKILL, then marks the instance gone in the ownership logs (a killed member releases nothing itself). */
        void kill(Path logDir) {
            process.kill();
            try (OwnershipLog log = OwnershipLog.inDirectory(logDir)) {
                log.gone(name);
            }
        }

        /**
         * SIGSTOP: the instance stops where it is, owning what it owned, its connections open; {@link #resume} lets it go
         * on. A paused instance is not dead: nothing marks it gone.
         */
        void suspend() {
            process.suspend();
        }

        /** SIGCONT after {@link #suspend}. */
        void resume() {
            process.resume();
        }

        /** Its ledger's lines now (records and {@code #} lines); none before it wrote one. */
        List<String> ledger(Path dir) throws java.io.IOException {
            Path ledger = dir.resolve(name + ".ledger");
            return Files.exists(ledger) ? Files.readAllLines(ledger) : List.of();
        }

        /** How many lines its ledger has now (records and {@code #} lines). */
        int ledgerLines(Path dir) throws java.io.IOException {
            return ledger(dir).size();
        }

        /** SIGTERM: it commits what it processed and closes its consumer; then gone in the ownership logs. */
        void stop(Path logDir) {
            assertThat(process.stop(Duration.ofSeconds(30))).as(name + " stopped on SIGTERM").isTrue();
            try (OwnershipLog log = OwnershipLog.inDirectory(logDir)) {
                log.gone(name);
            }
        }

        /** Kills it if alive; its log is kept as {@code target/child-logs/<group>-<name>.log} (the process's is deleted). */
        @Override
        public void close() {
            try {
                Path keep = Files.createDirectories(Path.of("target", "child-logs"));
                Files.copy(process.logFile(), keep.resolve(logName), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (java.io.IOException | RuntimeException e) {
                System.out.println("could not keep the log of " + name + ": " + e);
            } finally {
                process.close();
            }
        }
    }

    /**
     * The frame every migration crash test shares: a topic (created) under the load of a {@link #producer} started
     * at construction, a group ID, the ownership-log directory under the test's directory, and a {@link CommitWatcher}
     * on the group from before the first member starts. {@link #drain} once the scenario is over, {@link
     * #stopProducing} in the test's {@code finally}, {@link #assertCommitsNeverBackwardsAndAtEveryEnd} once every
     * member has stopped; closing stops the producer and the watcher.
     */
    static final class Load implements AutoCloseable {
        final String topic;
        final String groupId;
        final Path logDir;
        final long start = System.nanoTime();
        final Map<Integer, Long> produced = new java.util.concurrent.ConcurrentHashMap<>();
        final CommitWatcher commits;
        private final Path dir;
        private final AtomicBoolean producing = new AtomicBoolean(true);
        private final Thread producer;

        /** Topic {@code <name>-…} with {@code partitions}, group {@code g-<name>-…}, logs and ledgers under {@code dir}. */
        Load(dev.parti.testkit.KafkaBroker broker, Path dir, String name, int partitions) throws java.io.IOException {
            this.topic = Fixtures.unique(name);
            this.groupId = Fixtures.unique("g-" + name);
            broker.createTopic(topic, partitions);
            this.dir = dir;
            this.logDir = Files.createDirectories(dir.resolve("ownership"));
            this.commits = new CommitWatcher(broker.bootstrapServers(), groupId);
            this.producer = producer(broker.bootstrapServers(), topic, partitions, produced, producing);
            producer.start();
        }

        /** Stops the producer, waits for its last sends, then until every produced record was processed (the ledgers). */
        void drain(Duration wait) throws InterruptedException {
            stopProducing();
            producer.join(30_000);
            org.awaitility.Awaitility.await("every produced record processed").atMost(wait)
                    .pollInterval(Duration.ofMillis(100)).until(() -> missing(dir, produced).isEmpty());
        }

        void stopProducing() {
            producing.set(false);
        }

        /** Once every member has stopped: no commit went backwards, and the group committed every partition's end. */
        void assertCommitsNeverBackwardsAndAtEveryEnd() throws InterruptedException {
            commits.close();
            assertThat(commits.backwards()).as("committed offsets that went backwards").isEmpty();
            Map<TopicPartition, Long> ends = new HashMap<>();
            produced.forEach((p, end) -> ends.put(new TopicPartition(topic, p), end));
            assertThat(commits.committed()).as("the group's commits at the end of every partition").isEqualTo(ends);
        }

        @Override
        public void close() throws InterruptedException {
            stopProducing();
            commits.close();
        }
    }

    /**
     * The end checks of a crash test, once every member has stopped: no record processed twice beyond what the
     * {@code killed} instances' uncommitted work (or a loss) explains, printing where the first such duplicate stands in
     * each ledger that holds it; and no partition with two live owners in the ownership logs since {@code start}.
     */
    static void assertLedgersAndOwnership(Path dir, Path logDir, long start, Set<String> killed) throws Exception {
        Map<String, List<String>> seen = ledgers(dir);
        long redone = seen.values().stream().filter(by -> by.size() > 1).count();
        System.out.println("records processed again (a killed instance's uncommitted work, or a fenced member's): " + redone);
        List<String> duplicates = duplicatesBeyond(dir, killed);
        if (!duplicates.isEmpty()) {
            String record = duplicates.get(0).substring(0, duplicates.get(0).indexOf(" by "));
            for (String m : new TreeSet<>(seen.get(record))) {
                System.out.println("duplicate " + record + ": " + whereInLedger(dir, m, record));
            }
        }
        assertThat(duplicates).as("processed twice other than a killed instance's uncommitted work").isEmpty();
        dev.parti.testkit.OwnershipReport report = dev.parti.testkit.OwnershipChecker.builder()
                .window(start, System.nanoTime()).check(OwnershipLog.read(logDir));
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    /**
     * {@link #assertLedgersAndOwnership} for a run in which {@code paused} was stopped with SIGSTOP at {@code pausedAt}
     * and continued at {@code resumedAt}. First, no record that a {@code poll()} called after it continued handed it
     * (by the {@code # POLLED} times in its ledger) was processed by another member as well: a record fetched before the pause
     * and handed out after it, or a partition handed out before the instance noticed it had lost it, would be. Given
     * that, what it held before the pause counts as released at the pause, when it stopped being an owner in fact (it was
     * stopped in between, and was handed nothing of another member's afterwards); its release, logged only once it learnt
     * of the loss, would otherwise show as two owners. Records handed out before the pause may be processed again by
     * the next owner, as a killed instance's would.
     */
    static void assertLedgersAndOwnershipAfterAPause(Path dir, Path logDir, long start, String paused, long pausedAt,
                                                      long resumedAt) throws Exception {
        Map<String, List<String>> seen = ledgers(dir);
        List<String> afterResume = new ArrayList<>();
        List<String> acrossThePause = new ArrayList<>();
        long returnedAt = Long.MIN_VALUE;
        long calledAt = Long.MIN_VALUE;
        for (String l : Files.readAllLines(dir.resolve(paused + ".ledger"))) {
            String line = l.trim();
            if (line.startsWith("# POLLED ")) {
                String[] times = line.substring("# POLLED ".length()).split(" ");
                returnedAt = Long.parseLong(times[0]);
                calledAt = Long.parseLong(times[1]);
            } else if (!line.isEmpty() && !line.startsWith("#") && returnedAt - resumedAt >= 0
                    && seen.get(line).stream().anyMatch(m -> !m.equals(paused))) {
                (calledAt - resumedAt >= 0 ? afterResume : acrossThePause).add(line);
            }
        }
        assertThat(afterResume).as("records handed to " + paused + " by a poll called after it continued that another "
                + "member processed too").isEmpty();
        // A poll called before the pause whose return was timed after it may have returned before the pause (SIGSTOP
        // landing between poll() returning and the child's clock read): from outside, its records cannot be told from
        // work handed out before the pause. Such a poll, returning after the pause, hands out nothing by the gap rule
        // of the path it runs (for the switch: KafkaToPartiMigrationTest); every later poll is checked here.
        System.out.println(paused + ": " + acrossThePause.size() + " records of a poll spanning the pause processed by "
                + "another member too " + acrossThePause);
        List<String> duplicates = duplicatesBeyond(dir, Set.of(paused));
        assertThat(duplicates).as("processed twice other than the paused instance's work from before the pause").isEmpty();
        List<OwnershipEvent> events = new ArrayList<>(OwnershipLog.read(logDir));
        events.sort(java.util.Comparator.comparingLong(OwnershipEvent::nanos));
        Set<String> heldAtPause = new HashSet<>();
        List<OwnershipEvent> timed = new ArrayList<>();
        int retimed = 0;
        for (OwnershipEvent e : events) {
            OwnershipEvent kept = e;
            if (e.instance().equals(paused)) {
                if (e.nanos() < pausedAt) {
                    if (e.kind() == OwnershipEvent.Kind.ACQUIRED) {
                        heldAtPause.add(e.partition());
                    } else if (e.kind() == OwnershipEvent.Kind.RELEASED) {
                        heldAtPause.remove(e.partition());
                    }
                } else if (e.nanos() >= resumedAt && e.kind() == OwnershipEvent.Kind.RELEASED
                        && heldAtPause.remove(e.partition())) {
                    kept = OwnershipEvent.released(e.instance(), e.workerId(), e.partition(), pausedAt);
                    retimed++;
                }
            }
            timed.add(kept);
        }
        System.out.println(paused + ": " + retimed + " releases logged after it continued counted from its pause");
        dev.parti.testkit.OwnershipReport report = dev.parti.testkit.OwnershipChecker.builder()
                .window(start, System.nanoTime()).check(timed);
        assertThat(report.overlaps()).as("partitions with two live owners").isEmpty();
    }

    /**
     * The {@code finally} of a crash test: production stopped, the members of this JVM stopped (their own failures
     * printed, not thrown over the test's), the child JVMs that were started closed.
     */
    static void stopAfterTest(Load load, Map<String, Member> members, Child... children) {
        load.stopProducing();
        members.values().forEach(Member::stopAfterFailure);
        for (Child c : children) {
            if (c != null) {
                c.close();
            }
        }
    }

    /** Waits until the Kafka group is stable with {@code size} members sharing every partition, none without. */
    static void awaitKafkaGroup(String bootstrap, String groupId, int size, int partitions, java.time.Duration wait) {
        org.awaitility.Awaitility.await("the Kafka group stable with " + size + " members sharing every partition")
                .atMost(wait).pollInterval(java.time.Duration.ofMillis(100)).until(() -> {
                    org.apache.kafka.clients.admin.ConsumerGroupDescription d = describe(bootstrap, groupId);
                    return d != null && d.groupState() == org.apache.kafka.common.GroupState.STABLE
                            && d.members().size() == size
                            && d.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum() == partitions
                            && d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty());
                });
    }

    /** {@code config} as a static member {@code instanceId}, which is its Parti worker ID too. */
    static Map<String, Object> staticMember(Map<String, Object> config, String instanceId) {
        config.put("group.instance.id", instanceId);
        config.remove(PartiAssignor.WORKER_ID_CONFIG);
        return config;
    }

    /** Parti's first assignment after a short cold-start window (tests that need the switch held open hold it themselves). */
    static Map<String, Object> fastSwitch(Map<String, Object> config) {
        config.put("parti.cold.start.window.ms", "300");
        config.put("parti.planned.scale.window.ms", "300");
        return config;
    }

    /** Whether the ownership logs show every partition of {@code topic} held by exactly one of {@code owners}, each holding some. */
    static boolean sharedBy(Path logDir, String topic, int partitions, Set<String> owners) {
        Map<String, Set<String>> now = holders(logDir);
        Set<String> seen = new java.util.HashSet<>();
        for (int p = 0; p < partitions; p++) {
            Set<String> h = now.get(topic + "-" + p);
            if (h == null || h.size() != 1 || !owners.containsAll(h)) {
                return false;
            }
            seen.addAll(h);
        }
        return seen.equals(owners);
    }

    /** The migration phase of member {@code name} of {@code members}, null when it has no PartiConsumer (yet). */
    static dev.parti.kafka.migration.KafkaToPartiMigration.Phase phase(Map<String, Member> members, String name) {
        Member m = members.get(name);
        PartiConsumer<String, String> p = m == null ? null : m.parti();
        return p == null ? null : p.migrationPhase();
    }

    /** The partitions {@code instance} holds now according to the ownership logs in {@code logDir}. */
    static Set<String> heldBy(Path logDir, String instance) {
        Set<String> held = new TreeSet<>();
        holders(logDir).forEach((partition, h) -> {
            if (h.contains(instance)) {
                held.add(partition);
            }
        });
        return held;
    }

    /** How many records {@code member}'s ledger holds now. */
    static long processedBy(Path dir, String member) throws Exception {
        Path f = dir.resolve(member + ".ledger");
        if (!Files.exists(f)) {
            return 0;
        }
        return Files.readAllLines(f).stream().filter(l -> !l.isBlank() && !l.startsWith("#")).count();
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
            return start(config, topic, name, logDir, dir, null);
        }

        /** Like {@link #start(Map, String, String, Path, Path)}, running {@code afterBatch} after each non-empty batch. */
        static Member start(Map<String, Object> config, String topic, String name, Path logDir, Path dir,
                            MigratingMemberMain.AfterBatch afterBatch) {
            return start(config, topic, name, logDir, dir, afterBatch, null);
        }

        /** Like {@link #start(Map, String, String, Path, Path, MigratingMemberMain.AfterBatch)}, with a hook between its
         *  {@code subscribe()} and its first {@code poll()} (see {@link MigratingMemberMain}). */
        static Member start(Map<String, Object> config, String topic, String name, Path logDir, Path dir,
                            MigratingMemberMain.AfterBatch afterBatch, Runnable afterSubscribe) {
            Member m = new Member();
            m.thread = new Thread(() -> {
                try {
                    MigratingMemberMain.run(config, topic, name, logDir, dir.resolve(name + ".ledger"), m.running, m.consumer,
                            afterBatch, afterSubscribe);
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

        /**
         * Stops it after a test failed already (in a {@code finally}): prints its own failure rather than throwing it,
         * which would hide the test's.
         */
        void stopAfterFailure() {
            running.set(false);
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (failure.get() != null) {
                System.out.println(thread.getName() + " failed: " + failure.get());
            }
        }
    }

    /** How many records {@code member}'s ledger holds after its last line {@code marker} (0 when it has none). */
    static long processedAfter(Path dir, String member, String marker) throws Exception {
        Path f = dir.resolve(member + ".ledger");
        if (!Files.exists(f)) {
            return 0;
        }
        List<String> lines = Files.readAllLines(f);
        int from = lines.lastIndexOf(marker);
        if (from < 0) {
            return 0;
        }
        return lines.subList(from + 1, lines.size()).stream().filter(l -> !l.isBlank() && !l.startsWith("#")).count();
    }
}
