package dev.parti;

import io.nats.client.Connection;
import io.nats.client.Options;
import java.time.Duration;
import java.util.Objects;

/**
 * Validated, immutable settings of one {@link PartiManager}. Build with {@link #builder(String)};
 * {@link Builder#build()} checks every field and every rule between fields and throws {@link
 * IllegalArgumentException} naming the field and the rule. Nothing is silently replaced by a default.
 *
 * <p>Timing defaults follow Kafka's feel: heartbeat 1 s, session 6 s; the leader TTL 3 s (longer when
 * the safety margin needs it, see {@link Builder#leaderTtl}); cold-start window 30 s, planned-scale
 * window 10 s. Tests use sub-second values.
 *
 * <h2>Lease arithmetic</h2>
 * A worker's two leases run on its own monotonic clock from the start of its last successful write:
 * the <em>session lease</em> {@code sessionTimeout − safetyMargin} (renewed by each heartbeat) and the
 * <em>leader lease</em> {@code leaderTtl − safetyMargin} (renewed once per election round, which runs
 * every {@code heartbeatInterval}). {@link Builder#build()} accepts only configs in which both leases
 * outlast one renewal round: {@code heartbeatInterval + max(heartbeatInterval / 2, 50 ms)} (the slack
 * covers the scheduler's tick and the renewal request). A shorter lease expires between two renewals:
 * a leader could never keep its lease to the end of the recovery grace and publish, a worker would
 * fence itself between heartbeats. The recovery grace itself needs no bound against the lease: a
 * leader renews through it. The safety margin is what keeps each lease inside the server's TTL
 * (request latency and clock-rate drift), so it must be positive and smaller than each TTL.
 */
public final class PartiConfig {
    public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofSeconds(1);
    public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(6);
    public static final Duration DEFAULT_WORKER_ID_TTL = Duration.ofSeconds(30);
    /**
     * 3 s: a leader crash is then healed within invariant 7's bound (session 6 s + 1 s): lease
     * expiry 3 s + one heartbeat to notice + a 2 s recovery grace. The floor of the derived default,
     * see {@link Builder#leaderTtl}.
     */
    public static final Duration DEFAULT_LEADER_TTL = Duration.ofSeconds(3);
    /** Slack a lease needs beyond one renewal interval, at least: scheduler tick plus the renewal request. */
    static final Duration MIN_RENEWAL_SLACK = Duration.ofMillis(50);
    /** Longest static worker ID: it is a NATS subject token, and the subject must fit the protocol's control line. */
    public static final int MAX_WORKER_ID_LENGTH = 256;
    public static final Duration DEFAULT_COLD_START_WINDOW = Duration.ofSeconds(30);
    public static final Duration DEFAULT_PLANNED_SCALE_WINDOW = Duration.ofSeconds(10);
    public static final Duration DEFAULT_REBALANCE_COOLDOWN = Duration.ofSeconds(2);
    public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(30);
    public static final int DEFAULT_MAX_WORKERS = 1024;

    private final String group;
    private final String natsUrl;
    private final Options natsOptions;
    private final Connection connection;
    private final boolean shareConnection;
    private final String workerId;
    private final long capacity;
    private final int maxWorkers;
    private final int bucketReplicas;
    private final Duration heartbeatInterval;
    private final Duration sessionTimeout;
    private final Duration workerIdTtl;
    private final Duration leaderTtl;
    private final Duration safetyMargin;
    private final Duration coldStartWindow;
    private final Duration plannedScaleWindow;
    private final Duration emergencyGrace;
    private final Duration recoveryGrace;
    private final Duration rebalanceCooldown;
    private final Duration startupTimeout;
    private final LossPolicy lossPolicy;
    private final AssignmentStrategy strategy;
    private final PartitionSource partitionSource;
    private final MetricsRecorder metrics;
    private final String disconnectEvents;
    private final Duration disconnectGrace;

