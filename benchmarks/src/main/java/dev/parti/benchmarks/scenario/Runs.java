package dev.parti.benchmarks.scenario;

import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipEvent;
import dev.parti.testkit.OwnershipLog;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Reading and evaluating what the workers of one run wrote: ownership events and consumed batches. */
final class Runs {
    private Runs() {}

    /** One polled batch: who, when (nanoTime), which (partition << 40 | offset). */
    record Batch(String worker, long nanos, long[] keys) {}

    static int partitionOf(long key) {
        return (int) (key >>> 40);
    }

    static List<OwnershipEvent> ownership(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        return OwnershipLog.read(dir);
    }

    /** Every batch in {@code dir}, ordered by time; a batch torn by a kill is dropped. A restarted worker's batches carry its name. */
    static List<Batch> consumed(Path dir) {
        List<Batch> all = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".consumed")).toList()) {
                String worker = workerOfFile(f.getFileName().toString());
                try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(f), 1 << 16))) {
                    while (true) {
                        long nanos = in.readLong();
                        int n = in.readInt();
                        long[] keys = new long[n];
                        for (int i = 0; i < n; i++) {
                            keys[i] = in.readLong();
                        }
                        all.add(new Batch(worker, nanos, keys));
                    }
                } catch (EOFException end) {
                    // end of file, or a batch torn by kill -9
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        all.sort(Comparator.comparingLong(Batch::nanos));
        return all;
    }

    /** {@code w1.consumed} and a restarted instance's {@code w1~2.consumed} are both worker {@code w1}. */
    static String workerOfFile(String fileName) {
        String w = fileName.endsWith(".consumed") ? fileName.substring(0, fileName.length() - ".consumed".length()) : fileName;
        int tilde = w.indexOf('~');
        return tilde < 0 ? w : w.substring(0, tilde);
    }

    /** The partition number of a partition name {@code <topic>-<n>}. @throws NumberFormatException if none */
    static int partitionIndex(String name) {
        return Integer.parseInt(name.substring(name.lastIndexOf('-') + 1));
    }

    /** The numbers of the partitions {@code worker} owns at {@code t}. */
    static List<Integer> partitionsOwnedBy(List<OwnershipEvent> events, String worker, long t) {
        List<Integer> out = new ArrayList<>();
        ownersAt(events, t).forEach((p, w) -> {
            if (w.equals(worker)) {
                out.add(partitionIndex(p));
            }
        });
        return out;
    }

    /** Owner of each partition at {@code t} (one of them if several). */
    static Map<String, String> ownersAt(List<OwnershipEvent> events, long t) {
        Map<String, Set<String>> owners = replay(events, t);
        Map<String, String> out = new TreeMap<>();
        owners.forEach((p, ws) -> {
            if (!ws.isEmpty()) {
                out.put(p, ws.iterator().next());
            }
        });
        return out;
    }

    private static Map<String, Set<String>> replay(List<OwnershipEvent> events, long t) {
        Map<String, Set<String>> owners = new HashMap<>();
        for (OwnershipEvent e : events) {
            if (e.nanos() - t > 0) {
                break;
            }
            apply(owners, e);
        }
        return owners;
    }

    private static void apply(Map<String, Set<String>> owners, OwnershipEvent e) {
        switch (e.kind()) {
            case ACQUIRED -> owners.computeIfAbsent(e.partition(), p -> new LinkedHashSet<>()).add(e.workerId());
            case RELEASED -> {
                Set<String> s = owners.get(e.partition());
                if (s != null) {
                    s.remove(e.workerId());
                }
            }
            case GONE -> owners.values().forEach(s -> s.remove(e.workerId()));
        }
    }

    /** All partitions owned exactly once by {@code workers} live workers, each within floor/ceil of the fair share. */
    static boolean balanced(Map<String, Set<String>> owners, int partitions, int workers) {
        Map<String, Integer> counts = new HashMap<>();
        int owned = 0;
        for (Set<String> s : owners.values()) {
            if (s.size() > 1) {
                return false;
            }
            if (s.size() == 1) {
                owned++;
                counts.merge(s.iterator().next(), 1, Integer::sum);
            }
        }
        if (owned != partitions || counts.size() != workers) {
            return false;
        }
        int lo = partitions / workers;
        int hi = (partitions + workers - 1) / workers;
        return counts.values().stream().allMatch(c -> c >= lo && c <= hi);
    }

    static boolean balancedAt(List<OwnershipEvent> events, long t, int partitions, int workers) {
        return balanced(replay(events, t), partitions, workers);
    }

    /**
     * When the state last became balanced within (from, to], if it is balanced at {@code to}; -1 otherwise.
     * Returns {@code from} when balanced throughout.
     */
    static long balancedSince(List<OwnershipEvent> events, long from, long to, int partitions, int workers) {
        Map<String, Set<String>> owners = new HashMap<>();
        long since = -1;
        boolean started = false;
        for (OwnershipEvent e : events) {
            if (e.nanos() - to > 0) {
                break;
            }
            if (!started && e.nanos() - from > 0) {
                started = true;
                since = balanced(owners, partitions, workers) ? from : -1;
            }
            apply(owners, e);
            if (started) {
                boolean b = balanced(owners, partitions, workers);
                if (b && since < 0) {
                    since = e.nanos();
                } else if (!b) {
                    since = -1;
                }
            }
        }
        if (!started) {
            since = balanced(owners, partitions, workers) ? from : -1;
        }
        return since;
    }

    static long lastEventNanos(List<OwnershipEvent> events) {
        return events.isEmpty() ? Long.MIN_VALUE : events.get(events.size() - 1).nanos();
    }

    static Set<String> partitionNames(String topic, int partitions) {
        Set<String> s = new LinkedHashSet<>();
        for (int i = 0; i < partitions; i++) {
            s.add(topic + "-" + i);
        }
        return s;
    }

    static double unavailableSeconds(List<OwnershipEvent> events, Set<String> partitions, long from, long to) {
        return OwnershipChecker.builder().partitions(partitions).window(from, to).check(events).unownedNanos() / 1e9;
    }

    static int overlaps(List<OwnershipEvent> events, Set<String> partitions, long from, long to) {
        return OwnershipChecker.builder().partitions(partitions).window(from, to).check(events).overlaps().size();
    }

    /** Partitions whose owner at {@code to} differs from the owner at {@code from}. */
    static int moved(List<OwnershipEvent> events, long from, long to) {
        Map<String, String> a = ownersAt(events, from);
        Map<String, String> b = ownersAt(events, to);
        Set<String> all = new HashSet<>(a.keySet());
        all.addAll(b.keySet());
        int n = 0;
        for (String p : all) {
            if (!java.util.Objects.equals(a.get(p), b.get(p))) {
                n++;
            }
        }
        return n;
    }

    /** Groups of ownership changes in (from, to] separated by more than {@code quietNanos}. */
    static int rounds(List<OwnershipEvent> events, long from, long to, long quietNanos) {
        int rounds = 0;
        long last = Long.MIN_VALUE;
        for (OwnershipEvent e : events) {
            if (e.nanos() - from <= 0 || e.nanos() - to > 0 || e.kind() == OwnershipEvent.Kind.GONE) {
                continue;
            }
            if (last == Long.MIN_VALUE || e.nanos() - last > quietNanos) {
                rounds++;
            }
            last = e.nanos();
        }
        return rounds;
    }

    /** A worker's {@code close()} call, from its start to its return: what the worker released in it is part of the close. */
    record Close(String worker, long from, long to) {
        boolean covers(OwnershipEvent e) {
            return e.workerId().equals(worker) && e.kind() != OwnershipEvent.Kind.ACQUIRED
                    && e.nanos() - from >= 0 && e.nanos() - to <= 0;
        }
    }

    /**
     * Like {@link #rounds(List, long, long, long)}, without the releases (and GONE) of a closing worker inside
     * its own {@code close()} call: what is left are the group's reassignments ("rebalances"). A restart in
     * which the new instance only gets its own partitions back counts one round (the acquisition).
     */
    static int rebalanceRounds(List<OwnershipEvent> events, long from, long to, long quietNanos, Collection<Close> closes) {
        List<OwnershipEvent> kept = new ArrayList<>();
        for (OwnershipEvent e : events) {
            if (closes.stream().noneMatch(c -> c.covers(e))) {
                kept.add(e);
            }
        }
        return rounds(kept, from, to, quietNanos);
    }

    /** ACQUIRED events in (from, to]: every (partition, new owner) assignment, including a worker getting its own partition back. */
    static int acquisitions(List<OwnershipEvent> events, long from, long to) {
        int n = 0;
        for (OwnershipEvent e : events) {
            if (e.kind() == OwnershipEvent.Kind.ACQUIRED && e.nanos() - from > 0 && e.nanos() - to <= 0) {
                n++;
            }
        }
        return n;
    }

    /**
     * ACQUIRED events in (from, to] by a worker (name) other than the partition's previous owner, the last one
     * that acquired it before (at any earlier time, released or not): partitions that went to another worker.
     * A restarted worker with the same name getting its own partitions back is not a handover; a partition
     * acquired for the first time is.
     */
    static int handovers(List<OwnershipEvent> events, long from, long to) {
        Map<String, String> previous = new HashMap<>();
        int n = 0;
        for (OwnershipEvent e : events) {
            if (e.nanos() - to > 0) {
                break;
            }
            if (e.kind() != OwnershipEvent.Kind.ACQUIRED) {
                continue;
            }
            String before = previous.put(e.partition(), e.workerId());
            if (e.nanos() - from > 0 && !e.workerId().equals(before)) {
                n++;
            }
        }
        return n;
    }

    /** Deliveries in [from, to] of a (partition, offset) delivered before. */
    static long duplicates(List<Batch> batches, long from, long to) {
        Set<Long> seen = new HashSet<>();
        long dup = 0;
        for (Batch b : batches) {
            if (b.nanos() - to > 0) {
                break;
            }
            boolean counting = b.nanos() - from >= 0;
            for (long k : b.keys()) {
                if (!seen.add(k) && counting) {
                    dup++;
                }
            }
        }
        return dup;
    }

    /** Time of the first batch of {@code worker} after {@code from}, or -1. */
    static long firstRecord(List<Batch> batches, String worker, long from) {
        for (Batch b : batches) {
            if (b.worker().equals(worker) && b.nanos() - from >= 0 && b.keys().length > 0) {
                return b.nanos();
            }
        }
        return -1;
    }

    /**
     * For each of {@code partitions} (numbers), the first delivery after {@code from} by a worker other than
     * {@code excluded}; returns the latest of those, or -1 if one has not been consumed again.
     */
    static long allConsumedAgain(List<Batch> batches, Collection<Integer> partitions, String excluded, long from) {
        Map<Integer, Long> first = new LinkedHashMap<>();
        for (Batch b : batches) {
            if (b.nanos() - from < 0 || b.worker().equals(excluded)) {
                continue;
            }
            for (long k : b.keys()) {
                int p = partitionOf(k);
                if (partitions.contains(p)) {
                    first.putIfAbsent(p, b.nanos());
                }
            }
            if (first.size() == partitions.size()) {
                break;
            }
        }
        if (first.size() < partitions.size()) {
            return -1;
        }
        return first.values().stream().mapToLong(Long::longValue).max().orElse(from);
    }
}
