package dev.parti.internal;

import dev.parti.PartiPermissionException;
import io.nats.client.Connection;
import io.nats.client.Consumer;
import io.nats.client.ErrorListener;
import io.nats.client.JetStreamSubscription;
import io.nats.client.Message;
import io.nats.client.Options;
import io.nats.client.Subscription;
import io.nats.client.support.Status;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells a refused permission from a network failure on a connection Parti opened. nats-server does not
 * answer a request whose publish it denies: it sends the client an asynchronous {@code -ERR 'Permissions
 * Violation for Publish to "subject"'}, which jnats hands to the connection's {@link ErrorListener}, and
 * the request itself merely times out. This listener records those violations (and passes every event on
 * to the listener the user configured, or jnats' default logger), so that a step that timed out can ask
 * whether the server refused something meanwhile ({@link #mark()} before the step, {@link #since} after)
 * and fail with a message naming the subject, the group's bucket and the permission to grant.
 *
 * <p>Thread-safe: jnats calls the listener on its own threads; the steps ask from Parti's threads.
 */
public final class PermissionWatch implements ErrorListener {
    private static final Logger log = LoggerFactory.getLogger(PermissionWatch.class);
    /** {@code Permissions Violation for Publish to "x"} / {@code ... for Subscription to "x" using queue "q"}. */
    private static final Pattern VIOLATION = Pattern.compile(
            "Permissions Violation for (Publish|Subscription) to \"?([^\"'\\s]+)\"?", Pattern.CASE_INSENSITIVE);

    /**
     * A refused publish or subscription.
     *
     * @param sequence   1 for the first violation this watch saw, then 2, ...
     * @param operation  {@code publish} or {@code subscribe}, as a nats-server {@code permissions} block names it
     * @param subject    the subject refused
     * @param serverText what the server said
     */
    public record Violation(long sequence, String operation, String subject, String serverText) { }

    /** The server refused the credentials: {@code Authorization Violation}, expired or revoked authentication. */
    private static final Pattern AUTH_REFUSED = Pattern.compile(
            "Authorization Violation|Authentication (Expired|Revoked)", Pattern.CASE_INSENSITIVE);

    private final ErrorListener next;
    /** What the server said the last time it refused the credentials; null if never. */
    private volatile String credentialsRefused;
    private final BucketNames names;
    private final AtomicLong count = new AtomicLong();
    private final AtomicReference<Violation> last = new AtomicReference<>();

    /**
     * @param next  the listener every event is passed on to (the user's, or jnats' default); never null
     * @param names the group whose buckets the messages name
     */
    public PermissionWatch(ErrorListener next, BucketNames names) {
        this.next = java.util.Objects.requireNonNull(next, "next");
        this.names = java.util.Objects.requireNonNull(names, "names");
    }

    /**
     * {@code options} with a watch in front of their error listener (the user's, or jnats' default
     * logger when none was set, which {@link Options.Builder#build()} fills in).
     */
    public static Options install(Options options, BucketNames names, AtomicReference<PermissionWatch> out) {
        PermissionWatch watch = new PermissionWatch(options.getErrorListener(), names);
        out.set(watch);
        return new Options.Builder(options).errorListener(watch).build();
    }

    /** Parses a server error; null when it is not a permissions violation. */
    static Violation parse(long sequence, String error) {
        if (error == null) {
            return null;
        }
        Matcher m = VIOLATION.matcher(error);
        if (!m.find()) {
            return null;
        }
        String op = m.group(1).equalsIgnoreCase("publish") ? "publish" : "subscribe";
        return new Violation(sequence, op, m.group(2), error);
    }

    /** What the server said when it last refused this connection's credentials, or null. */
    public String credentialsRefused() {
        return credentialsRefused;
    }

    /** How many violations were seen so far: pass it to {@link #since} after the step. */
    public long mark() {
        return count.get();
    }

    /** The latest violation seen after {@code mark} was taken, or null. */
    public Violation since(long mark) {
        Violation v = last.get();
        return v != null && v.sequence() > mark ? v : null;
    }

    /** The bucket of the group a subject belongs to (its name in NATS), or null. */
    String bucketOf(String subject) {
        for (KvGateway.Bucket b : KvGateway.Bucket.values()) {
            String name = names.name(b);
            if (subject.equals("$KV." + name) || subject.startsWith("$KV." + name + ".")
                    || subject.endsWith(".KV_" + name) || subject.contains(".KV_" + name + ".")) {
                return name;
            }
        }
        return null;
    }

    /**
     * What to tell an operator: what was refused, for which bucket, and the permission to grant.
     *
     * @param what the step that failed, e.g. {@code creating the buckets}
     */
    public String explain(String what, Violation v) {
        String bucket = bucketOf(v.subject());
        String forGroup = what.contains(names.group()) ? "" : " for group " + names.group();
        return "NATS denied " + what + forGroup + ": the server refused this user permission to "
                + v.operation() + " to \"" + v.subject() + "\"" + (bucket == null ? "" : " (bucket " + bucket + ")")
                + " [" + v.serverText().trim() + "]. This is a permission, not a network failure: grant the worker's NATS user "
                + v.operation() + " permission on \"" + v.subject() + "\" (allow it in the user's `permissions { "
                + v.operation() + " { allow: [...] } }`); `parti permissions --role worker --group " + names.group()
                + "` prints the minimal set a worker needs (docs/OPERATIONS.md, Security)";
    }

    /** The exception {@code start()} throws for a refused step. */
    public PartiPermissionException toException(String what, Violation v, Throwable cause) {
        return new PartiPermissionException(explain(what, v), v.operation(), v.subject(), cause);
    }

    /**
     * {@code e} as a {@link PermissionDeniedException} when it is a timeout ({@link KvGateway.KvUnavailableException})
     * and the server refused a permission since {@code mark}; else {@code e} itself.
     */
    public RuntimeException classify(RuntimeException e, String what, long mark) {
        if (e instanceof KvGateway.KvUnavailableException) {
            Violation v = since(mark);
            if (v != null) {
                return new PermissionDeniedException(explain(what, v), v, e);
            }
        }
        return e;
    }

    /** A KV call the server refused for lack of a permission (it shows to jnats as a timeout). */
    public static final class PermissionDeniedException extends KvGateway.KvRejectedException {
        private static final long serialVersionUID = 1L;
        private final transient Violation violation;

        PermissionDeniedException(String message, Violation violation, Throwable cause) {
            super(message, cause);
            this.violation = violation;
        }

        public Violation violation() {
            return violation;
        }
    }

    // ------------------------------------------------------------------ ErrorListener

    @Override
    public void errorOccurred(Connection conn, String error) {
        observe(error);
        for (PermissionWatch w : sharers) {
            w.observe(error);
        }
        next.errorOccurred(conn, error);
    }

    /** The watches of the other workers on this watch's connection when it is shared ({@link SharedNats}). */
    private final java.util.List<PermissionWatch> sharers = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** {@code other}, a worker sharing this watch's connection, observes every error from now on. */
    void share(PermissionWatch other) {
        if (other != this) {
            sharers.add(other);
        }
    }

    /** Undoes {@link #share}. */
    void unshare(PermissionWatch other) {
        sharers.remove(other);
    }

    /** The listener this one passes every event on to (the user's, or jnats' default). */
    ErrorListener next() {
        return next;
    }

    /**
     * Records {@code error} if it is a refusal, without passing it on: on a connection shared by several
     * workers ({@link SharedNats}) every worker's watch observes each error, and the user's listener hears it once.
     */
    void observe(String error) {
        if (error != null && AUTH_REFUSED.matcher(error).find()) {
            credentialsRefused = error.trim();
        }
        Violation v = parse(0, error);
        if (v != null) {
            synchronized (this) {
                v = new Violation(count.incrementAndGet(), v.operation(), v.subject(), v.serverText());
                last.set(v);
            }
            log.debug("Group {}: NATS refused {} to {}", names.group(), v.operation(), v.subject());
        }
    }

    @Override
    public void exceptionOccurred(Connection conn, Exception exp) {
        next.exceptionOccurred(conn, exp);
    }

    @Override
    public void slowConsumerDetected(Connection conn, Consumer consumer) {
        next.slowConsumerDetected(conn, consumer);
    }

    @Override
    public void messageDiscarded(Connection conn, Message msg) {
        next.messageDiscarded(conn, msg);
    }

    @Override
    public void heartbeatAlarm(Connection conn, JetStreamSubscription sub, long lastStreamSequence, long lastConsumerSequence) {
        next.heartbeatAlarm(conn, sub, lastStreamSequence, lastConsumerSequence);
    }

    @Override
    public void unhandledStatus(Connection conn, JetStreamSubscription sub, Status status) {
        next.unhandledStatus(conn, sub, status);
    }

    @Override
    public void pullStatusWarning(Connection conn, JetStreamSubscription sub, Status status) {
        next.pullStatusWarning(conn, sub, status);
    }

    @Override
    public void pullStatusError(Connection conn, JetStreamSubscription sub, Status status) {
        next.pullStatusError(conn, sub, status);
    }

    @Override
    public void flowControlProcessed(Connection conn, JetStreamSubscription sub, String subject, FlowControlSource source) {
        next.flowControlProcessed(conn, sub, subject, source);
    }

    @Override
    public void socketWriteTimeout(Connection conn) {
        next.socketWriteTimeout(conn);
    }

    @Override
    public String supplyMessage(String label, Connection conn, Consumer consumer, Subscription sub, Object... pairs) {
        return next.supplyMessage(label, conn, consumer, sub, pairs);
    }
}
