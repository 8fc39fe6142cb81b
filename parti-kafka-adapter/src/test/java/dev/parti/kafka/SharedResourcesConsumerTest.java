package dev.parti.kafka;

import static dev.parti.kafka.Fixtures.unique;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.KafkaBrokerExtension;
import dev.parti.testkit.NatsServerExtension;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * PartiConsumers of one JVM share the NATS connection, the metadata Admin client, the timer threads and Parti's
 * worker pools; none keeps a thread of its own. Against a real broker and nats-server.
 */
class SharedResourcesConsumerTest {
    @RegisterExtension
    static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    private static final Duration WAIT = Duration.ofSeconds(45);

    /** One consumer on its own polling thread; {@link #stall} holds the loop (a slow listener or record handler). */
    private static final class Loop {
        final Thread thread;
        final AtomicReference<Set<TopicPartition>> assigned = new AtomicReference<>(Set.of());
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final CountDownLatch created = new CountDownLatch(1);
        volatile PartiConsumer<String, String> consumer;
        volatile CountDownLatch stall;
        volatile boolean stop;

        Loop(String name, Map<String, Object> config, String topic) {
            thread = new Thread(() -> {
                try (PartiConsumer<String, String> c = new PartiConsumer<>(config)) {
                    consumer = c;
                    created.countDown();
                    c.subscribe(List.of(topic));
                    while (!stop) {
                        CountDownLatch s = stall;
                        if (s != null) {
                            s.await();
                            stall = null;
                        }
                        try {
                            c.poll(Duration.ofMillis(100));
                        } catch (WakeupException e) {
                            // stop requested
                        }
                        assigned.set(Set.copyOf(c.assignment()));
                    }
                } catch (Throwable t) {
                    failure.set(t);
                } finally {
                    created.countDown();
                }
            }, "poll-loop-" + name);
            thread.setDaemon(true);
            thread.start();
        }

        void close() throws InterruptedException {
            if (stop) {
                return;
            }
            stop = true;
            CountDownLatch s = stall;
            if (s != null) {
                s.countDown();
            }
            created.await();
            if (consumer != null) {
                consumer.wakeup();
            }
            thread.join(WAIT.toMillis());
            assertThat(thread.isAlive()).as(thread.getName() + " closed").isFalse();
            assertThat(failure.get()).as(thread.getName() + " failure").isNull();
        }
    }

    private static int natsConnections() {
        Matcher m = Pattern.compile("\"num_connections\"\\s*:\\s*(\\d+)").matcher(NATS.server().monitor("/connz"));
        assertThat(m.find()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static int adminClients() throws Exception {
        return ManagementFactory.getPlatformMBeanServer()
                .queryNames(new ObjectName("kafka.admin.client:type=app-info,id=*"), null).size();
    }

    private static List<String> newThreads(Set<Thread> before) {
        List<String> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && !before.contains(t) && !t.getName().startsWith("poll-loop-")
                    && !t.getName().startsWith("awaitility") && !t.getName().startsWith("ForkJoinPool")
                    && !t.getName().startsWith("process reaper")) {
                out.add(t.getName());
            }
        }
        return out;
    }

    @Test
    void consumersShareConnectionAdminAndTimersAndAStalledOneHoldsUpNoOther() throws Exception {
        Set<Thread> before = new HashSet<>(Thread.getAllStackTraces().keySet());
        String topic = unique("shared");
        KAFKA.broker().createTopic(topic, 6);
        String group = unique("g-shared");
        Map<String, Object> config = Fixtures.consumerBase(KAFKA.bootstrapServers(), group);
        config.putAll(Fixtures.partiFast(NATS.url()));
        config.put("max.poll.interval.ms", 1500);
        List<Loop> loops = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Map<String, Object> c = new java.util.HashMap<>(config);
                c.put("client.id", group + "-c" + i);
                loops.add(new Loop(group + "-" + i, c, topic));
            }
            await().atMost(WAIT).until(() -> loops.stream().allMatch(l -> !l.assigned.get().isEmpty())
                    && loops.stream().mapToInt(l -> l.assigned.get().size()).sum() == 6);

            List<String> threads = newThreads(before);
            assertThat(natsConnections()).as("NATS connections of 3 consumers").isEqualTo(1);
            assertThat(adminClients()).as("Admin clients of 3 consumers").isEqualTo(1);
            assertThat(threads.stream().filter(n -> n.startsWith("kafka-admin-client-thread"))).hasSize(1);
            // no thread of a consumer's own: Parti's are the JVM's shared timer and pools, whose threads carry a
            // consumer's name (parti-<group>-main, -callbacks, -lease) only while they run its work
            assertThat(threads).as(threads.toString()).filteredOn(n -> n.startsWith("parti-") && !n.startsWith("parti-nats:")
                            && !n.startsWith("parti-kafka-") && !n.startsWith("parti-admin"))
                    .allMatch(n -> n.equals("parti-timer") || n.matches("parti-(main|callbacks|lease)-\\d+")
                            || n.matches("parti-" + Pattern.quote(group) + "-(main|callbacks|lease)"));
            assertThat(threads).filteredOn(n -> n.equals("parti-timer")).hasSize(1);
            assertThat(threads).noneMatch(n -> n.contains("-timer-")); // the adapter's timers are shared too

            // consumer 0's loop stalls past max.poll.interval.ms: the watchdog (on the shared workers) makes it
            // leave, a blocking close that must not hold up the other two, which take its partitions
            Loop stalled = loops.get(0);
            Set<TopicPartition> itsPartitions = stalled.assigned.get();
            stalled.stall = new CountDownLatch(1);
            await().atMost(WAIT).until(() -> {
                Set<TopicPartition> others = new HashSet<>(loops.get(1).assigned.get());
                others.addAll(loops.get(2).assigned.get());
                return others.containsAll(itsPartitions) && others.size() == 6;
            });
            stalled.stall.countDown();

            // closing one keeps the others on the shared connection and Admin client
            loops.get(1).close();
            await().atMost(WAIT).until(() -> loops.get(0).assigned.get().size() + loops.get(2).assigned.get().size() == 6);
            assertThat(natsConnections()).isEqualTo(1);
            assertThat(adminClients()).isEqualTo(1);
        } finally {
            for (Loop l : loops) {
                l.close();
            }
        }
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(newThreads(before)).as("threads left").isEmpty();
            assertThat(natsConnections()).isZero();
            assertThat(adminClients()).isZero();
        });
    }
}
