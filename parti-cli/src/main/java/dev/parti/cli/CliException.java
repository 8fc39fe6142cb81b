package dev.parti.cli;

/** A problem to report to the operator in one line (exit code 1), naming what went wrong. */
final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    CliException(String message) {
        super(message);
    }

    CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
