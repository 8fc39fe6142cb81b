package dev.parti.nats.internal;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A nats-server version as announced in its INFO ({@code 2.9.10}, {@code 2.10.0-beta.3}) and the
 * consumer features that depend on it.
 *
 * @param major major version
 * @param minor minor version
 * @param patch patch version
 */
public record ServerVersion(int major, int minor, int patch) implements Comparable<ServerVersion> {
    /** The first release with multi-filter consumers ({@code filter_subjects}). */
    public static final ServerVersion MULTI_FILTER = new ServerVersion(2, 10, 0);
    private static final Pattern FORMAT = Pattern.compile("v?(\\d+)\\.(\\d+)\\.(\\d+)(?:[-+].*)?");

    /**
     * Parses {@code text}; a pre-release ({@code 2.10.0-beta}) counts as its release, as the server's
     * own feature gates do.
     *
     * @throws IllegalArgumentException naming the text when it is not {@code major.minor.patch[-suffix]}
     */
    public static ServerVersion parse(String text) {
        Matcher m = text == null ? null : FORMAT.matcher(text.trim());
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException("not a nats-server version: '" + text + "'");
        }
        return new ServerVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
    }

    /** Whether a consumer may have several filter subjects (nats-server 2.10+). */
    public boolean supportsMultiFilter() {
        return compareTo(MULTI_FILTER) >= 0;
    }

    @Override
    public int compareTo(ServerVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) {
            c = Integer.compare(minor, o.minor);
        }
        return c != 0 ? c : Integer.compare(patch, o.patch);
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + patch;
    }
}