    private PartiConfig(Builder b, Duration leaderTtl, Duration safetyMargin, Duration emergencyGrace,
                        Duration recoveryGrace, AssignmentStrategy strategy, Duration disconnectGrace) {
        group = b.group;
        natsUrl = b.natsUrl;
        natsOptions = b.natsOptions;
        connection = b.connection;
        shareConnection = b.shareConnection;
        workerId = b.workerId;
        capacity = b.capacity;
        maxWorkers = b.maxWorkers;
        bucketReplicas = b.bucketReplicas;
        heartbeatInterval = b.heartbeatInterval;
        sessionTimeout = b.sessionTimeout;
        workerIdTtl = b.workerIdTtl;
        this.leaderTtl = leaderTtl;
        this.safetyMargin = safetyMargin;
        coldStartWindow = b.coldStartWindow;
        plannedScaleWindow = b.plannedScaleWindow;
        this.emergencyGrace = emergencyGrace;
        this.recoveryGrace = recoveryGrace;
        rebalanceCooldown = b.rebalanceCooldown;
        startupTimeout = b.startupTimeout;
        lossPolicy = b.lossPolicy;
        this.strategy = strategy;
        partitionSource = b.partitionSource;
        metrics = b.metrics;
        disconnectEvents = b.disconnectEvents;
        this.disconnectGrace = disconnectGrace;
    }

    /** A builder for the group {@code group} (any non-empty name; bucket names are derived safely). */
    public static Builder builder(String group) {
        return new Builder(group);
    }

    public String group() { return group; }
    /** NATS server URL(s), comma-separated, or null when {@link #connection()} is given. */
    public String natsUrl() { return natsUrl; }
    /** Options used to connect to {@link #natsUrl()}, or null for Parti's defaults. */
    public Options natsOptions() { return natsOptions; }
    /** An existing connection the caller owns (Parti never closes it), or null. */
    public Connection connection() { return connection; }
    /**
     * Whether the connection Parti opens from {@link #natsUrl()} is shared with the other workers of this JVM
     * that connect to the same servers with the same options (default true); see {@link Builder#shareConnection}.
     */
    public boolean shareConnection() { return shareConnection; }
    /** A static worker ID (like Kafka's {@code group.instance.id}), or null to claim {@code w-N} from the pool. */
    public String workerId() { return workerId; }
    public long capacity() { return capacity; }
    public int maxWorkers() { return maxWorkers; }
    public int bucketReplicas() { return bucketReplicas; }
    public Duration heartbeatInterval() { return heartbeatInterval; }
    public Duration sessionTimeout() { return sessionTimeout; }
    public Duration workerIdTtl() { return workerIdTtl; }
    public Duration leaderTtl() { return leaderTtl; }
    public Duration safetyMargin() { return safetyMargin; }
    public Duration coldStartWindow() { return coldStartWindow; }
    public Duration plannedScaleWindow() { return plannedScaleWindow; }
    public Duration emergencyGrace() { return emergencyGrace; }
    public Duration recoveryGrace() { return recoveryGrace; }
    public Duration rebalanceCooldown() { return rebalanceCooldown; }
    public Duration startupTimeout() { return startupTimeout; }
    public LossPolicy lossPolicy() { return lossPolicy; }
    public AssignmentStrategy strategy() { return strategy; }
    public PartitionSource partitionSource() { return partitionSource; }
    public MetricsRecorder metrics() { return metrics; }
    /**
     * The subject on which the group's NATS account receives its clients' {@code DISCONNECT} events (crash detection
     * with proof of death, see {@link Builder#disconnectEvents}), or null when the feature is off (the default).
     */
    public String disconnectEvents() { return disconnectEvents; }
    /**
     * How long the leader waits after a {@code DISCONNECT} event proving a worker's connection closed before it
     * counts that worker stopped (see {@link Builder#disconnectGrace}); meaningful only with {@link #disconnectEvents()}.
     */
    public Duration disconnectGrace() { return disconnectGrace; }

    /** Builder; every setter rejects null. */
    public static final class Builder {
        private final String group;
        private String natsUrl;
        private Options natsOptions;
        private Connection connection;
        private boolean shareConnection = true;
        private String workerId;
        private long capacity = Worker.DEFAULT_CAPACITY;
        private int maxWorkers = DEFAULT_MAX_WORKERS;
        private int bucketReplicas = 1;
        private Duration heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
        private Duration sessionTimeout = DEFAULT_SESSION_TIMEOUT;
        private Duration workerIdTtl = DEFAULT_WORKER_ID_TTL;
        private Duration leaderTtl;
        private Duration safetyMargin;
        private Duration coldStartWindow = DEFAULT_COLD_START_WINDOW;
        private Duration plannedScaleWindow = DEFAULT_PLANNED_SCALE_WINDOW;
        private Duration emergencyGrace;
        private Duration recoveryGrace;
        private Duration rebalanceCooldown = DEFAULT_REBALANCE_COOLDOWN;
        private Duration startupTimeout = DEFAULT_STARTUP_TIMEOUT;
        private LossPolicy lossPolicy = LossPolicy.FENCE;
        private AssignmentStrategy strategy;
        private PartitionSource partitionSource;
        private MetricsRecorder metrics = MetricsRecorder.NOOP;
        private String disconnectEvents;
        private Duration disconnectGrace;

