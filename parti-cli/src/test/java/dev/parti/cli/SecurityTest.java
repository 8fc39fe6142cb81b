package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.PartiConfig;
import dev.parti.PartiException;
import dev.parti.PartiManager;
import dev.parti.PartiPermissionException;
import dev.parti.internal.BucketNames;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServer;
import io.nats.client.Connection;
import io.nats.client.ErrorListener;
import io.nats.client.KeyValue;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parti and the CLI on a nats-server that enforces accounts, users and permissions from a config
 * file: a worker user limited to group G's buckets runs G and cannot touch H's; a user without rights
 * cannot start; a read-only CLI user reads but cannot reset.
 */
class SecurityTest {
    static final String G = "orders.g";
    static final String H = "billing.h";
    static final String K = "timings.k";
    static final String L = "other.l";

    @TempDir
    static Path dir;
    static NatsServer nats;

    @BeforeAll
    static void start() {
        nats = SecureNats.start(dir, """
                accounts {
                  APP {
                    jetstream: enabled
                    users: [
                      { user: g-worker, password: g-pw, permissions: %s }
                      { user: h-worker, password: h-pw, permissions: %s }
                      { user: reader, password: r-pw, permissions: %s }
                      { user: admin, password: a-pw, permissions: %s }
                      { user: k-worker, password: k-pw, permissions: %s }
                      { user: k-no-update, password: k-pw, permissions: %s }
                      { user: l-worker, password: l-pw, permissions: %s }
                      { user: nobody, password: n-pw, permissions: { publish: { deny: ">" }, subscribe: { allow: "_INBOX.>" } } }
                    ]
                  }
                }
                """.formatted(SecureNats.workerPermissions(G), SecureNats.workerPermissions(H),
                SecureNats.readerPermissions(G, H), SecureNats.adminPermissions(), SecureNats.workerPermissions(K),
                SecureNats.workerPermissions(K).lines().filter(l -> !l.contains("STREAM.UPDATE"))
                        .collect(java.util.stream.Collectors.joining("\n")), SecureNats.workerPermissions(L)));
    }

    @AfterAll
    static void stop() {
        if (nats != null) {
            nats.close();
        }
    }

    /** Connection options of one user, recording what the server refuses. */
    static Options options(String user, String password, List<String> serverErrors) {
        return new Options.Builder().userInfo(user, password).errorListener(new ErrorListener() {
            @Override
            public void errorOccurred(Connection conn, String error) {
                serverErrors.add(error);
            }
        }).build();
    }

    static UnaryOperator<PartiConfig.Builder> as(String user, String password, List<String> serverErrors) {
        return b -> b.natsOptions(options(user, password, serverErrors));
    }

