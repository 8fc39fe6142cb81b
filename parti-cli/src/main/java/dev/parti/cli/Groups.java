package dev.parti.cli;

import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code parti groups}: the Parti groups in the NATS account, with live members, leader and version. */
@Command(name = "groups", mixinStandardHelpOptions = true, description = "Lists the Parti groups in the NATS account: live members, leader, assignment version.")
final class Groups implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NatsConnection nats;

    @Option(names = "--json", description = "Print JSON instead of a table")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        try (Connection c = nats.connect()) {
            GroupReader reader = new GroupReader(c, nats.timeout, nats::lastServerError);
            for (Map.Entry<String, List<Bucket>> g : reader.groups().entrySet()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("group", g.getKey());
                try {
                    GroupState state = new GroupState(g.getKey());
                    reader.readInfo(state);
                    GroupView v = GroupView.of(readQuietly(reader, state), Instant.now());
                    row.put("members", v.live().size());
                    row.put("leader", v.leader() == null ? null : v.leader().workerId());
                    row.put("version", v.assignment() == null ? 0 : v.assignment().version());
                } catch (CliException e) {
                    if (e.getMessage() == null || !e.getMessage().contains("Permissions Violation")) {
                        throw e;
                    }
                    // listed, but this user may not read it: say so instead of failing the whole listing
                    row.put("members", null);
                    row.put("leader", null);
                    row.put("version", null);
                    row.put("readable", false);
                }
                row.put("buckets", g.getValue().size());
                rows.add(row);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Json.pretty(rows));
        } else if (rows.isEmpty()) {
            out.println("no Parti groups in this NATS account");
        } else {
            Table t = new Table("GROUP", "MEMBERS", "LEADER", "VERSION", "BUCKETS");
            rows.forEach(r -> {
                boolean readable = !Boolean.FALSE.equals(r.get("readable"));
                t.row(r.get("group"), readable ? r.get("members") : "(not permitted)", readable ? r.get("leader") : "-",
                        readable ? r.get("version") : "-", r.get("buckets") + "/4");
            });
            t.print(out);
        }
        out.flush();
        return 0;
    }

    private static GroupState readQuietly(GroupReader reader, GroupState state) {
        return state.exists() ? reader.read(state.group) : state;
    }
}