        private Builder(String group) {
            this.group = group;
        }

        /** NATS server URL(s), comma-separated; Parti opens and closes its own connection. */
        public Builder natsUrl(String url) { this.natsUrl = nonNull(url, "natsUrl"); return this; }
        /** Connection options used with {@link #natsUrl(String)} (servers in them are replaced by the URL). */
        public Builder natsOptions(Options options) { this.natsOptions = nonNull(options, "natsOptions"); return this; }
        /** An existing connection; the caller owns it and Parti never closes it. */
        public Builder connection(Connection c) { this.connection = nonNull(c, "connection"); return this; }
        /**
         * With {@link #natsUrl(String)}: whether this worker shares one NATS connection with the other workers of
         * this JVM that connect to the same servers with equal options (same user, password and token, the same
         * auth-handler and TLS-context objects, same timings). Default true: the connection is opened by the
         * first of them and closed with the last, and every worker hears its connection events. False gives this
         * worker a connection of its own (as a separate process would have), e.g. to keep one group's traffic
         * off another's connection. Ignored with {@link #connection(Connection)}.
         */
        public Builder shareConnection(boolean share) { this.shareConnection = share; return this; }
        /**
         * A static worker ID (Kafka's {@code group.instance.id}); a newer instance with the same ID takes it
         * over. It is a NATS KV key: 1 to {@value PartiConfig#MAX_WORKER_ID_LENGTH} characters from
         * {@code A-Z a-z 0-9 - _ / =} ({@code .} is refused too: it would split the key into subject tokens).
         */
        public Builder workerId(String id) { this.workerId = nonNull(id, "workerId"); return this; }
        /** Relative capacity of this worker (≥ 1), honoured by capacity-aware strategies. */
        public Builder capacity(long c) { this.capacity = c; return this; }
        /** Size of the {@code w-0 … w-(n-1)} ID pool. */
        public Builder maxWorkers(int n) { this.maxWorkers = n; return this; }
        /** JetStream replicas of the group's buckets (1, or 3 on a cluster). */
        public Builder bucketReplicas(int r) { this.bucketReplicas = r; return this; }
        public Builder heartbeatInterval(Duration d) { this.heartbeatInterval = nonNull(d, "heartbeatInterval"); return this; }
        /** A worker whose heartbeat is older than this is dead (bucket TTL of the heartbeats). */
        public Builder sessionTimeout(Duration d) { this.sessionTimeout = nonNull(d, "sessionTimeout"); return this; }
        /** How long a worker ID outlives its last renewal (bucket TTL of the IDs). */
        public Builder workerIdTtl(Duration d) { this.workerIdTtl = nonNull(d, "workerIdTtl"); return this; }
        /**
         * Bucket TTL of the leader key; the leader's lease is {@code leaderTtl − safetyMargin}. Default:
         * {@link PartiConfig#DEFAULT_LEADER_TTL}, or {@code safetyMargin + 2 × heartbeatInterval} when that is
         * longer (a session of 15 s gets 4.5 s, 30 s gets 7 s), so that every session timeout gets a leader
         * lease of two election rounds. An explicit value must leave a lease of at least one renewal
         * round (see the class comment).
         */
        public Builder leaderTtl(Duration d) { this.leaderTtl = nonNull(d, "leaderTtl"); return this; }
        /**
         * Subtracted from each TTL to get the matching lease (see the class comment); covers request
         * latency and clock-rate drift. Default: max(heartbeat interval, session/6).
         */
        public Builder safetyMargin(Duration d) { this.safetyMargin = nonNull(d, "safetyMargin"); return this; }
        public Builder coldStartWindow(Duration d) { this.coldStartWindow = nonNull(d, "coldStartWindow"); return this; }
        public Builder plannedScaleWindow(Duration d) { this.plannedScaleWindow = nonNull(d, "plannedScaleWindow"); return this; }
        /**
         * How long a vanished worker's heartbeat key must stay gone before the emergency rebalance;
         * default: half a heartbeat interval, so that session timeout + grace + detection stays
         * within invariant 7's bound (session timeout + 1 s).
         */
        public Builder emergencyGrace(Duration d) { this.emergencyGrace = nonNull(d, "emergencyGrace"); return this; }
        /** How long a new leader collects heartbeats before changing anything; default 2 × heartbeat interval. */
        public Builder recoveryGrace(Duration d) { this.recoveryGrace = nonNull(d, "recoveryGrace"); return this; }
        /** Minimum time between two planned rebalances. */
        public Builder rebalanceCooldown(Duration d) { this.rebalanceCooldown = nonNull(d, "rebalanceCooldown"); return this; }
        /** How long {@link PartiManager#start()} waits for NATS and a worker ID. */
        public Builder startupTimeout(Duration d) { this.startupTimeout = nonNull(d, "startupTimeout"); return this; }
        public Builder lossPolicy(LossPolicy p) { this.lossPolicy = nonNull(p, "lossPolicy"); return this; }
        /** The strategy the leader runs; default {@code StickyBalanced}. */
        public Builder strategy(AssignmentStrategy s) { this.strategy = nonNull(s, "strategy"); return this; }
        /** Where the leader reads the partitions from (required). */
        public Builder partitionSource(PartitionSource s) { this.partitionSource = nonNull(s, "partitionSource"); return this; }
        public Builder metrics(MetricsRecorder m) { this.metrics = nonNull(m, "metrics"); return this; }
        /**
         * Opt-in crash detection with proof of death: the subject on which this group's NATS account receives the
         * {@code DISCONNECT} events nats-server publishes for its clients, normally {@code $SYS.ACCOUNT.<account>.DISCONNECT}
         * imported from the system account (docs/OPERATIONS.md shows the server configuration). Off by default.
         *
         * <p>With it, each process opens one more NATS connection per connection it shares, a <em>liveness
         * connection</em> that subscribes to and publishes nothing (so that its process's death closes it cleanly), and
         * every worker publishes the identities (server ID and client ID) of that connection and of the connection it
         * writes over in its heartbeat, and fences itself (gives up its partitions, as on a stale lease; a leader also
         * stops leading) as soon as either drops; every worker subscribes to the subject, and an event with reason
         * {@code Client Closed} (the server read the end of the stream: the process closed its socket, or died and its
         * kernel closed it) for a live worker's current liveness connection, once the server has also reported its
         * writes connection closed (any reason), makes the leader, after {@link #disconnectGrace}, count that worker
         * stopped and reassign its partitions at once instead of waiting for its session to expire; for the leader's own identity, a
         * follower deletes the leader key (compare-and-set, after a confirming read) so that a new leader is elected at
         * once instead of after the leader TTL. Any other reason (a stale connection: a
         * paused process or a network cut; a read or write error) proves nothing and changes nothing. Where the
         * events do not arrive (no import, no permission to subscribe) behaviour is exactly that without the setting.
         * Requires {@link LossPolicy#FENCE}. The safety argument is in docs/PROTOCOL.md (proof of death).
         */
        public Builder disconnectEvents(String subject) { this.disconnectEvents = nonNull(subject, "disconnectEvents"); return this; }
        /**
         * With {@link #disconnectEvents}: how long the leader waits after the event before it counts the worker
         * stopped; it bounds the time between a worker's NATS client closing its socket and the worker's fence
         * taking effect (a pause longer than this inside that window breaks the argument, as a pause longer than the
         * safety margin breaks the lease). Default: the safety margin. Must be &gt; 0 and &lt; sessionTimeout.
         */
        public Builder disconnectGrace(Duration d) { this.disconnectGrace = nonNull(d, "disconnectGrace"); return this; }

