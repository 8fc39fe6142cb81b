package dev.parti.kafka;

import dev.parti.AssignmentStrategy;
import dev.parti.Partition;
import dev.parti.Worker;
import dev.parti.kafka.PartiAssignorCodec.AssignmentData;
import dev.parti.kafka.PartiAssignorCodec.MemberData;
import dev.parti.kafka.internal.SubscriberGroups;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.common.TopicPartition;

/**
 * The leader's side of {@link PartiAssignor}: a pure function from the group's members (stable IDs,
 * weights, subscriptions, owned partitions, remembered holdings) and the topics' partition counts to one
 * {@link Assignment} per member. No I/O, no clock except for the reported duration.
 *
 * <h2>Steps</h2>
 * <ol>
 *   <li><b>Worker IDs.</b> Each member's stable ID comes from its user data (else its
 *       {@code group.instance.id}, else its member ID). Members claiming the same ID are disambiguated
 *       deterministically: the one that used the ID last time (highest generation, then smallest member
 *       ID) keeps it, the others become {@code ID#memberId}.</li>
 *   <li><b>Previous ownership.</b> Three kinds of claims name a partition's holder and its <em>home</em>
 *       (the worker it belongs to when that worker is present): a member's remembered target
 *       (rank 0), a member's memo of its absent buddy's target (rank 1), and Kafka's owned partitions
 *       (rank 2). The claim of the highest generation wins, then the lower rank, then the smaller holder
 *       ID. A partition whose home is present counts as the home's previous partition; one whose home is
 *       absent counts as its holder's (a loan), or as free when the holder is absent too.</li>
 *   <li><b>Strategy.</b> Topics are grouped by the set of members subscribing to them; the strategy runs
 *       once per group over those members and partitions. Identical subscriptions make one run.</li>
 *   <li><b>Cooperative rule.</b> A partition that some member reports owning is handed to another member
 *       only once nobody reports owning it: until then it is <em>withheld</em> (left out of the
 *       assignment, kept in the target), so its owner revokes it and Kafka's follow-up rebalance hands
 *       it over. With the eager protocol nobody reports owned partitions and nothing is withheld.</li>
 *   <li><b>Memory.</b> Each member's assignment user data carries its withheld partitions, its loans
 *       (partitions kept for an absent worker, by home) and a memo of its buddy's holdings (the next worker
 *       in ID order), so the group as a whole remembers every worker's partitions while it is away.</li>
 * </ol>
 */
final class PartiAssignorPlanner {
    private static final Comparator<TopicPartition> ORDER =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    private PartiAssignorPlanner() {
    }

    /**
     * One member of the group as the leader sees it.
     *
     * @param memberId        Kafka's member ID
     * @param groupInstanceId its {@code group.instance.id}, if static
     * @param topics          the topics it subscribes to
     * @param owned           the partitions it reports owning (empty under the eager protocol)
     * @param ownedGeneration the generation it reports with its owned partitions, −1 if none
     * @param data            its decoded user data, {@code null} if it had none or it was malformed
     */
    record Member(String memberId, Optional<String> groupInstanceId, List<String> topics,
                  List<TopicPartition> owned, int ownedGeneration, MemberData data) {
        Member {
            Objects.requireNonNull(memberId, "memberId");
            groupInstanceId = Objects.requireNonNullElse(groupInstanceId, Optional.empty());
            topics = List.copyOf(topics);
            owned = List.copyOf(owned);
        }

        String configuredId() {
            if (data != null) {
                return data.workerId();
            }
            return groupInstanceId.filter(s -> !s.isEmpty()).orElse(memberId);
        }

        long weight() {
            return data != null && data.weight() >= Worker.DEFAULT_CAPACITY ? data.weight() : Worker.DEFAULT_CAPACITY;
        }

        int generation() {
            return data != null ? data.generation() : -1;
        }
    }

