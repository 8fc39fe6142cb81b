package dev.parti.nats;

import dev.parti.Partition;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a {@link Partition} maps to the subjects of a stream: the filter subjects of the partition's
 * consumer. Partitions must map to disjoint subjects (two partitions sharing a message would hand it
 * to two workers).
 *
 * <p>Common layouts:
 * <ul>
 *   <li>publishers put the partition in the subject: {@code orders.<partition>.<rest>}, mapped with
 *   {@code SubjectMapping.template("orders.{partition}.>")};</li>
 *   <li>the server partitions the subjects with a subject-mapping transform, for example
 *   {@code "orders.*": "orders.{{partition(8,1)}}.{{wildcard(1)}}"} in the account's {@code mappings}; the
 *   stream stores {@code orders.<0..7>.<key>} and the same template applies;</li>
 *   <li>anything else: implement the interface.</li>
 * </ul>
 *
 * <p>A partition that maps to several subjects needs a multi-filter consumer, which nats-server 2.10
 * introduced; on 2.9 {@link PartitionedConsumer#start()} refuses such a mapping.
 */
@FunctionalInterface
public interface SubjectMapping {
    /** The filter subjects of {@code partition}: at least one, each a valid subject filter. */
    List<String> subjects(Partition partition);

    /**
     * A template with placeholders: {@code {partition}} is the partition's last key, {@code {0}},
     * {@code {1}}, … its keys by position. Example: partitions {@code Partition.of("orders", "3")} and
     * template {@code "orders.{partition}.>"} give {@code orders.3.>}.
     *
     * @throws IllegalArgumentException when the template has no placeholder, or is not a subject filter
     */
    static SubjectMapping template(String template) {
        Objects.requireNonNull(template, "template");
        Matcher m = Templates.PLACEHOLDER.matcher(template);
        if (!m.find()) {
            throw new IllegalArgumentException("subject template '" + template
                    + "' has no placeholder ({partition} or {0}, {1}, ...): every partition would get the same subject");
        }
        Templates.checkFilter(Templates.PLACEHOLDER.matcher(template).replaceAll("x"), template);
        return partition -> {
            Matcher pm = Templates.PLACEHOLDER.matcher(template);
            StringBuilder out = new StringBuilder();
            List<String> keys = partition.keys();
            while (pm.find()) {
                String name = pm.group(1);
                String value;
                if (name.equals("partition")) {
                    value = keys.get(keys.size() - 1);
                } else {
                    int i = Integer.parseInt(name);
                    if (i >= keys.size()) {
                        throw new IllegalArgumentException("subject template '" + template + "' uses key {" + i
                                + "} but partition " + partition.id() + " has " + keys.size() + " keys");
                    }
                    value = keys.get(i);
                }
                if (!Templates.isToken(value)) {
                    throw new IllegalArgumentException("partition " + partition.id() + " key '" + value
                            + "' cannot be a subject token (no '.', '*', '>' or whitespace)");
                }
                pm.appendReplacement(out, Matcher.quoteReplacement(value));
            }
            pm.appendTail(out);
            return List.of(out.toString());
        };
    }

    /** Helpers of {@link #template(String)}. */
    final class Templates {
        static final Pattern PLACEHOLDER = Pattern.compile("\\{(partition|\\d+)}");

        private Templates() {
        }

        static boolean isToken(String s) {
            return !s.isEmpty() && s.chars().noneMatch(c -> c == '.' || c == '*' || c == '>' || Character.isWhitespace(c));
        }

        /** Checks a subject filter: non-empty tokens, {@code >} only last. */
        static void checkFilter(String subject, String shownAs) {
            String[] tokens = subject.split("\\.", -1);
            for (int i = 0; i < tokens.length; i++) {
                String t = tokens[i];
                boolean ok = t.equals("*") || t.equals(">") && i == tokens.length - 1 || isToken(t);
                if (!ok) {
                    throw new IllegalArgumentException("'" + shownAs + "' is not a subject filter (token " + (i + 1)
                            + " '" + t + "': tokens must be non-empty, without whitespace; '>' only as the last token)");
                }
            }
        }

        static List<String> checked(SubjectMapping mapping, Partition p) {
            List<String> subjects = mapping.subjects(p);
            if (subjects == null || subjects.isEmpty()) {
                throw new IllegalArgumentException("subject mapping gave no subject for partition " + p.id());
            }
            List<String> out = new ArrayList<>(subjects.size());
            for (String s : subjects) {
                checkFilter(Objects.requireNonNull(s, "subject of " + p.id()), s);
                out.add(s);
            }
            return List.copyOf(out);
        }
    }
}
