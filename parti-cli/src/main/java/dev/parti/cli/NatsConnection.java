package dev.parti.cli;

import io.nats.client.AuthHandler;
import io.nats.client.Connection;
import io.nats.client.ErrorListener;
import io.nats.client.NKey;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Option;

/**
 * The NATS connection options shared by every command (a picocli mixin), and the connection they open.
 * Authentication: user/password, token, a credentials file (JWT + NKey seed) or an NKey seed file;
 * TLS: the JVM's trust store ({@code --tls}), or a trust store and, for mutual TLS, a key store.
 */
final class NatsConnection {
    @Option(names = {"-s", "--server"}, paramLabel = "URL",
            defaultValue = "${env:PARTI_NATS_URL:-nats://127.0.0.1:4222}",
            description = "NATS server URL(s), comma-separated (env PARTI_NATS_URL; default ${DEFAULT-VALUE})")
    String server;

    @Option(names = "--creds", paramLabel = "FILE", description = "NATS credentials file (JWT and NKey seed)")
    Path creds;

    @Option(names = "--nkey", paramLabel = "FILE", description = "File holding an NKey user seed (SU...)")
    Path nkey;

    @Option(names = "--user", description = "NATS user name (with --password)")
    String user;

    @Option(names = "--password", description = "NATS password (env PARTI_NATS_PASSWORD)",
            defaultValue = "${env:PARTI_NATS_PASSWORD}")
    String password;

    @Option(names = "--token", description = "NATS authentication token (env PARTI_NATS_TOKEN)",
            defaultValue = "${env:PARTI_NATS_TOKEN}")
    String token;

    @Option(names = "--tls", description = "Connect over TLS, verifying the server with the JVM's trust store")
    boolean tls;

    @Option(names = "--truststore", paramLabel = "FILE", description = "Trust store (JKS/PKCS12) with the CA of the NATS servers; implies TLS")
    Path truststore;

    @Option(names = "--truststore-password", paramLabel = "PASSWORD", description = "Password of --truststore")
    String truststorePassword;

    @Option(names = "--keystore", paramLabel = "FILE", description = "Key store (JKS/PKCS12) with this client's key and certificate, for mutual TLS; implies TLS")
    Path keystore;

    @Option(names = "--keystore-password", paramLabel = "PASSWORD", description = "Password of --keystore")
    String keystorePassword;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5s", converter = Durations.class,
            description = "Connect and request timeout (default ${DEFAULT-VALUE})")
    Duration timeout;

    /** The last server error (a permissions violation, an authorization failure), to name the cause of a timeout. */
    private final AtomicReference<String> lastServerError = new AtomicReference<>();

    /** The last error the server reported on this connection, or null. */
    String lastServerError() {
        return lastServerError.get();
    }

    /** Opens the connection, failing fast (no reconnect loop) with a message that names the problem. */
    Connection connect() {
        Options options = options();
        try {
            return Nats.connect(options);
        } catch (IOException e) {
            String why = lastServerError() != null ? lastServerError() : e.getMessage();
            throw new CliException("cannot connect to NATS at " + server + ": " + why, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted while connecting to NATS at " + server, e);
        }
    }

    Options options() {
        if (user != null && password == null) {
            throw new CliException("--user needs --password (or PARTI_NATS_PASSWORD)");
        }
        int auths = (user != null ? 1 : 0) + (token != null ? 1 : 0) + (creds != null ? 1 : 0) + (nkey != null ? 1 : 0);
        if (auths > 1) {
            throw new CliException("choose one of --user/--password, --token, --creds and --nkey");
        }
        if (truststore != null && truststorePassword == null || truststore == null && truststorePassword != null) {
            throw new CliException("--truststore and --truststore-password go together");
        }
        if (keystore != null && keystorePassword == null || keystore == null && keystorePassword != null) {
            throw new CliException("--keystore and --keystore-password go together");
        }
        Options.Builder b = new Options.Builder()
                .servers(server.split("\\s*,\\s*"))
                .connectionName("parti-cli")
                .connectionTimeout(timeout)
                .maxReconnects(0)
                .noReconnect()
                .errorListener(new ErrorListener() {
                    @Override
                    public void errorOccurred(Connection conn, String error) {
                        lastServerError.set(error);
                    }
                });
        if (user != null) {
            b.userInfo(user.toCharArray(), password.toCharArray());
        }
        if (token != null) {
            b.token(token.toCharArray());
        }
        if (creds != null) {
            requireReadable(creds, "--creds");
            b.authHandler(Nats.credentials(creds.toString()));
        }
        if (nkey != null) {
            requireReadable(nkey, "--nkey");
            b.authHandler(nkeyAuth(nkey));
        }
        try {
            if (truststore != null || keystore != null) {
                if (truststore != null) {
                    requireReadable(truststore, "--truststore");
                    b.truststorePath(truststore.toString()).truststorePassword(truststorePassword.toCharArray());
                }
                if (keystore != null) {
                    requireReadable(keystore, "--keystore");
                    b.keystorePath(keystore.toString()).keystorePassword(keystorePassword.toCharArray());
                }
            } else if (tls) {
                b.secure();
            }
            return b.build();
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new CliException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    private static void requireReadable(Path p, String option) {
        if (!Files.isReadable(p)) {
            throw new CliException(option + " " + p + ": no such readable file");
        }
    }

    /** Signs the server's nonce with the NKey seed read from {@code file} (an NKey user without a JWT). */
    static AuthHandler nkeyAuth(Path file) {
        char[] seed;
        try {
            seed = Files.readString(file, StandardCharsets.US_ASCII).trim().toCharArray();
        } catch (IOException e) {
            throw new CliException("--nkey " + file + ": " + e.getMessage(), e);
        }
        NKey key;
        try {
            key = NKey.fromSeed(seed);
        } catch (RuntimeException e) {
            throw new CliException("--nkey " + file + " does not hold an NKey seed: " + e.getMessage(), e);
        }
        return new AuthHandler() {
            @Override
            public byte[] sign(byte[] nonce) {
                try {
                    return key.sign(nonce);
                } catch (GeneralSecurityException | IOException e) {
                    throw new IllegalStateException("signing the NATS nonce failed", e);
                }
            }

            @Override
            public char[] getID() {
                try {
                    return key.getPublicKey();
                } catch (GeneralSecurityException | IOException e) {
                    throw new IllegalStateException("reading the NKey public key failed", e);
                }
            }

            @Override
            public char[] getJWT() {
                return null;
            }
        };
    }
}
