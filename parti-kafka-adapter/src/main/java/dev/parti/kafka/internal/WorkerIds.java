package dev.parti.kafka.internal;

import java.nio.charset.StandardCharsets;

/**
 * Maps a Kafka {@code group.instance.id} onto a Parti worker ID. Parti IDs are KV keys and allow
 * only a restricted alphabet, while Kafka allows e.g. {@code host.example.com-1}. An ID made only of
 * {@code [A-Za-z0-9-]} is used as it is (so it stays readable in NATS); any other ID is escaped: every
 * byte of its UTF-8 form outside {@code [A-Za-z0-9-]} (including {@code _}) becomes {@code _XX} in
 * upper-case hex. Unescaped IDs never contain {@code _} and escaped ones always do, so the mapping
 * is injective: two instance IDs never share a worker ID.
 */
final class WorkerIds {
    private WorkerIds() {
    }

    static String fromInstanceId(String instanceId) {
        if (instanceId.chars().allMatch(WorkerIds::plain)) {
            return instanceId;
        }
        StringBuilder sb = new StringBuilder();
        for (byte b : instanceId.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (plain(c)) {
                sb.append((char) c);
            } else {
                sb.append('_').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        return sb.toString();
    }

    private static boolean plain(int c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-';
    }
}
