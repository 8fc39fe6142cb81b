package dev.parti.nats.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Durable consumer names derived from partition IDs. A name depends only on the prefix and the
 * partition, never on the worker, so whoever owns a partition next (or the same worker ID after a
 * restart) finds the consumer, and with it the partition's ack floor, under the same name.
 *
 * <p>The encoding is injective: letters and digits stay, {@code /} (the separator of {@code
 * Partition.id()}) becomes {@code _}, every other UTF-8 byte becomes {@code -xx} (two lower-case hex
 * digits). The result uses only {@code [A-Za-z0-9_-]}, which every nats-server accepts in a durable
 * name and in its store path. Names longer than {@link #MAX_LENGTH} keep a prefix and end with a
 * SHA-256-based suffix.
 */
public final class ConsumerNames {
    /** Longest name produced (the server stores each consumer in a directory of that name). */
    public static final int MAX_LENGTH = 200;
    private static final HexFormat HEX = HexFormat.of();

    private ConsumerNames() {
    }

    /** Whether {@code prefix} is usable: non-empty, at most 100 characters of {@code [A-Za-z0-9_-]}. */
    public static boolean isValidPrefix(String prefix) {
        return prefix != null && !prefix.isEmpty() && prefix.length() <= 100
                && prefix.chars().allMatch(ConsumerNames::isNameChar);
    }

    /** A valid prefix derived from any non-empty text (for example the group name). */
    public static String prefixFor(String text) {
        String encoded = encode(text);
        return encoded.length() <= 100 ? encoded : encoded.substring(0, 90) + "-" + shortHash(text);
    }

    /** The durable name of partition {@code partitionId} under {@code prefix}. */
    public static String durable(String prefix, String partitionId) {
        if (!isValidPrefix(prefix)) {
            throw new IllegalArgumentException("consumer prefix must be 1..100 characters of [A-Za-z0-9_-], was '" + prefix + "'");
        }
        String name = prefix + "-" + encode(partitionId);
        if (name.length() <= MAX_LENGTH) {
            return name;
        }
        return name.substring(0, MAX_LENGTH - 17) + "-" + shortHash(partitionId);
    }

    static String encode(String text) {
        StringBuilder out = new StringBuilder(text.length() + 8);
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if (c < 128 && Character.isLetterOrDigit(c)) {
                out.append(c);
            } else if (c == '/') {
                out.append('_');
            } else {
                out.append('-').append(HEX.toHexDigits(b));
            }
        }
        return out.toString();
    }

    private static boolean isNameChar(int c) {
        return c < 128 && (Character.isLetterOrDigit(c) || c == '_' || c == '-');
    }

    private static String shortHash(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HEX.formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
