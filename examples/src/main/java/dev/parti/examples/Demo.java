package dev.parti.examples;

import dev.parti.kafka.PartiConsumer;
import dev.parti.testkit.KafkaBroker;
import dev.parti.testkit.NatsServer;
import dev.parti.testkit.OwnershipChecker;
import dev.parti.testkit.OwnershipLog;
import dev.parti.testkit.OwnershipReport;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The one-command demo ({@code scripts/demo}): a producer and N {@link PartiConsumer} workers on one
 * topic, a live view of who owns which partition, one worker crashed and started again, and a summary
 * of what was produced, consumed, duplicated and lost.
 *
 * <p>By default it starts its own servers: a {@code nats-server} child process ({@link NatsServer}) and a
 * single-node Kafka broker in a child JVM ({@link KafkaBroker}); {@code --nats-url} and
 * {@code --bootstrap-servers} use existing ones instead. The workers run in this JVM, each on its own
 * thread with its own {@code PartiConsumer}. The "crash" of a worker is simulated in-process: its thread
 * stops between processing a batch and committing it, and the consumer closes with
 * {@code REMAIN_IN_GROUP}, so it neither commits nor leaves the Parti group; the rest of the group sees
 * exactly what it sees of a killed process (heartbeats stop), and reassigns after the session timeout.
 *
 * <p>Ctrl-C stops the run at any point through a shutdown hook: workers close, servers stop, the summary
 * is printed. The exit status is 0 when nothing was lost, 1 otherwise, 2 for bad options.
 */
public final class Demo {
    static final String USAGE = String.join("\n",
            "Usage: scripts/demo [options]",
            "",
            "Runs a producer and several PartiConsumer workers on one Kafka topic, shows who owns which",
            "partition live, crashes one worker, starts it again, and prints what was produced, consumed,",
            "duplicated and lost.",
            "",
            "Options:",
            "  --workers N               consumer workers (default 3)",
            "  --partitions N            partitions of the demo topic (default 12)",
            "  --duration D              how long the workers run, server start-up not counted: 90s, 2m, 15000ms (default 60s)",
            "  --rate N                  records produced per second (default 200)",
            "  --nats-url URL            use this NATS server instead of starting nats-server",
            "  --bootstrap-servers HOST  use this Kafka cluster instead of starting a broker",
            "  --plain                   no screen redraws: one line per event and a progress line now and then",
            "  --help                    this text");

    /** Demo timings: shorter than Parti's defaults so that a crash heals within a few seconds. */
    static final Map<String, Object> PARTI_TIMINGS = Map.of(
            "parti.heartbeat.interval.ms", 500,
            "parti.session.timeout.ms", 3000,
            "parti.leader.ttl.ms", 1500,
            "parti.worker.id.ttl.ms", 6000,
            "parti.cold.start.window.ms", 2000,
            "parti.planned.scale.window.ms", 1000,
            "parti.rebalance.cooldown.ms", 500);

    /** Parsed command line. */
    public record Options(int workers, int partitions, Duration duration, int rate, String natsUrl,
                          String bootstrapServers, boolean plain, boolean help) {
        /** Parses {@code args}. @throws IllegalArgumentException naming the bad option */
        public static Options parse(String... args) {
            int workers = 3;
            int partitions = 12;
            Duration duration = Duration.ofSeconds(60);
            int rate = 200;
            String nats = null;
            String kafka = null;
            boolean plain = false;
            boolean help = false;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                String value = null;
                int eq = a.indexOf('=');
                if (a.startsWith("--") && eq > 0) {
                    value = a.substring(eq + 1);
                    a = a.substring(0, eq);
                }
                switch (a) {
                    case "--help", "-h" -> help = true;
                    case "--plain" -> plain = true;
                    case "--workers" -> workers = positive(a, value != null ? value : next(args, ++i, a));
                    case "--partitions" -> partitions = positive(a, value != null ? value : next(args, ++i, a));
                    case "--rate" -> rate = positive(a, value != null ? value : next(args, ++i, a));
                    case "--duration" -> duration = duration(value != null ? value : next(args, ++i, a));
                    case "--nats-url" -> nats = value != null ? value : next(args, ++i, a);
                    case "--bootstrap-servers" -> kafka = value != null ? value : next(args, ++i, a);
                    default -> throw new IllegalArgumentException("Unknown option: " + args[i]);
                }
            }
            return new Options(workers, partitions, duration, rate, nats, kafka, plain, help);
        }

