package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.internal.KvGateway.Bucket;
import dev.parti.internal.KvGateway.CasConflictException;
import dev.parti.internal.KvGateway.Entry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * What the protocol relies on from JetStream KV, as test cases run against both the real nats-server
 * ({@link KvServerContractTest}, through {@link KvGateway}) and the simulation's model
 * ({@link KvModelContractTest}, through {@link SimKvClient}), so that the model cannot drift from
 * NATS: compare-and-set and its refusal, revision numbers, delete and purge as seen by get, keys and
 * watch, and bucket TTL expiry (no watch event on nats-server 2.9).
 */
abstract class KvContract {
    /** The bucket TTLs every case provisions: only the heartbeats bucket expires, after {@link #TTL}. */
    static final Duration TTL = Duration.ofMillis(1000);
    /** How long a watch event may take: milliseconds normally, generous for a CI machine with two busy cores. */
    static final Duration WATCH_DELIVERY = Duration.ofSeconds(10);

    static Map<Bucket, Duration> ttls() {
        return Map.of(Bucket.IDS, Duration.ofSeconds(60), Bucket.HEARTBEATS, TTL, Bucket.LEADER, Duration.ofSeconds(60));
    }

    /** What a case runs against: a provisioned, empty group of buckets, and the passing of time. */
    interface World {
        Kv kv();

        /** Waits (up to {@code max}) until {@code condition} holds; fails otherwise. */
        void eventually(Duration max, BooleanSupplier condition);

        /** Lets {@code d} pass. */
        void pause(Duration d);
    }

    /** A {@link World} in real time around {@code kv}: what a real server (one node or a cluster) runs the cases in. */
    static World realTime(Kv kv) {
        return new World() {
            @Override
            public Kv kv() {
                return kv;
            }

            @Override
            public void eventually(Duration max, BooleanSupplier condition) {
                org.awaitility.Awaitility.await().atMost(max).pollInterval(Duration.ofMillis(20)).until(condition::getAsBoolean);
            }

            @Override
            public void pause(Duration d) {
                org.awaitility.Awaitility.await().pollDelay(d).atMost(d.plusSeconds(1)).until(() -> true);
            }
        };
    }

    @FunctionalInterface
    interface Case {
        void run(World w) throws Exception;
    }

    /** Runs {@code c} against a fresh group of buckets. */
    abstract void run(Case c) throws Exception;

