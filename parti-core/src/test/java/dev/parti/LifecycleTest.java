package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class LifecycleTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static Set<String> threadsOf(String group) {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("parti-" + group)).collect(Collectors.toSet());
    }

    private static Set<String> natsThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.toLowerCase().contains("nats") || n.toLowerCase().contains("jnats")).collect(Collectors.toSet());
    }

    @Test
    void closeLeavesNoThreadAndNoConnectionBehind() throws Exception {
        Set<String> natsBefore = natsThreads();
        try (TestGroup g = new TestGroup("no-leaks", nats.server().url(), 4, b -> b)) {
            g.startAll(2);
            g.awaitBalanced(Duration.ofSeconds(10));
            // no thread of its own: the JVM's shared threads carry the worker's names while they run its work
            for (TestGroup.Member m : g.members) {
                assertThat(m.callbackThreads).containsExactly("parti-no-leaks-callbacks");
            }
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(threadsOf("no-leaks")).isEmpty();
            assertThat(natsThreads()).isSubsetOf(natsBefore);
        });
    }

    @Test
    void closeWorksInEveryStateAndEndsInShutdown() throws Exception {
        // INIT: never started
        TestGroup g0 = new TestGroup("close-init", nats.server().url(), 2, b -> b);
        PartiManager idle = new PartiManager(g0.config().build(), new AssignmentListener() { });
        idle.close();
        assertThat(idle.state()).isEqualTo(ManagerState.SHUTDOWN);
        assertThatThrownBy(idle::start).isInstanceOf(IllegalStateException.class);

        // WAITING_ASSIGNMENT / SCALING: the leader inside a long cold-start window
        try (TestGroup g = new TestGroup("close-scaling", nats.server().url(), 2,
                b -> b.coldStartWindow(Duration.ofSeconds(30)).plannedScaleWindow(Duration.ofSeconds(30)))) {
            TestGroup.Member m = g.start();
            assertThat(m.manager.awaitState(ManagerState.SCALING, Duration.ofSeconds(5))).isTrue();
            TestGroup.Member follower = g.start();
            assertThat(follower.manager.state()).isEqualTo(ManagerState.WAITING_ASSIGNMENT);
            follower.manager.close();
            m.manager.close();
            assertThat(m.manager.state()).isEqualTo(ManagerState.SHUTDOWN);
            assertThat(follower.manager.state()).isEqualTo(ManagerState.SHUTDOWN);
        }
        // STABLE, twice (idempotent)
        try (TestGroup g = new TestGroup("close-stable", nats.server().url(), 2, b -> b)) {
            TestGroup.Member m = g.start();
            g.awaitBalanced(Duration.ofSeconds(10));
            m.manager.close();
            m.manager.close();
            assertThat(m.manager.state()).isEqualTo(ManagerState.SHUTDOWN);
            assertThat(m.events).last().asString().startsWith("revoked");
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> threadsOf("close-").isEmpty());
    }

    @Test
    void concurrentStartAndCloseAlwaysEndInShutdownWithoutThreads() throws Exception {
        TestGroup g = new TestGroup("start-stop", nats.server().url(), 4, b -> b);
        for (int i = 0; i < 10; i++) {
            PartiManager m = new PartiManager(g.config().build(), new AssignmentListener() { });
            CountDownLatch go = new CountDownLatch(1);
            Thread starter = new Thread(() -> {
                try {
                    go.await();
                    m.start();
                } catch (Exception expected) {
                    // close may win: start then fails or finds the manager closed
                }
            });
            Thread closer = new Thread(() -> {
                try {
                    go.await();
                    if (Math.random() < 0.5) {
                        Thread.sleep(5);
                    }
                    m.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            starter.start();
            closer.start();
            go.countDown();
            starter.join();
            closer.join();
            m.close();
            assertThat(m.state()).isEqualTo(ManagerState.SHUTDOWN);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> threadsOf("start-stop").isEmpty());
    }

    @Test
    void natsUnreachableAtStartFailsWithinTheStartupTimeoutWithAClearError() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        PartiConfig c = TestGroup.fast(PartiConfig.builder("unreachable").natsUrl("nats://127.0.0.1:" + port)
                .partitionSource(List::of)).startupTimeout(Duration.ofSeconds(1)).build();
        PartiManager m = new PartiManager(c, new AssignmentListener() { });
        long t0 = System.nanoTime();
        assertThatThrownBy(m::start).isInstanceOf(PartiException.class)
                .hasMessageContaining("NATS unreachable").hasMessageContaining("127.0.0.1:" + port);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(4));
        assertThat(m.state()).isEqualTo(ManagerState.SHUTDOWN);
        await().atMost(Duration.ofSeconds(5)).until(() -> threadsOf("unreachable").isEmpty());
    }

    @Test
    void groupNamesWithAnyCharactersWorkAndSimilarNamesDoNotCollide() throws Exception {
        try (TestGroup a = new TestGroup("orders.v1 *>/ü", nats.server().url(), 3, b -> b);
             TestGroup b = new TestGroup("orders_v1 *>/ü", nats.server().url(), 3, x -> x)) {
            a.start();
            b.start();
            a.awaitBalanced(Duration.ofSeconds(10));
            b.awaitBalanced(Duration.ofSeconds(10));
            assertThat(a.running().get(0).manager.currentAssignment()).hasSize(3);
            assertThat(b.running().get(0).manager.currentAssignment()).hasSize(3);
            assertThat(a.running().get(0).id()).isEqualTo("w-0");
            assertThat(b.running().get(0).id()).isEqualTo("w-0");
        }
    }

    @Test
    void aGivenConnectionIsUsedAndLeftOpen() throws Exception {
        try (Connection nc = Nats.connect(nats.server().url())) {
            TestGroup g = new TestGroup("own-conn", nats.server().url(), 2, b -> b);
            PartiConfig c = TestGroup.fast(PartiConfig.builder("own-conn").connection(nc)
                    .partitionSource(() -> g.partitions)).build();
            PartiManager m = new PartiManager(c, new AssignmentListener() { });
            m.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> m.currentAssignment().size() == 2);
            m.close();
            assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
        }
    }
    /**
     * close() while the listener's onRevoked takes 2.5 sessions (finishing work, committing): the member keeps
     * heartbeating until it returns, so no other worker is given its partitions meanwhile. Before the fix the
     * main loop stopped first, the session ran out during onRevoked and the other member took the partitions
     * while they were still being worked on (an overlap in the ownership log).
     */
    @Test
    void aCloseWhoseOnRevokedOutlastsTheSessionMovesNothingBeforeItReturns() throws Exception {
        try (TestGroup g = new TestGroup("slow-revoke-close", nats.server().url(), 8, b -> b)) {
            List<TestGroup.Member> members = g.startAll(2);
            g.awaitBalanced(Duration.ofSeconds(10));
            long t0 = System.nanoTime();
            TestGroup.Member closing = members.get(1);
            Duration session = Duration.ofMillis(1000); // TestGroup.fast
            closing.blockRevokes = () -> Thread.sleep(session.multipliedBy(5).dividedBy(2).toMillis());
            long closeStart = System.nanoTime();
            closing.manager.close();
            long closeMillis = (System.nanoTime() - closeStart) / 1_000_000;
            TestGroup.Member other = members.get(0);
            await().atMost(Duration.ofSeconds(10)).until(() -> other.manager.currentAssignment().size() == 8);
            System.out.println("[measure] close with a 2.5-session onRevoked returned after " + closeMillis + " ms");
            assertThat(g.overlaps).as("partitions given to another instance while onRevoked still ran").isEmpty();
            g.checkOwnership(t0, Duration.ofSeconds(10)).assertClean();
        }
    }
}
