package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;

/** A group of in-process workers with fast timings and recording listeners, for integration tests. */
final class TestGroup implements AutoCloseable {
    final String name;
    final String natsUrl;
    final List<Partition> partitions;
    volatile List<Partition> sourcePartitions;
    final UnaryOperator<PartiConfig.Builder> tweak;
    final List<Member> members = new CopyOnWriteArrayList<>();
    /**
     * partition → instances currently owning it ({@link Member#owner()}, one per start, never the worker ID:
     * two instances holding one ID are two owners), across all members.
     */
    final Map<Partition, Set<String>> owners = new ConcurrentHashMap<>();
    /** Every moment a listener was told to own a partition another instance had not let go of yet. */
    final List<String> overlaps = new CopyOnWriteArrayList<>();
    /**
     * Every acquisition and release, for the ownership checker (over time, by instance); owners are named
     * {@code m<member number>} and carry the worker ID they held.
     */
    final dev.parti.testkit.OwnershipLog ownership = dev.parti.testkit.OwnershipLog.inMemory();
    private final java.util.concurrent.atomic.AtomicInteger memberSeq = new java.util.concurrent.atomic.AtomicInteger();

    TestGroup(String name, String natsUrl, int partitionCount, UnaryOperator<PartiConfig.Builder> tweak) {
        this.name = name;
        this.natsUrl = natsUrl;
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < partitionCount; i++) {
            ps.add(Partition.of("topic", Integer.toString(i)));
        }
        this.partitions = List.copyOf(ps);
        this.sourcePartitions = this.partitions;
        this.tweak = tweak;
    }

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

    PartiConfig.Builder config() {
        return tweak.apply(fast(PartiConfig.builder(name).natsUrl(natsUrl)
                .partitionSource(() -> sourcePartitions)));
    }

    Member start() {
        return start(config());
    }

    Member start(PartiConfig.Builder b) {
        Member m = new Member(this, b.build());
        members.add(m);
        m.manager.start();
        return m;
    }

    List<Member> startAll(int n) {
        List<Member> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(start());
        }
        return out;
    }

    List<Member> running() {
        List<Member> out = new ArrayList<>();
        for (Member m : members) {
            if (m.manager.state() != ManagerState.SHUTDOWN) {
                out.add(m);
            }
        }
        return out;
    }

    Member leader() {
        return running().stream().filter(m -> m.manager.isLeader()).findFirst().orElse(null);
    }

    /**
     * Waits until every partition is owned by exactly one running member, as the managers say and as the
     * listeners were told (callbacks done), and each running member applied the same version.
     */
    void awaitBalanced(Duration timeout) {
        await().atMost(timeout).pollInterval(Duration.ofMillis(20)).untilAsserted(() -> {
            List<Member> live = running();
            assertThat(live).isNotEmpty();
            Map<Partition, String> seen = new HashMap<>();
            Set<Long> versions = new HashSet<>();
            for (Member m : live) {
                versions.add(m.manager.assignmentVersion());
                for (Partition p : m.manager.currentAssignment()) {
                    assertThat(seen.put(p, m.manager.workerId())).as("partition %s owned twice", p).isNull();
                    // the listener has caught up too (its callbacks run on another thread than the manager's)
                    assertThat(owners.getOrDefault(p, Set.of())).as("listeners' owners of %s", p).containsExactly(m.owner());
                }
            }
            assertThat(seen.keySet()).containsExactlyInAnyOrderElementsOf(sourcePartitions);
            assertThat(versions).hasSize(1);
            Member leader = leader();
            assertThat(leader).as("a leader").isNotNull();
            assertThat(leader.manager.state()).as("leader state").isEqualTo(ManagerState.STABLE);
            // state listeners run on the callback thread after the state changed: the recorded states caught up too
            assertThat(leader.states.get(leader.states.size() - 1)).as("leader's last state told to its listener")
                    .isEqualTo(ManagerState.STABLE);
        });
    }

    /** Partition IDs, for the ownership checker. */
    Set<String> partitionIds() {
        Set<String> ids = new HashSet<>();
        sourcePartitions.forEach(p -> ids.add(p.id()));
        return ids;
    }

    /** Checks the ownership log: no overlap anywhere, no gap longer than {@code maxGap}, everything owned at the end. */
    dev.parti.testkit.OwnershipReport checkOwnership(long fromNanos, Duration maxGap) {
        return dev.parti.testkit.OwnershipChecker.builder().partitions(partitionIds()).maxGap(maxGap)
                .window(fromNanos, System.nanoTime()).requireOwnedAtEnd(true).check(ownership.events());
    }

    @Override
    public void close() {
        for (Member m : members) {
            m.manager.close();
        }
    }

    /** Something a test makes a callback wait for. */
    interface Blocker {
        void block() throws InterruptedException;
    }

    /** A worker plus what its listener saw. */
    static final class Member implements AssignmentListener {
        private final TestGroup group;
        final PartiManager manager;
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<ManagerState> states = new CopyOnWriteArrayList<>();
        final Set<String> callbackThreads = ConcurrentHashMap.newKeySet();
        volatile long lastAssignedNanos;
        volatile long firstPartitionNanos;
        final int seq;
        /** When set, runs (and may block) inside onRevoked before the release is recorded. */
        volatile Blocker blockRevokes;

        Member(TestGroup group, PartiConfig config) {
            this.group = group;
            this.seq = group.memberSeq.incrementAndGet();
            manager = new PartiManager(config, this);
            states.add(ManagerState.INIT);
            manager.addStateListener((from, to) -> states.add(to));
        }

        String id() {
            return manager.workerId();
        }

        /** The name of this instance in the ownership log (one per start): stable even if its worker ID changes. */
        String owner() {
            return "m" + seq;
        }

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            callbackThreads.add(Thread.currentThread().getName());
            for (Partition p : added) {
                group.ownership.acquired(owner(), idOrOwner(), p.id());
                Set<String> o = group.owners.computeIfAbsent(p, k -> ConcurrentHashMap.newKeySet());
                o.add(owner());
                if (o.size() > 1) {
                    group.overlaps.add(p + " owned by instances " + o + " at version " + version + " (this one as " + id() + ")");
                }
            }
            lastAssignedNanos = System.nanoTime();
            if (!added.isEmpty() && firstPartitionNanos == 0) {
                firstPartitionNanos = lastAssignedNanos;
            }
            events.add("assigned v" + version + " " + added.size());
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            callbackThreads.add(Thread.currentThread().getName());
            Blocker blocker = blockRevokes;
            if (blocker != null) {
                try {
                    blocker.block();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            release(removed);
            events.add("revoked v" + version + " " + removed.size());
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            callbackThreads.add(Thread.currentThread().getName());
            release(lost);
            events.add("lost v" + version + " " + lost.size());
        }

        private void release(Set<Partition> ps) {
            for (Partition p : ps) {
                group.ownership.released(owner(), idOrOwner(), p.id());
                Set<String> o = group.owners.get(p);
                if (o != null) {
                    o.remove(owner());
                }
            }
        }

        private String idOrOwner() {
            String id = id();
            return id != null ? id : owner();
        }
    }
}
