package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.DegradedReason;
import dev.parti.PartiManager;
import dev.parti.StateListener;
import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running worker whose user loses its rights (the operator edits the server's config and reloads it):
 * the refused steps are reported as {@code kv-rejected} with the refused subject and the permission to
 * grant, not only as NATS being unreachable.
 */
class PermissionRevokedTest {
    static final String G = "revoked.g";

    @TempDir
    Path dir;

    static String config(String permissions) {
        return """
                accounts {
                  APP {
                    jetstream: enabled
                    users: [ { user: g-worker, password: g-pw, permissions: %s } ]
                  }
                }
                """.formatted(permissions);
    }

    @Test
    void aRevokedPermissionIsReportedAsARefusalNamingTheSubject() throws Exception {
        try (NatsServer nats = SecureNats.start(dir, config(SecureNats.workerPermissions(G)));
             Workers g = new Workers(G, nats.url(), Workers.topic("t", 2))) {
            Map<DegradedReason, String> degraded = new ConcurrentHashMap<>();
            PartiManager m = g.start(new Workers.Recording(), SecurityTest.as("g-worker", "g-pw", new CopyOnWriteArrayList<>()));
            m.addStateListener(new StateListener() {
                @Override
                public void onStateChange(dev.parti.ManagerState from, dev.parti.ManagerState to) { }

                @Override
                public void onDegraded(DegradedReason reason, String detail) {
                    degraded.putIfAbsent(reason, detail);
                }
            });
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);

            // the operator takes the KV writes away from the worker's user and reloads the server
            Files.writeString(dir.resolve("nats.conf"), config(
                    "{ publish: { allow: [\"$JS.API.INFO\"] }, subscribe: { allow: [\"_INBOX.>\"] } }"));
            Process reload = new ProcessBuilder("kill", "-HUP", Long.toString(nats.pid().orElseThrow())).inheritIO().start();
            assertThat(reload.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(reload.exitValue()).isZero();

            await().atMost(Duration.ofSeconds(15)).until(() -> degraded.containsKey(DegradedReason.KV_REJECTED));
            String detail = degraded.get(DegradedReason.KV_REJECTED);
            System.out.println("kv-rejected: " + detail);
            assertThat(detail).contains("NATS denied", "permission to publish to", "grant the worker's NATS user publish permission",
                    "parti permissions --role worker --group " + G);
            assertThat(detail).as("a heartbeat write or another KV call of this group's buckets")
                    .containsAnyOf("$KV." + new BucketNames(G).name(Bucket.HEARTBEATS), "(bucket parti_revoked_g_");
            assertThat(m.state()).isEqualTo(dev.parti.ManagerState.DEGRADED);
        }
    }
}
