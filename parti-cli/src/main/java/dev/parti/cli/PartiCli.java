package dev.parti.cli;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code parti} operator tool. Exit codes: 0 done, 1 a problem (named on standard error), 2 bad
 * usage. Read commands ({@code groups}, {@code describe}, {@code watch}) change nothing and take
 * {@code --json}; {@code reset} changes state only after a confirmation.
 */
@Command(name = "parti", mixinStandardHelpOptions = true, version = "parti 0.1.0-SNAPSHOT",
        description = "Operates Parti groups (Kafka consumer groups coordinated over NATS JetStream KV).",
        subcommands = {Groups.class, Describe.class, Watch.class, Permissions.class})
public final class PartiCli {
    private PartiCli() { }

    public static void main(String[] args) {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
        System.exit(commandLine(in, out, err).execute(args));
    }

    /** The command line with its output streams and the standard input {@code reset} reads its confirmation from. */
    static CommandLine commandLine(BufferedReader in, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(PartiCli.class);
        cl.addSubcommand("reset", new CommandLine(new Reset(in)));
        cl.addSubcommand("help", new CommandLine.HelpCommand());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter w = commandLine.getErr();
            if (e instanceof CliException) {
                w.println("parti: " + e.getMessage());
            } else {
                w.println("parti: unexpected " + e);
                e.printStackTrace(w);
            }
            w.flush();
            return 1;
        });
        return cl;
    }
}
