package dev.parti;

import java.util.List;
import java.util.Objects;

/**
 * A unit of work that Parti assigns to exactly one worker: identified by its keys (for Kafka,
 * {@code [topic, partitionNumber]}), carrying a non-negative weight used by weighted strategies.
 *
 * <p>Immutable. Equality and hash code use the keys only, so a weight change does not change
 * identity. The natural order compares keys element by element; elements made only of digits are
 * compared as numbers, so {@code orders/2} sorts before {@code orders/10}, and come before keys
 * with other characters at the same position.
 */
public final class Partition implements Comparable<Partition> {
    /** Weight given by {@link #of(String...)}. */
    public static final long DEFAULT_WEIGHT = 1L;

    private final List<String> keys;
    private final long weight;
    private final String id;

    private Partition(List<String> keys, long weight) {
        Objects.requireNonNull(keys, "keys");
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("Partition keys must not be empty");
        }
        for (String k : keys) {
            if (k == null || k.isEmpty()) {
                throw new IllegalArgumentException("Partition keys must not be null or empty: " + keys);
            }
        }
        if (weight < 0) {
            throw new IllegalArgumentException("Partition weight must be >= 0, was " + weight + " for " + keys);
        }
        this.keys = List.copyOf(keys);
        this.weight = weight;
        this.id = String.join("/", this.keys);
    }

    /** A partition with the given keys and {@link #DEFAULT_WEIGHT}. */
    public static Partition of(String... keys) {
        return new Partition(List.of(keys), DEFAULT_WEIGHT);
    }

    /** A partition with the given keys and weight (≥ 0). */
    public static Partition of(List<String> keys, long weight) {
        return new Partition(keys, weight);
    }

    /** The same keys with another weight. */
    public Partition withWeight(long newWeight) {
        return new Partition(keys, newWeight);
    }

    /** The keys, never empty. */
    public List<String> keys() {
        return keys;
    }

    /** The weight, ≥ 0. */
    public long weight() {
        return weight;
    }

    /** The keys joined with {@code /}: a readable identifier, used in logs and as the hash input of hashing strategies. */
    public String id() {
        return id;
    }

    @Override
    public int compareTo(Partition o) {
        int n = Math.min(keys.size(), o.keys.size());
        for (int i = 0; i < n; i++) {
            int c = compareKey(keys.get(i), o.keys.get(i));
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(keys.size(), o.keys.size());
    }

    private static int compareKey(String a, String b) {
        boolean da = isDigits(a);
        boolean db = isDigits(b);
        if (da != db) {
            return da ? -1 : 1; // digit-only keys first: keeps the order transitive ("2" < "10" < "1a")
        }
        if (da) {
            String x = stripZeros(a);
            String y = stripZeros(b);
            if (x.length() != y.length()) {
                return Integer.compare(x.length(), y.length());
            }
            int c = x.compareTo(y);
            return c != 0 ? c : a.compareTo(b);
        }
        return a.compareTo(b);
    }

    private static boolean isDigits(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch < '0' || ch > '9') {
                return false;
            }
        }
        return true;
    }

    private static String stripZeros(String s) {
        int i = 0;
        while (i < s.length() - 1 && s.charAt(i) == '0') {
            i++;
        }
        return s.substring(i);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Partition && ((Partition) o).keys.equals(keys);
    }

    @Override
    public int hashCode() {
        return keys.hashCode();
    }

    @Override
    public String toString() {
        return weight == DEFAULT_WEIGHT ? id : id + "(w=" + weight + ")";
    }
}