    /**
     * The plan's figures, for logs and tests.
     *
     * @param members      members in the group
     * @param partitions   partitions assigned (of subscribed topics that exist)
     * @param moved        partitions whose new owner differs from their current live holder
     * @param withheld     partitions left unassigned this round because another member must release them
     * @param loaned       partitions kept for absent workers
     * @param duplicateIds stable IDs claimed by more than one member
     * @param nanos        time spent planning
     */
    record Stats(int members, int partitions, int moved, int withheld, int loaned, List<String> duplicateIds,
                 long nanos) {
        Stats {
            duplicateIds = List.copyOf(duplicateIds);
        }
    }

    /**
     * The result: member ID → assignment, worker IDs used, and figures.
     *
     * @param assignments member ID → its assignment (user data included)
     * @param workerIds   member ID → the worker ID the strategy saw for it
     * @param stats       figures
     */
    record Plan(Map<String, Assignment> assignments, Map<String, String> workerIds, Stats stats) {
    }

    /**
     * Plans the assignment.
     *
     * @param strategy        the Parti strategy to run
     * @param partitionCounts topic → its number of partitions, for the subscribed topics that exist
     * @param members         every member of the group, any order
     */
    static Plan plan(AssignmentStrategy strategy, Map<String, Integer> partitionCounts, Collection<Member> members) {
        long started = System.nanoTime();
        List<Member> sorted = new ArrayList<>(members);
        sorted.sort(Comparator.comparing(Member::memberId));
        int m = sorted.size();

        // 1. Worker IDs.
        List<String> duplicates = new ArrayList<>();
        String[] ids = workerIds(sorted, duplicates);
        Map<String, Integer> live = new HashMap<>();
        for (int i = 0; i < m; i++) {
            live.put(ids[i], i);
        }

        // The partition universe: subscribed topics that exist, in topic order.
        Map<String, Integer> base = new HashMap<>();
        List<String> topics = new ArrayList<>();
        {
            Set<String> subscribed = new TreeSet<>();
            for (Member member : sorted) {
                subscribed.addAll(member.topics());
            }
            int offset = 0;
            for (String topic : subscribed) {
                Integer count = partitionCounts.get(topic);
                if (count != null && count > 0) {
                    base.put(topic, offset);
                    topics.add(topic);
                    offset += count;
                }
            }
        }
        int p = 0;
        for (String topic : topics) {
            p += partitionCounts.get(topic);
        }
        TopicPartition[] tps = new TopicPartition[p];
        Partition[] parts = new Partition[p];
        Map<Partition, Integer> indexOf = new HashMap<>(p * 2);
        for (String topic : topics) {
            int b = base.get(topic);
            int count = partitionCounts.get(topic);
            for (int n = 0; n < count; n++) {
                tps[b + n] = new TopicPartition(topic, n);
                parts[b + n] = Partition.of(topic, Integer.toString(n));
                indexOf.put(parts[b + n], b + n);
            }
        }

        // 2. Claims.
        Claims claims = new Claims(p);
        int[] firstOwner = new int[p];
        java.util.Arrays.fill(firstOwner, -1);
        Map<Integer, Set<Integer>> moreOwners = new HashMap<>();
        for (int i = 0; i < m; i++) {
            Member member = sorted.get(i);
            String id = ids[i];
            MemberData data = member.data();
            if (data != null) {
                for (Map.Entry<String, List<TopicPartition>> e : data.holdings().entrySet()) {
                    String home = e.getKey().equals(PartiAssignorCodec.SELF) ? id : e.getKey();
                    for (TopicPartition tp : e.getValue()) {
                        claims.offer(index(base, partitionCounts, tp), data.generation(), 0, id, home);
                    }
                }
                String buddy = data.buddyId();
                if (buddy != null && !live.containsKey(buddy)) {
                    for (Map.Entry<String, List<TopicPartition>> e : data.memo().entrySet()) {
                        String home = e.getKey().equals(PartiAssignorCodec.SELF) ? buddy : e.getKey();
                        for (TopicPartition tp : e.getValue()) {
                            claims.offer(index(base, partitionCounts, tp), data.generation(), 1, buddy, home);
                        }
                    }
                }
            }
            for (TopicPartition tp : member.owned()) {
                int r = index(base, partitionCounts, tp);
                if (r < 0) {
                    continue;
                }
                claims.offer(r, member.ownedGeneration(), 2, id, id);
                if (firstOwner[r] < 0) {
                    firstOwner[r] = i;
                } else if (firstOwner[r] != i) {
                    moreOwners.computeIfAbsent(r, k -> new HashSet<>()).add(i);
                }
            }
        }

        // Previous ownership for the strategy; loans.
        Map<String, Set<Partition>> previous = new HashMap<>();
        String[] loanHome = new String[p];
        String[] currentHolder = new String[p];
        for (int r = 0; r < p; r++) {
            String holder = claims.holder[r];
            if (holder == null) {
                continue;
            }
            String home = claims.home[r];
            if (live.containsKey(holder)) {
                currentHolder[r] = holder;
            }
            if (live.containsKey(home)) {
                previous.computeIfAbsent(home, k -> new HashSet<>()).add(parts[r]);
            } else {
                loanHome[r] = home;
                if (live.containsKey(holder)) {
                    previous.computeIfAbsent(holder, k -> new HashSet<>()).add(parts[r]);
                }
            }
        }

        // 3. Strategy, once per set of subscribers (shared with PartiConsumer's leader).
        List<Worker> workers = new ArrayList<>(m);
        Map<String, Set<String>> topicsOf = new HashMap<>();
        for (int i = 0; i < m; i++) {
            workers.add(new Worker(ids[i], sorted.get(i).weight()));
            Set<String> subscribed = new HashSet<>();
            for (String topic : sorted.get(i).topics()) {
                if (base.containsKey(topic)) {
                    subscribed.add(topic);
                }
            }
            topicsOf.put(ids[i], subscribed);
        }
        int[] newOwner = new int[p];
        java.util.Arrays.fill(newOwner, -1);
        Map<String, List<Partition>> result =
                SubscriberGroups.assign(strategy, workers, topicsOf, java.util.Arrays.asList(parts), previous);
        for (Map.Entry<String, List<Partition>> owned : result.entrySet()) {
            int owner = live.get(owned.getKey());
            for (Partition partition : owned.getValue()) {
                newOwner[indexOf.get(partition)] = owner;
            }
        }

        // 4. Per member: target, withheld, loans.
        List<List<TopicPartition>> assigned = new ArrayList<>(m);
        List<List<TopicPartition>> withheld = new ArrayList<>(m);
        List<Map<String, List<TopicPartition>>> loans = new ArrayList<>(m);
        List<List<TopicPartition>> own = new ArrayList<>(m);
        for (int i = 0; i < m; i++) {
            assigned.add(new ArrayList<>());
            withheld.add(new ArrayList<>());
            loans.add(new TreeMap<>());
            own.add(new ArrayList<>());
        }
        int moved = 0;
        int withheldCount = 0;
        int loaned = 0;
        for (int r = 0; r < p; r++) {
            int i = newOwner[r];
            String id = ids[i];
            if (currentHolder[r] != null && !currentHolder[r].equals(id)) {
                moved++;
            }
            boolean ownedElsewhere = firstOwner[r] >= 0 && firstOwner[r] != i
                    && !moreOwners.getOrDefault(r, Set.of()).contains(i);
            if (ownedElsewhere) {
                withheld.get(i).add(tps[r]);
                withheldCount++;
            } else {
                assigned.get(i).add(tps[r]);
            }
            String home = loanHome[r];
            if (home != null && !home.equals(id) && !live.containsKey(home)) {
                loans.get(i).computeIfAbsent(home, k -> new ArrayList<>()).add(tps[r]);
                loaned++;
            } else {
                own.get(i).add(tps[r]);
            }
        }

        // 5. Memo of the buddy (next worker in ID order) and the assignments.
        String[] byId = ids.clone();
        java.util.Arrays.sort(byId);
        Map<String, Assignment> assignments = new LinkedHashMap<>();
        Map<String, String> workerIds = new LinkedHashMap<>();
        for (int i = 0; i < m; i++) {
            String buddy = null;
            Map<String, List<TopicPartition>> memo = Map.of();
            if (m > 1) {
                int k = java.util.Arrays.binarySearch(byId, ids[i]);
                buddy = byId[(k + 1) % m];
                int b = live.get(buddy);
                memo = holdings(own.get(b), loans.get(b));
            }
            AssignmentData data = new AssignmentData(ids[i], withheld.get(i), loans.get(i), buddy, memo);
            List<TopicPartition> partitions = assigned.get(i);
            partitions.sort(ORDER);
            assignments.put(sorted.get(i).memberId(), new Assignment(partitions, PartiAssignorCodec.encode(data)));
            workerIds.put(sorted.get(i).memberId(), ids[i]);
        }
        Stats stats = new Stats(m, p, moved, withheldCount, loaned, duplicates, System.nanoTime() - started);
        return new Plan(assignments, workerIds, stats);
    }

