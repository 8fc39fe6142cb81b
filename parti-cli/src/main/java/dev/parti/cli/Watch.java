package dev.parti.cli;

import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code parti watch --group G}: prints every change of the group as it happens, one timestamped line
 * each (or one JSON object per line). Key-value watches deliver writes and deletes within milliseconds;
 * a scan of the keys every {@code --scan-interval} notices heartbeats that expired by TTL, which leave no
 * delete marker on nats-server before 2.11.
 *
 * <p>Threads: jnats dispatcher threads only hand entries to a queue; the thread that runs the command
 * applies them, diffs and prints. It stops after {@code --duration}, when interrupted, or when the
 * group's buckets are deleted. A scan that gets no answer in time is reported once (SCAN_FAILED) and tried again
 * at every scan interval until one works (SCAN_RECOVERED); a scan the server refuses ends the watch with its error.
 */
@Command(name = "watch", sortOptions = false,
        mixinStandardHelpOptions = true,
        description = "Prints the changes of a group live, with timestamps: joins, leaves and expiries, leader changes, published versions, applied versions with the partitions acquired and released, pending handoffs, fenced workers and late heartbeats. Ctrl-C stops it.")
final class Watch implements Callable<Integer> {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneId.systemDefault());

    @Spec
    CommandSpec spec;

    @Mixin
    NatsConnection nats;

    @Option(names = {"-g", "--group"}, required = true, description = "The Parti group")
    String group;

    @Option(names = "--json", description = "One JSON object per change, one per line")
    boolean json;

    @Option(names = "--duration", paramLabel = "DURATION", converter = Durations.class,
            description = "Stop after this long (default: until Ctrl-C)")
    Duration duration;

    @Option(names = "--scan-interval", paramLabel = "DURATION", converter = Durations.class, defaultValue = "1s",
            description = "How often to look for heartbeats expired by TTL (default ${DEFAULT-VALUE})")
    Duration scanInterval;

    /** A KV entry from a watcher, or the end of a bucket's initial values. */
    private record Event(Bucket bucket, KeyValueEntry entry, boolean endOfData) { }

    @Override
    public Integer call() {
        try {
            return watch();
        } catch (InterruptedException e) {
            return 0; // Ctrl-C or the caller stopped the watch
        } catch (CliException e) {
            if (interrupted(e)) {
                return 0; // stopped while a KV call was under way (jnats wraps the interrupt)
            }
            throw e;
        }
    }

    private static boolean interrupted(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof InterruptedException) {
                return true;
            }
        }
        return Thread.currentThread().isInterrupted();
    }

    private int watch() throws InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        long deadline = duration == null ? Long.MAX_VALUE : System.nanoTime() + duration.toNanos();
        try (Connection c = nats.connect()) {
            GroupReader reader = new GroupReader(c, nats.timeout, nats::lastServerError);
            GroupState state = new GroupState(group);
            reader.readInfo(state);
            if (!state.exists()) {
                emit(out, new Changes.Change(Instant.now(), Changes.Kind.INFO, null,
                        "group '" + group + "' has no Parti state yet; waiting for it to appear", Map.of()));
                while (!state.exists()) {
                    if (System.nanoTime() > deadline) {
                        return 0;
                    }
                    Thread.sleep(Math.min(scanInterval.toMillis(), 500));
                    reader.readInfo(state);
                }
            }
            BlockingQueue<Event> queue = new LinkedBlockingQueue<>();
            List<NatsKeyValueWatchSubscription> subs = new ArrayList<>();
            CountDownLatch initial = new CountDownLatch(Bucket.values().length);
            try {
                for (Bucket b : Bucket.values()) {
                    subs.add(reader.keyValue(state.names.name(b)).watchAll(new KeyValueWatcher() {
                        @Override
                        public void watch(KeyValueEntry e) {
                            queue.add(new Event(b, e, false));
                        }

                        @Override
                        public void endOfData() {
                            queue.add(new Event(b, null, true));
                        }
                    }));
                }
                return loop(out, reader, state, queue, initial, deadline);
            } catch (IOException | JetStreamApiException e) {
                throw reader.failure("watching the buckets of group " + group, e);
            } finally {
                for (NatsKeyValueWatchSubscription s : subs) {
                    try {
                        s.unsubscribe();
                    } catch (RuntimeException ignored) {
                        // the connection closes next
                    }
                }
            }
        }
    }

    private int loop(PrintWriter out, GroupReader reader, GroupState state, BlockingQueue<Event> queue,
                     CountDownLatch initial, long deadline) throws InterruptedException {
        Map<String, String> departures = new HashMap<>();
        long nextScan = System.nanoTime() + scanInterval.toNanos();
        Shown shown = new Shown();
        boolean scansFailing = false; // SCAN_FAILED said, SCAN_RECOVERED not yet
        while (System.nanoTime() < deadline) {
            Event e = queue.poll(Math.min(250, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)), TimeUnit.MILLISECONDS);
            while (e != null) {
                if (e.endOfData()) {
                    initial.countDown();
                } else {
                    KeyValueEntry kv = e.entry();
                    boolean deleted = kv.getOperation() != KeyValueOperation.PUT;
                    if (deleted && e.bucket() == Bucket.HEARTBEATS) {
                        departures.put(kv.getKey(), "left the group (heartbeat deleted)");
                    }
                    state.apply(e.bucket(), kv.getKey(), deleted ? null : kv.getValue(), kv.getRevision(), GroupReader.written(kv));
                    if (initial.getCount() == 0 && shown.view != null) {
                        // one step per write, so a state that lasts a few milliseconds (fenced, then a fresh version)
                        // shows even when several writes queued up while a scan was under way
                        show(out, state, shown, departures);
                    }
                }
                e = queue.poll();
            }
            if (initial.getCount() > 0) {
                continue;
            }
            if (System.nanoTime() >= nextScan) {
                nextScan = System.nanoTime() + scanInterval.toNanos();
                try {
                    for (Bucket b : List.of(Bucket.HEARTBEATS, Bucket.IDS, Bucket.LEADER)) {
                        for (String gone : state.retain(b, reader.keys(state, b), Instant.now())) {
                            if (b == Bucket.HEARTBEATS) {
                                departures.putIfAbsent(gone, "session expired (no heartbeat within the session timeout)");
                            }
                        }
                    }
                    if (scansFailing) {
                        emit(out, new Changes.Change(Instant.now(), Changes.Kind.SCAN_RECOVERED, null,
                                "scans of the group's keys work again", Map.of()));
                        scansFailing = false;
                    }
                } catch (CliException ex) {
                    if (ex.getCause() instanceof JetStreamApiException api && api.getApiErrorCode() == GroupReader.JS_STREAM_NOT_FOUND) {
                        emit(out, new Changes.Change(Instant.now(), Changes.Kind.INFO, null,
                                "the buckets of group '" + group + "' were deleted (parti reset?); stopping", Map.of()));
                        return 0;
                    }
                    if (!(ex.getCause() instanceof IOException) || interrupted(ex)) {
                        throw ex; // the server refused (permissions, say): no later scan would do better
                    }
                    // no answer in time (a loaded server, a connection being re-established): the watches go on,
                    // and the next scan tries again; said once until a scan works
                    if (!scansFailing) {
                        emit(out, new Changes.Change(Instant.now(), Changes.Kind.SCAN_FAILED, null, ex.getMessage()
                                + "; trying again every " + Durations.human(scanInterval) + " (meanwhile a LATE worker may only mean that this"
                                + " watch hears nothing)", Map.of()));
                    }
                    scansFailing = true;
                }
            }
            show(out, state, shown, departures);
        }
        return 0;
    }

    /** The view printed last (null before the first). */
    private static final class Shown {
        GroupView view;
    }

    /** Prints what changed since the view shown last (the summary, the first time). */
    private void show(PrintWriter out, GroupState state, Shown shown, Map<String, String> departures) {
        GroupView now = GroupView.of(state, Instant.now());
        if (shown.view == null) {
            emit(out, new Changes.Change(now.at(), Changes.Kind.INFO, null, summary(now), Map.of()));
            for (Changes.Change ch : Changes.between(emptyLike(now), now, Map.of())) {
                if (ch.kind() != Changes.Kind.JOINED && ch.kind() != Changes.Kind.APPLIED) {
                    emit(out, ch);
                }
            }
        } else {
            for (Changes.Change ch : Changes.between(shown.view, now, departures)) {
                emit(out, ch);
            }
        }
        departures.clear();
        shown.view = now;
    }

    private static GroupView emptyLike(GroupView v) {
        return new GroupView(v.group(), v.at(), v.leader(), v.assignment(), List.of(), List.of(), v.sessionTimeout(),
                v.leaderTtl(), Map.of());
    }

    private static String summary(GroupView v) {
        return "watching group " + v.group() + ": " + v.live().size() + " live workers, leader "
                + (v.leader() == null ? "none" : v.leader().workerId()) + ", version "
                + (v.assignment() == null ? 0 : v.assignment().version()) + ", " + v.handoffs().size() + " handoffs pending";
    }

    private void emit(PrintWriter out, Changes.Change c) {
        if (json) {
            out.println(Json.line(c.toJson()));
        } else {
            out.println(TIME.format(c.at()) + "  " + String.format("%-10s", c.kind().name()) + "  " + c.text());
        }
        out.flush();
    }
}
