package dev.parti.benchmarks;

/**
 * A benchmark size: workers (Kafka: group members) × partitions.
 *
 * @param workers    number of workers, ≥ 1
 * @param partitions number of partitions, ≥ 0
 */
public record Size(int workers, int partitions) {
    /** The sizes of benchmark B1. */
    public static final String[] ALL = {"10x100", "50x1000", "200x10000", "1000x100000"};

    /** Validates. */
    public Size {
        if (workers < 1 || partitions < 0) {
            throw new IllegalArgumentException("bad size " + workers + "x" + partitions);
        }
    }

    /** Parses {@code <workers>x<partitions>}, e.g. {@code 200x10000}. */
    public static Size parse(String s) {
        String[] parts = s.split("x", -1);
        if (parts.length != 2) {
            throw new IllegalArgumentException("size must look like 200x10000, was " + s);
        }
        return new Size(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
    }

    @Override
    public String toString() {
        return workers + "x" + partitions;
    }
}
