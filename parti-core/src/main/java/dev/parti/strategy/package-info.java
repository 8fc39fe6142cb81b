/**
 * The built-in {@link dev.parti.AssignmentStrategy assignment strategies}, by name through
 * {@link dev.parti.strategy.Strategies}.
 *
 * <table>
 *   <caption>Which strategy when</caption>
 *   <tr><th>strategy</th><th>balance</th><th>movement on a membership change</th><th>uses</th></tr>
 *   <tr><td>{@link dev.parti.strategy.StickyBalanced} (default)</td><td>counts within 1 (equal capacity)</td>
 *       <td>minimal: only what balance requires</td><td>previous assignment, capacity</td></tr>
 *   <tr><td>{@link dev.parti.strategy.ConsistentHash}</td><td>statistical</td>
 *       <td>only partitions of the joining/leaving worker</td><td>capacity (virtual nodes)</td></tr>
 *   <tr><td>{@link dev.parti.strategy.WeightedBoundedLoad}</td><td>weight ≤ max(c × fair, fair + heaviest)</td>
 *       <td>small, by hashing (no promise)</td><td>weights, capacity</td></tr>
 *   <tr><td>{@link dev.parti.strategy.RoundRobin}</td><td>counts within 1</td><td>anything may move</td>
 *       <td>nothing but the sets</td></tr>
 * </table>
 *
 * <p>Every strategy is immutable, thread-safe, deterministic (the result depends on the request's
 * content only, never on list or map order), returns a key for every worker, sorts every list by
 * {@link dev.parti.Partition}'s natural order, returns an empty map for no workers and empty lists for
 * no partitions.
 *
 * <p>Speed: the strategies never sort partitions with {@code Partition.compareTo}. Each key position
 * gets order-preserving integer codes (the number itself for Kafka partition numbers, else the rank
 * among the distinct keys), and partitions are ordered by counting sorts over those codes; hash rings
 * are bucket-sorted on their top bits and indexed by them. 200 workers × 10 000 partitions take about
 * a millisecond or two (see {@code benchmarks/README.md}).
 */
package dev.parti.strategy;
