package dev.parti.nats;

import dev.parti.Partition;
import dev.parti.testkit.OwnershipLog;
import io.nats.client.Message;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/**
 * What the handlers did: every handler call records (instance, partition, stream sequence) and, in the
 * ownership log, an acquisition when it starts and a release when it returns, so the ownership checker
 * sees any two concurrent handler calls of one partition as an overlap.
 */
final class Deliveries {
    record Handled(String instance, String partition, long seq, long nanos) {
    }

    /** The outcome of {@link #check}. */
    record Report(long handled, long duplicates, List<String> missing, List<String> orderViolations) {
        @Override
        public String toString() {
            return "handled=" + handled + " duplicates=" + duplicates + " missing=" + missing.size()
                    + (missing.isEmpty() ? "" : " e.g. " + missing.subList(0, Math.min(5, missing.size())))
                    + " orderViolations=" + orderViolations.size()
                    + (orderViolations.isEmpty() ? "" : " e.g. " + orderViolations.subList(0, Math.min(5, orderViolations.size())));
        }
    }

    private Deliveries() {
    }

    /** A handler recording into {@code sink} and {@code ownership} as {@code instance}. */
    static PartitionHandler recording(String instance, OwnershipLog ownership, java.util.function.Consumer<Handled> sink) {
        return recording(instance, ownership, sink, 0);
    }

    /** The same, working {@code workNanos} inside the recorded ownership interval of each call. */
    static PartitionHandler recording(String instance, OwnershipLog ownership, java.util.function.Consumer<Handled> sink,
                                      long workNanos) {
        return (Partition p, Message m) -> {
            ownership.acquired(instance, p.id());
            try {
                sink.accept(new Handled(instance, p.id(), m.metaData().streamSequence(), System.nanoTime()));
                if (workNanos > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(workNanos);
                }
            } finally {
                ownership.released(instance, p.id());
            }
        };
    }

    /** An in-memory sink. */
    static List<Handled> memory() {
        return new CopyOnWriteArrayList<>();
    }

    /** A sink appending to {@code <dir>/<instance>.handled}, one flushed line per call (survives kill -9). */
    static java.util.function.Consumer<Handled> file(Path dir, String instance) {
        try {
            Files.createDirectories(dir);
            BufferedWriter w = Files.newBufferedWriter(dir.resolve(instance.replace('#', '_') + ".handled"), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            return h -> {
                synchronized (w) {
                    try {
                        w.write(h.instance() + "\t" + h.partition() + "\t" + h.seq() + "\t" + h.nanos() + "\n");
                        w.flush();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every record in {@code dir} (a torn last line of a killed writer is skipped). */
    static List<Handled> read(Path dir) throws IOException {
        List<Handled> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".handled")).sorted().toList()) {
                String text = Files.readString(f, StandardCharsets.UTF_8);
                String[] lines = text.split("\n", -1); // the last element is "" or a line torn by kill -9
                for (String line : java.util.Arrays.asList(lines).subList(0, lines.length - 1)) {
                    String[] parts = line.split("\t");
                    if (parts.length == 4 && !parts[3].isEmpty()) {
                        try {
                            out.add(new Handled(parts[0], parts[1], Long.parseLong(parts[2]), Long.parseLong(parts[3])));
                        } catch (NumberFormatException torn) {
                            // the last line of a killed writer
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * Checks, per partition, in handling order (records sorted by their System.nanoTime(), comparable
     * across JVMs on one Linux machine): every published sequence was handled; a
     * sequence handled for the first time is larger than every sequence handled before it (order kept:
     * only redeliveries go back); duplicates counted.
     */
    static Report check(Map<String, List<Long>> published, Collection<Handled> handled) {
        Map<String, Set<Long>> seen = new HashMap<>();
        Map<String, Long> highest = new HashMap<>();
        long duplicates = 0;
        List<String> order = new ArrayList<>();
        List<Handled> byTime = new ArrayList<>(handled);
        byTime.sort(java.util.Comparator.comparingLong(Handled::nanos));
        for (Handled h : byTime) {
            Set<Long> s = seen.computeIfAbsent(h.partition(), k -> new HashSet<>());
            if (!s.add(h.seq())) {
                duplicates++;
                continue;
            }
            long top = highest.getOrDefault(h.partition(), 0L);
            if (h.seq() < top) {
                order.add(h.partition() + ": " + h.seq() + " first handled after " + top + " (by " + h.instance() + ")");
            }
            highest.put(h.partition(), Math.max(top, h.seq()));
        }
        List<String> missing = new ArrayList<>();
        published.forEach((p, seqs) -> {
            Set<Long> s = seen.getOrDefault(p, Set.of());
            for (long q : seqs) {
                if (!s.contains(q)) {
                    missing.add(p + "@" + q);
                }
            }
        });
        return new Report(handled.size(), duplicates, missing, order);
    }
}
