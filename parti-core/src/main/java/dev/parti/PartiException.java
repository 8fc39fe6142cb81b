package dev.parti;

/** A Parti operation failed: NATS unreachable at start, worker-ID pool exhausted, bad state. */
public class PartiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public PartiException(String message) {
        super(message);
    }

    public PartiException(String message, Throwable cause) {
        super(message, cause);
    }
}
