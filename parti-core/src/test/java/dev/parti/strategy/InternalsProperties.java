package dev.parti.strategy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.Partition;
import dev.parti.Worker;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** The building blocks the strategies' speed rests on agree with their slow, obvious counterparts. */
class InternalsProperties {

    @Example
    void xxHash64MatchesTheReferenceVectors() {
        assertThat(Hashing.xxHash64("")).isEqualTo(0xEF46DB3751D8E999L);
        assertThat(Hashing.xxHash64("a")).isEqualTo(0xD24EC4F1A98C6E5BL);
        assertThat(Hashing.xxHash64("abc")).isEqualTo(0x44BC2CF5AD770999L);
        assertThat(Hashing.xxHash64("orders/17")).isEqualTo(0x43E6819A09FF1A1EL);
        assertThat(Hashing.xxHash64("Nobody inspects the spammish repetition")).isEqualTo(0xFBCEA83C8A378BF1L);
        assertThat(Hashing.xxHash64("topic-0/2499 with a few more bytes than 32 — ünïcödé".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo(0xAA5D8B97377FDB66L);
    }

    /**
     * Keys of one position are digit strings (leading zeros, long numbers included) or strings
     * starting with a letter; partitions have one to three keys.
     */
    @Provide
    Arbitrary<List<Partition>> partitionsWithAllKindsOfKeys() {
        Arbitrary<String> smallNumber = Arbitraries.integers().between(0, 300).map(String::valueOf);
        Arbitrary<String> zeroPadded = Arbitraries.integers().between(0, 300).map(i -> "0" + i);
        Arbitrary<String> huge = Arbitraries.longs().between(1_000_000_000L, Long.MAX_VALUE)
                .flatMap(l -> Arbitraries.of(String.valueOf(l), l + "0" + l));
        Arbitrary<String> word = Arbitraries.integers().between(0, 3000).map(i -> "t" + Integer.toString(i, 36));
        Arbitrary<String> key = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, smallNumber), net.jqwik.api.Tuple.of(1, zeroPadded),
                net.jqwik.api.Tuple.of(1, huge), net.jqwik.api.Tuple.of(4, word));
        Arbitrary<String> numberOnly = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(8, smallNumber), net.jqwik.api.Tuple.of(1, word));
        return Arbitraries.oneOf(key, numberOnly).list().ofMinSize(1).ofMaxSize(3)
                .map(keys -> Partition.of(keys, 1))
                .set().ofMaxSize(100)
                .map(ArrayList::new);
    }

    @Property(tries = 1000)
    void partitionOrderEqualsSortingWithCompareTo(@ForAll("partitionsWithAllKindsOfKeys") List<Partition> partitions) {
        Partition[] ps = partitions.toArray(new Partition[0]);
        int[] order = PartitionOrder.sort(ps);

        List<Partition> fast = new ArrayList<>();
        for (int i : order) {
            fast.add(ps[i]);
        }
        List<Partition> slow = new ArrayList<>(partitions);
        slow.sort(Comparator.naturalOrder());
        assertThat(fast).containsExactlyElementsOf(slow);
    }

    /** Up to 4 keys: small numbers, numbers up to 65 535 (huge code spaces), words. */
    @Provide
    Arbitrary<List<Partition>> partitionsForLookup() {
        Arbitrary<String> key = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.integers().between(0, 40).map(String::valueOf)),
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0, 65_535).map(String::valueOf)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 99).map(i -> "0" + i)),
                net.jqwik.api.Tuple.of(3, Arbitraries.integers().between(0, 200).map(i -> "k" + Integer.toString(i, 36))));
        return key.list().ofMinSize(1).ofMaxSize(4).map(keys -> Partition.of(keys, 1)).list().ofMaxSize(120);
    }

    @Property(tries = 1000)
    void partitionOrderFindsEqualPartitionsAndNothingElse(
            @ForAll("partitionsForLookup") List<Partition> candidates, @ForAll("partitionsForLookup") List<Partition> others) {
        Partition[] ps = candidates.stream().distinct().toArray(Partition[]::new);
        PartitionOrder order = PartitionOrder.of(ps);

        for (int i = 0; i < ps.length; i++) {
            assertThat(order.indexOf(Partition.of(ps[i].keys(), 7))).isEqualTo(i);
        }
        List<Partition> list = Arrays.asList(ps);
        for (Partition q : others) {
            assertThat(order.indexOf(q)).isEqualTo(list.indexOf(q));
        }
    }

    @Provide
    Arbitrary<long[]> clusteredLongs() {
        Arbitrary<Long> spread = Arbitraries.longs();
        Arbitrary<Long> clustered = Arbitraries.longs().between(-200, 200).map(x -> x * 0x1_0000_0000L);
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, spread), net.jqwik.api.Tuple.of(1, clustered))
                .list().ofMaxSize(400)
                .map(l -> l.stream().mapToLong(Long::longValue).toArray());
    }

    @Property(tries = 1000)
    void hashSortEqualsArraysSort(@ForAll("clusteredLongs") long[] values) {
        long[] fast = values.clone();
        long[] slow = values.clone();
        HashSort.sort(fast);
        Arrays.sort(slow);

        assertThat(fast).containsExactly(slow);
    }

    @Property(tries = 1000)
    void hashOrderSortsByKeyThenTie(@ForAll("clusteredLongs") long[] keys) {
        int[] tie = new int[keys.length];
        for (int i = 0; i < tie.length; i++) {
            tie[i] = (i * 7919) % Math.max(1, keys.length) * 1000 + i;
        }
        int[] order = HashSort.order(keys, tie);

        Integer[] expected = new Integer[keys.length];
        Arrays.setAll(expected, i -> i);
        Arrays.sort(expected, Comparator.<Integer>comparingLong(i -> keys[i]).thenComparingInt(i -> tie[i]));
        assertThat(order).containsExactly(Arrays.stream(expected).mapToInt(Integer::intValue).toArray());
    }

    @Property(tries = 1000)
    void indexSortIsAStableSort(@ForAll @Size(max = 300) List<@IntRange(min = 0, max = 20) Integer> values) {
        int[] order = IndexSort.identity(values.size());
        IndexSort.sort(order, (a, b) -> Integer.compare(values.get(a), values.get(b)));

        Integer[] expected = new Integer[values.size()];
        Arrays.setAll(expected, i -> i);
        Arrays.sort(expected, Comparator.comparing(values::get));
        assertThat(order).containsExactly(Arrays.stream(expected).mapToInt(Integer::intValue).toArray());
    }

    @Property(tries = 1000)
    void ringSuccessorIsTheFirstPointAtOrAfterTheHash(
            @ForAll @Size(min = 1, max = 12) Set<@IntRange(min = 0, max = 99) Integer> ids,
            @ForAll @IntRange(min = 1, max = 50) int virtualNodes,
            @ForAll @Size(max = 50) List<Long> hashes) {
        Worker[] workers = ids.stream().map(i -> new Worker("w" + i, 1 + i % 3)).sorted().toArray(Worker[]::new);
        Ring ring = Ring.build(workers, virtualNodes);

        long[] points = new long[ring.size()];
        Arrays.setAll(points, ring::point);
        assertThat(points).isSorted();
        for (long hash : hashes) {
            long q = hash & ~Ring.OWNER_MASK;
            int expected = 0;
            while (expected < points.length && points[expected] < q) {
                expected++;
            }
            assertThat(ring.successor(hash)).isEqualTo(expected == points.length ? 0 : expected);
        }
    }
}
