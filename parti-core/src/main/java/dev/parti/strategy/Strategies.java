package dev.parti.strategy;

import dev.parti.AssignmentStrategy;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The built-in strategies by their configuration name ({@code parti.strategy}), each with its default
 * settings. The instances are shared: strategies are immutable and thread-safe.
 *
 * <table>
 *   <caption>Names</caption>
 *   <tr><th>name</th><th>strategy</th></tr>
 *   <tr><td>{@value StickyBalanced#NAME}</td><td>{@link StickyBalanced} (the default)</td></tr>
 *   <tr><td>{@value ConsistentHash#NAME}</td><td>{@link ConsistentHash}, 150 virtual nodes</td></tr>
 *   <tr><td>{@value RoundRobin#NAME}</td><td>{@link RoundRobin}</td></tr>
 *   <tr><td>{@value WeightedBoundedLoad#NAME}</td><td>{@link WeightedBoundedLoad}, load factor 1.25</td></tr>
 * </table>
 */
public final class Strategies {
    private static final StickyBalanced DEFAULT = new StickyBalanced();
    private static final Map<String, AssignmentStrategy> BY_NAME = register(
            DEFAULT, new ConsistentHash(), new RoundRobin(), new WeightedBoundedLoad());

    private Strategies() {
    }

    private static Map<String, AssignmentStrategy> register(AssignmentStrategy... strategies) {
        Map<String, AssignmentStrategy> map = new LinkedHashMap<>();
        for (AssignmentStrategy s : strategies) {
            map.put(s.name(), s);
        }
        return map;
    }

    /**
     * The built-in strategy named {@code name}, with default settings.
     *
     * @throws IllegalArgumentException for an unknown name; the message lists the valid ones
     */
    public static AssignmentStrategy byName(String name) {
        AssignmentStrategy s = BY_NAME.get(name);
        if (s == null) {
            throw new IllegalArgumentException(
                    "unknown assignment strategy '" + name + "'; valid names: " + String.join(", ", names()));
        }
        return s;
    }

    /** The default strategy: {@link StickyBalanced}. */
    public static AssignmentStrategy defaultStrategy() {
        return DEFAULT;
    }

    /** The names {@link #byName(String)} accepts, the default first. */
    public static List<String> names() {
        return List.copyOf(BY_NAME.keySet());
    }
}