        private static <T> T nonNull(T v, String field) {
            return Objects.requireNonNull(v, field + " must not be null");
        }

        /** Validates and builds. @throws IllegalArgumentException naming the field and the rule broken */
        public PartiConfig build() {
            require(group != null && !group.isEmpty(), "group", "must be a non-empty string");
            require((natsUrl == null) != (connection == null), "natsUrl/connection",
                    "exactly one of natsUrl and connection must be set");
            require(natsUrl == null || !natsUrl.isBlank(), "natsUrl", "must not be blank");
            if (workerId != null) {
                checkWorkerId(workerId);
            }
            require(capacity >= 1, "capacity", "must be >= 1, was " + capacity);
            require(maxWorkers >= 1, "maxWorkers", "must be >= 1, was " + maxWorkers);
            require(bucketReplicas >= 1 && bucketReplicas <= 5, "bucketReplicas", "must be 1..5, was " + bucketReplicas);
            positive(heartbeatInterval, "heartbeatInterval");
            positive(sessionTimeout, "sessionTimeout");
            positive(workerIdTtl, "workerIdTtl");
            if (leaderTtl != null) {
                positive(leaderTtl, "leaderTtl");
            }
            positive(startupTimeout, "startupTimeout");
            notNegative(coldStartWindow, "coldStartWindow");
            notNegative(plannedScaleWindow, "plannedScaleWindow");
            notNegative(rebalanceCooldown, "rebalanceCooldown");
            require(partitionSource != null, "partitionSource", "is required");
            require(sessionTimeout.compareTo(heartbeatInterval.multipliedBy(2)) >= 0, "sessionTimeout",
                    "must be >= 2 x heartbeatInterval (" + sessionTimeout + " < 2 x " + heartbeatInterval + ")");
            require(workerIdTtl.compareTo(sessionTimeout) >= 0, "workerIdTtl",
                    "must be >= sessionTimeout (" + workerIdTtl + " < " + sessionTimeout + ")");
            require(coldStartWindow.compareTo(plannedScaleWindow) >= 0, "coldStartWindow",
                    "must be >= plannedScaleWindow (" + coldStartWindow + " < " + plannedScaleWindow + ")");
            require(rebalanceCooldown.compareTo(plannedScaleWindow) <= 0 || plannedScaleWindow.isZero() && rebalanceCooldown.isZero(),
                    "rebalanceCooldown", "must be <= plannedScaleWindow (" + rebalanceCooldown + " > " + plannedScaleWindow + ")");
            boolean marginSet = safetyMargin != null;
            Duration margin = safetyMargin;
            if (margin == null) {
                Duration sixth = sessionTimeout.dividedBy(6);
                margin = heartbeatInterval.compareTo(sixth) > 0 ? heartbeatInterval : sixth;
            }
            positive(margin, "safetyMargin");
            Duration round = renewalRound(heartbeatInterval);
            String lower = "lower safetyMargin (" + fmt(margin) + (marginSet ? ")" : ", default max(heartbeatInterval, sessionTimeout/6))");
            require(sessionTimeout.minus(margin).compareTo(round) >= 0, marginSet ? "safetyMargin" : "sessionTimeout",
                    "leaves a session lease (sessionTimeout - safetyMargin = " + fmt(sessionTimeout) + " - " + fmt(margin) + " = "
                    + fmt(sessionTimeout.minus(margin)) + ") shorter than one heartbeat round (" + fmt(round) + " = heartbeatInterval "
                    + fmt(heartbeatInterval) + " + slack): a worker would fence itself between two heartbeats; raise "
                    + "sessionTimeout to >= " + fmt(margin.plus(round)) + " or " + lower);
            Duration leader = leaderTtl;
            if (leader == null) {
                Duration twoRounds = heartbeatInterval.multipliedBy(2);
                Duration derived = margin.plus(twoRounds.compareTo(round) > 0 ? twoRounds : round);
                leader = derived.compareTo(DEFAULT_LEADER_TTL) > 0 ? derived : DEFAULT_LEADER_TTL;
            } else {
                require(leader.compareTo(heartbeatInterval.multipliedBy(2)) >= 0, "leaderTtl",
                        "must be >= 2 x heartbeatInterval (" + leader + " < 2 x " + heartbeatInterval + ")");
            }
            require(leader.minus(margin).compareTo(round) >= 0, "leaderTtl",
                    "leaves a leader lease (leaderTtl - safetyMargin = " + fmt(leader) + " - " + fmt(margin) + " = "
                    + fmt(leader.minus(margin)) + ") shorter than one election round (" + fmt(round) + " = heartbeatInterval "
                    + fmt(heartbeatInterval) + " + slack): the leader would lose its lease between two renewals and never "
                    + "publish; raise leaderTtl to >= " + fmt(margin.plus(round)) + " (or leave it unset: the default derives "
                    + "from the margin) or " + lower);
            Duration emergency = emergencyGrace != null ? emergencyGrace : heartbeatInterval.dividedBy(2);
            notNegative(emergency, "emergencyGrace");
            require(emergency.compareTo(sessionTimeout) <= 0, "emergencyGrace", "must be <= sessionTimeout");
            Duration recovery = recoveryGrace != null ? recoveryGrace : heartbeatInterval.multipliedBy(2);
            require(recovery.compareTo(heartbeatInterval.multipliedBy(2)) >= 0, "recoveryGrace",
                    "must be >= 2 x heartbeatInterval (" + recovery + ")");
            if (disconnectEvents != null) {
                checkSubject(disconnectEvents);
                require(lossPolicy == LossPolicy.FENCE, "disconnectEvents", "requires lossPolicy FENCE (a worker whose "
                        + "connection dropped must stop before the leader may count it stopped), was " + lossPolicy);
            }
            Duration disconnect = disconnectGrace != null ? disconnectGrace : margin;
            positive(disconnect, "disconnectGrace");
            require(disconnect.compareTo(sessionTimeout) < 0, "disconnectGrace", "must be < sessionTimeout ("
                    + fmt(disconnect) + " >= " + fmt(sessionTimeout) + "): a longer grace would detect nothing before the session");
            return new PartiConfig(this, leader, margin, emergency, recovery,
                    strategy != null ? strategy : dev.parti.strategy.Strategies.defaultStrategy(), disconnect);
        }

