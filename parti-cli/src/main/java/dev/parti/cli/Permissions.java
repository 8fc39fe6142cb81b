package dev.parti.cli;

import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway.Bucket;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code parti permissions --role R --group G…}: the minimal NATS permissions of a worker, a read-only
 * operator or an admin, as a nats-server {@code permissions} block (or JSON). These are the sets the
 * security tests run a real server with. Needs no connection.
 */
@Command(name = "permissions", sortOptions = false, mixinStandardHelpOptions = true,
        description = "Prints the minimal NATS permissions of a worker of a group, a read-only operator (groups, describe, "
                + "watch) or an admin (reset), as a nats-server `permissions` block to paste into a user entry.")
final class Permissions implements Callable<Integer> {
    /** Who the permissions are for. */
    enum Role { worker, reader, admin }

    @Spec
    CommandSpec spec;

    @Option(names = "--role", required = true, description = "worker, reader or admin")
    Role role;

    @Option(names = {"-g", "--group"}, description = "A group the user works on or reads (repeatable); required for worker and reader")
    List<String> groups = new ArrayList<>();

    @Option(names = "--json", description = "Print {\"publish\": [...], \"subscribe\": [...]} instead")
    boolean json;

    @Option(names = "--disconnect-events", paramLabel = "SUBJECT", description = "Worker role: the subject of the client "
            + "DISCONNECT events every worker of the group subscribes to (PartiConfig disconnectEvents, parti.disconnect.events)")
    String disconnectEvents;

    @Override
    public Integer call() {
        if (role != Role.admin && groups.isEmpty()) {
            throw new CliException("--role " + role + " needs at least one --group");
        }
        if (role == Role.worker && groups.size() != 1) {
            throw new CliException("--role worker takes exactly one --group: give each group's workers their own user");
        }
        if (disconnectEvents != null && role != Role.worker) {
            throw new CliException("--disconnect-events is a worker's permission: use it with --role worker");
        }
        if (disconnectEvents != null && (disconnectEvents.isBlank() || disconnectEvents.contains(" ")
                || disconnectEvents.startsWith(".") || disconnectEvents.endsWith(".") || disconnectEvents.contains(".."))) {
            throw new CliException("--disconnect-events '" + disconnectEvents + "' is not a NATS subject");
        }
        List<String> subscribe = disconnectEvents == null ? List.of("_INBOX.>") : List.of("_INBOX.>", disconnectEvents);
        List<String> publish = switch (role) {
            case worker -> worker(groups.get(0));
            case reader -> reader(groups);
            case admin -> admin();
        };
        PrintWriter out = spec.commandLine().getOut();
        out.println(json ? Json.pretty(Map.of("publish", publish, "subscribe", subscribe)) : block(publish, subscribe));
        out.flush();
        return 0;
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

    /** What reading a group's buckets publishes to: stream info, gets, and the consumers of watches and key listings. */
    static List<String> read(String group) {
        List<String> out = new ArrayList<>(List.of("$JS.API.INFO"));
        for (String s : streams(group)) {
            out.addAll(List.of("$JS.API.STREAM.INFO." + s, "$JS.API.STREAM.MSG.GET." + s, "$JS.API.DIRECT.GET." + s,
                    "$JS.API.DIRECT.GET." + s + ".>", "$JS.API.CONSUMER.CREATE." + s, "$JS.API.CONSUMER.CREATE." + s + ".>",
                    "$JS.API.CONSUMER.DELETE." + s + ".>", "$JS.API.CONSUMER.INFO." + s + ".>", "$JS.FC." + s + ".>"));
        }
        return out;
    }

    /**
     * A worker of {@code group}: read, create its buckets, raise their TTL to its own timings (a rolling change
     * to longer timeouts), write its keys, purge the replaced pieces of a chunked assignment record.
     */
    static List<String> worker(String group) {
        List<String> pub = new ArrayList<>(read(group));
        BucketNames names = new BucketNames(group);
        for (Bucket b : Bucket.values()) {
            pub.add("$JS.API.STREAM.CREATE.KV_" + names.name(b));
            pub.add("$JS.API.STREAM.UPDATE.KV_" + names.name(b));
            pub.add("$KV." + names.name(b) + ".>");
        }
        // a record above the max payload is published in pieces; the leader purges replaced pieces by subject
        pub.add("$JS.API.STREAM.PURGE.KV_" + names.name(Bucket.ASSIGNMENT));
        return pub;
    }

    /** A read-only operator of {@code groups}: list the account's streams, read the groups; no writes, no bucket changes. */
    static List<String> reader(List<String> groups) {
        Set<String> pub = new LinkedHashSet<>(List.of("$JS.API.STREAM.LIST"));
        groups.forEach(g -> pub.addAll(read(g)));
        return List.copyOf(pub);
    }

    /** An admin: every JetStream API and KV subject of the account ({@code parti reset} deletes streams). */
    static List<String> admin() {
        return List.of("$JS.API.>", "$KV.>", "$JS.FC.>");
    }

    /** A nats-server {@code permissions} block that subscribes to replies only. */
    static String block(List<String> publish) {
        return block(publish, List.of("_INBOX.>"));
    }

    /** A nats-server {@code permissions} block. */
    static String block(List<String> publish, List<String> subscribe) {
        StringBuilder s = new StringBuilder("{\n  publish: {\n    allow: [\n");
        for (int i = 0; i < publish.size(); i++) {
            s.append("      \"").append(publish.get(i)).append('"').append(i < publish.size() - 1 ? "," : "").append('\n');
        }
        s.append("    ]\n  }\n  subscribe: {\n    allow: [");
        for (int i = 0; i < subscribe.size(); i++) {
            s.append(i > 0 ? ", " : "").append('"').append(subscribe.get(i)).append('"');
        }
        return s.append("]\n  }\n}").toString();
    }
}
