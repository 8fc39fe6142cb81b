package dev.parti.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Derives the bucket names of a group: the group name sanitized to {@code [A-Za-z0-9_-]}
 * (at most 32 characters) plus 8 hex digits of a SHA-256 of the raw name, so distinct groups such
 * as {@code orders.v1} and {@code orders_v1} never share buckets, and any group name works.
 */
public final class BucketNames {
    private final String group;
    private final String prefix;

    public BucketNames(String group) {
        this.group = group;
        StringBuilder s = new StringBuilder();
        for (char c : group.toCharArray()) {
            s.append(Character.isLetterOrDigit(c) && c < 128 || c == '-' || c == '_' ? c : '_');
            if (s.length() == 32) {
                break;
            }
        }
        this.prefix = "parti_" + s + "_" + shortHash(group);
    }

    private static String shortHash(String raw) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(raw.getBytes(StandardCharsets.UTF_8));
            StringBuilder h = new StringBuilder();
            for (int i = 0; i < 4; i++) {
                h.append(String.format("%02x", d[i]));
            }
            return h.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }

    /** The raw group name. */
    public String group() {
        return group;
    }

    /** The bucket name for one of the group's buckets. */
    public String name(KvGateway.Bucket b) {
        return prefix + "_" + b.name().toLowerCase();
    }
}
