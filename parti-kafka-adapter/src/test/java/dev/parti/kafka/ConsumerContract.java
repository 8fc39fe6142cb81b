package dev.parti.kafka;

import static dev.parti.kafka.Fixtures.expectedValues;
import static dev.parti.kafka.Fixtures.get;
import static dev.parti.kafka.Fixtures.partitions;
import static dev.parti.kafka.Fixtures.pollUntil;
import static dev.parti.kafka.Fixtures.unique;
import static dev.parti.kafka.Fixtures.values;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.OwnershipLog;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidGroupIdException;
import org.apache.kafka.common.errors.WakeupException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The {@link Consumer} contract, written once and run against {@link KafkaConsumer} (the reference,
 * with the cooperative-sticky assignor) and {@link PartiConsumer}: every test here must pass for both.
 * One Kafka broker per concrete class; every test uses its own topics and group.
 */
abstract class ConsumerContract {
    static final Duration WAIT = Duration.ofSeconds(45);

    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();

    /** The implementation's own settings (on top of {@link Fixtures#consumerBase}). */
    abstract Map<String, Object> implementationConfig();

    /** Creates the consumer under test. */
    abstract Consumer<String, String> create(Map<String, Object> config);

    private String testName = "t";

    @org.junit.jupiter.api.BeforeEach
    void name(TestInfo info) {
        testName = info.getTestMethod().map(m -> m.getName()).orElse("t");
        if (testName.length() > 24) {
            testName = testName.substring(0, 24);
        }
    }

    String bootstrap() {
        return KAFKA.bootstrapServers();
    }

    Consumer<String, String> consumer(String group, Object... extra) {
        Map<String, Object> m = Fixtures.consumerBase(bootstrap(), group);
        m.putAll(implementationConfig());
        for (int i = 0; i < extra.length; i += 2) {
            m.put((String) extra[i], extra[i + 1]);
        }
        return create(m);
    }

    /** A consumer for {@code subscribe(SubscriptionPattern)} (KafkaConsumer supports it only with group.protocol=consumer). */
    Consumer<String, String> re2jConsumer(String group) {
        return consumer(group);
    }

    /** A plain KafkaConsumer of the same group, for migration in both directions. */
    KafkaConsumer<String, String> kafkaConsumer(String group) {
        Map<String, Object> m = Fixtures.consumerBase(bootstrap(), group);
        m.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
        m.put("heartbeat.interval.ms", 200);
        m.put("session.timeout.ms", 3000);
        return new KafkaConsumer<>(m);
    }

    String topic(int partitions) {
        String t = unique(testName);
        KAFKA.broker().createTopic(t, partitions);
        return t;
    }

    String group() {
        return unique("g-" + testName);
    }

    void produce(String topic, int partitions, int from, int count) {
        Fixtures.produce(bootstrap(), topic, partitions, from, count);
    }

    // ------------------------------------------------------------------ subscription and callbacks

