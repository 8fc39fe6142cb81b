package dev.parti;

/**
 * NATS refused this worker's user a permission the group needs: the server answered a publish or a
 * subscription with a permissions violation. Unlike "NATS unreachable" (a network failure, worth
 * retrying), retrying cannot help until an operator grants the permission; the message names the
 * subject, the bucket and what to grant ({@code parti permissions --role worker --group G} prints the
 * whole minimal set).
 *
 * <p>Thrown by {@link PartiManager#start()} when a start-up step is refused. Seen only on connections
 * Parti opens itself (from {@code natsUrl}/{@code natsOptions}): the server reports violations
 * asynchronously, to the connection's {@code ErrorListener}, which Parti cannot hook on a connection
 * passed in with {@code PartiConfig.Builder.connection}; there a refused request shows as a timeout.
 */
public class PartiPermissionException extends PartiException {
    private static final long serialVersionUID = 1L;
    private final String operation;
    private final String subject;

    public PartiPermissionException(String message, String operation, String subject, Throwable cause) {
        super(message, cause);
        this.operation = operation;
        this.subject = subject;
    }

    /** What was refused, as nats-server calls it in a user's {@code permissions}: {@code publish} or {@code subscribe}. */
    public String operation() {
        return operation;
    }

    /** The subject the server refused, e.g. {@code $JS.API.STREAM.INFO.KV_parti_orders_1a2b3c4d_ids}. */
    public String subject() {
        return subject;
    }
}
