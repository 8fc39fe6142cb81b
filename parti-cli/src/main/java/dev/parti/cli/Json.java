package dev.parti.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.parti.Partition;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/** The {@code --json} output: plain maps and lists written by Jackson; durations in milliseconds, instants in ISO-8601. */
final class Json {
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper LINE = new ObjectMapper();

    private Json() { }

    static String pretty(Object o) {
        try {
            return PRETTY.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    /** One line (for {@code watch --json}: one object per line). */
    static String line(Object o) {
        try {
            return LINE.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    static Long ms(Duration d) {
        return d == null ? null : d.toMillis();
    }

    static List<String> ids(List<Partition> ps) {
        List<String> out = new ArrayList<>(ps.size());
        ps.forEach(p -> out.add(p.id()));
        return out;
    }

    static Map<String, Object> describe(GroupView v, Map<TopicPartition, KafkaOffsets.Offsets> offsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("group", v.group());
        m.put("at", v.at().toString());
        m.put("sessionTimeoutMs", ms(v.sessionTimeout()));
        m.put("leaderTtlMs", ms(v.leaderTtl()));
        if (v.leader() == null) {
            m.put("leader", null);
        } else {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("workerId", v.leader().workerId());
            l.put("instance", v.leader().instance());
            l.put("leaseAgeMs", ms(v.leader().leaseAge()));
            m.put("leader", l);
        }
        if (v.assignment() == null) {
            m.put("assignment", null);
        } else {
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("version", v.assignment().version());
            a.put("publishedBy", v.assignment().leaderId());
            a.put("epoch", v.assignment().epoch());
            a.put("ageMs", ms(v.assignment().age()));
            a.put("partitions", v.assignment().partitions());
            m.put("assignment", a);
        }
        long version = v.assignment() == null ? 0 : v.assignment().version();
        List<Object> workers = new ArrayList<>();
        for (GroupView.Worker w : v.workers()) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("id", w.id());
            o.put("instance", w.instance());
            o.put("host", w.host()); // host:pid from the heartbeat's metadata; null from a worker before format 1.1
            o.put("heartbeatAgeMs", ms(w.heartbeatAge()));
            o.put("weight", w.weight());
            o.put("appliedVersion", w.appliedVersion());
            o.put("status", w.status(version));
            o.put("fenced", w.fenced());
            o.put("degraded", w.degraded()); // reasons the worker reports in its heartbeat (kv-unavailable, ...)
            o.put("owned", ids(w.owned()));
            o.put("assigned", ids(w.assigned()));
            workers.add(o);
        }
        m.put("workers", workers);
        List<Object> handoffs = new ArrayList<>();
        for (GroupView.Handoff h : v.handoffs()) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("partition", h.partition().id());
            o.put("from", h.from());
            o.put("to", h.to());
            o.put("waitingFor", h.waitingFor());
            handoffs.add(o);
        }
        m.put("pendingHandoffs", handoffs);
        if (offsets != null) {
            List<Object> parts = new ArrayList<>();
            Map<TopicPartition, String> owner = Describe.kafkaOwners(v);
            for (Map.Entry<TopicPartition, KafkaOffsets.Offsets> e : offsets.entrySet()) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("topic", e.getKey().topic());
                o.put("partition", e.getKey().partition());
                o.put("owner", owner.get(e.getKey()));
                o.put("committedOffset", e.getValue().committed());
                o.put("endOffset", e.getValue().end());
                o.put("lag", e.getValue().lag());
                parts.add(o);
            }
            m.put("kafka", parts);
        }
        if (!v.unreadable().isEmpty()) {
            m.put("unreadable", v.unreadable());
        }
        return m;
    }
}
