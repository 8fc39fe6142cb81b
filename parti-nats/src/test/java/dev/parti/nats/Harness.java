package dev.parti.nats;

import dev.parti.PartiConfig;
import dev.parti.PartitionSource;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.api.PublishAck;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** Shared pieces of the integration tests: fast Parti timings, a stream, a publisher under load. */
final class Harness {
    private Harness() {
    }

    /** Sub-second Parti timings (as parti-core's tests use them). */
    static PartiConfig.Builder fast(PartiConfig.Builder b) {
        return b.heartbeatInterval(Duration.ofMillis(100))
                .sessionTimeout(Duration.ofMillis(1000))
                .leaderTtl(Duration.ofMillis(800))
                .workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(300))
                .plannedScaleWindow(Duration.ofMillis(300))
                .rebalanceCooldown(Duration.ofMillis(100))
                .startupTimeout(Duration.ofSeconds(10));
    }

    static PartiConfig.Builder parti(String group, String url, int partitions) {
        return fast(PartiConfig.builder(group).natsUrl(url)
                .partitionSource(PartitionSource.of(PartitionedConsumer.numbered("orders", partitions))));
    }

    /** A file-backed stream {@code name} over {@code subjects}. */
    static void createStream(Connection nc, String name, String... subjects) throws IOException, JetStreamApiException {
        nc.jetStreamManagement().addStream(StreamConfiguration.builder().name(name).subjects(subjects)
                .storageType(StorageType.File).build());
    }

    /**
     * Publishes round-robin to {@code <prefix>.<p>.x} for p in 0..partitions-1 on its own thread
     * ({@code test-load}) and remembers, per partition, the stream sequences the server acknowledged.
     * A publish that fails (server down) is retried after a short pause.
     */
    static final class Load implements AutoCloseable {
        final Map<String, List<Long>> published = new ConcurrentHashMap<>();
        final AtomicLong count = new AtomicLong();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Thread thread;

        Load(Connection nc, String prefix, int partitions, long pauseMicros) {
            JetStream js;
            try {
                js = nc.jetStream();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            for (int p = 0; p < partitions; p++) {
                published.put("orders/" + p, new CopyOnWriteArrayList<>());
            }
            thread = new Thread(() -> {
                long n = 0;
                while (!stop.get()) {
                    int p = (int) (n % partitions);
                    try {
                        PublishAck ack = js.publish(prefix + "." + p + ".x", Long.toString(n).getBytes(StandardCharsets.UTF_8));
                        published.get("orders/" + p).add(ack.getSeqno());
                        count.incrementAndGet();
                        n++;
                        if (pauseMicros > 0) {
                            Thread.sleep(pauseMicros / 1000, (int) (pauseMicros % 1000) * 1000);
                        }
                    } catch (InterruptedException e) {
                        return;
                    } catch (Exception e) {
                        try {
                            Thread.sleep(50); // server restarting: retry the same message
                        } catch (InterruptedException ie) {
                            return;
                        }
                    }
                }
            }, "test-load");
            thread.setDaemon(true);
            thread.start();
        }

        /** Publishes {@code n} messages synchronously on the caller's thread (no load thread). */
        static Map<String, List<Long>> publish(Connection nc, String prefix, int partitions, int n) throws Exception {
            JetStream js = nc.jetStream();
            Map<String, List<Long>> out = new ConcurrentHashMap<>();
            for (int i = 0; i < n; i++) {
                int p = i % partitions;
                PublishAck ack = js.publish(prefix + "." + p + ".x", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                out.computeIfAbsent("orders/" + p, k -> new ArrayList<>()).add(ack.getSeqno());
            }
            return out;
        }

        /** Stops publishing and waits for the thread; idempotent. */
        void stop() {
            stop.set(true);
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void close() {
            stop();
        }
    }
}
