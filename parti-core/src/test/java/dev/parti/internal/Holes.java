package dev.parti.internal;

import dev.parti.AssignmentListener;
import dev.parti.PartiConfig;
import dev.parti.Partition;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * Shared pieces of the issue-12 hole tests: members started in this JVM against a real nats-server,
 * an ownership record keyed by instance (one label per start, never by worker ID) that catches an
 * overlap the moment it happens, and a way to freeze a member's main thread like a long GC pause.
 */
final class Holes implements AutoCloseable {
    final List<GroupMember> members = new CopyOnWriteArrayList<>();
    final List<Thread> freezers = new CopyOnWriteArrayList<>();
    final List<CountDownLatch> latches = new CopyOnWriteArrayList<>();
    /** partition → the instance label holding it now. */
    final Map<Partition, String> holder = new ConcurrentHashMap<>();
    /** Every overlap seen: a partition acquired while another instance still held it. */
    final List<String> overlaps = new CopyOnWriteArrayList<>();

    static List<Partition> partitions(int n) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ps.add(Partition.of("t", Integer.toString(i)));
        }
        return List.copyOf(ps);
    }

    static PartiConfig.Builder fast(String group, String url, List<Partition> ps) {
        return PartiConfig.builder(group).natsUrl(url).partitionSource(() -> ps)
                .heartbeatInterval(Duration.ofMillis(100)).sessionTimeout(Duration.ofMillis(1000))
                .leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(200)).plannedScaleWindow(Duration.ofMillis(200))
                .rebalanceCooldown(Duration.ofMillis(100));
    }

    /** Ticks (50 ms apart, at most 5 s of the calculator's clock) until the published version matches {@code done}. */
    static Codec.AssignmentRecord tickUntil(Calculator n, java.util.concurrent.atomic.AtomicLong now, AssignmentPublisher published,
            java.util.function.Predicate<Codec.AssignmentRecord> done) {
        for (int i = 0; i < 100; i++) {
            n.tick();
            Codec.AssignmentRecord r = published.current();
            if (r != null && done.test(r)) {
                return r;
            }
            now.addAndGet(Duration.ofMillis(50).toNanos());
        }
        throw new AssertionError("no such version within 5 s; published: " + published.current());
    }

    /** The bucket TTLs of {@link #fast}: what its workers provision (the assignment bucket has none). */
    static java.util.Map<KvGateway.Bucket, Duration> fastTtls() {
        return java.util.Map.of(KvGateway.Bucket.IDS, Duration.ofMillis(3000), KvGateway.Bucket.HEARTBEATS, Duration.ofMillis(1000),
                KvGateway.Bucket.LEADER, Duration.ofMillis(800));
    }

    GroupMember start(PartiConfig.Builder b, AssignmentListener l) {
        GroupMember m = new GroupMember(b.build(), l);
        members.add(m);
        m.start();
        return m;
    }

    /** Blocks {@code m}'s main thread until the returned latch opens (or the harness closes). */
    CountDownLatch freeze(GroupMember m) {
        return freeze(m, new CountDownLatch(1));
    }

    /**
     * As {@link #freeze}, returning only once {@code m}'s main thread is blocked, not just asked to be: for a fault
     * that must be in place before the test's next step (the freezing thread may otherwise start late on a busy machine).
     */
    CountDownLatch freezeNow(GroupMember m) throws InterruptedException {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = freeze(m, entered);
        if (!entered.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new AssertionError("the main thread of " + m + " did not stop within 10 s");
        }
        return release;
    }

    private CountDownLatch freeze(GroupMember m, CountDownLatch entered) {
        CountDownLatch release = new CountDownLatch(1);
        latches.add(release);
        Thread t = new Thread(() -> {
            try {
                m.runOnMainThread(() -> {
                    entered.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            } catch (Exception e) {
                // closed meanwhile
            }
        }, "freezer");
        t.setDaemon(true);
        t.start();
        freezers.add(t);
        return release;
    }

    @Override
    public void close() {
        latches.forEach(CountDownLatch::countDown);
        members.forEach(m -> m.close(false));
    }

    /** A listener recording what one instance owns, into the shared by-instance ownership record. */
    final class Owner implements AssignmentListener {
        final String label;
        final Set<Partition> owned = ConcurrentHashMap.newKeySet();
        final List<String> events = new CopyOnWriteArrayList<>();
        volatile long firstAcquireNanos;
        volatile long lastReleaseNanos;
        /** When set, onLost waits for it before letting go. */
        volatile CountDownLatch holdLost;
        /** When set, onRevoked waits for it before letting go. */
        volatile CountDownLatch holdRevoke;

        Owner(String label) {
            this.label = label;
        }

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            for (Partition p : added) {
                String before = holder.putIfAbsent(p, label);
                if (before != null && !before.equals(label)) {
                    overlaps.add(p + " acquired by " + label + " at version " + version + " while " + before + " held it");
                    holder.put(p, label);
                }
                owned.add(p);
            }
            if (!added.isEmpty() && firstAcquireNanos == 0) {
                firstAcquireNanos = System.nanoTime();
            }
            events.add("assigned v" + version + " " + added.size());
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            CountDownLatch hold = holdRevoke;
            if (hold != null) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            release(removed);
            events.add("revoked v" + version + " " + removed.size());
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            CountDownLatch hold = holdLost;
            if (hold != null) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            release(lost);
            events.add("lost v" + version + " " + lost.size());
        }

        private void release(Set<Partition> ps) {
            for (Partition p : ps) {
                owned.remove(p);
                holder.remove(p, label);
            }
            lastReleaseNanos = System.nanoTime();
        }
    }
}
