package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.internal.BucketNames;
import dev.parti.internal.Codec;
import dev.parti.internal.KvGateway;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.KeyValue;
import io.nats.client.Nats;
import io.nats.client.api.KeyValueEntry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Crash detection with proof of death: the liveness connection ({@code parti-liveness}) against a real nats-server.
 * One per shared connection (the workers of a JVM share both), named in every heartbeat beside the connection the
 * writes travel over, and closed with the last worker (no connection and no jnats thread left). Without the setting
 * there is none.
 */
class LivenessConnectionTest {
    private static final String EVENTS = "$SYS.ACCOUNT.APP.DISCONNECT";
    private static final Pattern CONNECTION = Pattern.compile("\"cid\":\\s*(\\d+),[^{}]*?\"name\":\\s*\"(parti-[a-z-]+)\"");
    private static NatsServer nats;

    @BeforeAll
    static void startServer() {
        nats = NatsServer.builder().config(NatsServer.disconnectEventsConfig("APP", "app", "app-pw", true)).start();
    }

    @AfterAll
    static void stopServer() {
        if (nats != null) {
            nats.close();
        }
    }

    private static String url() {
        return "nats://app:app-pw@127.0.0.1:" + nats.port();
    }

    /** The server's client connections named {@code name}: their cids. */
    private static List<Long> connections(String name) {
        List<Long> out = new ArrayList<>();
        Matcher m = CONNECTION.matcher(nats.monitor("/connz?limit=1000"));
        while (m.find()) {
            if (m.group(2).equals(name)) {
                out.add(Long.parseLong(m.group(1)));
            }
        }
        return out;
    }

    private static List<String> livenessThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.contains("parti-liveness")).toList();
    }

    @Test
    void oneLivenessConnectionPerSharedConnectionNamedInEveryHeartbeatAndClosedWithTheLastWorker() throws Exception {
        try (Connection nc = Nats.connect(url())) {
            String server = nc.getServerInfo().getServerId();
            try (TestGroup g = new TestGroup("liveness", url(), 4, b -> b.disconnectEvents(EVENTS))) {
                TestGroup.Member a = g.start();
                TestGroup.Member b = g.start();
                g.awaitBalanced(Duration.ofSeconds(10));
                assertThat(connections("parti-nats")).as("the workers share one connection").hasSize(1);
                assertThat(connections("parti-liveness")).as("and one liveness connection").hasSize(1);
                List<String> threads = livenessThreads();
                System.out.println("[measure] the liveness connection's jnats threads: " + threads.size() + " " + threads);
                assertThat(threads).as("jnats names its threads after the connection").isNotEmpty();
                String writes = server + ":" + connections("parti-nats").get(0);
                String liveness = server + ":" + connections("parti-liveness").get(0);
                KeyValue hb = nc.keyValue(new BucketNames("liveness").name(KvGateway.Bucket.HEARTBEATS));
                for (TestGroup.Member m : List.of(a, b)) {
                    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20)).untilAsserted(() -> {
                        KeyValueEntry e = hb.get(m.manager.workerId());
                        Codec.Heartbeat h = Codec.decodeHeartbeat(e.getValue());
                        assertThat(h.connection()).as("the liveness connection").isEqualTo(liveness);
                        assertThat(h.writes()).as("the connection its writes travel over").isEqualTo(writes);
                    });
                }
                a.manager.close();
                assertThat(connections("parti-liveness")).as("kept while a worker on it runs").hasSize(1);
            }
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                assertThat(connections("parti-nats")).isEmpty();
                assertThat(connections("parti-liveness")).isEmpty();
                assertThat(livenessThreads()).isEmpty();
            });
        }
    }

    @Test
    void aWorkerThatDoesNotShareItsConnectionHasItsOwnLivenessConnectionClosedWithIt() {
        try (TestGroup g = new TestGroup("own-liveness", url(), 4, b -> b.disconnectEvents(EVENTS).shareConnection(false))) {
            TestGroup.Member a = g.start();
            g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(connections("parti-own-liveness")).hasSize(2);
            assertThat(connections("parti-liveness")).as("one per worker").hasSize(2);
            a.manager.close();
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                assertThat(connections("parti-own-liveness")).hasSize(1);
                assertThat(connections("parti-liveness")).hasSize(1);
            });
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(connections("parti-liveness")).isEmpty();
            assertThat(livenessThreads()).isEmpty();
        });
    }

    @Test
    void withoutTheSettingThereIsNoLivenessConnection() {
        try (TestGroup g = new TestGroup("no-liveness", url(), 2, b -> b)) {
            g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            assertThat(connections("parti-nats")).hasSize(1);
            assertThat(connections("parti-liveness")).isEmpty();
        }
    }
}
