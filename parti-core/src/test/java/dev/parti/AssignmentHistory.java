package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.BucketNames;
import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The publication history of a group's assignment key, as the server ordered it: a KV watcher (on its own
 * connection) sees every write of the key in revision order, so the test can check what the protocol
 * promises about publication order (invariant 2: versions strictly increase across leaders, a deposed
 * leader never publishes) instead of sampling what workers happened to apply. Start it once the group's
 * buckets exist (after the first worker started); it sees the latest publication and every later one.
 * Survives reconnects (entries seen twice are kept once, by revision). Thread-safe; {@link #close()} stops
 * the watcher and closes its connection.
 */
final class AssignmentHistory implements AutoCloseable {
    /** One write of the assignment key: revision (server order), version, publishing leader and its epoch. */
    record Publication(long revision, long version, String leaderId, long epoch, long seenNanos,
                       java.util.Map<String, java.util.List<dev.parti.Partition>> owners) {
        @Override
        public String toString() { // the owners make the failure message unreadable
            return "Publication[revision=" + revision + ", version=" + version + ", leaderId=" + leaderId + ", epoch=" + epoch + "]";
        }
    }

    private final Connection connection;
    private final String bucket;
    private volatile NatsKeyValueWatchSubscription watch;
    private final Map<Long, Publication> byRevision = new TreeMap<>();
    private final List<String> unreadable = new ArrayList<>();

    private AssignmentHistory(Connection connection, String group) throws Exception {
        this.connection = connection;
        this.bucket = new BucketNames(group).name(KvGateway.Bucket.ASSIGNMENT);
        this.watch = subscribe();
    }

    /**
     * Starts watching again (after a nats-server restart took the watcher's consumer away): it sees the
     * latest publication and every later one; what it saw before is kept. Retries for up to 30 s while
     * the connection is still reconnecting.
     */
    void rewatch() {
        try {
            watch.unsubscribe();
        } catch (RuntimeException ignored) {
            // the old subscription may be gone with the old server
        }
        watch = org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
                .ignoreExceptions().until(this::subscribe, java.util.Objects::nonNull);
    }

    private NatsKeyValueWatchSubscription subscribe() throws Exception {
        return connection.keyValue(bucket).watchAll(new KeyValueWatcher() {
            @Override
            public void watch(KeyValueEntry entry) {
                if (entry.getOperation() != KeyValueOperation.PUT) {
                    return;
                }
                long seen = System.nanoTime();
                try {
                    Codec.AssignmentRecord r = Codec.decodeAssignment(entry.getValue());
                    Publication p = new Publication(entry.getRevision(), r.version(), r.leaderId(), r.epoch(), seen, r.owners());
                    synchronized (byRevision) {
                        Publication before = byRevision.putIfAbsent(entry.getRevision(), p);
                        if (before != null && (before.version() != p.version() || !before.leaderId().equals(p.leaderId()))) {
                            unreadable.add("revision " + entry.getRevision() + " seen twice with different content: "
                                    + before + " then " + p + " (the server lost acknowledged writes)");
                        }
                    }
                } catch (RuntimeException e) {
                    synchronized (byRevision) {
                        unreadable.add("revision " + entry.getRevision() + ": " + e.getMessage());
                    }
                }
            }

            @Override
            public void endOfData() { }
        });
    }

    /** Watches {@code group}'s assignment key on {@code natsUrl} (its buckets must exist). */
    static AssignmentHistory watch(String natsUrl, String group) throws Exception {
        Connection nc = Nats.connect(new Options.Builder().server(natsUrl).maxReconnects(-1)
                .reconnectWait(Duration.ofMillis(100)).errorListener(new io.nats.client.ErrorListener() { }).build());
        try {
            return new AssignmentHistory(nc, group);
        } catch (Exception e) {
            nc.close();
            throw e;
        }
    }

    /** Every publication seen so far, in revision (publication) order. */
    List<Publication> publications() {
        synchronized (byRevision) {
            return List.copyOf(byRevision.values());
        }
    }

    /** Publications that could not be decoded, or a revision seen with two contents (none expected). */
    List<String> unreadable() {
        synchronized (byRevision) {
            return List.copyOf(unreadable);
        }
    }

    /**
     * Checks invariant 2 on what was published: versions strictly increase in publication order (a new
     * leader's fence may repeat the current version, unchanged, under its newer epoch), and the
     * publishing leader's epoch never goes back (a publication under an older epoch after a newer one is a
     * deposed leader publishing). Returns the publications checked.
     */
    List<Publication> assertMonotone() {
        List<Publication> all = publications();
        assertThat(unreadable()).as("unreadable or rewritten assignment records").isEmpty();
        for (int i = 1; i < all.size(); i++) {
            Publication before = all.get(i - 1);
            Publication after = all.get(i);
            if (after.version() == before.version()) {
                // a new leader's fence: the same record rewritten under its newer epoch, so a deposed leader's
                // late write loses its compare-and-set; anything else under an old version is a second history
                assertThat(after.epoch()).as("epoch of the rewrite %s of %s (only a new leader's fence may repeat a version)",
                        after, before).isGreaterThan(before.epoch());
                assertThat(after.owners()).as("owners of the rewrite %s of %s (a fence must not change them)", after, before)
                        .isEqualTo(before.owners());
                continue;
            }
            assertThat(after.version()).as("version of publication %s after %s (publication order)", after, before)
                    .isGreaterThan(before.version());
            assertThat(after.epoch()).as("leader epoch of publication %s after %s: a deposed leader published", after, before)
                    .isGreaterThanOrEqualTo(before.epoch());
        }
        return all;
    }

    /** The publications made after {@code nanos} (by the time the watcher saw them). */
    List<Publication> seenAfter(long nanos) {
        return publications().stream().filter(p -> p.seenNanos() - nanos > 0)
                .sorted(Comparator.comparingLong(Publication::revision)).toList();
    }

    @Override
    public void close() throws InterruptedException {
        try {
            watch.unsubscribe();
        } catch (RuntimeException ignored) {
            // the connection may already be closed or disconnected
        }
        connection.close();
    }
}
