package dev.parti.cli;

import dev.parti.AssignmentListener;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;

/** In-process Parti workers of one group with sub-second timings, for the CLI tests. */
final class Workers implements AutoCloseable {
    final String group;
    final String natsUrl;
    final List<Partition> partitions;
    final List<PartiManager> started = new CopyOnWriteArrayList<>();

    Workers(String group, String natsUrl, List<Partition> partitions) {
        this.group = group;
        this.natsUrl = natsUrl;
        this.partitions = List.copyOf(partitions);
    }

    static List<Partition> topic(String topic, int n) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ps.add(Partition.of(topic, Integer.toString(i)));
        }
        return ps;
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

    PartiManager start() {
        return start(new Recording(), UnaryOperator.identity());
    }

    PartiManager start(AssignmentListener listener, UnaryOperator<PartiConfig.Builder> tweak) {
        PartiManager m = new PartiManager(tweak.apply(fast(PartiConfig.builder(group).natsUrl(natsUrl)
                .partitionSource(() -> partitions))).build(), listener);
        started.add(m);
        m.start();
        return m;
    }

    /** Every partition owned by exactly one started, running worker. */
    boolean balanced() {
        Set<Partition> seen = ConcurrentHashMap.newKeySet();
        int total = 0;
        for (PartiManager m : started) {
            if (m.state() == dev.parti.ManagerState.SHUTDOWN) {
                continue;
            }
            for (Partition p : m.currentAssignment()) {
                total++;
                seen.add(p);
            }
        }
        return total == partitions.size() && seen.size() == partitions.size();
    }

    @Override
    public void close() {
        for (PartiManager m : started) {
            m.close();
        }
    }

    /** A listener that only records nothing; ownership is read from the managers. */
    static final class Recording implements AssignmentListener {
        @Override
        public void onAssigned(Set<Partition> partitions, long version) { }

        @Override
        public void onRevoked(Set<Partition> partitions, long version) { }
    }
}
