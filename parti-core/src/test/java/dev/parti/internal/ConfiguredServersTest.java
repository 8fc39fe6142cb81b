package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.AssignmentListener;
import dev.parti.PartiConfig;
import dev.parti.PartiException;
import dev.parti.PartiManager;
import io.nats.client.Options;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** A worker connects only to the servers of natsUrl, whatever natsOptions were built with. */
class ConfiguredServersTest {
    @Test
    void thePoolHoldsOnlyTheConfiguredServers() {
        Options userOptions = new Options.Builder().build(); // jnats fills in nats://localhost:4222
        assertThat(userOptions.getServers()).extracting(Object::toString).containsExactly("nats://localhost:4222");
        String[] urls = {"nats://127.0.0.1:14222", "nats://127.0.0.1:14223"};
        Options copied = new Options.Builder(userOptions).servers(urls).build();
        assertThat(copied.getServers()).as("Builder.servers appends").hasSize(3);

        ConfiguredServers pool = new ConfiguredServers(urls);
        pool.initialize(copied);
        assertThat(pool.servers()).containsExactlyInAnyOrder("nats://127.0.0.1:14222", "nats://127.0.0.1:14223");
    }

    /** Fails without the pool: jnats also tries localhost:4222, where this test listens. */
    @Test
    void aWorkerWithNatsOptionsNeverTriesLocalhost4222() throws Exception {
        ServerSocket decoy;
        try {
            decoy = new ServerSocket(4222);
        } catch (IOException inUse) {
            Assumptions.abort("port 4222 is in use on this machine: " + inUse.getMessage());
            return;
        }
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        AtomicInteger accepted = new AtomicInteger();
        Thread acceptor = new Thread(() -> {
            try {
                decoy.setSoTimeout(100);
                while (!decoy.isClosed()) {
                    try (Socket s = decoy.accept()) {
                        accepted.incrementAndGet();
                    } catch (SocketTimeoutException again) {
                        // keep listening until closed
                    }
                }
            } catch (IOException closed) {
                // the test closed the decoy
            }
        }, "test-decoy-4222");
        acceptor.start();
        try {
            PartiManager m = new PartiManager(PartiConfig.builder("servers.only").natsUrl("nats://127.0.0.1:" + closedPort)
                    .natsOptions(new Options.Builder().build()).startupTimeout(Duration.ofMillis(1500))
                    .partitionSource(List::of).build(), new AssignmentListener() { });
            assertThatThrownBy(m::start).isInstanceOf(PartiException.class).hasMessageContaining("NATS unreachable");
            m.close();
        } finally {
            decoy.close();
            acceptor.join(5_000);
        }
        assertThat(accepted.get()).as("connections to localhost:4222").isZero();
    }
}
