package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServer;
import io.nats.client.NKey;
import io.nats.client.Options;
import io.nats.client.support.JwtUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A nats-server in operator (JWT) mode: an operator, an account with JetStream and a user credentials file, all
 * issued at test time. A worker connecting with the creds file runs its group; the CLI reads it with {@code --creds}.
 */
class CredsTest {
    @TempDir
    Path dir;

    @Test
    void workersAndTheCliAuthenticateWithACredsFile() throws Exception {
        SecureRandom random = new SecureRandom();
        NKey operator = NKey.createOperator(random);
        NKey account = NKey.createAccount(random);
        NKey user = NKey.createUser(random);
        NKey system = NKey.createAccount(random);
        String systemPub = new String(system.getPublicKey());
        String operatorPub = new String(operator.getPublicKey());
        String accountPub = new String(account.getPublicKey());
        long now = JwtUtils.currentTimeSeconds();
        String operatorJwt = JwtUtils.issueJWT(operator, operatorPub, "parti-test-operator", null, now, operatorPub,
                () -> "{\"type\":\"operator\",\"version\":2}");
        String accountJwt = JwtUtils.issueJWT(operator, accountPub, "parti-test-account", null, now, operatorPub,
                () -> "{\"limits\":{\"subs\":-1,\"data\":-1,\"payload\":-1,\"imports\":-1,\"exports\":-1,\"wildcards\":true,"
                        + "\"conn\":-1,\"leaf\":-1,\"mem_storage\":-1,\"disk_storage\":-1,\"streams\":-1,\"consumer\":-1},"
                        + "\"default_permissions\":{\"pub\":{},\"sub\":{}},\"type\":\"account\",\"version\":2}");
        String systemJwt = JwtUtils.issueJWT(operator, systemPub, "SYS", null, now, operatorPub,
                () -> "{\"limits\":{\"subs\":-1,\"data\":-1,\"payload\":-1,\"imports\":-1,\"exports\":-1,\"wildcards\":true,"
                        + "\"conn\":-1,\"leaf\":-1},\"default_permissions\":{\"pub\":{},\"sub\":{}},\"type\":\"account\",\"version\":2}");
        String userJwt = JwtUtils.issueUserJWT(account, accountPub, new String(user.getPublicKey()), "parti-worker");
        Path creds = dir.resolve("worker.creds");
        Files.writeString(creds, String.format(JwtUtils.NATS_USER_JWT_FORMAT, userJwt, new String(user.getSeed())));

        String conf = """
                operator: %s
                system_account: %s
                resolver: MEMORY
                resolver_preload: {
                  %s: %s
                  %s: %s
                }
                """.formatted(operatorJwt, systemPub, systemPub, systemJwt, accountPub, accountJwt);
        try (NatsServer nats = SecureNats.start(dir, conf);
             Workers w = new Workers("creds.group", nats.url(), Workers.topic("t", 2))) {
            Options withCreds = new Options.Builder().credentialPath(creds.toString()).build();
            w.start(new Workers.Recording(), b -> b.natsOptions(withCreds));
            await().atMost(Duration.ofSeconds(15)).until(w::balanced);
            Cli.Result ok = Cli.run("describe", "-s", nats.url(), "-g", "creds.group", "--creds", creds.toString());
            assertThat(ok.exit()).as(ok.toString()).isZero();
            assertThat(ok.out()).contains("MEMBERS     1 live");
            Cli.Result none = Cli.run("describe", "-s", nats.url(), "-g", "creds.group", "--timeout", "2s");
            assertThat(none.exit()).isEqualTo(1);
            assertThat(none.err()).containsIgnoringCase("authorization violation");
            Cli.Result missing = Cli.run("describe", "-s", nats.url(), "-g", "creds.group", "--creds", dir.resolve("nope.creds").toString());
            assertThat(missing.err()).contains("--creds", "no such readable file");
        }
    }
}
