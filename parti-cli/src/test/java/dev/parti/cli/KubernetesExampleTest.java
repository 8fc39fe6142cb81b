package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import io.nats.client.Options;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The NATS configuration of docs/kubernetes is valid, and its worker and admin users can do their jobs. */
class KubernetesExampleTest {
    static final Path CONF = Path.of("..", "docs", "kubernetes", "nats.conf");

    @TempDir
    Path dir;

    @Test
    void theExampleConfigurationParses() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(System.getenv().getOrDefault("NATS_SERVER_BIN", "/usr/sbin/nats-server"),
                "-t", "-c", CONF.toAbsolutePath().toString()).redirectErrorStream(true);
        pb.environment().put("POD_NAME", "nats-0");
        pb.environment().put("ORDERS_WORKER_PASSWORD", "w-secret");
        pb.environment().put("PARTI_ADMIN_PASSWORD", "a-secret");
        Process check = pb.start();
        String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(check.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(check.exitValue()).as(out).isZero();
        assertThat(out).contains("is valid");
    }

    @Test
    void itsWorkerUserRunsAGroupAndItsAdminResetsIt() throws Exception {
        // the same accounts on one server: the cluster block (routes to the pods' DNS names) is left out
        String conf = Files.readString(CONF)
                .replaceAll("(?s)cluster \\{.*?\\n\\}\\n", "")
                .replaceAll("(?s)jetstream \\{.*?\\n\\}\\n", "")
                .replaceAll("(?m)^(port|http_port|server_name):.*$", "")
                .replace("$ORDERS_WORKER_PASSWORD", "w-secret").replace("$PARTI_ADMIN_PASSWORD", "a-secret");
        try (NatsServer nats = SecureNats.start(dir, conf);
             Workers w = new Workers("orders", nats.url(), Workers.topic("orders", 3))) {
            Options worker = new Options.Builder().userInfo("orders-worker", "w-secret").build();
            w.start(new Workers.Recording(), b -> b.natsOptions(worker).bucketReplicas(1));
            w.start(new Workers.Recording(), b -> b.natsOptions(worker).bucketReplicas(1));
            await().atMost(Duration.ofSeconds(15)).until(w::balanced);
            w.close();
            Cli.Result reset = Cli.run("reset", "-s", nats.url(), "--user", "parti-admin", "--password", "a-secret",
                    "-g", "orders", "--yes");
            assertThat(reset.exit()).as(reset.toString()).isZero();
        }
    }
}
