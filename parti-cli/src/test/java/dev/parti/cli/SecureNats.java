package dev.parti.cli;

import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Starts a real nats-server from a configuration file (accounts, users, permissions, TLS) through the
 * test kit's launcher, and writes the minimal NATS permission sets of docs/OPERATIONS.md: a worker of
 * one group, a read-only CLI user, an admin.
 */
final class SecureNats {
    private SecureNats() { }

    /** Writes {@code config} to {@code dir/nats.conf} and starts a server with it (JetStream on, free ports). */
    static NatsServer start(Path dir, String config) {
        try {
            Path conf = dir.resolve("nats.conf");
            Files.writeString(conf, config);
            return NatsServer.builder().args("-c", conf.toString()).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The JetStream streams behind a group's four buckets ({@code KV_<bucket>}). */
    static List<String> streams(String group) {
        BucketNames names = new BucketNames(group);
        List<String> out = new ArrayList<>();
        for (Bucket b : Bucket.values()) {
            out.add("KV_" + names.name(b));
        }
        return out;
    }

    /** Subjects a reader of the group's buckets publishes to: stream info, gets, and the consumers of watches and key listings. */
    static List<String> readSubjects(String group) {
        List<String> out = new ArrayList<>(List.of("$JS.API.INFO"));
        for (String s : streams(group)) {
            out.addAll(List.of("$JS.API.STREAM.INFO." + s, "$JS.API.STREAM.MSG.GET." + s, "$JS.API.DIRECT.GET." + s,
                    "$JS.API.DIRECT.GET." + s + ".>", "$JS.API.CONSUMER.CREATE." + s, "$JS.API.CONSUMER.CREATE." + s + ".>",
                    "$JS.API.CONSUMER.DELETE." + s + ".>", "$JS.API.CONSUMER.INFO." + s + ".>", "$JS.FC." + s + ".>"));
        }
        return out;
    }

    /** A worker of {@code group}: read, create its buckets, write its keys. */
    static String workerPermissions(String group) {
        List<String> pub = new ArrayList<>(readSubjects(group));
        BucketNames names = new BucketNames(group);
        for (Bucket b : Bucket.values()) {
            pub.add("$JS.API.STREAM.CREATE.KV_" + names.name(b));
            pub.add("$KV." + names.name(b) + ".>");
        }
        return permissions(pub);
    }

    /** A read-only operator ({@code parti groups/describe/watch}) of {@code groups}: no writes, no bucket changes. */
    static String readerPermissions(String... groups) {
        List<String> pub = new ArrayList<>(List.of("$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES"));
        for (String g : groups) {
            pub.addAll(readSubjects(g));
        }
        return permissions(pub.stream().distinct().toList());
    }

    /** An admin: every JetStream API and KV subject of the account ({@code parti reset} deletes streams). */
    static String adminPermissions() {
        return permissions(List.of("$JS.API.>", "$KV.>", "$JS.FC.>"));
    }

    private static String permissions(List<String> publish) {
        return "{ publish: { allow: [" + publish.stream().map(s -> "\"" + s + "\"").collect(Collectors.joining(", "))
                + "] }, subscribe: { allow: [\"_INBOX.>\"] } }";
    }
}