        /** A duration for a message: {@code 2.5 s}, {@code 800 ms}, {@code 61.667 ms}. */
        static String fmt(Duration d) {
            long nanos = d.toNanos();
            if (nanos % 1_000_000 != 0) {
                return String.format(java.util.Locale.ROOT, "%.3f ms", nanos / 1e6);
            }
            long ms = nanos / 1_000_000;
            return ms >= 1000 && ms % 100 == 0 ? (ms % 1000 == 0 ? ms / 1000 + " s" : ms / 1000.0 + " s") : ms + " ms";
        }

        /** One renewal round: the interval plus the slack for the scheduler's tick and the request. */
        static Duration renewalRound(Duration heartbeatInterval) {
            Duration half = heartbeatInterval.dividedBy(2);
            return heartbeatInterval.plus(half.compareTo(MIN_RENEWAL_SLACK) > 0 ? half : MIN_RENEWAL_SLACK);
        }

        /** A static worker ID is a NATS KV key (jnats' rules) without {@code .}, which would split it into tokens. */
        private static void checkWorkerId(String id) {
            require(!id.isEmpty(), "workerId", "must not be empty (it is a NATS KV key)");
            require(id.length() <= MAX_WORKER_ID_LENGTH, "workerId", "must be at most " + MAX_WORKER_ID_LENGTH
                    + " characters (it is a NATS KV key), was " + id.length());
            for (int i = 0; i < id.length(); i++) {
                char c = id.charAt(i);
                boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                        || c == '-' || c == '_' || c == '/' || c == '=';
                require(ok, "workerId", "'" + id + "' has " + describe(c) + " at index " + i + ": a worker ID is a NATS "
                        + "KV key, only letters A-Z a-z, digits and '-' '_' '/' '=' are allowed");
            }
        }

        /** A NATS subject to subscribe to: non-empty tokens separated by dots, no whitespace. */
        private static void checkSubject(String subject) {
            boolean ok = !subject.isEmpty() && !subject.startsWith(".") && !subject.endsWith(".") && !subject.contains("..");
            for (int i = 0; ok && i < subject.length(); i++) {
                ok = subject.charAt(i) > ' ' && subject.charAt(i) != 127;
            }
            require(ok, "disconnectEvents", "'" + subject + "' is not a NATS subject (dot-separated non-empty tokens, "
                    + "no whitespace), e.g. $SYS.ACCOUNT.APP.DISCONNECT");
        }

        private static String describe(char c) {
            return c <= ' ' || c == 127 ? String.format("the character U+%04X", (int) c) : "'" + c + "'";
        }

        private static void positive(Duration d, String field) {
            require(!d.isNegative() && !d.isZero(), field, "must be > 0, was " + d);
        }

        private static void notNegative(Duration d, String field) {
            require(!d.isNegative(), field, "must be >= 0, was " + d);
        }

        private static void require(boolean ok, String field, String rule) {
            if (!ok) {
                throw new IllegalArgumentException("Invalid Parti config: " + field + " " + rule);
            }
        }
    }
}
