package dev.parti;

import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import dev.parti.testkit.WorkerProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A group of {@link ChildWorker} JVMs sharing one ownership-log directory, for tests whose crashes are real
 * process faults: {@link Child#kill()} is kill -9, {@link Child#suspend()} is SIGSTOP. Each start of a child is
 * a new instance ({@code <slot>#<n>}), the owner in the log; killing or stopping one records it as
 * {@link OwnershipEvent.Kind#GONE} at that moment. In-process workers of a {@link TestGroup} may join the
 * same group; {@link #check} merges both logs.
 */
final class ChildGroup implements AutoCloseable {
    final String group;
    final int partitionCount;
    final Path dir;
    private final List<String> flags;
    private final OwnershipLog testLog;
    private final Map<String, Integer> starts = new ConcurrentHashMap<>();
    final List<Child> children = new CopyOnWriteArrayList<>();

    ChildGroup(String group, int partitionCount, String... flags) {
        this.group = group;
        this.partitionCount = partitionCount;
        this.flags = List.of(flags);
        try {
            this.dir = Files.createTempDirectory("parti-children-" + group);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.testLog = OwnershipLog.inDirectory(dir);
    }

    /** Starts a new instance in {@code slot}, connecting to {@code natsUrl}, with the group's flags. */
    Child start(String slot, String natsUrl) {
        return start(slot, natsUrl, new String[0]);
    }

    /** As {@link #start(String, String)}, with {@code more} flags for this start (e.g. {@code worker-id=X}). */
    Child start(String slot, String natsUrl, String... more) {
        int n = starts.merge(slot, 1, Integer::sum);
        String instance = slot + "#" + n;
        List<String> args = new ArrayList<>(List.of(natsUrl, group, dir.toString(), instance,
                Integer.toString(partitionCount), "FENCE"));
        args.addAll(flags);
        args.addAll(List.of(more));
        WorkerProcess process = WorkerProcess.builder(ChildWorker.class).name(instance)
                .jvmArgs("-Xmx96m", "-XX:TieredStopAtLevel=1", "-Xss512k")
                .args(args.toArray(new String[0])).start();
        Child child = new Child(slot, instance, process);
        children.add(child);
        return child;
    }

    /** Children whose process runs and is not suspended. */
    List<Child> live() {
        return children.stream().filter(c -> c.process.isAlive() && !c.process.isSuspended()).toList();
    }

    /** The live child that says it leads, if any. */
    Optional<Child> leader() {
        return live().stream().filter(c -> c.status().map(ChildWorker.Status::leader).orElse(false)).findFirst();
    }

    /** Partitions that live children say they work on (lease valid). */
    Set<String> ownedByLive() {
        Set<String> all = new HashSet<>();
        live().forEach(c -> c.status().ifPresent(s -> all.addAll(s.owned())));
        return all;
    }

    /** Partition IDs {@code topic-0} … as the children name them. */
    Set<String> partitionIds() {
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < partitionCount; i++) {
            ids.add(Partition.of("topic", Integer.toString(i)).id());
        }
        return ids;
    }

    /** Every event of the children and of this test so far, plus {@code more} (an in-process group's log). */
    List<OwnershipEvent> events(List<OwnershipEvent> more) {
        List<OwnershipEvent> all = new ArrayList<>(OwnershipLog.read(dir));
        all.addAll(more);
        all.sort(Comparator.comparingLong(OwnershipEvent::nanos));
        return all;
    }

    /** Checks the merged log over [fromNanos, now]: overlaps and IDs held twice by instance, gaps over {@code maxGap}. */
    OwnershipReport check(long fromNanos, Duration maxGap, boolean requireOwnedAtEnd, List<OwnershipEvent> more) {
        return OwnershipChecker.builder().partitions(partitionIds()).maxGap(maxGap)
                .window(fromNanos, System.nanoTime()).requireOwnedAtEnd(requireOwnedAtEnd).check(events(more));
    }

    /**
     * Ownership intervals started after {@code fromNanos} in time-ordered {@code sorted} events: each one an
     * acquisition by a new owner (children repeat "working on p" every 20 ms; only the first one counts).
     */
    static int handoffs(List<OwnershipEvent> sorted, long fromNanos) {
        Set<String> open = new HashSet<>();
        int count = 0;
        for (OwnershipEvent e : sorted) {
            switch (e.kind()) {
                case ACQUIRED -> {
                    if (open.add(e.instance() + "/" + e.partition()) && e.nanos() - fromNanos > 0) {
                        count++;
                    }
                }
                case RELEASED -> open.remove(e.instance() + "/" + e.partition());
                case GONE -> open.removeIf(k -> k.startsWith(e.instance() + "/"));
            }
        }
        return count;
    }

    /** The last lines of every child's output, for a failure message. */
    String logs(int lines) {
        StringBuilder text = new StringBuilder();
        for (Child c : children) {
            text.append("---- ").append(c.instance).append(" (").append(c.process).append(")\n");
            try {
                text.append(c.process.logTail(lines)).append('\n');
            } catch (RuntimeException e) {
                text.append("(no log: ").append(e.getMessage()).append(")\n");
            }
        }
        return text.toString();
    }

    @Override
    public void close() {
        for (Child c : children) {
            c.process.close();
        }
        testLog.close();
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One started instance. */
    final class Child {
        final String slot;
        final String instance;
        final WorkerProcess process;

        Child(String slot, String instance, WorkerProcess process) {
            this.slot = slot;
            this.instance = instance;
            this.process = process;
        }

        /** What it last wrote to its status file. */
        Optional<ChildWorker.Status> status() {
            return ChildWorker.Status.read(dir, instance);
        }

        /** kill -9; it is no live owner of anything from now on. */
        void kill() {
            process.kill();
            testLog.gone(instance);
        }

        /** SIGSTOP; a stopped process does no work, so it owns nothing from now on until it says so again. */
        void suspend() {
            process.suspend();
            testLog.gone(instance);
        }

        /** Records that it exited on its own (found dead without being killed): it owns nothing from now on. */
        void exited() {
            testLog.gone(instance);
        }

        /** SIGCONT. */
        void resume() {
            process.resume();
        }

        @Override
        public String toString() {
            return instance + status().map(s -> " (" + s.workerId() + (s.leader() ? ", leader" : "") + ")").orElse("");
        }
    }
}