    @Test
    void aWorkerAllowedOnlyGroupGsBucketsRunsG() {
        List<String> errors = new CopyOnWriteArrayList<>();
        try (Workers g = new Workers(G, nats.url(), Workers.topic("t", 4))) {
            g.start(new Workers.Recording(), as("g-worker", "g-pw", errors));
            g.start(new Workers.Recording(), as("g-worker", "g-pw", errors));
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);
            assertThat(errors).as("no permission was missing").isEmpty();
        }
    }

    @Test
    void gsWorkerCannotReadOrWriteGroupHsBuckets() throws Exception {
        List<String> hErrors = new CopyOnWriteArrayList<>();
        try (Workers h = new Workers(H, nats.url(), Workers.topic("t", 2))) {
            h.start(new Workers.Recording(), as("h-worker", "h-pw", hErrors));
            await().atMost(Duration.ofSeconds(15)).until(h::balanced);
            String heartbeats = new BucketNames(H).name(Bucket.HEARTBEATS);
            List<String> errors = new CopyOnWriteArrayList<>();
            try (Connection c = Nats.connect(new Options.Builder(options("g-worker", "g-pw", errors)).server(nats.url()).build())) {
                assertThatThrownBy(() -> {
                    KeyValue kv = c.keyValue(heartbeats);
                    kv.get("w-0");
                }).as("read of H's heartbeats").isInstanceOf(Exception.class);
                assertThatThrownBy(() -> c.keyValue(heartbeats).put("w-0", "forged"))
                        .as("write to H's heartbeats").isInstanceOf(Exception.class);
                c.publish("$KV." + heartbeats + ".w-0", "forged".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                c.flush(Duration.ofSeconds(2));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> errors.stream().anyMatch(e -> e.contains("Permissions Violation")
                    && e.contains("$KV." + heartbeats)));
            // H is untouched: its worker still owns everything, and the CLI as g-worker cannot describe H
            assertThat(h.balanced()).isTrue();
            Cli.Result denied = Cli.run("describe", "-s", nats.url(), "--user", "g-worker", "--password", "g-pw",
                    "--group", H, "--timeout", "2s");
            assertThat(denied.exit()).isEqualTo(1);
            assertThat(denied.err()).contains("Permissions Violation");
            assertThat(hErrors).isEmpty();
        }
    }

    /**
     * The server refuses the requests of a user without rights to the group's buckets without answering
     * them (the violation reaches only the connection's error listener): start() fails at the first
     * refused request, long before its startup timeout, with an error that names the refused subject, the
     * bucket and the permission to grant, and does not claim that NATS is unreachable.
     */
    @Test
    void aUserWithoutRightsFailsToStartAtOnceNamingTheMissingPermission() {
        Duration startupTimeout = Duration.ofSeconds(20);
        String hBucket = "KV_" + new BucketNames(H).name(Bucket.IDS);

        List<String> errors = new CopyOnWriteArrayList<>();
        PartiManager m = new PartiManager(Workers.fast(PartiConfig.builder(H).natsUrl(nats.url()))
                .startupTimeout(startupTimeout).natsOptions(options("nobody", "n-pw", errors))
                .partitionSource(List::of).build(), new Workers.Recording());
        long t0 = System.nanoTime();
        assertThatThrownBy(m::start).isInstanceOf(PartiPermissionException.class)
                .hasMessageContaining("NATS denied creating the buckets of group " + H)
                .hasMessageContaining("permission to publish to \"$JS.API.")
                .hasMessageContaining("grant the worker's NATS user publish permission on \"$JS.API.")
                .hasMessageContaining("parti permissions --role worker --group " + H)
                .hasMessageNotContaining("unreachable")
                .satisfies(e -> {
                    PartiPermissionException p = (PartiPermissionException) e;
                    assertThat(p.operation()).isEqualTo("publish");
                    assertThat(p.subject()).startsWith("$JS.API.");
                    System.out.println("start() without rights failed with: " + e.getMessage());
                });
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(ms).as("fails at the first refused request, not after the startup timeout").isLessThan(5_000);
        // the user's own error listener still hears the server
        assertThat(errors).anyMatch(e -> e.contains("Permissions Violation") && e.contains("$JS.API"));
        m.close();

        List<String> gErrors = new CopyOnWriteArrayList<>();
        PartiManager wrongGroup = new PartiManager(Workers.fast(PartiConfig.builder(H).natsUrl(nats.url()))
                .startupTimeout(startupTimeout).natsOptions(options("g-worker", "g-pw", gErrors))
                .partitionSource(List::of).build(), new Workers.Recording());
        long t1 = System.nanoTime();
        assertThatThrownBy(wrongGroup::start).isInstanceOf(PartiPermissionException.class)
                .hasMessageContaining(H)
                .hasMessageContaining("(bucket " + new BucketNames(H).name(Bucket.IDS) + ")")
                .hasMessageContaining("publish permission on \"$JS.API.STREAM.INFO." + hBucket + "\"")
                .satisfies(e -> System.out.println("start() of another group's worker failed with: " + e.getMessage()));
        assertThat((System.nanoTime() - t1) / 1_000_000).isLessThan(5_000);
        assertThat(gErrors).anyMatch(e -> e.contains("Permissions Violation"));
        wrongGroup.close();
    }

    /** A wrong password is a refusal too: start() fails at once, saying the server refused the credentials. */
    @Test
    void wrongCredentialsFailAtOnceNamingTheRefusal() {
        PartiManager m = new PartiManager(Workers.fast(PartiConfig.builder(G).natsUrl(nats.url()))
                .startupTimeout(Duration.ofSeconds(30)).natsOptions(options("g-worker", "wrong", new CopyOnWriteArrayList<>()))
                .partitionSource(List::of).build(), new Workers.Recording());
        long t0 = System.nanoTime();
        assertThatThrownBy(m::start).isInstanceOf(PartiException.class)
                .satisfies(e -> System.out.println("start() with a wrong password failed with: " + e.getMessage()))
                .hasMessageContaining("refused the credentials of group " + G + "'s connection [Authorization Violation]")
                .hasMessageNotContaining("unreachable");
        // one round of jnats' own connect attempts (about 5 s here), not retries until the 30 s startup timeout
        assertThat((System.nanoTime() - t0) / 1_000_000).as("no retries until the startup timeout").isLessThan(12_000);
        m.close();
    }

    /**
     * A worker with a longer session than its group's heartbeat bucket raises the bucket's TTL (a rolling change of
     * timings): the worker set allows it for the group's own streams, and without {@code STREAM.UPDATE} the worker
     * fails to start naming that permission.
     */
    @Test
    void raisingTheGroupsBucketTtlNeedsTheUpdatePermissionOfTheWorkerSet() throws Exception {
        String heartbeats = new BucketNames(K).name(Bucket.HEARTBEATS);
        try (Workers k = new Workers(K, nats.url(), Workers.topic("t", 2))) {
            k.start(new Workers.Recording(), as("k-worker", "k-pw", new CopyOnWriteArrayList<>()));
            await().atMost(Duration.ofSeconds(15)).until(k::balanced);

            PartiManager refused = new PartiManager(Workers.fast(PartiConfig.builder(K).natsUrl(nats.url()))
                    .sessionTimeout(Duration.ofMillis(2000)).natsOptions(options("k-no-update", "k-pw", new CopyOnWriteArrayList<>()))
                    .partitionSource(List::of).build(), new Workers.Recording());
            assertThatThrownBy(refused::start).isInstanceOf(PartiPermissionException.class)
                    .hasMessageContaining("publish permission on \"$JS.API.STREAM.UPDATE.KV_" + heartbeats + "\"");
            refused.close();

            k.start(new Workers.Recording(), b -> as("k-worker", "k-pw", new CopyOnWriteArrayList<>()).apply(b)
                    .sessionTimeout(Duration.ofMillis(2000)));
            await().atMost(Duration.ofSeconds(15)).until(k::balanced);
            try (Connection c = Nats.connect(new Options.Builder(options("admin", "a-pw", new CopyOnWriteArrayList<>()))
                    .server(nats.url()).build())) {
                assertThat(c.keyValueManagement().getStatus(heartbeats).getConfiguration().getTtl())
                        .isEqualTo(Duration.ofMillis(2000));
            }
        }
    }

    /** The admin set runs every command, reset included. */
    @Test
    void anAdminListsDescribesAndResetsAGroup() throws Exception {
        String group = "admin.m";
        try (Workers m = new Workers(group, nats.url(), Workers.topic("t", 2))) {
            m.start(new Workers.Recording(), as("admin", "a-pw", new CopyOnWriteArrayList<>()));
            await().atMost(Duration.ofSeconds(15)).until(m::balanced);
            String[] admin = {"-s", nats.url(), "--user", "admin", "--password", "a-pw", "--timeout", "2s"};
            Cli.Result groups = Cli.run(concat(new String[] {"groups"}, admin));
            assertThat(groups.exit()).as(groups.toString()).isZero();
            assertThat(groups.out()).contains(group).doesNotContain("(not permitted)");
            Cli.Result describe = Cli.run(concat(new String[] {"describe", "-g", group}, admin));
            assertThat(describe.exit()).as(describe.toString()).isZero();
        } // the workers leave (a running worker would re-create its buckets after a reset)
        String[] admin = {"-s", nats.url(), "--user", "admin", "--password", "a-pw", "--timeout", "2s"};
        Cli.Result reset = Cli.run(concat(new String[] {"reset", "-g", group, "--yes"}, admin));
        assertThat(reset.exit()).as(reset.toString()).isZero();
        assertThat(reset.out()).contains("group '" + group + "' reset");
        Cli.Result gone = Cli.run("describe", "-s", nats.url(), "--user", "admin", "--password", "a-pw", "-g", group);
        assertThat(gone.err()).contains("group '" + group + "' has no Parti state");
    }

    @Test
    void aReadOnlyCliUserDescribesAndWatchesButCannotReset() throws Exception {
        String group = G;
        try (Workers g = new Workers(group, nats.url(), Workers.topic("t", 2))) {
            g.start(new Workers.Recording(), as("g-worker", "g-pw", new CopyOnWriteArrayList<>()));
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);
            String[] reader = {"-s", nats.url(), "--user", "reader", "--password", "r-pw", "--timeout", "2s"};
            // a group the reader may not read (its buckets exist whatever other tests ran) is listed as such
            try (Workers l = new Workers(L, nats.url(), Workers.topic("t", 1))) {
                l.start(new Workers.Recording(), as("l-worker", "l-pw", new CopyOnWriteArrayList<>()));
            }
            Cli.Result groups = Cli.run(concat(new String[] {"groups", "--json"}, reader));
            assertThat(groups.exit()).as(groups.toString()).isZero();
            assertThat(groups.out()).contains(group);
            var listed = new com.fasterxml.jackson.databind.ObjectMapper().readTree(groups.out());
            for (var row : listed) {
                boolean mayRead = row.path("group").asText().equals(G) || row.path("group").asText().equals(H);
                assertThat(row.path("readable").asBoolean(true)).as(row.toString()).isEqualTo(mayRead);
            }
            Cli.Result table = Cli.run(concat(new String[] {"groups"}, reader));
            assertThat(table.out()).contains(L, "(not permitted)");
            Cli.Result describe = Cli.run(concat(new String[] {"describe", "-g", group}, reader));
            assertThat(describe.exit()).as(describe.toString()).isZero();
            assertThat(describe.out()).contains("LEADER      w-0");
            Cli.Result watch = Cli.run(concat(new String[] {"watch", "-g", group, "--duration", "1500ms"}, reader));
            assertThat(watch.exit()).as(watch.toString()).isZero();
            assertThat(watch.out()).contains("watching group " + group + ": 1 live workers");
            Cli.Result reset = Cli.run(concat(new String[] {"reset", "-g", group, "--force", "--yes"}, reader));
            assertThat(reset.exit()).isEqualTo(1);
            assertThat(reset.err()).contains("deleting bucket", "Permissions Violation");
            assertThat(g.balanced()).isTrue();
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
