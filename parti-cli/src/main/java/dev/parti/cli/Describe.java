package dev.parti.cli;

import dev.parti.Partition;
import io.nats.client.Connection;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code parti describe --group G [--bootstrap-server B]}. */
@Command(name = "describe", sortOptions = false,
        mixinStandardHelpOptions = true,
        description = "Shows a group: leader and lease age; each worker with its instance, heartbeat age, weight, applied version, owned and assigned partitions; the assignment version and the handoffs in progress. With --bootstrap-server also committed offset, end offset and lag per partition next to its owner.")
final class Describe implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NatsConnection nats;

    @Option(names = {"-g", "--group"}, required = true, description = "The Parti group (the Kafka group.id for PartiConsumer)")
    String group;

    @Option(names = {"-b", "--bootstrap-server"}, paramLabel = "HOST:PORT",
            description = "Kafka bootstrap servers: adds committed offset, end offset and lag per partition")
    String bootstrap;

    @Option(names = "--command-config", paramLabel = "FILE",
            description = "Kafka Admin client properties (security settings), as for kafka-consumer-groups")
    Path commandConfig;

    @Option(names = "--kafka-group", paramLabel = "GROUP_ID",
            description = "Kafka group.id when it differs from the Parti group (default: the same)")
    String kafkaGroup;

    @Option(names = "--json", description = "Print JSON instead of tables")
    boolean json;

    @Override
    public Integer call() {
        GroupView view;
        try (Connection c = nats.connect()) {
            GroupState state = new GroupReader(c, nats.timeout, nats::lastServerError).read(group);
            view = GroupView.of(state, Instant.now());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted", e);
        }
        Map<TopicPartition, KafkaOffsets.Offsets> offsets = null;
        if (bootstrap != null) {
            List<TopicPartition> tps = new ArrayList<>(kafkaOwners(view).keySet());
            offsets = KafkaOffsets.read(bootstrap, commandConfig, kafkaGroup == null ? group : kafkaGroup, tps, nats.timeout);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Json.pretty(Json.describe(view, offsets)));
        } else {
            print(out, view, offsets);
        }
        out.flush();
        return 0;
    }

    /** Kafka partition → who has it: the holders per heartbeats, else {@code →W} for the published owner not yet holding it. */
    static Map<TopicPartition, String> kafkaOwners(GroupView v) {
        Map<TopicPartition, String> out = new HashMap<>();
        Map<Partition, Set<String>> held = v.heldBy();
        v.assignedOwners().forEach((p, w) -> {
            TopicPartition tp = KafkaOffsets.topicPartition(p);
            if (tp != null && !held.containsKey(p)) {
                out.put(tp, "->" + w);
            }
        });
        held.forEach((p, ws) -> {
            TopicPartition tp = KafkaOffsets.topicPartition(p);
            if (tp != null) {
                out.put(tp, String.join("+", ws));
            }
        });
        return out;
    }

    static void print(PrintWriter out, GroupView v, Map<TopicPartition, KafkaOffsets.Offsets> offsets) {
        out.println("GROUP       " + v.group());
        if (v.leader() == null) {
            out.println("LEADER      none (no leader key: an election is due)");
        } else {
            out.println("LEADER      " + v.leader().workerId() + " (instance " + shortId(v.leader().instance())
                    + "), lease renewed " + Durations.human(v.leader().leaseAge()) + " ago"
                    + (v.leaderTtl() == null ? "" : " (lease " + Durations.human(v.leaderTtl()) + ")"));
        }
        long version = 0;
        if (v.assignment() == null) {
            out.println("ASSIGNMENT  none published yet");
        } else {
            version = v.assignment().version();
            out.println("ASSIGNMENT  version " + version + " published by " + v.assignment().leaderId()
                    + " (epoch " + v.assignment().epoch() + ") " + Durations.human(v.assignment().age()) + " ago, "
                    + v.assignment().partitions() + " partitions");
        }
        out.println("MEMBERS     " + v.live().size() + " live"
                + (v.sessionTimeout() == null ? "" : " (session timeout " + Durations.human(v.sessionTimeout()) + ")"));
        out.println();
        Table workers = new Table("WORKER", "INSTANCE", "HOST", "HEARTBEAT", "WEIGHT", "APPLIED", "STATUS", "OWNED", "ASSIGNED");
        for (GroupView.Worker w : v.workers()) {
            workers.row(w.id(), shortId(w.instance()), w.host() == null ? "-" : w.host(), w.heartbeatAge() == null ? "-" : Durations.human(w.heartbeatAge()) + " ago",
                    w.weight(), w.appliedVersion(), w.status(version), list(w.owned()),
                    w.assigned().equals(w.owned()) ? "(same)" : list(w.assigned()));
        }
        workers.print(out);
        out.println();
        if (v.handoffs().isEmpty()) {
            out.println("PENDING HANDOFFS  none");
        } else {
            out.println("PENDING HANDOFFS  " + v.handoffs().size());
            Table h = new Table("PARTITION", "FROM", "TO", "WAITING FOR");
            for (GroupView.Handoff x : v.handoffs()) {
                h.row(x.partition().id(), x.from(), x.to() == null ? "(withheld)" : x.to(), x.waitingFor());
            }
            h.print(out);
        }
        if (offsets != null) {
            out.println();
            Map<TopicPartition, String> owners = kafkaOwners(v);
            Table k = new Table("TOPIC", "PARTITION", "OWNER", "COMMITTED-OFFSET", "END-OFFSET", "LAG");
            offsets.forEach((tp, o) -> k.row(tp.topic(), tp.partition(), owners.get(tp), o.committed(), o.end(), o.lag()));
            k.print(out);
        }
        if (!v.unreadable().isEmpty()) {
            out.println();
            out.println("UNREADABLE RECORDS (written by another Parti version?)");
            v.unreadable().forEach((k, why) -> out.println("  " + k + ": " + why));
        }
    }

    static String shortId(String instance) {
        return instance == null ? "-" : instance.length() > 8 ? instance.substring(0, 8) : instance;
    }

    static String list(List<Partition> ps) {
        return ps.isEmpty() ? "-" : ps.stream().map(Partition::id).collect(Collectors.joining(","));
    }
}
