package dev.parti.benchmarks;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * Partitions moved and balance, per assignor and size, outside JMH.
 *
 * <p>For {@code N} workers and {@code P} partitions ({@link Scenario}): the assignor first assigns a
 * cold start of {@code N} workers; then, from that assignment as the previous (owned) one,
 * <ul>
 *   <li><b>scale-out</b>: worker {@code N} joins ({@code N → N+1});</li>
 *   <li><b>scale-in</b>: worker {@code N/2} leaves ({@code N → N−1}); its partitions must move.</li>
 * </ul>
 * Moved = partitions whose owner differs between before and after. Kafka's cooperative assignor
 * hands over in rounds (the first round withholds partitions that change owner); it is run round
 * after round, each with the previous round's result as owned partitions and the generation
 * increased, until every partition is assigned, and the rounds are counted. Balance = smallest and
 * largest partition count of a worker.
 */
public final class MovementReport {

    /** One assignor at one size. */
    public record Row(Size size, String assignor,
                      int[] coldMinMax, int outMoved, int[] outMinMax, int outRounds,
                      int inMoved, int inLeaverOwned, int[] inMinMax, int inRounds) {

        /** Lower bound of partitions moved on scale-out for any balanced assignor: {@code ⌊P/(N+1)⌋}. */
        public int outIdeal() {
            return size.partitions() / (size.workers() + 1);
        }
    }

    private MovementReport() {
    }

    /** Computes a row for every size and assignor. */
    public static List<Row> compute(List<Size> sizes, List<String> assignors) {
        List<Row> rows = new ArrayList<>();
        for (Size size : sizes) {
            for (String name : assignors) {
                rows.add(compute(size, Assigner.byName(name)));
            }
        }
        return rows;
    }

    /** One row. */
    public static Row compute(Size size, Assigner assigner) {
        int n = size.workers();
        List<TopicPartition> partitions = Scenario.partitions(size.partitions());
        List<String> members = Scenario.workers(n);
        Settled cold = settle(assigner, members, partitions, Map.of());

        List<String> more = new ArrayList<>(members);
        more.add(Scenario.worker(n));
        Settled out = settle(assigner, more, partitions, cold.assignment);

        String leaver = Scenario.worker(n / 2);
        List<String> fewer = new ArrayList<>(members);
        fewer.remove(leaver);
        Map<String, List<TopicPartition>> owned = new HashMap<>(cold.assignment);
        owned.remove(leaver);
        Settled in = n > 1 ? settle(assigner, fewer, partitions, owned) : null;

        return new Row(size, assigner.name(),
                minMax(cold.assignment), moved(cold.assignment, out.assignment), minMax(out.assignment), out.rounds,
                in == null ? 0 : moved(cold.assignment, in.assignment), cold.assignment.get(leaver).size(),
                in == null ? new int[] {0, 0} : minMax(in.assignment), in == null ? 0 : in.rounds);
    }

    private record Settled(Map<String, List<TopicPartition>> assignment, int rounds) {
    }

    private static Settled settle(Assigner assigner, List<String> members, List<TopicPartition> partitions,
                                  Map<String, List<TopicPartition>> owned) {
        Map<String, List<TopicPartition>> current = owned;
        for (int round = 1; round <= 10; round++) {
            Map<String, List<TopicPartition>> result = assigner.prepare(members, partitions, current, round).assign();
            int assigned = result.values().stream().mapToInt(List::size).sum();
            if (!assigner.cooperative() || assigned == partitions.size()) {
                return new Settled(result, round);
            }
            current = result;
        }
        throw new IllegalStateException(assigner + " did not settle in 10 rounds");
    }

    private static int moved(Map<String, List<TopicPartition>> before, Map<String, List<TopicPartition>> after) {
        Map<TopicPartition, String> owner = new HashMap<>();
        before.forEach((m, tps) -> tps.forEach(tp -> owner.put(tp, m)));
        int moved = 0;
        for (Map.Entry<String, List<TopicPartition>> e : after.entrySet()) {
            for (TopicPartition tp : e.getValue()) {
                String was = owner.get(tp);
                if (was != null && !was.equals(e.getKey())) {
                    moved++;
                }
            }
        }
        return moved;
    }

    private static int[] minMax(Map<String, List<TopicPartition>> assignment) {
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (List<TopicPartition> tps : assignment.values()) {
            min = Math.min(min, tps.size());
            max = Math.max(max, tps.size());
        }
        return new int[] {assignment.isEmpty() ? 0 : min, max};
    }

    /** The rows as a Markdown table. */
    public static String markdown(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("| size (N×P) | assignor | cold start min–max | N→N+1 moved (ideal ⌊P/(N+1)⌋) | N+1 min–max "
                + "| N→N−1 moved (leaver owned) | N−1 min–max | rounds out/in |\n");
        sb.append("|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            sb.append("| ").append(r.size()).append(" | ").append(r.assignor())
                    .append(" | ").append(r.coldMinMax()[0]).append("–").append(r.coldMinMax()[1])
                    .append(" | ").append(r.outMoved()).append(" (").append(r.outIdeal()).append(")")
                    .append(" | ").append(r.outMinMax()[0]).append("–").append(r.outMinMax()[1])
                    .append(" | ").append(r.inMoved()).append(" (").append(r.inLeaverOwned()).append(")")
                    .append(" | ").append(r.inMinMax()[0]).append("–").append(r.inMinMax()[1])
                    .append(" | ").append(r.outRounds()).append("/").append(r.inRounds())
                    .append(" |\n");
        }
        return sb.toString();
    }

    /**
     * Prints the table for the given sizes (default: all of {@link Size#ALL}).
     *
     * @param args sizes such as {@code 200x10000}
     */
    public static void main(String[] args) {
        List<Size> sizes = new ArrayList<>();
        for (String s : args.length == 0 ? Size.ALL : args) {
            sizes.add(Size.parse(s));
        }
        System.out.print(markdown(compute(sizes, Assigner.names())));
    }

    /** Rows by size then assignor, for lookups. */
    static Map<String, Row> index(List<Row> rows) {
        Map<String, Row> map = new LinkedHashMap<>();
        rows.forEach(r -> map.put(r.size() + "/" + r.assignor(), r));
        return map;
    }
}
