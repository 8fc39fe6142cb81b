package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.parti.PartiConfig;
import dev.parti.PartiException;
import dev.parti.PartiManager;
import dev.parti.testkit.NatsServer;
import io.nats.client.NKey;
import io.nats.client.Options;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS with a CA and server certificate made at test time, mutual TLS, and NKey authentication, on real nats-servers. */
class SecureTransportTest {
    @TempDir
    Path dir;

    private static Options tls(Certificates c, boolean clientCertificate) throws Exception {
        Options.Builder b = new Options.Builder().truststorePath(c.truststore.toString())
                .truststorePassword(Certificates.PASSWORD.toCharArray());
        if (clientCertificate) {
            b.keystorePath(c.clientKeystore.toString()).keystorePassword(Certificates.PASSWORD.toCharArray());
        }
        return b.build();
    }

    private static PartiManager failing(String group, String url, Options options) {
        return new PartiManager(Workers.fast(PartiConfig.builder(group).natsUrl(url)).startupTimeout(Duration.ofSeconds(2))
                .natsOptions(options).partitionSource(List::of).build(), new Workers.Recording());
    }

    @Test
    void tlsWithATestCaAndMutualTls() throws Exception {
        Certificates c = Certificates.create(dir);
        String tlsBlock = "tls { cert_file: \"%s\", key_file: \"%s\", ca_file: \"%s\", verify: %s, timeout: 2 }";
        try (NatsServer tlsOnly = SecureNats.start(Files.createDirectories(dir.resolve("tls")),
                tlsBlock.formatted(c.serverPem, c.serverKey, c.caPem, "false"));
             Workers g = new Workers("tls.group", tlsOnly.url(), Workers.topic("t", 4))) {
            Options trusted = tls(c, false);
            g.start(new Workers.Recording(), b -> b.natsOptions(trusted));
            g.start(new Workers.Recording(), b -> b.natsOptions(trusted));
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);
            Cli.Result describe = Cli.run("describe", "-s", tlsOnly.url(), "-g", "tls.group",
                    "--truststore", c.truststore.toString(), "--truststore-password", Certificates.PASSWORD);
            assertThat(describe.exit()).as(describe.toString()).isZero();
            assertThat(describe.out()).contains("MEMBERS     2 live");
            // a client without TLS is refused by a server that requires it
            PartiManager plain = failing("tls.group", tlsOnly.url(), new Options.Builder().build());
            assertThatThrownBy(plain::start).isInstanceOf(PartiException.class).hasMessageContaining("NATS unreachable");
            plain.close();
            Cli.Result plainCli = Cli.run("describe", "-s", tlsOnly.url(), "-g", "tls.group", "--timeout", "2s");
            assertThat(plainCli.exit()).isEqualTo(1);
            assertThat(plainCli.err()).contains("cannot connect to NATS");
        }

        try (NatsServer mutual = SecureNats.start(Files.createDirectories(dir.resolve("mtls")),
                tlsBlock.formatted(c.serverPem, c.serverKey, c.caPem, "true"));
             Workers g = new Workers("mtls.group", mutual.url(), Workers.topic("t", 2))) {
            Options withCert = tls(c, true);
            g.start(new Workers.Recording(), b -> b.natsOptions(withCert));
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);
            // server verifies clients: trusting the server is not enough
            PartiManager noCert = failing("mtls.group", mutual.url(), tls(c, false));
            assertThatThrownBy(noCert::start).isInstanceOf(PartiException.class).hasMessageContaining("NATS unreachable");
            noCert.close();
            Cli.Result cli = Cli.run("describe", "-s", mutual.url(), "-g", "mtls.group",
                    "--truststore", c.truststore.toString(), "--truststore-password", Certificates.PASSWORD,
                    "--keystore", c.clientKeystore.toString(), "--keystore-password", Certificates.PASSWORD);
            assertThat(cli.exit()).as(cli.toString()).isZero();
            assertThat(cli.out()).contains("MEMBERS     1 live");
            Cli.Result cliNoCert = Cli.run("describe", "-s", mutual.url(), "-g", "mtls.group", "--timeout", "2s",
                    "--truststore", c.truststore.toString(), "--truststore-password", Certificates.PASSWORD);
            assertThat(cliNoCert.exit()).isEqualTo(1);
            assertThat(cliNoCert.err()).contains("cannot connect to NATS");
        }
    }

    @Test
    void nkeyAuthentication() throws Exception {
        NKey user = NKey.createUser(new SecureRandom());
        NKey stranger = NKey.createUser(new SecureRandom());
        Path seed = dir.resolve("worker.nk");
        Files.writeString(seed, new String(user.getSeed()), StandardCharsets.US_ASCII);
        Path wrongSeed = dir.resolve("stranger.nk");
        Files.writeString(wrongSeed, new String(stranger.getSeed()), StandardCharsets.US_ASCII);
        try (NatsServer nats = SecureNats.start(dir, "authorization { users: [ { nkey: %s } ] }"
                .formatted(new String(user.getPublicKey())));
             Workers g = new Workers("nkey.group", nats.url(), Workers.topic("t", 2))) {
            Options nkey = new Options.Builder().authHandler(NatsConnection.nkeyAuth(seed)).build();
            g.start(new Workers.Recording(), b -> b.natsOptions(nkey));
            await().atMost(Duration.ofSeconds(15)).until(g::balanced);
            Cli.Result ok = Cli.run("describe", "-s", nats.url(), "-g", "nkey.group", "--nkey", seed.toString());
            assertThat(ok.exit()).as(ok.toString()).isZero();
            Cli.Result wrong = Cli.run("describe", "-s", nats.url(), "-g", "nkey.group", "--nkey", wrongSeed.toString());
            assertThat(wrong.exit()).isEqualTo(1);
            assertThat(wrong.err()).containsIgnoringCase("authorization violation");
            Cli.Result none = Cli.run("describe", "-s", nats.url(), "-g", "nkey.group");
            assertThat(none.exit()).isEqualTo(1);
            Cli.Result notASeed = Cli.run("describe", "-s", nats.url(), "-g", "nkey.group", "--nkey", dir.resolve("nats.conf").toString());
            assertThat(notASeed.err()).contains("does not hold an NKey seed");
        }
    }
}
