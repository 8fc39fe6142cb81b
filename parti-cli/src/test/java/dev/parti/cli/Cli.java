package dev.parti.cli;

import java.io.BufferedReader;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;

/** Runs the {@code parti} command line in-process, capturing its output, as the tests' operator. */
final class Cli {
    /** Exit code and everything printed. */
    record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- out\n" + out + "--- err\n" + err;
        }
    }

    private Cli() { }

    static Result run(String... args) {
        return runWithInput("", args);
    }

    /** Runs with {@code input} as standard input (the confirmation {@code reset} asks for). */
    static Result runWithInput(String input, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = PartiCli.commandLine(new BufferedReader(new StringReader(input)), new PrintWriter(out, true),
                new PrintWriter(err, true)).execute(args);
        return new Result(exit, out.toString(), err.toString());
    }
}
