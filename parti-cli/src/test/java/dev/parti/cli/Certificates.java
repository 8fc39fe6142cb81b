package dev.parti.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away PKI made at test time with {@code openssl} and the JDK's {@code keytool}: a CA, a server
 * certificate for 127.0.0.1/localhost, a client certificate, and the PKCS#12 trust and key stores the
 * Java clients take.
 */
final class Certificates {
    static final String PASSWORD = "changeit";
    final Path dir;
    final Path caPem;
    final Path serverPem;
    final Path serverKey;
    final Path truststore;
    final Path clientKeystore;

    private Certificates(Path dir) {
        this.dir = dir;
        this.caPem = dir.resolve("ca.pem");
        this.serverPem = dir.resolve("server.pem");
        this.serverKey = dir.resolve("server.key");
        this.truststore = dir.resolve("trust.p12");
        this.clientKeystore = dir.resolve("client.p12");
    }

    static Certificates create(Path dir) throws IOException, InterruptedException {
        Certificates c = new Certificates(dir);
        String ec = "ec_paramgen_curve:prime256v1";
        run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=parti-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
        Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        for (String who : List.of("server", "client")) {
            run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", who + ".key", "-out", who + ".csr",
                    "-subj", "/CN=parti-" + who);
            run(dir, "openssl", "x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", who + ".pem", "-days", "2", "-extfile", who + ".ext");
        }
        run(dir, "openssl", "pkcs12", "-export", "-in", "client.pem", "-inkey", "client.key", "-out", "client.p12",
                "-name", "client", "-passout", "pass:" + PASSWORD);
        run(dir, "keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "trust.p12",
                "-storetype", "PKCS12", "-storepass", PASSWORD);
        return c;
    }

    private static void run(Path dir, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(new ArrayList<>(List.of(command))).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed:\n" + out);
        }
    }
}
