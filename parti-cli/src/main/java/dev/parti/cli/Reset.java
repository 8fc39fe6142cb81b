package dev.parti.cli;

import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValueManagement;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code parti reset --group G}: deletes the group's four buckets (worker IDs, heartbeats, leader,
 * assignment). Refused while members heartbeat, unless {@code --force}; asks for the group name as
 * confirmation unless {@code --yes}. Kafka offsets are not touched.
 */
@Command(name = "reset", sortOptions = false,
        mixinStandardHelpOptions = true,
        description = "Deletes a group's Parti state (its four key-value buckets); Kafka offsets are kept. Refused while members are live unless --force; asks for confirmation unless --yes.")
final class Reset implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NatsConnection nats;

    @Option(names = {"-g", "--group"}, required = true, description = "The Parti group")
    String group;

    @Option(names = "--force", description = "Reset even though members are live (they lose their IDs and start over)")
    boolean force;

    @Option(names = {"-y", "--yes"}, description = "Do not ask for confirmation")
    boolean yes;

    /** Where the confirmation is read from (stdin; tests give their own). */
    final BufferedReader input;

    Reset(BufferedReader input) {
        this.input = input;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (Connection c = nats.connect()) {
            GroupReader reader = new GroupReader(c, nats.timeout, nats::lastServerError);
            GroupState state = new GroupState(group);
            reader.readInfo(state);
            if (!state.exists()) {
                throw new CliException("group '" + group + "' has no Parti state on this NATS server; nothing to reset");
            }
            List<String> live = state.buckets.get(Bucket.HEARTBEATS).exists() ? reader.keys(state, Bucket.HEARTBEATS) : List.of();
            if (!live.isEmpty() && !force) {
                throw new CliException("refusing to reset group '" + group + "': " + live.size() + " live member"
                        + (live.size() == 1 ? "" : "s") + " (" + String.join(", ", live) + ") still heartbeat. Stop them "
                        + "first, or pass --force (they lose their IDs and claim new ones in fresh buckets)");
            }
            if (!yes) {
                out.print("Delete the Parti state of group '" + group + "'" + (live.isEmpty() ? "" : " while "
                        + live.size() + " members are live") + "? Type the group name to confirm: ");
                out.flush();
                String answer = input == null ? null : input.readLine();
                if (answer == null) {
                    throw new CliException("no confirmation (standard input is closed); pass --yes to reset without asking");
                }
                if (!answer.trim().equals(group)) {
                    out.println();
                    throw new CliException("confirmation '" + answer.trim() + "' does not match the group name; nothing deleted");
                }
            }
            KeyValueManagement kvm = reader.management();
            for (Bucket b : Bucket.values()) {
                GroupState.BucketInfo info = state.buckets.get(b);
                if (!info.exists()) {
                    continue;
                }
                try {
                    kvm.delete(info.name());
                    out.println("deleted bucket " + info.name());
                } catch (IOException | JetStreamApiException e) {
                    throw reader.failure("deleting bucket " + info.name(), e);
                }
            }
            out.println("group '" + group + "' reset" + (live.isEmpty() ? "" : " (" + live.size() + " members were live)"));
            out.flush();
            return 0;
        }
    }
}