    /** Home → partitions, with {@link PartiAssignorCodec#SELF} for the worker's own. */
    static Map<String, List<TopicPartition>> holdings(List<TopicPartition> own,
                                                      Map<String, List<TopicPartition>> loans) {
        Map<String, List<TopicPartition>> result = new TreeMap<>(loans);
        if (!own.isEmpty()) {
            result.put(PartiAssignorCodec.SELF, own);
        }
        return result;
    }

    private static int index(Map<String, Integer> base, Map<String, Integer> counts, TopicPartition tp) {
        Integer b = base.get(tp.topic());
        if (b == null || tp.partition() < 0 || tp.partition() >= counts.get(tp.topic())) {
            return -1;
        }
        return b + tp.partition();
    }

    /** Effective worker IDs, index-aligned with {@code members}; fills {@code duplicates}. */
    private static String[] workerIds(List<Member> members, List<String> duplicates) {
        int m = members.size();
        String[] ids = new String[m];
        Map<String, List<Integer>> byConfigured = new TreeMap<>();
        for (int i = 0; i < m; i++) {
            byConfigured.computeIfAbsent(members.get(i).configuredId(), k -> new ArrayList<>()).add(i);
        }
        Set<String> taken = new HashSet<>(byConfigured.keySet());
        for (Map.Entry<String, List<Integer>> e : byConfigured.entrySet()) {
            String id = e.getKey();
            List<Integer> claimants = e.getValue();
            if (claimants.size() == 1) {
                ids[claimants.get(0)] = id;
                continue;
            }
            duplicates.add(id);
            // The keeper: used the ID last time, then the highest generation, then the smallest member ID
            // (members are sorted by member ID, so the first best one wins).
            int keeper = claimants.get(0);
            for (int i : claimants) {
                if (keeperOrder(members.get(i), id) > keeperOrder(members.get(keeper), id)) {
                    keeper = i;
                }
            }
            for (int i : claimants) {
                if (i == keeper) {
                    ids[i] = id;
                } else {
                    String candidate = id + "#" + members.get(i).memberId();
                    while (!taken.add(candidate)) {
                        candidate = candidate + "#";
                    }
                    ids[i] = candidate;
                }
            }
        }
        return ids;
    }

    private static long keeperOrder(Member member, String id) {
        boolean usedIt = member.data() != null && id.equals(member.data().effectiveId());
        return (usedIt ? 1L << 33 : 0L) + member.generation() + 1L;
    }

    /** Per partition, the winning claim. */
    private static final class Claims {
        final int[] generation;
        final int[] rank;
        final String[] holder;
        final String[] home;

        Claims(int p) {
            generation = new int[p];
            rank = new int[p];
            holder = new String[p];
            home = new String[p];
        }

        void offer(int r, int gen, int claimRank, String claimHolder, String claimHome) {
            if (r < 0) {
                return;
            }
            boolean better = holder[r] == null
                    || gen > generation[r]
                    || (gen == generation[r] && (claimRank < rank[r]
                    || (claimRank == rank[r] && claimHolder.compareTo(holder[r]) < 0)));
            if (better) {
                generation[r] = gen;
                rank[r] = claimRank;
                holder[r] = claimHolder;
                home[r] = claimHome;
            }
        }
    }
}