    static byte[] v(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(Entry e) {
        return e == null ? null : new String(e.value(), StandardCharsets.UTF_8);
    }

    @Test
    void createIsRefusedOnAnExistingKeyAndRevisionsCountEveryWriteOfTheBucket() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            assertThat(kv.create(Bucket.IDS, "a", v("1"))).isEqualTo(1);
            assertThat(kv.create(Bucket.IDS, "b", v("1"))).isEqualTo(2);
            assertThatThrownBy(() -> kv.create(Bucket.IDS, "a", v("2"))).isInstanceOf(CasConflictException.class);
            assertThat(kv.get(Bucket.IDS, "a")).satisfies(e -> {
                assertThat(s(e)).isEqualTo("1");
                assertThat(e.revision()).isEqualTo(1);
            });
            assertThat(kv.get(Bucket.IDS, "missing")).isNull();
            // another bucket is another stream: its revisions start over
            assertThat(kv.create(Bucket.LEADER, "leader", v("x"))).isEqualTo(1);
        });
    }

    @Test
    void updateNeedsTheKeysLastRevision() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            long r1 = kv.create(Bucket.IDS, "a", v("1"));
            kv.create(Bucket.IDS, "b", v("1"));
            assertThatThrownBy(() -> kv.update(Bucket.IDS, "a", v("x"), r1 + 1)).isInstanceOf(CasConflictException.class);
            long r2 = kv.update(Bucket.IDS, "a", v("2"), r1);
            assertThat(r2).isEqualTo(3);
            assertThatThrownBy(() -> kv.update(Bucket.IDS, "a", v("x"), r1)).isInstanceOf(CasConflictException.class);
            assertThatThrownBy(() -> kv.update(Bucket.IDS, "absent", v("x"), 1)).isInstanceOf(CasConflictException.class);
            assertThat(kv.update(Bucket.IDS, "absent", v("x"), 0)).isEqualTo(4);
            assertThat(s(kv.get(Bucket.IDS, "a"))).isEqualTo("2");
        });
    }

    @Test
    void updateOwnRecognisesItsOwnEarlierWriteAndNothingElse() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            long r1 = kv.create(Bucket.IDS, "a", v("mine"));
            long r2 = kv.update(Bucket.IDS, "a", v("mine"), r1); // as if this reply had been lost
            assertThat(kv.updateOwn(Bucket.IDS, "a", v("mine"), r1, b -> "mine".equals(new String(b, StandardCharsets.UTF_8))))
                    .isEqualTo(r2 + 1);
            kv.update(Bucket.IDS, "a", v("theirs"), r2 + 1);
            assertThatThrownBy(() -> kv.updateOwn(Bucket.IDS, "a", v("mine"), r2 + 1, b -> "mine".equals(new String(b, StandardCharsets.UTF_8))))
                    .isInstanceOfSatisfying(CasConflictException.class, e -> assertThat(s(e.holder())).isEqualTo("theirs"));
        });
    }

    @Test
    void aDeleteOrPurgeHidesTheKeyFromGetAndKeysAndCreateWorksAgain() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            long a = kv.create(Bucket.IDS, "a", v("1"));
            long b = kv.create(Bucket.IDS, "b", v("1"));
            assertThatThrownBy(() -> kv.delete(Bucket.IDS, "a", a + 5)).isInstanceOf(CasConflictException.class);
            kv.delete(Bucket.IDS, "a", a); // revision 3
            kv.purge(Bucket.IDS, "b"); // revision 4
            assertThat(kv.get(Bucket.IDS, "a")).isNull();
            assertThat(kv.get(Bucket.IDS, "b")).isNull();
            assertThat(kv.keys(Bucket.IDS)).isEmpty();
            assertThat(kv.entries(Bucket.IDS)).isEmpty();
            // the marker is the key's last revision: an update must name it, create goes over it
            assertThatThrownBy(() -> kv.update(Bucket.IDS, "a", v("x"), a)).isInstanceOf(CasConflictException.class);
            assertThat(kv.create(Bucket.IDS, "a", v("2"))).isEqualTo(5);
            assertThat(kv.create(Bucket.IDS, "b", v("2"))).isEqualTo(6);
            assertThat(kv.keys(Bucket.IDS)).containsExactlyInAnyOrder("a", "b");
            assertThat(b).isEqualTo(2);
        });
    }

    @Test
    void purgePrefixRemovesTheKeysBelowItWithoutMarkersAndNothingElse() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            kv.create(Bucket.ASSIGNMENT, "piece.1.a.0", v("x"));
            kv.create(Bucket.ASSIGNMENT, "piece.1.a.1", v("y"));
            long other = kv.create(Bucket.ASSIGNMENT, "piece.1.ab.0", v("z"));
            long current = kv.create(Bucket.ASSIGNMENT, "current", v("m"));
            List<Entry> seen = new CopyOnWriteArrayList<>();
            try (AutoCloseable watch = kv.watch(Bucket.ASSIGNMENT, ">", seen::add)) {
                w.eventually(WATCH_DELIVERY, () -> seen.size() == 4);
                kv.purgePrefix(Bucket.ASSIGNMENT, "piece.1.a");
                kv.purgePrefix(Bucket.ASSIGNMENT, "piece.9.none"); // nothing below it: no error
                assertThat(kv.get(Bucket.ASSIGNMENT, "piece.1.a.0")).isNull();
                assertThat(kv.get(Bucket.ASSIGNMENT, "piece.1.a.1")).isNull();
                assertThat(kv.get(Bucket.ASSIGNMENT, "piece.1.ab.0").revision()).isEqualTo(other);
                assertThat(kv.get(Bucket.ASSIGNMENT, "current").revision()).isEqualTo(current);
                assertThat(kv.keys(Bucket.ASSIGNMENT)).containsExactlyInAnyOrder("piece.1.ab.0", "current");
                // no marker left: an update expecting "no message" succeeds, and the purge took no revision
                assertThat(kv.update(Bucket.ASSIGNMENT, "piece.1.a.0", v("again"), 0)).isEqualTo(current + 1);
                w.eventually(WATCH_DELIVERY, () -> seen.size() == 5);
                w.pause(Duration.ofMillis(200));
                assertThat(seen).hasSize(5); // the purge itself told the watcher nothing
                assertThat(s(seen.get(4))).isEqualTo("again");
            }
        });
    }

    @Test
    void getAllAnswersAsManyGetsInOrder() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            long a = kv.create(Bucket.ASSIGNMENT, "piece.1.a.0", v("x"));
            long b = kv.create(Bucket.ASSIGNMENT, "piece.1.a.1", v("y"));
            kv.create(Bucket.ASSIGNMENT, "gone", v("z"));
            kv.purge(Bucket.ASSIGNMENT, "gone");
            List<Entry> all = kv.getAll(Bucket.ASSIGNMENT, List.of("piece.1.a.1", "absent", "gone", "piece.1.a.0"));
            assertThat(all).hasSize(4);
            assertThat(s(all.get(0))).isEqualTo("y");
            assertThat(all.get(0).revision()).isEqualTo(b);
            assertThat(all.get(1)).isNull();
            assertThat(all.get(2)).isNull();
            assertThat(s(all.get(3))).isEqualTo("x");
            assertThat(all.get(3).revision()).isEqualTo(a);
            assertThat(kv.getAll(Bucket.ASSIGNMENT, List.of())).isEmpty();
        });
    }

    @Test
    void aGetAlwaysSeesTheLastAcknowledgedWriteDeleteOrPurge() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            long rev = kv.create(Bucket.IDS, "k", v("0"));
            for (int i = 1; i <= 600; i++) {
                String value = Integer.toString(i);
                rev = kv.update(Bucket.IDS, "k", v(value), rev);
                assertThat(s(kv.get(Bucket.IDS, "k"))).as("read after write %d", i).isEqualTo(value);
                if (i % 3 == 0) {
                    kv.purge(Bucket.IDS, "k");
                    assertThat(kv.get(Bucket.IDS, "k")).as("read after purge %d", i).isNull();
                    rev = kv.create(Bucket.IDS, "k", v(Integer.toString(i)));
                }
            }
        });
    }

    @Test
    void aWatchStartsWithTheCurrentValuesMarkersIncludedThenSeesEachKeysLatestWriteInOrder() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            kv.create(Bucket.IDS, "a", v("1"));
            long b = kv.create(Bucket.IDS, "b", v("1"));
            kv.delete(Bucket.IDS, "b", b);
            List<String> seen = new CopyOnWriteArrayList<>();
            AutoCloseable watch = kv.watch(Bucket.IDS, ">", e -> seen.add(e.key() + "@" + e.revision() + (e.deleted() ? " deleted" : " " + s(e))));
            w.eventually(WATCH_DELIVERY, () -> seen.size() == 2);
            assertThat(seen).containsExactly("a@1 1", "b@3 deleted");
            long a2 = kv.update(Bucket.IDS, "a", v("2"), 1);
            kv.delete(Bucket.IDS, "a", a2);
            kv.create(Bucket.IDS, "c", v("1"));
            List<String> writes = List.of("a@1 1", "b@3 deleted", "a@4 2", "a@5 deleted", "c@6 1");
            awaitLatestOfEachKeyInOrder(w, seen, writes, List.of("a@5 deleted", "b@3 deleted", "c@6 1"));
            List<String> one = new CopyOnWriteArrayList<>();
            AutoCloseable single = kv.watch(Bucket.IDS, "c", e -> one.add(e.key() + "@" + e.revision()));
            w.eventually(WATCH_DELIVERY, () -> one.size() == 1);
            assertThat(one).containsExactly("c@6");
            kv.update(Bucket.IDS, "c", v("2"), 6);
            kv.create(Bucket.IDS, "d", v("1"));
            awaitLatestOfEachKeyInOrder(w, one, List.of("c@6", "c@7"), List.of("c@7"));
            List<String> allWrites = new java.util.ArrayList<>(writes);
            allWrites.addAll(List.of("c@7 2", "d@8 1"));
            awaitLatestOfEachKeyInOrder(w, seen, allWrites, List.of("a@5 deleted", "b@3 deleted", "c@7 2", "d@8 1"));
            watch.close();
            single.close();
        });
    }

    /**
     * What a watch of a bucket that keeps one revision per key promises: each key's latest write arrives, and
     * what arrives is in revision order, each revision once; a revision that a newer one of its key replaced
     * before it was delivered may never arrive. nats-server removes the replaced message (the history limit)
     * and its push consumer then delivers the next one without a gap in its sequence, so the ordered consumer
     * has nothing to notice. Seen on a single server, under load, in about 1 of 200 runs of the case above
     * (it expected every revision then). The protocol relies only on the latest value of each key.
     */
    static void awaitLatestOfEachKeyInOrder(World w, List<String> seen, List<String> writes, List<String> latest) {
        try {
            w.eventually(WATCH_DELIVERY, () -> seen.containsAll(latest));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("watch delivered " + seen + " within " + WATCH_DELIVERY + ", not all of " + latest, e);
        }
        assertThat(seen).doesNotHaveDuplicates();
        assertThat(writes).as("the writes, in order; the watch delivered %s", seen).containsSubsequence(seen);
    }

    @Test
    void aKeyExpiresByTheBucketTtlWithoutAWatchEvent() throws Exception {
        run(w -> {
            Kv kv = w.kv();
            List<String> seen = new CopyOnWriteArrayList<>();
            AutoCloseable watch = kv.watch(Bucket.HEARTBEATS, ">", e -> seen.add(e.key() + "@" + e.revision() + (e.deleted() ? " deleted" : "")));
            long r = kv.create(Bucket.HEARTBEATS, "w-0", v("hb"));
            w.eventually(WATCH_DELIVERY, () -> seen.size() == 1);
            assertThat(kv.get(Bucket.HEARTBEATS, "w-0")).isNotNull(); // well inside the TTL
            w.eventually(Duration.ofSeconds(5), () -> kv.get(Bucket.HEARTBEATS, "w-0") == null);
            assertThat(kv.keys(Bucket.HEARTBEATS)).isEmpty();
            w.pause(Duration.ofMillis(300));
            assertThat(seen).containsExactly("w-0@" + r); // no event for the expiry
            // expired means absent: the old revision no longer matches, create works, revisions go on
            assertThatThrownBy(() -> kv.update(Bucket.HEARTBEATS, "w-0", v("late"), r)).isInstanceOf(CasConflictException.class);
            assertThat(kv.create(Bucket.HEARTBEATS, "w-0", v("again"))).isEqualTo(r + 1);
            w.eventually(WATCH_DELIVERY, () -> seen.size() == 2);
            watch.close();
        });
    }
}
