package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.AssignmentListener;
import dev.parti.ManagerState;
import dev.parti.PartiConfig;
import dev.parti.PartiManager;
import dev.parti.Partition;
import dev.parti.testkit.NatsServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Workers of one JVM share a NATS connection (one per servers and options), one watch dispatcher and the
 * lease-watchdog threads; against a real nats-server: isolation between them, NATS loss as the whole
 * JVM's loss, and nothing left behind when the last one closes.
 */
class SharedResourcesTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static final Duration SESSION = Duration.ofMillis(1000);

    private static PartiConfig.Builder config(String group, int partitions) {
        List<Partition> ps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            ps.add(Partition.of("topic", Integer.toString(i)));
        }
        return PartiConfig.builder(group).natsUrl(nats.server().url())
                .partitionSource(() -> ps)
                .heartbeatInterval(Duration.ofMillis(100))
                .sessionTimeout(SESSION)
                .leaderTtl(Duration.ofMillis(800))
                .workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(300))
                .plannedScaleWindow(Duration.ofMillis(300))
                .rebalanceCooldown(Duration.ofMillis(100))
                .startupTimeout(Duration.ofSeconds(10));
    }

    /** Records what one worker was told, in order. */
    private static final class Recorder implements AssignmentListener {
        final Set<Partition> owned = ConcurrentHashMap.newKeySet();
        final List<String> taken = new CopyOnWriteArrayList<>();

        @Override
        public void onAssigned(Set<Partition> added, long version) {
            owned.addAll(added);
        }

        @Override
        public void onRevoked(Set<Partition> removed, long version) {
            owned.removeAll(removed);
            taken.add("revoked " + removed);
        }

        @Override
        public void onLost(Set<Partition> lost, long version) {
            owned.removeAll(lost);
            taken.add("lost " + lost);
        }
    }

    private static int serverConnections() {
        Matcher m = Pattern.compile("\"num_connections\"\\s*:\\s*(\\d+)").matcher(nats.server().monitor("/connz"));
        assertThat(m.find()).as("num_connections in /connz").isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static Set<Thread> liveThreads() {
        Set<Thread> out = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive()) {
                out.add(t);
            }
        }
        return out;
    }

    /** Parti's and jnats' threads started since {@code before} and still alive. */
    private static List<String> newPartiThreads(Set<Thread> before) {
        List<String> out = new ArrayList<>();
        for (Thread t : liveThreads()) {
            if (!before.contains(t) && (t.getName().startsWith("parti") || t.getName().startsWith("pool-"))) {
                out.add(t.getName());
            }
        }
        return out;
    }

    @Test
    void aStalledCallbackDelaysNoOtherWorkerAndClosingTheLastLeavesNothingBehind() throws Exception {
        Set<Thread> before = liveThreads();
        CountDownLatch stalling = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Recorder stalledView = new Recorder();
        AssignmentListener staller = new AssignmentListener() {
            @Override
            public void onAssigned(Set<Partition> added, long version) {
                stalledView.onAssigned(added, version);
                if (!added.isEmpty() && stalling.getCount() > 0) {
                    stalling.countDown();
                    try {
                        release.await(); // a listener that hangs: the user's code, on this worker's callback thread
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        Recorder b = new Recorder();
        Recorder c = new Recorder();
        PartiManager mb = new PartiManager(config("shared-stall", 6).build(), b);
        PartiManager mc = new PartiManager(config("shared-stall", 6).build(), c);
        PartiManager ma = new PartiManager(config("shared-stall", 6).build(), staller);
        try {
            mb.start();
            mc.start();
            ma.start();
            assertThat(stalling.await(15, TimeUnit.SECONDS)).as("the stalling worker got partitions").isTrue();
            await().atMost(Duration.ofSeconds(10)).until(() -> !b.owned.isEmpty() && !c.owned.isEmpty()
                    && mb.state() == ManagerState.STABLE && mc.state() == ManagerState.STABLE);
            Set<Partition> ownedB = Set.copyOf(b.owned);
            Set<Partition> ownedC = Set.copyOf(c.owned);
            assertThat(SharedNats.openConnections()).as("one shared connection in this JVM").isEqualTo(1);
            assertThat(serverConnections()).as("connections the server sees").isEqualTo(1);

            // three session timeouts with one worker's callback thread hung: the others keep their leases and partitions
            await().during(SESSION.multipliedBy(3)).atMost(SESSION.multipliedBy(4)).until(() ->
                    mb.isLeaseValid() && mc.isLeaseValid() && ma.isLeaseValid()
                            && mb.state() == ManagerState.STABLE && mc.state() == ManagerState.STABLE
                            && b.owned.equals(ownedB) && c.owned.equals(ownedC)
                            && b.taken.isEmpty() && c.taken.isEmpty());

            // a worker leaves while the hung listener still holds a shared callback thread: the others apply the
            // new assignment (their callbacks run on other threads of the pool) and keep their leases
            mc.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> b.owned.containsAll(ownedB) && b.owned.size() > ownedB.size()
                    && mb.isLeaseValid() && ma.isLeaseValid() && mb.state() == ManagerState.STABLE);
            assertThat(stalling.getCount()).isZero();
            assertThat(b.taken).isEmpty();
            release.countDown();

            // closing one keeps the others running on the shared connection; they take over its partitions
            mb.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> stalledView.owned.size() == 6 && ma.isLeaseValid());
            assertThat(SharedNats.openConnections()).isEqualTo(1);
            assertThat(serverConnections()).isEqualTo(1);
        } finally {
            release.countDown();
            ma.close();
            mb.close();
            mc.close();
        }
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
            assertThat(newPartiThreads(before)).as("threads left").isEmpty();
            assertThat(SharedNats.openConnections()).isZero();
            assertThat(SharedScheduler.running()).isFalse();
            assertThat(serverConnections()).isZero();
        });
    }

    @Test
    void losingTheSharedConnectionIsTheWholeJvmsLossAndEveryWorkerComesBack() throws Exception {
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        PartiManager ma = new PartiManager(config("shared-loss", 4).build(), a);
        PartiManager mb = new PartiManager(config("shared-loss", 4).build(), b);
        try {
            ma.start();
            mb.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> a.owned.size() == 2 && b.owned.size() == 2);
            assertThat(serverConnections()).isEqualTo(1);

            nats.server().kill(); // SIGKILL: the one TCP connection of this JVM is cut for every worker on it
            await().atMost(SESSION.multipliedBy(4)).until(() -> ma.state() == ManagerState.DEGRADED
                    && mb.state() == ManagerState.DEGRADED && a.owned.isEmpty() && b.owned.isEmpty());
            assertThat(a.taken).anyMatch(s -> s.startsWith("lost"));
            assertThat(b.taken).anyMatch(s -> s.startsWith("lost"));

            nats.server().restart();
            await().atMost(Duration.ofSeconds(20)).until(() -> a.owned.size() + b.owned.size() == 4
                    && ma.isLeaseValid() && mb.isLeaseValid());
            assertThat(serverConnections()).as("reconnected on one connection").isEqualTo(1);
            assertThat(SharedNats.openConnections()).isEqualTo(1);
        } finally {
            ma.close();
            mb.close();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> SharedNats.openConnections() == 0 && serverConnections() == 0);
    }

    @Test
    void aWorkerThatOptsOutHasAConnectionOfItsOwn() throws Exception {
        PartiManager shared1 = new PartiManager(config("shared-optout", 2).build(), new Recorder());
        PartiManager shared2 = new PartiManager(config("shared-optout", 2).build(), new Recorder());
        PartiManager own = new PartiManager(config("shared-optout", 2).shareConnection(false).build(), new Recorder());
        try {
            shared1.start();
            shared2.start();
            own.start();
            assertThat(SharedNats.openConnections()).isEqualTo(1);
            assertThat(serverConnections()).isEqualTo(2);
        } finally {
            shared1.close();
            shared2.close();
            own.close();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> SharedNats.openConnections() == 0 && serverConnections() == 0);
    }

    @Test
    void everyUserOfTheSharedConnectionHearsItsEvents() throws Exception {
        io.nats.client.Options options = new io.nats.client.Options.Builder().server(nats.server().url())
                .maxReconnects(-1).reconnectWait(Duration.ofMillis(100)).build();
        List<io.nats.client.ConnectionListener.Events> first = new CopyOnWriteArrayList<>();
        List<io.nats.client.ConnectionListener.Events> second = new CopyOnWriteArrayList<>();
        SharedNats.Lease a = SharedNats.acquire(options, (c, e) -> first.add(e));
        SharedNats.Lease b = SharedNats.acquire(options, (c, e) -> second.add(e));
        try {
            assertThat(a.connection()).isSameAs(b.connection());
            assertThat(serverConnections()).isEqualTo(1);
            nats.server().kill();
            nats.server().restart();
            await().atMost(Duration.ofSeconds(20)).until(() ->
                    first.contains(io.nats.client.ConnectionListener.Events.DISCONNECTED)
                            && first.contains(io.nats.client.ConnectionListener.Events.RECONNECTED)
                            && second.contains(io.nats.client.ConnectionListener.Events.DISCONNECTED)
                            && second.contains(io.nats.client.ConnectionListener.Events.RECONNECTED));
            a.close();
            assertThat(b.connection().getStatus()).as("the other user's connection stays open")
                    .isEqualTo(io.nats.client.Connection.Status.CONNECTED);
        } finally {
            a.close();
            b.close();
        }
        assertThat(SharedNats.openConnections()).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> serverConnections() == 0);
    }
}
