package dev.parti.kafka;

import dev.parti.testkit.OwnershipLog;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;

/** Records every rebalance callback: what, with which partitions, on which thread; optional hooks. */
final class RecordingListener implements ConsumerRebalanceListener {
    /** One callback. */
    record Call(String kind, Set<TopicPartition> partitions, String thread) {
        @Override
        public String toString() {
            return kind + partitions;
        }
    }

    final List<Call> calls = new CopyOnWriteArrayList<>();
    /** What the callbacks say this consumer owns now. */
    final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
    volatile Consumer<Collection<TopicPartition>> onRevoke = tps -> { };
    volatile Consumer<Collection<TopicPartition>> onAssign = tps -> { };
    volatile RuntimeException throwOnAssign;
    volatile RuntimeException throwOnRevoke;
    private volatile OwnershipLog ownership;
    private volatile String owner;

    /** Also records every acquisition and release into {@code log} as {@code owner} (conservatively: acquired when the
     *  assignment callback starts, released when the revoke or lost callback ends). */
    RecordingListener recordInto(OwnershipLog log, String ownerName) {
        this.owner = ownerName;
        this.ownership = log;
        return this;
    }

    private void log(boolean acquired, Collection<TopicPartition> partitions) {
        OwnershipLog log = ownership;
        if (log != null) {
            for (TopicPartition tp : partitions) {
                if (acquired) {
                    log.acquired(owner, tp.toString());
                } else {
                    log.released(owner, tp.toString());
                }
            }
        }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        calls.add(new Call("revoked", Set.copyOf(partitions), Thread.currentThread().getName()));
        try {
            onRevoke.accept(partitions);
        } finally {
            owned.removeAll(partitions);
            log(false, partitions);
        }
        RuntimeException e = throwOnRevoke;
        if (e != null) {
            throw e;
        }
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        calls.add(new Call("assigned", Set.copyOf(partitions), Thread.currentThread().getName()));
        log(true, partitions);
        owned.addAll(partitions);
        onAssign.accept(partitions);
        RuntimeException e = throwOnAssign;
        if (e != null) {
            throw e;
        }
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        calls.add(new Call("lost", Set.copyOf(partitions), Thread.currentThread().getName()));
        owned.removeAll(partitions);
        log(false, partitions);
    }

    List<Call> calls(String kind) {
        List<Call> out = new ArrayList<>();
        for (Call c : calls) {
            if (c.kind().equals(kind)) {
                out.add(c);
            }
        }
        return out;
    }

    /** Calls that changed something (assigned with partitions, revoked, lost). */
    List<Call> changes() {
        List<Call> out = new ArrayList<>();
        for (Call c : calls) {
            if (!c.kind().equals("assigned") || !c.partitions().isEmpty()) {
                out.add(c);
            }
        }
        return out;
    }
}
