package dev.parti.kafka.internal;

import dev.parti.kafka.MixedGroupException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.IllegalGenerationException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Detects a mixed group (see {@link MixedGroupException}): a Kafka-managed member in the group this
 * consumer coordinates through Parti, seen by describing the group after joining or when the broker
 * refuses a generation −1 commit. While the group is mixed, {@link #current()} is the error that
 * {@code poll()} throws; the group is described again every second (every 100 ms while migrating) until the Kafka
 * members are gone.
 *
 * <p>With {@code parti.migration=kafka-to-parti} the guard starts out <em>waiting</em>: until a description
 * of the group shows no Kafka-managed member, {@link #current()} is a {@link MixedGroupException} whose
 * {@link MixedGroupException#isMigrationWait()} is true, so the consumer joins Parti but neither delivers an assignment nor fetches
 * nor commits (the broker would refuse its generation −1 commits while Kafka members remain). The rolling
 * migration ({@code dev.parti.kafka.migration}) treats that error as "not yet" instead of a failure.
 *
 * <p>Once that wait is over, a refused commit of such a consumer may mean a member <em>passing through</em> the Kafka
 * group: a migrating consumer started during the switch joins the Kafka group after the others left it, gets nothing
 * there and leaves at once (see {@code KafkaToPartiMigration}). That is no mixed group: while every Kafka-managed member
 * owns nothing in Kafka, {@link #passing()} is true, {@code poll()} goes on (the partitions are Parti's alone) and the
 * commits wait for the group to empty ({@link CommitGate}). A member seen owning partitions in Kafka, or passing for
 * longer than {@code default.api.timeout.ms}, makes the group mixed as above.
 * Thread-safe: checks run on the runtime's timer thread, reads on the polling thread.
 */
final class MixedGroupGuard {
    private static final Logger log = LoggerFactory.getLogger(MixedGroupGuard.class);
    private static final long RECHECK_MS = 1_000;
    /**
     * A migrating consumer checks more often: the partitions of members that already left the Kafka group wait for
     * this check, and it lasts only the few seconds of the switch.
     */
    private static final long MIGRATION_RECHECK_MS = 100;

    private final ConsumerSettings settings;
    private final GroupRuntime runtime;
    private final BooleanSupplier joined;
    private static final String MIGRATION_WAIT = "Migration: consumer group '";

    private final boolean migrating;
    private volatile MixedGroupException mixedGroup;
    /** A migrating consumer: whether its wait for the Kafka-managed members to leave ended once. */
    private volatile boolean waitOver;
    /** Since when (nanoTime) members owning nothing pass through the Kafka group; 0 when none is known to. */
    private volatile long passingSinceNanos;

    /** @param joined whether this consumer is a started member of its Parti group now */
    MixedGroupGuard(ConsumerSettings settings, GroupRuntime runtime, BooleanSupplier joined) {
        this.settings = settings;
        this.runtime = runtime;
        this.joined = joined;
        this.migrating = settings.parti.migratesFromKafka();
        this.mixedGroup = migrating ? migrationWait(settings.groupId) : null;
    }

    /** The error of a migrating consumer waiting for the Kafka-managed members to leave. */
    private static MixedGroupException migrationWait(String groupId) {
        return new MixedGroupException(groupId, MIGRATION_WAIT + groupId + "' still has members managed by Kafka's "
                + "group coordinator; this PartiConsumer (parti.migration=kafka-to-parti) takes its Parti assignment "
                + "once they have left", null, true);
    }

    /** The error while the group is mixed, else null. */
    MixedGroupException current() {
        return mixedGroup;
    }

    /** Whether a member passes through the Kafka group (see the class comment): commits wait; {@code poll()} goes on. */
    boolean passing() {
        return passingSinceNanos != 0;
    }

    void clear() {
        mixedGroup = null;
        passingSinceNanos = 0;
    }

    /**
     * A commit of a migrating consumer whose wait is over was refused by the broker (polling thread): from now until a
     * description shows the Kafka group empty again the group counts as {@link #passing()}, unless a description finds
     * it mixed. Returns false, changing nothing, for any other consumer, or when the group is known to be mixed already:
     * the caller then translates the refusal ({@link #translate}).
     */
    boolean refusedWhilePassing() {
        if (!migrating || !waitOver || mixedGroup != null) {
            return false;
        }
        if (passingSinceNanos == 0) {
            passingSinceNanos = nowNonZero();
            log.info("Consumer group {}: the broker refused a commit through Parti; a member passes through the Kafka group "
                    + "(a migrating consumer started during the switch, say): commits wait until it has left", settings.groupId);
            runtime.execute(this::check);
        }
        return true;
    }

    private static long nowNonZero() {
        long now = System.nanoTime();
        return now == 0 ? 1 : now;
    }

    /** Whether every Kafka-managed member of {@code d} owns nothing in Kafka, for less than the API timeout so far. */
    private boolean passingThrough(ConsumerGroupDescription d) {
        long since = passingSinceNanos;
        boolean inTime = since == 0
                || System.nanoTime() - since < TimeUnit.MILLISECONDS.toNanos(settings.defaultApiTimeoutMs);
        return migrating && waitOver && mixedGroup == null && inTime
                && d.members().stream().allMatch(m -> m.assignment().topicPartitions().isEmpty());
    }

    /** Describes the group soon (on a timer thread). */
    void checkSoon() {
        runtime.execute(this::check);
    }

    /** Timer thread: a Kafka-managed member in our group means a mixed group. */
    private void check() {
        if (!joined.getAsBoolean()) {
            return;
        }
        try {
            ConsumerGroupDescription d = describeGroup(Duration.ofMillis(settings.requestTimeoutMs));
            if (d != null && !d.members().isEmpty()) {
                if (passingThrough(d)) {
                    if (passingSinceNanos == 0) {
                        passingSinceNanos = nowNonZero();
                    }
                } else {
                    MixedGroupException e = migrating && !waitOver ? migrationWait(settings.groupId) : error(d, null);
                    if (mixedGroup == null) {
                        log.error(e.getMessage());
                    }
                    mixedGroup = e;
                    passingSinceNanos = 0;
                }
            } else {
                if (migrating && !waitOver) {
                    log.info("Consumer group {} has no Kafka-managed members any more: the migration to Parti is complete "
                            + "for this consumer", settings.groupId);
                } else if (mixedGroup != null) {
                    log.info("Consumer group {} has no Kafka-managed members any more; consuming again", settings.groupId);
                } else if (passingSinceNanos != 0) {
                    log.info("Consumer group {}: the member passing through the Kafka group has left; committing again",
                            settings.groupId);
                }
                waitOver |= migrating;
                mixedGroup = null;
                passingSinceNanos = 0;
            }
        } catch (Exception e) {
            log.debug("Could not describe consumer group {}: {}", settings.groupId, e.toString());
        }
        if (mixedGroup != null || passingSinceNanos != 0) {
            runtime.schedule(this::check, migrating ? MIGRATION_RECHECK_MS : RECHECK_MS);
        }
    }

    /**
     * Describes the group now: whether it has no Kafka-managed member (false when it cannot be described within
     * {@code timeout}). Polling thread.
     */
    boolean kafkaGroupIsEmpty(Duration timeout) {
        try {
            ConsumerGroupDescription d = describeGroup(Duration.ofMillis(Math.max(1, Math.min(timeout.toMillis(),
                    settings.requestTimeoutMs))));
            return d == null || d.members().isEmpty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new org.apache.kafka.common.errors.InterruptException(e);
        } catch (Exception e) {
            log.debug("Could not describe consumer group {}: {}", settings.groupId, e.toString());
            return false;
        }
    }

    static boolean isGroupRefusal(Throwable e) {
        return e instanceof CommitFailedException || e instanceof UnknownMemberIdException
                || e instanceof IllegalGenerationException || e instanceof RebalanceInProgressException;
    }

    /**
     * A broker refusal of a generation −1 commit means a mixed group: returns the {@link
     * MixedGroupException} (remembered for {@code poll()}), describing the group first when {@code
     * describe}; any other error is returned as it is.
     */
    RuntimeException translate(RuntimeException e, boolean describe) {
        if (!isGroupRefusal(e)) {
            return e;
        }
        ConsumerGroupDescription d = null;
        if (describe) {
            try {
                d = describeGroup(Duration.ofMillis(Math.min(5_000, settings.requestTimeoutMs)));
            } catch (Exception ignored) {
                // the refusal alone says enough
            }
        }
        MixedGroupException mixed = error(d, e);
        mixedGroup = mixed;
        runtime.schedule(this::check, RECHECK_MS);
        return mixed;
    }

    private ConsumerGroupDescription describeGroup(Duration timeout) throws Exception {
        try {
            return runtime.admin().describeConsumerGroups(List.of(settings.groupId)).describedGroups().get(settings.groupId)
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return null;
            }
            throw e;
        }
    }

    private MixedGroupException error(ConsumerGroupDescription d, Throwable cause) {
        String g = settings.groupId;
        StringBuilder sb = new StringBuilder("Consumer group '").append(g).append("' ");
        if (d != null && !d.members().isEmpty()) {
            sb.append("has ").append(d.members().size()).append(" live member(s) managed by Kafka's group coordinator (")
                    .append(d.members().stream().map(MixedGroupGuard::describeMember).collect(Collectors.joining(", ")))
                    .append(")");
        } else {
            sb.append("has live members managed by Kafka's group coordinator: the broker refused an offset commit of this "
                    + "PartiConsumer (" + (cause == null ? "" : cause.getClass().getSimpleName() + ": " + cause.getMessage()) + ")");
        }
        sb.append(", while this PartiConsumer coordinates the same group through Parti. A group is managed either by Kafka or "
                + "by Parti, never by both: stop every KafkaConsumer of group '").append(g)
                .append("' before starting PartiConsumers (a rolling mix of KafkaConsumer and PartiConsumer is not supported), "
                        + "or give the PartiConsumers another group.id. Crashed members are removed by the broker after their "
                        + "session.timeout.ms. This consumer retries once the group has no Kafka-managed member left.");
        return new MixedGroupException(g, sb.toString(), cause);
    }

    private static String describeMember(MemberDescription member) {
        return member.clientId() + " on " + member.host() + member.groupInstanceId().map(id -> " instance " + id).orElse("");
    }
}
