package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every claim in the README, the guides and the docs names the test or benchmark behind it; a renamed test must not
 * leave a name behind that no longer exists. Checks each {@code `Class#method`} or {@code `Class.method`} naming a class
 * of this repository (the method must appear in that class's source or, for inherited tests, in another source of
 * the repository), and each {@code `#method`} written in a class's context (the method must appear in a test source).
 */
class DocumentedTestsTest {
    private static final Pattern QUALIFIED = Pattern.compile("`([A-Z][A-Za-z0-9]+)[#.]([a-z][A-Za-z0-9_]+)");
    private static final Pattern SHORT = Pattern.compile("`#([a-z][A-Za-z0-9_]{15,})`");

    @Test
    void everyTestNamedInTheDocumentationExists() throws IOException {
        Path root = Path.of("").toAbsolutePath().getParent();
        Map<String, List<String>> sources = new HashMap<>();
        StringBuilder testSources = new StringBuilder();
        StringBuilder allSources = new StringBuilder();
        List<Path> docs = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            files.filter(p -> !p.toString().contains("/target/") && !p.toString().contains("/.git/")
                    && !p.toString().contains("/node_modules/")).forEach(p -> {
                        String name = p.getFileName().toString();
                        if (name.endsWith(".java")) {
                            String text = read(p);
                            sources.computeIfAbsent(name.substring(0, name.length() - 5), k -> new ArrayList<>()).add(text);
                            allSources.append(text);
                            if (p.toString().contains("/src/test/")) {
                                testSources.append(text);
                            }
                        } else if (name.endsWith(".md")) {
                            docs.add(p);
                        }
                    });
        }
        assertThat(docs).as("the documentation is found from " + root).hasSizeGreaterThan(5);
        List<String> missing = new ArrayList<>();
        int checked = 0;
        for (Path doc : docs) {
            String text = read(doc);
            Matcher m = QUALIFIED.matcher(text);
            while (m.find()) {
                List<String> cls = sources.get(m.group(1));
                if (cls == null) {
                    continue; // not a class of this repository (a Kafka or JDK class, say)
                }
                checked++;
                String method = m.group(2);
                if (cls.stream().noneMatch(s -> s.contains(method)) && !allSources.toString().contains(" " + method + "(")) {
                    missing.add(root.relativize(doc) + ": " + m.group(1) + "#" + method);
                }
            }
            Matcher s = SHORT.matcher(text);
            while (s.find()) {
                checked++;
                if (!testSources.toString().contains(" " + s.group(1) + "(")) {
                    missing.add(root.relativize(doc) + ": #" + s.group(1));
                }
            }
        }
        assertThat(checked).as("names checked").isGreaterThan(100);
        assertThat(missing).as("tests named in the documentation that do not exist").isEmpty();
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