        private static String next(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            return args[i];
        }

        private static int positive(String option, String v) {
            try {
                int n = Integer.parseInt(v.trim());
                if (n < 1) {
                    throw new IllegalArgumentException(option + " must be >= 1, was " + v);
                }
                return n;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + " needs a whole number, was " + v);
            }
        }

        private static final Pattern DURATION = Pattern.compile("(?:(\\d+)m)?(?:(\\d+)s)?(?:(\\d+)ms)?|(\\d+)");

        static Duration duration(String v) {
            Matcher m = DURATION.matcher(v.trim().toLowerCase(Locale.ROOT));
            if (v.isBlank() || !m.matches()) {
                throw new IllegalArgumentException("--duration must look like 90s, 2m, 1m30s or 15000ms, was " + v);
            }
            if (m.group(4) != null) {
                return Duration.ofSeconds(Long.parseLong(m.group(4)));
            }
            Duration d = Duration.ZERO;
            if (m.group(1) != null) {
                d = d.plusMinutes(Long.parseLong(m.group(1)));
            }
            if (m.group(2) != null) {
                d = d.plusSeconds(Long.parseLong(m.group(2)));
            }
            if (m.group(3) != null) {
                d = d.plusMillis(Long.parseLong(m.group(3)));
            }
            if (d.isZero()) {
                throw new IllegalArgumentException("--duration must be > 0, was " + v);
            }
            return d;
        }
    }

    /**
     * What a run produced and consumed.
     *
     * @param produced          records the broker acknowledged
     * @param consumed          records handed to workers, duplicates included
     * @param consumedDistinct  distinct (partition, offset) pairs consumed
     * @param duplicates        records consumed more than once (counted once per extra delivery)
     * @param lost              acknowledged records never consumed
     * @param reassignment      from the crash until every partition had a live owner again, or null
     * @param rejoin            from the restart until the restarted worker owned partitions again, or null
     * @param overlaps          times two live workers owned one partition at once (by their listeners)
     * @param completed         false when the run was interrupted (Ctrl-C) or a phase timed out
     */
    public record Summary(long produced, long consumed, long consumedDistinct, long duplicates, long lost,
                          Duration reassignment, Duration rejoin, int overlaps, boolean completed) {
    }

    private final Options options;
    private final PrintStream out;
    private final boolean interactive;
    private final String topic;
    private final String group;
    private final long t0 = System.nanoTime();
    private volatile long runStart = System.nanoTime();
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final Set<Long> produced = ConcurrentHashMap.newKeySet();
    private final Map<Long, AtomicInteger> consumed = new ConcurrentHashMap<>();
    private final AtomicLong consumedTotal = new AtomicLong();
    private final AtomicLong produceFailures = new AtomicLong();
    private final List<Worker> workers = new CopyOnWriteArrayList<>();
    private final OwnershipLog ownership = OwnershipLog.inMemory();
    private volatile boolean stopping;
    private volatile boolean interrupted;
    private volatile String phase = "starting";
    private volatile Duration reassignment;
    private volatile Duration rejoin;
    private NatsServer nats;
    private KafkaBroker kafka;
    private String natsUrl;
    private String bootstrap;
    private Thread producerThread;
    private Summary summary;

    Demo(Options options, PrintStream out, boolean interactive) {
        this.options = options;
        this.out = out;
        this.interactive = interactive && !options.plain();
        String suffix = Long.toString(System.currentTimeMillis() % 1_000_000_000L, 36);
        this.topic = "parti-demo-" + suffix;
        this.group = "parti-demo-" + suffix;
    }

    /** Entry point of {@code scripts/demo}. */
    public static void main(String[] args) {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println();
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        if (options.help()) {
            System.out.println(USAGE);
            return;
        }
        julToFile();
        Demo demo = new Demo(options, System.out, System.console() != null || Boolean.getBoolean("parti.demo.interactive"));
        Thread hook = new Thread(demo::onCtrlC, "parti-demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        Summary s = demo.run();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // Ctrl-C arrived while finishing: the hook prints nothing twice
        }
        System.exit(s.lost() == 0 ? 0 : 1);
    }

    /** jnats logs through java.util.logging to stderr; next to slf4j's log file instead, when one is set. */
    private static void julToFile() {
        String file = System.getProperty("org.slf4j.simpleLogger.logFile");
        if (file == null || file.equals("System.err") || file.equals("System.out")) {
            return;
        }
        try {
            java.util.logging.Logger root = java.util.logging.LogManager.getLogManager().getLogger("");
            for (java.util.logging.Handler h : root.getHandlers()) {
                root.removeHandler(h);
            }
            java.util.logging.FileHandler fh = new java.util.logging.FileHandler(file.replaceAll("\\.log$", "") + "-jul.log");
            fh.setFormatter(new java.util.logging.SimpleFormatter());
            root.addHandler(fh);
        } catch (java.io.IOException e) {
            System.err.println("java.util.logging stays on stderr: " + e);
        }
    }

    /** Runs the whole demo on the calling thread; never throws for a failed phase, reports it. */
    public static Summary run(Options options, PrintStream out) {
        return new Demo(options, out, false).run();
    }

    synchronized Summary run() {
        try {
            startServers();
            createTopic();
            runStart = System.nanoTime();
            startProducer();
            for (int i = 1; i <= options.workers(); i++) {
                Worker w = new Worker("worker-" + i);
                workers.add(w);
                w.start();
            }
            event("started " + options.workers() + " workers and a producer (" + options.rate() + " records/s)");
            boolean ok = script();
            finish(ok);
        } catch (RuntimeException e) {
            event("failed: " + e);
            finish(false);
        } finally {
            closeEverything();
        }
        return summary;
    }

    /**
     * The scripted part, timed from the start of the workers (server start-up is not counted in
     * {@code --duration}): wait for the first assignment, crash a worker, restart it, run out the clock. */
    private boolean script() {
        long runNanos = options.duration().toNanos();
        phase = "waiting for the first assignment";
        if (!waitUntil(Duration.ofSeconds(60), this::allOwned)) {
            event("not every partition got an owner within 60 s");
            return false;
        }
        event("every partition has an owner: " + ownersLine());
        if (options.workers() < 2) {
            event("one worker only: nothing to crash, just consuming");
        } else {
            phase = "steady";
            waitUntil(Duration.ofNanos(Math.max(0, runStart + runNanos * 3 / 10 - System.nanoTime())), () -> false);
            if (stopping) {
                return false;
            }
            Worker victim = workers.get(1);
            Set<Integer> had = new TreeSet<>(victim.owned);
            phase = "crash";
            long killedAt = System.nanoTime();
            victim.crash();
            event(victim.name + " crashed (no commit, no leave) holding partitions " + had
                    + "; the group notices when its session (" + PARTI_TIMINGS.get("parti.session.timeout.ms") + " ms) expires");
            phase = "reassigning";
            if (!waitUntil(Duration.ofSeconds(30), () -> victim.isDead() && allOwned())) {
                event("partitions were not reassigned within 30 s");
                return false;
            }
            reassignment = Duration.ofNanos(System.nanoTime() - killedAt);
            event(String.format(Locale.ROOT, "partitions %s reassigned %.1f s after the crash: %s", had,
                    reassignment.toMillis() / 1000.0, ownersLine()));
            phase = "steady";
            waitUntil(Duration.ofNanos(Math.max(0, runStart + runNanos * 6 / 10 - System.nanoTime())), () -> false);
            if (stopping) {
                return false;
            }
            Worker again = new Worker(victim.name);
            workers.set(1, again);
            phase = "restart";
            long restartedAt = System.nanoTime();
            again.start();
            event(again.name + " started again");
            phase = "rebalancing";
            if (!waitUntil(Duration.ofSeconds(30), () -> !again.owned.isEmpty() && allOwned())) {
                event(again.name + " got no partitions within 30 s");
                return false;
            }
            rejoin = Duration.ofNanos(System.nanoTime() - restartedAt);
            event(String.format(Locale.ROOT, "%s owns partitions again after %.1f s: %s", again.name,
                    rejoin.toMillis() / 1000.0, ownersLine()));
        }
        phase = "steady";
        waitUntil(Duration.ofNanos(Math.max(0, runStart + runNanos - System.nanoTime())), () -> false);
        return !stopping;
    }

    /** Stops the producer, lets the workers catch up, closes them and computes the summary. */
    private void finish(boolean completed) {
        phase = "draining";
        stopProducer();
        if (!stopping) {
            if (!waitUntil(Duration.ofSeconds(30), () -> consumed.keySet().containsAll(produced))) {
                event("workers did not catch up within 30 s");
                completed = false;
            }
        }
        phase = "closing";
        stopWorkers();
        render(true);
        long distinct = consumed.size();
        long dup = 0;
        for (AtomicInteger c : consumed.values()) {
            dup += c.get() - 1;
        }
        Set<Long> missing = new HashSet<>(produced);
        missing.removeAll(consumed.keySet());
        int overlaps = overlaps();
        summary = new Summary(produced.size(), consumedTotal.get(), distinct, dup, missing.size(), reassignment, rejoin,
                overlaps, completed && !interrupted);
        printSummary();
    }

    private int overlaps() {
        if (ownership.events().isEmpty()) {
            return 0;
        }
        OwnershipReport report = OwnershipChecker.builder()
                .maxGap(Duration.ofHours(1))
                .window(ownership.events().get(0).nanos(), System.nanoTime())
                .check(ownership.events());
        return report.overlaps().size();
    }

    private void printSummary() {
        Summary s = summary;
        out.println();
        out.println("== Summary " + "=".repeat(60));
        out.printf(Locale.ROOT, "  produced    %,d records on %d partitions (%d sends failed)%n", s.produced(),
                options.partitions(), produceFailures.get());
        out.printf(Locale.ROOT, "  consumed    %,d records, %,d distinct%n", s.consumed(), s.consumedDistinct());
        out.printf(Locale.ROOT, "  duplicates  %,d  (records the crashed worker processed but had not committed: at-least-once)%n",
                s.duplicates());
        out.printf(Locale.ROOT, "  lost        %,d%n", s.lost());
        if (s.reassignment() != null) {
            out.printf(Locale.ROOT, "  crash       partitions reassigned after %.1f s (session timeout %.1f s)%n",
                    s.reassignment().toMillis() / 1000.0, ((Integer) PARTI_TIMINGS.get("parti.session.timeout.ms")) / 1000.0);
        }
        if (s.rejoin() != null) {
            out.printf(Locale.ROOT, "  restart     the restarted worker owned partitions after %.1f s%n", s.rejoin().toMillis() / 1000.0);
        }
        out.printf(Locale.ROOT, "  ownership   %d overlaps between live owners (OwnershipChecker over every listener call)%n",
                s.overlaps());
        out.println("  result      " + (s.lost() == 0 ? "nothing lost" : "RECORDS LOST")
                + (s.completed() ? "" : " (run incomplete: interrupted or a phase timed out)"));
        out.flush();
    }

    // ------------------------------------------------------------------ servers, topic, producer

    private void startServers() {
        if (options.natsUrl() != null) {
            natsUrl = options.natsUrl();
        } else {
            say("starting nats-server ...");
            nats = NatsServer.start();
            natsUrl = nats.url();
        }
        if (options.bootstrapServers() != null) {
            bootstrap = options.bootstrapServers();
        } else {
            say("starting a Kafka broker (child JVM, KRaft) ...");
            kafka = KafkaBroker.start();
            bootstrap = kafka.bootstrapServers();
        }
        event("NATS " + natsUrl + (nats != null ? " (started here)" : "") + ", Kafka " + bootstrap
                + (kafka != null ? " (started here)" : ""));
    }

    private void createTopic() {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(options.partitions()), Optional.empty())))
                    .all().get(60, TimeUnit.SECONDS);
            waitUntil(Duration.ofSeconds(30), () -> {
                try {
                    return admin.describeTopics(List.of(topic)).allTopicNames().get(5, TimeUnit.SECONDS).get(topic)
                            .partitions().stream().allMatch(p -> p.leader() != null);
                } catch (Exception e) {
                    return false;
                }
            });
        } catch (Exception e) {
            throw new IllegalStateException("Could not create topic " + topic + " on " + bootstrap + ": " + e, e);
        }
        event("created topic " + topic + " with " + options.partitions() + " partitions; group " + group);
    }

    private void startProducer() {
        producerThread = new Thread(this::produce, "parti-demo-producer");
        producerThread.start();
    }

    private void produce() {
        // one request in flight: an idempotent producer whose first batch to a topic just created is refused while a
        // later one is written retries OUT_OF_ORDER_SEQUENCE_NUMBER until it times out (KAFKA-15591)
        Map<String, Object> p = Map.of("bootstrap.servers", bootstrap, "acks", "all", "linger.ms", 5,
                "max.in.flight.requests.per.connection", 1);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            long start = System.nanoTime();
            long sent = 0;
            while (!stopping && !Thread.currentThread().isInterrupted()) {
                long due = (System.nanoTime() - start) * options.rate() / 1_000_000_000L;
                while (sent < due) {
                    int partition = (int) (sent % options.partitions());
                    producer.send(new ProducerRecord<>(topic, partition, "k-" + sent, "v-" + sent), (md, e) -> {
                        if (e == null) {
                            produced.add(key(md.partition(), md.offset()));
                        } else {
                            produceFailures.incrementAndGet();
                        }
                    });
                    sent++;
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    break;
                }
            }
            producer.flush();
        } catch (RuntimeException e) {
            event("producer failed: " + e);
        }
    }

    private void stopProducer() {
        Thread t = producerThread;
        if (t != null) {
            t.interrupt();
            join(t, Duration.ofSeconds(15));
        }
    }

    private static long key(int partition, long offset) {
        return ((long) partition << 40) | offset;
    }

    // ------------------------------------------------------------------ workers

    /** One consumer worker: a thread polling its own PartiConsumer. */
    private final class Worker {
        final String name;
        final Thread thread;
        volatile Set<Integer> owned = Set.of();
        final AtomicLong records = new AtomicLong();
        volatile boolean leader;
        volatile String state = "starting";
        private volatile boolean crash;
        private volatile boolean stop;
        private volatile PartiConsumer<String, String> consumer;

        Worker(String name) {
            this.name = name;
            this.thread = new Thread(this::loop, "parti-demo-" + name);
        }

        void start() {
            thread.start();
        }

        void crash() {
            crash = true;
            wake();
        }

        void stop() {
            stop = true;
            wake();
        }

        boolean isDead() {
            return !thread.isAlive();
        }

        private void wake() {
            PartiConsumer<String, String> c = consumer;
            if (c != null) {
                c.wakeup();
            }
        }

        private void loop() {
            Map<String, Object> props = new HashMap<>(PARTI_TIMINGS);
            props.put("bootstrap.servers", bootstrap);
            props.put("group.id", group);
            props.put("client.id", "demo-" + name);
            props.put("key.deserializer", StringDeserializer.class.getName());
            props.put("value.deserializer", StringDeserializer.class.getName());
            props.put("auto.offset.reset", "earliest");
            props.put("enable.auto.commit", false);
            props.put("max.poll.records", 200);
            props.put("parti.nats.url", natsUrl);
            PartiConsumer<String, String> c = new PartiConsumer<>(props);
            consumer = c;
            boolean crashed = false;
            try {
                c.subscribe(List.of(topic), new Listener(c));
                state = "joining";
                while (!stop && !crash) {
                    ConsumerRecords<String, String> batch;
                    try {
                        batch = c.poll(Duration.ofMillis(200));
                    } catch (WakeupException e) {
                        continue;
                    }
                    for (ConsumerRecord<String, String> r : batch) {
                        consumed.computeIfAbsent(key(r.partition(), r.offset()), k -> new AtomicInteger()).incrementAndGet();
                        consumedTotal.incrementAndGet();
                        records.incrementAndGet();
                    }
                    readMetrics(c);
                    if (crash) {
                        break; // processed, not committed: the next owner reads this batch again
                    }
                    if (!batch.isEmpty()) {
                        try {
                            c.commitSync(Duration.ofSeconds(5));
                        } catch (KafkaException | IllegalStateException e) {
                            event(name + ": commit refused (" + e.getClass().getSimpleName() + ")");
                        }
                    }
                }
                crashed = crash;
            } catch (RuntimeException e) {
                event(name + " stopped on " + e);
            } finally {
                if (crashed) {
                    state = "CRASHED";
                    ownership.gone(name);
                    owned = Set.of();
                    leader = false;
                    close(c, CloseOptions.groupMembershipOperation(GroupMembershipOperation.REMAIN_IN_GROUP)
                            .withTimeout(Duration.ofSeconds(5)));
                } else {
                    state = "closing";
                    close(c, CloseOptions.timeout(Duration.ofSeconds(interrupted ? 2 : 10)));
                    state = "stopped";
                    ownership.gone(name);
                    owned = Set.of();
                    leader = false;
                }
                consumer = null;
            }
        }

        private void close(PartiConsumer<String, String> c, CloseOptions options) {
            try {
                c.close(options);
            } catch (RuntimeException e) {
                event(name + ": close failed: " + e);
            }
        }

        private void readMetrics(PartiConsumer<String, String> c) {
            boolean isLeader = false;
            String st = null;
            for (Map.Entry<MetricName, ? extends Metric> e : c.metrics().entrySet()) {
                if (!"parti-consumer-metrics".equals(e.getKey().group())) {
                    continue;
                }
                Object v = e.getValue().metricValue();
                if ("is-leader".equals(e.getKey().name()) && v instanceof Number n) {
                    isLeader = n.doubleValue() > 0;
                } else if ("state".equals(e.getKey().name()) && v != null) {
                    st = v.toString();
                }
            }
            leader = isLeader;
            if (st != null && !crash) {
                state = st;
            }
        }

        /** Commits what was processed before giving partitions up, and records who owns what. */
        private final class Listener implements ConsumerRebalanceListener {
            private final PartiConsumer<String, String> c;

            Listener(PartiConsumer<String, String> c) {
                this.c = c;
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                if (!crash && !interrupted && !partitions.isEmpty()) {
                    try {
                        c.commitSync(Duration.ofSeconds(5));
                    } catch (KafkaException e) {
                        event(name + ": commit on revoke failed (" + e.getClass().getSimpleName() + ")");
                    }
                }
                remove(partitions);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                remove(partitions);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                Set<Integer> now = new TreeSet<>(owned);
                for (TopicPartition tp : partitions) {
                    ownership.acquired(name, tp.toString());
                    now.add(tp.partition());
                }
                owned = Set.copyOf(now);
            }

            private void remove(Collection<TopicPartition> partitions) {
                if (crash) {
                    return; // a crashed process runs no callbacks; recorded as gone instead
                }
                Set<Integer> now = new TreeSet<>(owned);
                for (TopicPartition tp : partitions) {
                    ownership.released(name, tp.toString());
                    now.remove(tp.partition());
                }
                owned = Set.copyOf(now);
            }
        }
    }

    private boolean allOwned() {
        Set<Integer> all = new HashSet<>();
        for (Worker w : workers) {
            if (!w.isDead()) {
                all.addAll(w.owned);
            }
        }
        return all.size() == options.partitions();
    }

    private String ownersLine() {
        StringBuilder b = new StringBuilder();
        for (Worker w : workers) {
            if (b.length() > 0) {
                b.append(", ");
            }
            b.append(w.name).append(' ').append(new TreeSet<>(w.owned));
        }
        return b.toString();
    }

    private void stopWorkers() {
        for (Worker w : workers) {
            w.stop();
        }
        for (Worker w : workers) {
            join(w.thread, Duration.ofSeconds(interrupted ? 8 : 20));
        }
    }

    // ------------------------------------------------------------------ shutdown

    /** Shutdown hook: Ctrl-C. Stops the scripted run; run() then finishes and prints the summary. */
    private void onCtrlC() {
        if (summary != null) {
            return;
        }
        interrupted = true;
        stopping = true;
        say("\ninterrupted: stopping the workers and the servers ...");
        synchronized (this) { // run() holds the lock until everything is closed and the summary printed
            return;
        }
    }

    private void closeEverything() {
        stopping = true;
        stopProducer();
        stopWorkers();
        if (kafka != null) {
            kafka.close();
            kafka = null;
        }
        if (nats != null) {
            nats.close();
            nats = null;
        }
        ownership.close();
    }

    // ------------------------------------------------------------------ view

    private void event(String text) {
        String line = String.format(Locale.ROOT, "%6.1fs  %s", (System.nanoTime() - t0) / 1e9, text);
        events.add(line);
        if (!interactive) {
            out.println(line);
            out.flush();
        }
    }

    private void say(String text) {
        out.println(text);
        out.flush();
    }

    /** Waits up to {@code max} for {@code done}, redrawing the view; false on timeout or Ctrl-C. */
    private boolean waitUntil(Duration max, BooleanSupplier done) {
        long deadline = System.nanoTime() + max.toNanos();
        long nextPlain = System.nanoTime();
        while (!stopping || phase.equals("draining")) {
            if (done.getAsBoolean()) {
                return true;
            }
            if (System.nanoTime() >= deadline) {
                return false;
            }
            if (interactive) {
                render(false);
            } else if (System.nanoTime() >= nextPlain) {
                out.println(String.format(Locale.ROOT, "%6.1fs  ", (System.nanoTime() - t0) / 1e9) + progress());
                out.flush();
                nextPlain = System.nanoTime() + Math.max(2_000_000_000L, options.duration().toNanos() / 10);
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            if (stopping && !phase.equals("draining")) {
                return false;
            }
        }
        return false;
    }

    private String progress() {
        long d = 0;
        for (AtomicInteger c : consumed.values()) {
            d += c.get() - 1;
        }
        StringBuilder owners = new StringBuilder();
        for (Worker w : workers) {
            owners.append(' ').append(w.name.replace("worker-", "w")).append('=').append(w.owned.size());
        }
        return String.format(Locale.ROOT, "[%s] produced %,d  consumed %,d distinct  duplicates %,d  lag %,d  owners:%s",
                phase, produced.size(), consumed.size(), d, Math.max(0, produced.size() - consumed.size()), owners);
    }

    private void render(boolean last) {
        if (!interactive) {
            return;
        }
        StringBuilder b = new StringBuilder("\033[H\033[2J");
        double t = (System.nanoTime() - t0) / 1e9;
        b.append(String.format(Locale.ROOT, "Parti demo   topic %s (%d partitions)   group %s   %.0fs / %ds%n%n",
                topic, options.partitions(), group, t, options.duration().toSeconds()));
        b.append(String.format(Locale.ROOT, "  %-10s %-18s %-7s %10s   %s%n", "worker", "state", "leader", "consumed",
                "partitions"));
        for (Worker w : workers) {
            StringBuilder grid = new StringBuilder();
            for (int p = 0; p < options.partitions(); p++) {
                grid.append(w.owned.contains(p) ? String.format(Locale.ROOT, "%3d", p) : "  .");
            }
            b.append(String.format(Locale.ROOT, "  %-10s %-18s %-7s %,10d  %s%n", w.name, w.state,
                    w.leader ? "yes" : "", w.records.get(), grid));
        }
        b.append('\n').append("  ").append(progress()).append("\n\n");
        List<String> tail = events.subList(Math.max(0, events.size() - 12), events.size());
        for (String e : tail) {
            b.append("  ").append(e).append('\n');
        }
        if (!last) {
            b.append("\n  Ctrl-C stops the demo cleanly.\n");
        }
        out.print(b);
        out.flush();
    }

    private static void join(Thread t, Duration max) {
        try {
            t.join(max.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
