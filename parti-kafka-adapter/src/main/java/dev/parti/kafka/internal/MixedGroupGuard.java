package dev.parti.kafka.internal;

import dev.parti.kafka.MixedGroupException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.common.KafkaFuture;
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
 * {@code poll()} throws; the group is described again every second (every 100 ms while migrating, every 20 ms once a
 * migrating consumer has left the Kafka group) until the Kafka members are gone. The descriptions are asked for on the
 * runtime's timer thread and handled on the Admin client's, so consumers sharing both do not wait for one another.
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
    /**
     * Once this member has left the Kafka group ({@link #kafkaGroupLeft()}), its partitions wait for the check that
     * sees the group empty, which the other members' leaves make it within milliseconds: it checks this often then.
     */
    private static final long LEFT_KAFKA_RECHECK_MS = 20;

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
    /** A migrating consumer: whether it has left the Kafka group (its partitions wait for the group to empty). */
    private volatile boolean leftKafka;
    /** The chain of checks that may reschedule itself: starting a new one ends the one before at its next run. */
    private final java.util.concurrent.atomic.AtomicLong chain = new java.util.concurrent.atomic.AtomicLong();

    /**
     * A migrating consumer's test of whether the given Kafka members all belong to switching members whose Parti lease
     * has surely ended (see {@link #removeStoppedBridges}); null: none may be removed.
     */
    private volatile Predicate<Collection<String>> stoppedBridges;
    /** Whether a removal of the group's members is under way (one at a time). */
    private final AtomicBoolean removing = new AtomicBoolean();

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
            checkAfter(0);
        }
        return true;
    }

    /**
     * A migrating consumer has left the Kafka group (polling thread): checks now, and every {@value
     * #LEFT_KAFKA_RECHECK_MS} ms until the group is seen empty.
     */
    void kafkaGroupLeft() {
        if (migrating && !waitOver) {
            leftKafka = true;
            checkAfter(0);
        }
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
        checkAfter(0);
    }

    /** Starts a new chain of checks, the first after {@code delayMs}; the chain before ends at its next run. */
    private void checkAfter(long delayMs) {
        long c = chain.incrementAndGet();
        runtime.schedule(() -> check(c), delayMs);
    }

    /**
     * Timer thread: asks for a description of the group, which {@link #checked} handles on the Admin client's thread, so
     * that the checks of the consumers sharing a timer thread (and an Admin client) do not wait for one another. Does
     * nothing once chain {@code c} ended.
     */
    private void check(long c) {
        if (c != chain.get() || !joined.getAsBoolean()) {
            return;
        }
        try {
            describing(settings.requestTimeoutMs).whenComplete((d, error) -> checked(c, d, error));
        } catch (RuntimeException e) {
            checked(c, null, e);
        }
    }

    /** The description of {@link #check} arrived ({@code d}, or {@code error}): a Kafka-managed member means a mixed group. */
    private void checked(long c, ConsumerGroupDescription d, Throwable error) {
        Throwable cause = error instanceof ExecutionException || error instanceof java.util.concurrent.CompletionException
                ? error.getCause() : error;
        if (cause != null && !(cause instanceof GroupIdNotFoundException)) {
            log.debug("Could not describe consumer group {}: {}", settings.groupId, cause.toString());
        } else if (c == chain.get()) {
            update(cause == null ? d : null);
        }
        if (c == chain.get() && (mixedGroup != null || passingSinceNanos != 0)) {
            long delay = !migrating ? RECHECK_MS : leftKafka && !waitOver ? LEFT_KAFKA_RECHECK_MS : MIGRATION_RECHECK_MS;
            runtime.schedule(() -> check(c), delay);
        }
    }

    /** What a description ({@code d}, null when the group does not exist) says about the group. */
    private void update(ConsumerGroupDescription d) {
        if (d != null && !d.members().isEmpty()) {
            if (passingThrough(d)) {
                if (passingSinceNanos == 0) {
                    passingSinceNanos = nowNonZero();
                }
            } else {
                if (migrating && !waitOver) {
                    removeStoppedBridges(d);
                }
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
    }

    /** Sets the test of {@link #removeStoppedBridges} (null: none may be removed); any thread. */
    void removeWhenStopped(Predicate<Collection<String>> stopped) {
        stoppedBridges = stopped;
    }

    /**
     * A migrating consumer waiting for the Kafka group to empty: when every member still in it is the Kafka side of a
     * switching member whose Parti lease has surely ended (killed while switching, say: see {@code
     * KafkaToPartiMigration}'s bridge watch), removes them all, instead of waiting out their {@code session.timeout.ms}
     * while every partition waits. Such a Kafka side hands out nothing once its lease may have lapsed, so removing it
     * gives no partition a second owner. Kafka's Admin names dynamic members only when it removes every member; a member
     * that joined since this description owns nothing yet (its join needs a rebalance, which the stopped members hold
     * up), is removed with them and joins again. Only dynamic members are removed: a new instance taking a static
     * member's {@code group.instance.id} over gets that member's partitions without a rebalance, and would be removed
     * holding them.
     * One removal at a time, on the Admin client's thread.
     */
    private void removeStoppedBridges(ConsumerGroupDescription d) {
        Predicate<Collection<String>> stopped = stoppedBridges;
        List<String> members = d.members().stream().map(MemberDescription::consumerId).toList();
        // A static member may be taken over by a new instance (its instance ID) between this description and the
        // removal, which would remove the new instance, holding partitions at once, too: static members are not removed.
        boolean dynamicOnly = d.members().stream().allMatch(m -> m.groupInstanceId().isEmpty());
        if (stopped == null || !dynamicOnly || !stopped.test(members) || !removing.compareAndSet(false, true)) {
            return;
        }
        log.warn("Consumer group {}: every member still in the Kafka group ({}) belongs to a switching member whose Parti "
                + "lease has ended (it stopped: killed, say); removing them instead of waiting out their "
                + "session.timeout.ms", settings.groupId, members);
        try {
            runtime.admin().removeMembersFromConsumerGroup(settings.groupId, new RemoveMembersFromConsumerGroupOptions())
                    .all().whenComplete((ok, error) -> {
                        removing.set(false);
                        if (error != null) {
                            log.info("Consumer group {}: removing the stopped members failed ({}); checking again",
                                    settings.groupId, error.toString());
                        } else {
                            log.info("Consumer group {}: the stopped members were removed from the Kafka group",
                                    settings.groupId);
                            checkAfter(0);
                        }
                    });
        } catch (RuntimeException e) {
            removing.set(false);
            log.info("Consumer group {}: removing the stopped members failed ({}); checking again", settings.groupId,
                    e.toString());
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
        checkAfter(migrating ? MIGRATION_RECHECK_MS : RECHECK_MS);
        return mixed;
    }

    /** A description of the group, asked for now with the shared Admin client, bounded by {@code timeoutMs}. */
    private KafkaFuture<ConsumerGroupDescription> describing(long timeoutMs) {
        return runtime.admin().describeConsumerGroups(List.of(settings.groupId),
                        new DescribeConsumerGroupsOptions().timeoutMs((int) Math.min(Integer.MAX_VALUE, timeoutMs)))
                .describedGroups().get(settings.groupId);
    }

    private ConsumerGroupDescription describeGroup(Duration timeout) throws Exception {
        try {
            return describing(timeout.toMillis()).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
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
