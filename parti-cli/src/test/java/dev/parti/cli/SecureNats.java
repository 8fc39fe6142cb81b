package dev.parti.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.testkit.NatsServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Starts a real nats-server from a configuration file (accounts, users, permissions, TLS) through the
 * test kit's launcher. The permission blocks come from {@code parti permissions}, so the sets the
 * security tests prove are the ones the command prints for operators.
 */
final class SecureNats {
    private SecureNats() { }

    /** Writes {@code config} to {@code dir/nats.conf} and starts a server with it (JetStream on, free ports). */
    static NatsServer start(Path dir, String config) {
        try {
            Path conf = dir.resolve("nats.conf");
            Files.writeString(conf, config);
            return NatsServer.builder().args("-c", conf.toString()).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What {@code parti permissions args…} prints. */
    static String permissions(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "permissions";
        System.arraycopy(args, 0, all, 1, args.length);
        Cli.Result r = Cli.run(all);
        assertThat(r.exit()).as(r.toString()).isZero();
        return r.out();
    }

    static String workerPermissions(String group) {
        return permissions("--role", "worker", "--group", group);
    }

    static String readerPermissions(String... groups) {
        String[] args = new String[2 + 2 * groups.length];
        args[0] = "--role";
        args[1] = "reader";
        for (int i = 0; i < groups.length; i++) {
            args[2 + 2 * i] = "-g";
            args[3 + 2 * i] = groups[i];
        }
        return permissions(args);
    }

    static String adminPermissions() {
        return permissions("--role", "admin");
    }
}
