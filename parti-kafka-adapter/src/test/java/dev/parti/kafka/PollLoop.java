package dev.parti.kafka;

import dev.parti.testkit.OwnershipLog;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;

/**
 * A consumer owned by one thread that polls in a loop, records every record it processes (into a
 * map shared with other loops: value → number of times processed) and commits after every batch.
 * Other threads talk to the consumer only through {@link #call}, which runs between two polls.
 */
final class PollLoop implements AutoCloseable {
    final String name;
    final Consumer<String, String> consumer;
    final RecordingListener listener = new RecordingListener();
    final List<ConsumerRecord<String, String>> processed = new CopyOnWriteArrayList<>();
    private final Map<String, Integer> seen;
    private final Queue<FutureTask<?>> tasks = new ConcurrentLinkedQueue<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Function<Consumer<String, String>, Void> closer = c -> {
        c.close();
        return null;
    };
    volatile Throwable failure;
    volatile boolean closed;

    private final boolean commitEachBatch;

    PollLoop(String name, Consumer<String, String> consumer, Collection<String> topics, Map<String, Integer> seen) {
        this(name, consumer, topics, seen, true);
    }

    /** @param commitEachBatch whether to {@code commitSync()} after each non-empty batch (always in onPartitionsRevoked) */
    PollLoop(String name, Consumer<String, String> consumer, Collection<String> topics, Map<String, Integer> seen,
             boolean commitEachBatch) {
        this(name, consumer, topics, seen, commitEachBatch, null);
    }

    /** @param ownership where the listener records acquisitions and releases (owner = {@code name}), or null */
    PollLoop(String name, Consumer<String, String> consumer, Collection<String> topics, Map<String, Integer> seen,
             boolean commitEachBatch, OwnershipLog ownership) {
        if (ownership != null) {
            listener.recordInto(ownership, name);
        }
        this.commitEachBatch = commitEachBatch;
        this.name = name;
        this.consumer = consumer;
        this.seen = seen;
        listener.onRevoke = tps -> consumer.commitSync(); // hand the exact position over
        this.thread = new Thread(() -> run(topics), "poll-loop-" + name);
        thread.start();
    }

    private void run(Collection<String> topics) {
        try {
            consumer.subscribe(topics, listener);
            while (running) {
                for (FutureTask<?> t = tasks.poll(); t != null; t = tasks.poll()) {
                    t.run();
                }
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(50));
                for (ConsumerRecord<String, String> r : records) {
                    processed.add(r);
                    seen.merge(r.value(), 1, Integer::sum);
                }
                if (commitEachBatch && !records.isEmpty()) {
                    consumer.commitSync();
                }
            }
        } catch (Throwable t) {
            failure = t;
        } finally {
            try {
                closer.apply(consumer);
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                }
            }
            closed = true;
            for (FutureTask<?> t = tasks.poll(); t != null; t = tasks.poll()) {
                t.cancel(false);
            }
        }
    }

    /** Runs {@code f} on the loop's thread between two polls and returns its result. */
    <T> T call(Function<Consumer<String, String>, T> f) {
        FutureTask<T> task = new FutureTask<>(() -> f.apply(consumer));
        tasks.add(task);
        try {
            return task.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError(name + ": " + e.getCause(), e.getCause());
        } catch (Exception e) {
            throw new AssertionError(name + ": " + e, e);
        }
    }

    /** Stops polling and closes the consumer with {@code how}; waits for it. */
    void stop(Function<Consumer<String, String>, Void> how) {
        closer = how;
        running = false;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(60));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            throw new AssertionError(name + " did not stop");
        }
    }

    @Override
    public void close() {
        if (thread.isAlive()) {
            stop(closer);
        }
    }
}