    @Test
    void subscribeWithAListenerAssignsEverythingOnThePollingThread() {
        String t = topic(3);
        produce(t, 3, 0, 30);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t), l);
            assertThat(c.subscription()).containsExactly(t);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 30);
            assertThat(c.assignment()).isEqualTo(partitions(t, 3));
            assertThat(l.owned).isEqualTo(partitions(t, 3));
            assertThat(values(got)).containsExactlyInAnyOrderElementsOf(expectedValues(0, 30));
            assertThat(l.calls).isNotEmpty().allSatisfy(call -> assertThat(call.thread()).isEqualTo(Thread.currentThread().getName()));
            assertThat(l.calls("revoked")).isEmpty();
            assertThat(l.calls("lost")).isEmpty();
        }
    }

    @Test
    void twoConsumersSplitATopicAndProcessEveryRecordOnce() {
        String t = topic(4);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        OwnershipLog log = OwnershipLog.inMemory();
        produce(t, 4, 0, 100);
        try (PollLoop a = new PollLoop("a", consumer(g), List.of(t), seen, true, log)) {
            await().atMost(WAIT).until(() -> seen.size() == 100);
            try (PollLoop b = new PollLoop("b", consumer(g), List.of(t), seen, true, log)) {
                await().atMost(WAIT).until(() -> split(a, b, partitions(t, 4)));
                produce(t, 4, 100, 100);
                await().atMost(WAIT).until(() -> seen.size() == 200);
                assertThat(seen).allSatisfy((v, n) -> assertThat(n).as(v).isEqualTo(1));
                assertThat(b.processed).isNotEmpty();
                assertThat(a.failure).isNull();
                assertThat(b.failure).isNull();
                for (PollLoop l : List.of(a, b)) {
                    assertThat(l.listener.calls).allSatisfy(call -> assertThat(call.thread()).isEqualTo("poll-loop-" + l.name));
                }
                Fixtures.assertNoOverlap(log);
            }
        }
    }

    private static boolean split(PollLoop a, PollLoop b, Set<TopicPartition> all) {
        Set<TopicPartition> x = a.listener.owned;
        Set<TopicPartition> y = b.listener.owned;
        if (x.isEmpty() || y.isEmpty() || x.size() + y.size() != all.size()) {
            return false;
        }
        Set<TopicPartition> union = new java.util.HashSet<>(x);
        union.addAll(y);
        return union.equals(all);
    }

    /** Every partition the loop's listener owns or a record it processed is of {@code topics}. */
    private static void assertOnlyTopics(PollLoop l, Set<String> topics) {
        assertThat(l.listener.owned).as(l.name + " owns").allSatisfy(tp -> assertThat(topics).contains(tp.topic()));
        assertThat(l.processed).as(l.name + " processed").allSatisfy(r -> assertThat(topics).contains(r.topic()));
    }

    private static Set<TopicPartition> union(Set<TopicPartition> a, Set<TopicPartition> b) {
        Set<TopicPartition> u = new java.util.HashSet<>(a);
        u.addAll(b);
        return u;
    }

    /**
     * Issue 14 item 1: two members of one group subscribe to different topics (one shared): each is only
     * ever given partitions of its own topics, the shared topic is split, and every record is consumed once.
     */
    @Test
    void membersWithDifferentSubscriptionsEachGetOnlyTheirTopicsAndEveryRecordOnce() {
        String shared = topic(4);
        String onlyA = topic(2);
        String onlyB = topic(2);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        OwnershipLog log = OwnershipLog.inMemory();
        produce(shared, 4, 0, 40);
        produce(onlyA, 2, 100, 20);
        produce(onlyB, 2, 200, 20);
        try (PollLoop a = new PollLoop("a", consumer(g), List.of(shared, onlyA), seen, true, log);
             PollLoop b = new PollLoop("b", consumer(g), List.of(shared, onlyB), seen, true, log)) {
            await().atMost(WAIT).until(() -> a.listener.owned.containsAll(partitions(onlyA, 2))
                    && b.listener.owned.containsAll(partitions(onlyB, 2))
                    && union(a.listener.owned, b.listener.owned).containsAll(partitions(shared, 4))
                    && !Collections.disjoint(a.listener.owned, partitions(shared, 4))
                    && !Collections.disjoint(b.listener.owned, partitions(shared, 4)));
            produce(shared, 4, 40, 40);
            produce(onlyA, 2, 120, 20);
            produce(onlyB, 2, 220, 20);
            await().atMost(WAIT).until(() -> seen.size() == 160);
            assertThat(seen).allSatisfy((v, n) -> assertThat(n).as(v).isEqualTo(1));
            assertOnlyTopics(a, Set.of(shared, onlyA));
            assertOnlyTopics(b, Set.of(shared, onlyB));
            assertThat(a.failure).isNull();
            assertThat(b.failure).isNull();
            Fixtures.assertNoOverlap(log);
        }
    }

    /**
     * Issue 14 item 1: a member that is not the group's leader (the second to join) switches to another
     * topic: it gets only that topic's partitions, the first member gets the whole old topic, and every
     * record produced afterwards is consumed once, each by the member subscribed to its topic.
     */
    @Test
    void aFollowerSwitchingTopicsGetsOnlyItsNewTopicAndTheOtherTakesTheOldOne() {
        String x = topic(4);
        String y = topic(2);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        OwnershipLog log = OwnershipLog.inMemory();
        try (PollLoop a = new PollLoop("a", consumer(g, "metadata.max.age.ms", 1000), List.of(x), seen, true, log)) {
            await().atMost(WAIT).until(() -> a.listener.owned.equals(partitions(x, 4)));
            try (PollLoop b = new PollLoop("b", consumer(g, "metadata.max.age.ms", 1000), List.of(x), seen, true, log)) {
                await().atMost(WAIT).until(() -> split(a, b, partitions(x, 4)));
                produce(x, 4, 0, 40);
                await().atMost(WAIT).until(() -> seen.size() == 40);
                int before = b.processed.size();
                b.call(c -> {
                    c.subscribe(List.of(y), b.listener);
                    return null;
                });
                await().atMost(WAIT).until(() -> a.listener.owned.equals(partitions(x, 4))
                        && b.listener.owned.equals(partitions(y, 2)));
                produce(x, 4, 100, 40);
                produce(y, 2, 200, 20);
                await().atMost(WAIT).until(() -> seen.size() == 100);
                assertThat(seen).allSatisfy((v, n) -> assertThat(n).as(v).isEqualTo(1));
                assertThat(b.processed.subList(before, b.processed.size()))
                        .allSatisfy(r -> assertThat(r.topic()).isEqualTo(y)).hasSize(20);
                assertOnlyTopics(a, Set.of(x));
                assertThat(a.failure).isNull();
                assertThat(b.failure).isNull();
                Fixtures.assertNoOverlap(log);
            }
        }
    }

    /**
     * Issue 14 item 8: {@code enforceRebalance()} on a member that is not the leader rebalances the whole
     * group: both members' {@code onPartitionsAssigned} is called again (with nothing new, as in a
     * cooperative rebalance that moves nothing), on their polling threads, and no partition is revoked or lost.
     */
    @Test
    void enforceRebalanceFromAnyMemberRebalancesTheWholeGroup() {
        String t = topic(4);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        try (PollLoop a = new PollLoop("a", consumer(g), List.of(t), seen, true)) {
            await().atMost(WAIT).until(() -> a.listener.owned.equals(partitions(t, 4)));
            try (PollLoop b = new PollLoop("b", consumer(g), List.of(t), seen, true)) {
                await().atMost(WAIT).until(() -> split(a, b, partitions(t, 4)));
                Set<TopicPartition> ofA = Set.copyOf(a.listener.owned);
                Set<TopicPartition> ofB = Set.copyOf(b.listener.owned);
                // settled: no call for a while
                int[] counts = {-1, -1};
                await().atMost(WAIT).pollInterval(Duration.ofMillis(1500)).until(() -> {
                    int ca = a.listener.calls.size();
                    int cb = b.listener.calls.size();
                    boolean still = ca == counts[0] && cb == counts[1];
                    counts[0] = ca;
                    counts[1] = cb;
                    return still;
                });
                int assignedA = a.listener.calls("assigned").size();
                int assignedB = b.listener.calls("assigned").size();
                int revoked = a.listener.calls("revoked").size() + b.listener.calls("revoked").size();

                b.call(c -> {
                    c.enforceRebalance("test");
                    return null;
                });

                await().atMost(WAIT).until(() -> a.listener.calls("assigned").size() > assignedA
                        && b.listener.calls("assigned").size() > assignedB);
                assertThat(a.listener.calls("assigned").subList(assignedA, a.listener.calls("assigned").size()))
                        .allSatisfy(call -> assertThat(call.partitions()).isEmpty())
                        .allSatisfy(call -> assertThat(call.thread()).isEqualTo("poll-loop-a"));
                assertThat(b.listener.calls("assigned").subList(assignedB, b.listener.calls("assigned").size()))
                        .allSatisfy(call -> assertThat(call.thread()).isEqualTo("poll-loop-b"));
                assertThat(a.listener.calls("revoked").size() + b.listener.calls("revoked").size()).isEqualTo(revoked);
                assertThat(a.listener.calls("lost")).isEmpty();
                assertThat(b.listener.calls("lost")).isEmpty();
                assertThat(a.listener.owned).isEqualTo(ofA);
                assertThat(b.listener.owned).isEqualTo(ofB);
                assertThat(a.failure).isNull();
                assertThat(b.failure).isNull();
            }
        }
    }

    @Test
    void whenOneOfTwoClosesTheOtherTakesEverythingWithoutLossOrDuplicates() {
        String t = topic(4);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        OwnershipLog log = OwnershipLog.inMemory();
        try (PollLoop a = new PollLoop("a", consumer(g), List.of(t), seen, true, log);
             PollLoop b = new PollLoop("b", consumer(g), List.of(t), seen, true, log)) {
            await().atMost(WAIT).until(() -> split(a, b, partitions(t, 4)));
            produce(t, 4, 0, 100);
            await().atMost(WAIT).until(() -> seen.size() == 100);
            a.stop(c -> {
                c.close();
                return null;
            });
            assertThat(a.failure).isNull();
            await().atMost(WAIT).until(() -> b.listener.owned.equals(partitions(t, 4)));
            produce(t, 4, 100, 100);
            await().atMost(WAIT).until(() -> seen.size() == 200);
            assertThat(seen).allSatisfy((v, n) -> assertThat(n).as(v).isEqualTo(1));
            assertThat(a.listener.calls("revoked")).isNotEmpty();
            assertThat(b.failure).isNull();
            Fixtures.assertNoOverlap(log);
        }
    }

    @Test
    void offsetsCommittedInsideOnPartitionsRevokedAreWhereTheNewOwnerStarts() {
        String t = topic(2);
        String g = group();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        OwnershipLog log = OwnershipLog.inMemory();
        produce(t, 2, 0, 40);
        try (PollLoop a = new PollLoop("a", consumer(g), List.of(t), seen, false, log)) {
            await().atMost(WAIT).until(() -> seen.size() == 40);
            try (PollLoop b = new PollLoop("b", consumer(g), List.of(t), seen, false, log)) {
                await().atMost(WAIT).until(() -> split(a, b, partitions(t, 2)));
                Set<TopicPartition> moved = Set.copyOf(b.listener.owned);
                Map<TopicPartition, OffsetAndMetadata> committed = b.call(c -> c.committed(moved));
                for (TopicPartition tp : moved) {
                    assertThat(committed.get(tp)).as("committed in onPartitionsRevoked: " + tp).isNotNull();
                    assertThat(committed.get(tp).offset()).isEqualTo(20);
                }
                produce(t, 2, 40, 20);
                await().atMost(WAIT).until(() -> seen.size() == 60);
                assertThat(seen).allSatisfy((v, n) -> assertThat(n).as(v).isEqualTo(1));
                for (ConsumerRecord<String, String> r : b.processed) {
                    assertThat(r.offset()).isGreaterThanOrEqualTo(20);
                }
                assertThat(a.listener.calls("revoked")).extracting(RecordingListener.Call::partitions).contains(moved);
                Fixtures.assertNoOverlap(log);
            }
        }
    }

    @Test
    void offsetsContinueFromAKafkaConsumerGroupAndBack() {
        String t = topic(2);
        String g = group();
        produce(t, 2, 0, 40);
        try (KafkaConsumer<String, String> before = kafkaConsumer(g)) {
            before.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(before, WAIT, got, () -> got.size() >= 40);
            before.commitSync();
        }
        produce(t, 2, 40, 20);
        List<ConsumerRecord<String, String>> mine = new ArrayList<>();
        try (Consumer<String, String> c = consumer(g)) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, mine, () -> mine.size() >= 20);
            pollUntil(c, Duration.ofSeconds(5), mine, () -> true);
            c.commitSync();
        }
        assertThat(values(mine)).containsExactlyInAnyOrderElementsOf(expectedValues(40, 20));
        produce(t, 2, 60, 10);
        try (KafkaConsumer<String, String> after = kafkaConsumer(g)) {
            after.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(after, WAIT, got, () -> got.size() >= 10);
            assertThat(values(got)).containsExactlyInAnyOrderElementsOf(expectedValues(60, 10));
        }
    }

    // ------------------------------------------------------------------ positions and metadata

    @Test
    void seekPositionCommittedPauseAndResume() {
        String t = topic(2);
        produce(t, 2, 0, 40);
        TopicPartition p0 = new TopicPartition(t, 0);
        TopicPartition p1 = new TopicPartition(t, 1);
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 2);
            c.seek(p0, 5);
            assertThat(c.position(p0)).isEqualTo(5);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.stream().anyMatch(r -> r.partition() == 0));
            assertThat(got.stream().filter(r -> r.partition() == 0).findFirst().orElseThrow().offset()).isEqualTo(5);

            c.commitSync(Map.of(p0, new OffsetAndMetadata(7, "note")));
            OffsetAndMetadata committed = c.committed(Set.of(p0)).get(p0);
            assertThat(committed.offset()).isEqualTo(7);
            assertThat(committed.metadata()).isEqualTo("note");
            assertThat(c.committed(Set.of(p0), Duration.ofSeconds(10)).get(p0).offset()).isEqualTo(7);

            c.seekToBeginning(List.of(p1));
            assertThat(c.position(p1)).isZero();
            c.seekToEnd(List.of(p1));
            assertThat(c.position(p1, Duration.ofSeconds(10))).isEqualTo(20);
            c.seek(p1, new OffsetAndMetadata(3));
            assertThat(c.position(p1)).isEqualTo(3);

            c.pause(List.of(p0));
            assertThat(c.paused()).containsExactly(p0);
            c.seek(p0, 0);
            List<ConsumerRecord<String, String>> whilePaused = new ArrayList<>();
            pollUntil(c, WAIT, whilePaused, () -> whilePaused.stream().filter(r -> r.partition() == 1).count() >= 17);
            assertThat(whilePaused).noneMatch(r -> r.partition() == 0);
            c.resume(List.of(p0));
            assertThat(c.paused()).isEmpty();
            List<ConsumerRecord<String, String>> resumed = new ArrayList<>();
            pollUntil(c, WAIT, resumed, () -> resumed.stream().anyMatch(r -> r.partition() == 0));
            assertThat(resumed.stream().filter(r -> r.partition() == 0).findFirst().orElseThrow().offset()).isZero();
        }
    }

    @Test
    void offsetQueriesLagAndTopicMetadata() {
        String t = topic(2);
        long t0 = System.currentTimeMillis() - 3_600_000;
        Fixtures.produce(bootstrap(), t, 2, 0, 20, t0);
        TopicPartition p0 = new TopicPartition(t, 0);
        TopicPartition p1 = new TopicPartition(t, 1);
        try (Consumer<String, String> c = consumer(group())) {
            assertThat(c.beginningOffsets(List.of(p0, p1))).containsEntry(p0, 0L).containsEntry(p1, 0L);
            assertThat(c.endOffsets(List.of(p0, p1))).containsEntry(p0, 10L).containsEntry(p1, 10L);
            assertThat(c.beginningOffsets(List.of(p0), Duration.ofSeconds(10))).containsEntry(p0, 0L);
            assertThat(c.endOffsets(List.of(p0), Duration.ofSeconds(10))).containsEntry(p0, 10L);
            // record i has timestamp t0 + i s and sits on partition i % 2 at offset i / 2
            Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(Map.of(p0, t0 + 5_000, p1, t0 + 5_000));
            assertThat(found.get(p0).offset()).isEqualTo(3);
            assertThat(found.get(p0).timestamp()).isEqualTo(t0 + 6_000);
            assertThat(found.get(p1).offset()).isEqualTo(2);
            assertThat(c.offsetsForTimes(Map.of(p0, t0 + 100_000), Duration.ofSeconds(10)).get(p0)).isNull();
            assertThat(c.partitionsFor(t)).extracting(PartitionInfo::partition).containsExactlyInAnyOrder(0, 1);
            assertThat(c.partitionsFor(t, Duration.ofSeconds(10))).hasSize(2);
            assertThat(c.listTopics()).containsKey(t);
            assertThat(c.listTopics(Duration.ofSeconds(10)).get(t)).hasSize(2);

            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 20 && c.currentLag(p0).isPresent() && c.currentLag(p0).getAsLong() == 0);
            produce(t, 2, 20, 4);
            assertThat(c.endOffsets(List.of(p0))).containsEntry(p0, 12L);
        }
    }

    @Test
    void wakeupInterruptsABlockedPollOrTheNextBlockingCall() throws Exception {
        String t = topic(1);
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 1);
            Thread main = Thread.currentThread();
            Future<?> wake = other.submit(() -> {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> blockedInPoll(main));
                c.wakeup();
            });
            long start = System.nanoTime();
            assertThatThrownBy(() -> c.poll(Duration.ofSeconds(30))).isInstanceOf(WakeupException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
            wake.get(10, TimeUnit.SECONDS);
            c.poll(Duration.ofMillis(100)); // usable again, no second WakeupException
            c.poll(Duration.ofMillis(100));

            c.wakeup();
            assertThatThrownBy(() -> c.committed(Set.of(new TopicPartition(t, 0)))).isInstanceOf(WakeupException.class);
            c.poll(Duration.ofMillis(100));
            c.wakeup();
            assertThatThrownBy(() -> c.poll(Duration.ofSeconds(5))).isInstanceOf(WakeupException.class);
            c.poll(Duration.ofMillis(100));
        } finally {
            other.shutdownNow();
        }
    }

    /** Whether {@code t} is inside a consumer's poll() right now (and stays there long enough to be seen twice). */
    private static boolean blockedInPoll(Thread t) {
        for (StackTraceElement f : t.getStackTrace()) {
            if (f.getMethodName().equals("poll") && f.getClassName().endsWith("Consumer")) {
                return true;
            }
        }
        return false;
    }

    @Test
    void unsubscribeRevokesEverythingAndResubscribeAssignsAgain() {
        String t = topic(2);
        produce(t, 2, 0, 20);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t), l);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 20);
            c.commitSync(Map.of(new TopicPartition(t, 0), new OffsetAndMetadata(6), new TopicPartition(t, 1), new OffsetAndMetadata(8)));
            c.unsubscribe();
            assertThat(l.calls("revoked")).extracting(RecordingListener.Call::partitions).containsExactly(partitions(t, 2));
            assertThat(c.assignment()).isEmpty();
            assertThat(c.subscription()).isEmpty();
            assertThatThrownBy(() -> c.poll(Duration.ZERO)).isInstanceOf(IllegalStateException.class);
            c.unsubscribe(); // idempotent

            c.subscribe(List.of(t), l);
            List<ConsumerRecord<String, String>> again = new ArrayList<>();
            pollUntil(c, WAIT, again, () -> again.size() >= 6);
            assertThat(c.assignment()).isEqualTo(partitions(t, 2));
            assertThat(values(again)).containsExactlyInAnyOrder("v-12", "v-14", "v-16", "v-18", "v-17", "v-19");
        }
    }

    @Test
    void aNewSubscriptionReplacesTheOldOneWithoutUnsubscribing() {
        String x = topic(2);
        String y = topic(1);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group(), "metadata.max.age.ms", 1000)) {
            c.subscribe(List.of(x), l);
            pollUntil(c, WAIT, null, () -> c.assignment().equals(partitions(x, 2)));
            c.subscribe(List.of(x, y), l);
            assertThat(c.subscription()).containsExactlyInAnyOrder(x, y);
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 3);
            c.subscribe(List.of(y), l);
            assertThat(c.subscription()).containsExactly(y);
            pollUntil(c, WAIT, null, () -> c.assignment().equals(partitions(y, 1)));
            assertThat(l.calls("revoked")).extracting(RecordingListener.Call::partitions).contains(partitions(x, 2));
            assertThat(l.calls("lost")).isEmpty();
            produce(y, 1, 0, 3);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 3);
        }
    }

    @Test
    void afterUnsubscribeAndSubscribeToAnotherTopicPollNeverReturnsTheOldTopic() {
        String a = topic(2);
        String b = topic(2);
        produce(a, 2, 0, 20);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(a), l);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 20);
            c.commitSync();
            c.unsubscribe();
            c.subscribe(List.of(b), l);
            produce(a, 2, 20, 20);
            produce(b, 2, 0, 10);
            List<ConsumerRecord<String, String>> after = new ArrayList<>();
            pollUntil(c, WAIT, after, () -> after.size() >= 10);
            long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
            pollUntil(c, WAIT, after, () -> System.nanoTime() - until > 0);
            assertThat(after).allSatisfy(r -> assertThat(r.topic()).isEqualTo(b));
            assertThat(values(after)).containsExactlyInAnyOrderElementsOf(expectedValues(0, 10));
            assertThat(c.assignment()).isEqualTo(partitions(b, 2));
            assertThat(l.owned).isEqualTo(partitions(b, 2));
        }
    }

    @Test
    void subscribeToAnotherTopicDropsBufferedRecordsAndRevokesAfterTheAutoCommitInTheNextPoll() {
        String a = topic(1);
        String b = topic(1);
        TopicPartition pa = new TopicPartition(a, 0);
        produce(a, 1, 0, 50);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group(), "max.poll.records", 5, "enable.auto.commit", true,
                "auto.commit.interval.ms", 600_000, "metadata.max.age.ms", 1000)) {
            c.subscribe(List.of(a), l);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> !got.isEmpty());
            assertThat(got.size()).isLessThan(50); // the rest sits in the fetch buffer
            long returned = got.size();
            l.onRevoke = tps -> assertThat(c.committed(Set.of(pa)).get(pa).offset()).as("auto-committed before the revocation")
                    .isEqualTo(returned);
            c.subscribe(List.of(b), l);
            assertThat(c.subscription()).containsExactly(b);
            produce(b, 1, 0, 5);
            List<ConsumerRecord<String, String>> after = new ArrayList<>();
            pollUntil(c, WAIT, after, () -> after.size() >= 5);
            assertThat(after).allSatisfy(r -> assertThat(r.topic()).isEqualTo(b));
            assertThat(l.calls("revoked")).extracting(RecordingListener.Call::partitions).contains(Set.of(pa));
            assertThat(c.committed(Set.of(pa)).get(pa).offset()).isEqualTo(returned);
            assertThat(c.assignment()).containsExactly(new TopicPartition(b, 0));
        }
    }

    @Test
    void patternSubscriptionFollowsTopicsCreatedAndDeleted() throws Exception {
        String prefix = unique("pat");
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group(), "metadata.max.age.ms", 500);
             Admin admin = Fixtures.admin(bootstrap())) {
            c.subscribe(Pattern.compile(Pattern.quote(prefix) + "-.*"), l);
            KAFKA.broker().createTopic(prefix + "-a", 1);
            pollUntil(c, WAIT, null, () -> c.assignment().contains(new TopicPartition(prefix + "-a", 0)));
            assertThat(c.subscription()).containsExactly(prefix + "-a");
            KAFKA.broker().createTopic(prefix + "-b", 2);
            produce(prefix + "-b", 2, 0, 4);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> c.assignment().size() == 3 && got.size() >= 4);
            assertThat(c.subscription()).containsExactlyInAnyOrder(prefix + "-a", prefix + "-b");
            assertThat(l.owned).hasSize(3);
            get(admin.deleteTopics(List.of(prefix + "-a")).all());
            pollUntil(c, WAIT, null, () -> c.assignment().equals(partitions(prefix + "-b", 2)));
            pollUntil(c, WAIT, null, () -> c.subscription().equals(Set.of(prefix + "-b")));
        }
    }

    @Test
    void subscriptionPatternMatchesTopicsWithRe2jSyntax() {
        String prefix = unique("re2j");
        for (String suffix : List.of("a", "b", "c")) {
            KAFKA.broker().createTopic(prefix + "-" + suffix, 1);
            produce(prefix + "-" + suffix, 1, 0, 3);
        }
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = re2jConsumer(group())) {
            c.subscribe(new org.apache.kafka.clients.consumer.SubscriptionPattern(prefix + "-[ab]"), l);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 6 && c.assignment().size() == 2);
            assertThat(c.assignment()).containsExactlyInAnyOrder(new TopicPartition(prefix + "-a", 0), new TopicPartition(prefix + "-b", 0));
            assertThat(got).extracting(ConsumerRecord::topic).containsOnly(prefix + "-a", prefix + "-b");
            assertThat(l.owned).hasSize(2);
            assertThatThrownBy(() -> c.subscribe(List.of(prefix + "-c"))).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void aTopicCreatedAfterSubscribeIsPickedUpLongBeforeMetadataMaxAge() {
        String t = unique(testName);
        RecordingListener l = new RecordingListener();
        try (Consumer<String, String> c = consumer(group(), "metadata.max.age.ms", 300_000)) {
            c.subscribe(List.of(t), l);
            long until = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            pollUntil(c, WAIT, null, () -> System.nanoTime() - until > 0);
            assertThat(c.assignment()).isEmpty();
            KAFKA.broker().createTopic(t, 2);
            produce(t, 2, 0, 4);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, Duration.ofSeconds(30), got, () -> got.size() >= 4);
            assertThat(c.assignment()).isEqualTo(partitions(t, 2));
            assertThat(values(got)).containsExactlyInAnyOrderElementsOf(expectedValues(0, 4));
        }
    }

    @Test
    void anInvalidTopicNameInTheSubscriptionIsThrownFromPoll() {
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of("not a valid topic!"));
            List<RuntimeException> thrown = new CopyOnWriteArrayList<>();
            await().atMost(WAIT).pollInSameThread().pollInterval(Duration.ofMillis(1)).until(() -> {
                try {
                    c.poll(Duration.ofMillis(100));
                    return false;
                } catch (org.apache.kafka.common.errors.InvalidTopicException e) {
                    thrown.add(e);
                    return true;
                }
            });
            assertThat(thrown.get(0)).hasMessageContaining("not a valid topic!");
        }
    }

    @Test
    void partitionCountIncreaseIsPickedUp() throws Exception {
        String t = topic(2);
        try (Consumer<String, String> c = consumer(group(), "metadata.max.age.ms", 500);
             Admin admin = Fixtures.admin(bootstrap())) {
            RecordingListener l = new RecordingListener();
            c.subscribe(List.of(t), l);
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 2);
            get(admin.createPartitions(Map.of(t, NewPartitions.increaseTo(4))).all());
            produce(t, 4, 0, 8);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> c.assignment().size() == 4 && got.size() >= 8);
            assertThat(l.owned).isEqualTo(partitions(t, 4));
        }
    }

    // ------------------------------------------------------------------ close, errors, bad input

    enum CloseVariant { CLOSE, CLOSE_DURATION, LEAVE_GROUP, REMAIN_IN_GROUP, DEFAULT }

    @ParameterizedTest
    @EnumSource(CloseVariant.class)
    void everyCloseVariantRevokesAndClosesForGood(CloseVariant variant) {
        String t = topic(2);
        RecordingListener l = new RecordingListener();
        Consumer<String, String> c = consumer(group());
        c.subscribe(List.of(t), l);
        pollUntil(c, WAIT, null, () -> c.assignment().size() == 2);
        String thread = Thread.currentThread().getName();
        switch (variant) {
            case CLOSE -> c.close();
            case CLOSE_DURATION -> c.close(Duration.ofSeconds(20));
            case LEAVE_GROUP -> c.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.LEAVE_GROUP));
            case REMAIN_IN_GROUP -> c.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.REMAIN_IN_GROUP)
                    .withTimeout(Duration.ofSeconds(20)));
            case DEFAULT -> c.close(CloseOptions.timeout(Duration.ofSeconds(20)));
        }
        List<RecordingListener.Call> revoked = l.calls("revoked");
        assertThat(revoked).isNotEmpty();
        assertThat(revoked.get(revoked.size() - 1).partitions()).isEqualTo(partitions(t, 2));
        assertThat(revoked.get(revoked.size() - 1).thread()).isEqualTo(thread);
        assertThatThrownBy(() -> c.poll(Duration.ZERO)).isInstanceOf(IllegalStateException.class)
                .hasMessage("This consumer has already been closed.");
        assertThatThrownBy(c::assignment).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> c.subscribe(List.of(t))).isInstanceOf(IllegalStateException.class);
        c.close(); // again: no effect
        c.close(Duration.ZERO);
    }

    @Test
    void aListenerExceptionComesOutOfPollAndTheAssignmentStands() {
        String t = topic(2);
        produce(t, 2, 0, 10);
        RecordingListener l = new RecordingListener();
        l.throwOnAssign = new IllegalStateException("listener failed on purpose");
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t), l);
            List<Throwable> thrown = new CopyOnWriteArrayList<>();
            await().atMost(WAIT).pollInSameThread().pollInterval(Duration.ofMillis(1)).until(() -> {
                try {
                    c.poll(Duration.ofMillis(100));
                } catch (KafkaException e) {
                    thrown.add(e);
                }
                return !thrown.isEmpty() && c.assignment().size() == 2;
            });
            assertThat(thrown.get(0)).isInstanceOf(KafkaException.class)
                    .hasRootCauseMessage("listener failed on purpose");
            l.throwOnAssign = null;
            assertThat(c.assignment()).isEqualTo(partitions(t, 2));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 10);
            assertThat(values(got)).containsExactlyInAnyOrderElementsOf(expectedValues(0, 10));
        }
    }

    @Test
    void badInputIsRejectedLikeKafkaConsumer() {
        String t = topic(1);
        TopicPartition p = new TopicPartition(t, 0);
        try (Consumer<String, String> c = consumer(group())) {
            assertThatThrownBy(() -> c.poll(Duration.ofMillis(10))).isInstanceOf(IllegalStateException.class)
                    .hasMessage("Consumer is not subscribed to any topics or assigned any partitions");
            assertThatThrownBy(() -> c.poll(Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.subscribe((List<String>) null)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic collection to subscribe to cannot be null");
            assertThatThrownBy(() -> c.subscribe(Arrays.asList(t, null))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic collection to subscribe to cannot contain null or empty topic");
            assertThatThrownBy(() -> c.subscribe(List.of(" "))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.subscribe(List.of(t), null)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("RebalanceListener cannot be null");
            assertThatThrownBy(() -> c.subscribe((Pattern) null)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic pattern to subscribe to cannot be null");
            assertThatThrownBy(() -> c.subscribe(Pattern.compile(""))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic pattern to subscribe to cannot be empty");
            assertThatThrownBy(() -> c.assign(null)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic partition collection to assign to cannot be null");
            assertThatThrownBy(() -> c.assign(List.of(new TopicPartition("", 0)))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("Topic partitions to assign to cannot have null or empty topic");
            assertThatThrownBy(() -> c.seek(p, -1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("seek offset must not be a negative number");
            assertThatThrownBy(() -> c.seek(p, 0)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> c.position(p)).isInstanceOf(IllegalStateException.class)
                    .hasMessage("You can only check the position for partitions assigned to this consumer.");
            assertThatThrownBy(() -> c.pause(List.of(p))).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> c.seekToBeginning(null)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> c.close(Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class);

            c.subscribe(List.of());
            assertThat(c.subscription()).isEmpty();
            c.subscribe(List.of(t));
            assertThatThrownBy(() -> c.assign(List.of(p))).isInstanceOf(IllegalStateException.class)
                    .hasMessage("Subscription to topics, partitions and pattern are mutually exclusive");
            assertThatThrownBy(() -> c.subscribe(Pattern.compile(".*"))).isInstanceOf(IllegalStateException.class)
                    .hasMessage("Subscription to topics, partitions and pattern are mutually exclusive");
            c.unsubscribe();
            c.assign(List.of(p));
            assertThatThrownBy(() -> c.subscribe(List.of(t))).isInstanceOf(IllegalStateException.class)
                    .hasMessage("Subscription to topics, partitions and pattern are mutually exclusive");
            assertThat(c.subscription()).isEmpty();
            assertThat(c.assignment()).containsExactly(p);
            c.assign(List.of());
            assertThat(c.assignment()).isEmpty();
        }
    }

    @Test
    void withoutAGroupIdGroupFeaturesAreRefusedButManualAssignmentWorks() {
        String t = topic(1);
        TopicPartition p = new TopicPartition(t, 0);
        produce(t, 1, 0, 5);
        try (Consumer<String, String> c = consumer(null)) {
            assertThatThrownBy(() -> c.subscribe(List.of(t))).isInstanceOf(InvalidGroupIdException.class);
            assertThatThrownBy(() -> c.subscribe(Pattern.compile(".*"))).isInstanceOf(InvalidGroupIdException.class);
            assertThatThrownBy(c::groupMetadata).isInstanceOf(InvalidGroupIdException.class);
            assertThatThrownBy(c::enforceRebalance).isInstanceOf(IllegalStateException.class);
            c.assign(List.of(p));
            assertThatThrownBy(c::commitSync).isInstanceOf(InvalidGroupIdException.class);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 5);
            assertThat(values(got)).containsExactlyElementsOf(expectedValues(0, 5));
        }
    }

    @Test
    void useFromASecondThreadIsRefusedWhilePollRuns() throws Exception {
        String t = topic(1);
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 1);
            Future<?> polling = other.submit(() -> {
                try {
                    c.poll(Duration.ofSeconds(30));
                } catch (WakeupException expected) {
                    // ends the test
                }
            });
            await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> {
                try {
                    c.assignment();
                    return false;
                } catch (java.util.ConcurrentModificationException e) {
                    return true;
                }
            });
            c.wakeup();
            polling.get(20, TimeUnit.SECONDS);
        } finally {
            other.shutdownNow();
        }
    }

    @Test
    void autoCommitCommitsWhatPollReturnedAndOnClose() {
        String t = topic(1);
        String g = group();
        TopicPartition p = new TopicPartition(t, 0);
        produce(t, 1, 0, 20);
        try (Consumer<String, String> c = consumer(g, "enable.auto.commit", true, "auto.commit.interval.ms", 200)) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 20);
            pollUntil(c, WAIT, null, () -> {
                OffsetAndMetadata o = c.committed(Set.of(p)).get(p);
                return o != null && o.offset() == 20;
            });
            produce(t, 1, 20, 5);
            pollUntil(c, WAIT, got, () -> got.size() >= 25);
        } // close commits offset 25
        try (Consumer<String, String> c = consumer(g)) {
            assertThat(c.committed(Set.of(p)).get(p).offset()).isEqualTo(25);
        }
    }

    @Test
    void commitAsyncCallbacksCompleteInCommitOrderRefusedOnesIncluded() {
        String t = topic(2);
        String notMine = topic(1);
        produce(t, 2, 0, 10);
        try (Consumer<String, String> c = consumer(group())) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 10);
            List<Integer> order = new CopyOnWriteArrayList<>();
            Map<TopicPartition, OffsetAndMetadata> elsewhere = Map.of(new TopicPartition(notMine, 0), new OffsetAndMetadata(0));
            for (int i = 0; i < 8; i++) {
                int n = i;
                if (i % 2 == 0) {
                    c.commitAsync((offsets, e) -> order.add(n));
                } else {
                    // KafkaConsumer commits these; PartiConsumer refuses them (not owned): the order holds either way
                    c.commitAsync(elsewhere, (offsets, e) -> order.add(n));
                }
            }
            pollUntil(c, WAIT, null, () -> order.size() == 8);
            assertThat(order).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
        }
    }

    @Test
    void groupMetadataAndMetrics() {
        String t = topic(1);
        String g = group();
        try (Consumer<String, String> c = consumer(g)) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 1);
            assertThat(c.groupMetadata().groupId()).isEqualTo(g);
            assertThat(c.metrics()).isNotEmpty();
            assertThat(c.metrics().keySet()).anyMatch(n -> n.name().equals("records-consumed-total"));
            c.enforceRebalance();
            c.enforceRebalance("because");
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 1);
        }
    }

    @Test
    void groupMetadataCarriesTheGroupInstanceId() {
        String t = topic(1);
        String g = group();
        String instance = unique("instance");
        try (Consumer<String, String> c = consumer(g, "group.instance.id", instance)) {
            assertThat(c.groupMetadata().groupInstanceId()).contains(instance);
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 1);
            assertThat(c.groupMetadata().groupId()).isEqualTo(g);
            assertThat(c.groupMetadata().groupInstanceId()).contains(instance);
        }
    }

    @Test
    void kafkaClientMetricsSeesTheRebalancesOfTheGroup() {
        String t = topic(2);
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (Consumer<String, String> c = consumer(group());
             io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics bound =
                     new io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics(c)) {
            bound.bindTo(registry);
            assertThat(meterValue(registry, "kafka.consumer.coordinator.rebalance.total")).isZero();
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 2
                    && meterValue(registry, "kafka.consumer.coordinator.assigned.partitions") == 2);
            assertThat(meterValue(registry, "kafka.consumer.coordinator.rebalance.total")).isGreaterThanOrEqualTo(1);
            assertThat(meterValue(registry, "kafka.consumer.coordinator.rebalance.latency.max")).isGreaterThanOrEqualTo(0);
            assertThat(meterValue(registry, "kafka.consumer.coordinator.last.rebalance.seconds.ago")).isGreaterThanOrEqualTo(0);
            assertThat(meterValue(registry, "kafka.consumer.coordinator.failed.rebalance.total")).isNotNegative(); // Kafka counts its MEMBER_ID_REQUIRED joins
            assertThat(meterValue(registry, "kafka.consumer.fetch.manager.records.consumed.total")).isNotNegative();
        }
    }

    /**
     * Issue 14 item 9: the rebalance metrics of {@code consumer-coordinator-metrics} reach a reporter
     * configured with {@code metric.reporters} and JMX (bean {@code kafka.consumer:type=consumer-coordinator-metrics}),
     * as {@code KafkaConsumer} exports them; a PartiConsumer's own {@code parti-consumer-metrics} too.
     */
    @Test
    void metricReportersAndJmxSeeTheRebalanceMetrics() throws Exception {
        String t = topic(2);
        String clientId = unique("reported");
        javax.management.MBeanServer jmx = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        javax.management.ObjectName coordinator =
                new javax.management.ObjectName("kafka.consumer:type=consumer-coordinator-metrics,client-id=" + clientId);
        try (Consumer<String, String> c = consumer(group(), "client.id", clientId,
                "metric.reporters", RecordingReporter.class.getName() + ",org.apache.kafka.common.metrics.JmxReporter")) {
            c.subscribe(List.of(t));
            pollUntil(c, WAIT, null, () -> c.assignment().size() == 2
                    && RecordingReporter.value(clientId, "consumer-coordinator-metrics", "rebalance-total") instanceof Number n
                    && n.doubleValue() >= 1
                    && jmxNumber(coordinator, "rebalance-total") >= 1);
            assertThat(((Number) RecordingReporter.value(clientId, "consumer-coordinator-metrics", "assigned-partitions"))
                    .doubleValue()).isEqualTo(2.0);
            assertThat(((Number) jmx.getAttribute(coordinator, "assigned-partitions")).doubleValue()).isEqualTo(2.0);
            assertThat(jmx.getAttribute(coordinator, "commit-latency-avg")).as("the rest of the group stays").isNotNull();
            if (c instanceof PartiConsumer) {
                javax.management.ObjectName parti =
                        new javax.management.ObjectName("kafka.consumer:type=parti-consumer-metrics,client-id=" + clientId);
                assertThat(((Number) RecordingReporter.value(clientId, "parti-consumer-metrics", "assignment-version")).longValue())
                        .isPositive();
                assertThat(((Number) jmx.getAttribute(parti, "assignment-version")).longValue()).isPositive();
            }
        }
        assertThat(jmx.isRegistered(coordinator)).as("unregistered at close").isFalse();
    }

    /** A numeric JMX attribute, or −1 while the bean or attribute is not there. */
    private static double jmxNumber(javax.management.ObjectName bean, String attribute) {
        try {
            Object v = java.lang.management.ManagementFactory.getPlatformMBeanServer().getAttribute(bean, attribute);
            return v instanceof Number n ? n.doubleValue() : -1;
        } catch (javax.management.JMException e) {
            return -1;
        }
    }

    private static double meterValue(io.micrometer.core.instrument.MeterRegistry registry, String name) {
        io.micrometer.core.instrument.Meter m = registry.find(name).meter();
        if (m == null) {
            throw new AssertionError("no meter " + name + " among " + registry.getMeters().stream()
                    .map(x -> x.getId().getName()).filter(n -> n.contains("coordinator")).sorted().toList());
        }
        return m.measure().iterator().next().getValue();
    }

    @Test
    void interceptorsSeeExactlyTheRecordsPollReturnedAndTheCommitsMade() {
        String t = topic(1);
        String client = unique("client");
        TopicPartition p = new TopicPartition(t, 0);
        produce(t, 1, 0, 10);
        try (Consumer<String, String> c = consumer(group(), "client.id", client,
                "interceptor.classes", RecordingInterceptor.class.getName())) {
            c.subscribe(List.of(t));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntil(c, WAIT, got, () -> got.size() >= 10);
            assertThat(RecordingInterceptor.CONSUMED.get(client)).containsExactlyElementsOf(values(got));
            c.commitSync();
            assertThat(RecordingInterceptor.COMMITTED.get(client)).last()
                    .satisfies(m -> assertThat(m).containsOnlyKeys(p).extractingByKey(p).extracting(OffsetAndMetadata::offset).isEqualTo(10L));
            List<Boolean> done = new CopyOnWriteArrayList<>();
            c.commitAsync(Map.of(p, new OffsetAndMetadata(7)), (offsets, e) -> done.add(e == null));
            pollUntil(c, WAIT, null, () -> !done.isEmpty());
            assertThat(done).containsExactly(true);
            assertThat(RecordingInterceptor.COMMITTED.get(client)).last()
                    .satisfies(m -> assertThat(m).containsOnlyKeys(p).extractingByKey(p).extracting(OffsetAndMetadata::offset).isEqualTo(7L));
        }
    }

    /** For subclasses that need a map of settings. */
    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
