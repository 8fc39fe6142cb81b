package dev.parti.examples;

import dev.parti.PartiConfig;
import dev.parti.Partition;
import dev.parti.PartitionSource;
import dev.parti.nats.PartitionedConsumer;
import dev.parti.nats.SubjectMapping;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.Nats;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

/**
 * NATS work distributed with Parti: orders published to a JetStream stream as {@code orders.<partition>.<id>}
 * (the publisher picks the partition from the customer, so one customer's orders stay in order), consumed by
 * a group of workers of which each handles exactly the partitions Parti gives it ({@link PartitionedConsumer}).
 * A partition moves to another worker only after its current handler call returned and was acked.
 *
 * <p>Run: {@code java dev.parti.examples.NatsWorkExample <nats-url>} creates the stream, starts two workers,
 * publishes 1 000 orders and prints what each worker handled.
 */
public final class NatsWorkExample {
    /** The stream. */
    public static final String STREAM = "ORDERS";
    /** The number of partitions of the stream's subjects. */
    public static final int PARTITIONS = 8;

    private NatsWorkExample() {
    }

    /** Creates the stream {@code orders.>} if it does not exist. */
    public static void createStream(Connection nc) throws Exception {
        if (!nc.jetStreamManagement().getStreamNames().contains(STREAM)) {
            nc.jetStreamManagement().addStream(StreamConfiguration.builder().name(STREAM).subjects("orders.>")
                    .storageType(StorageType.File).build());
        }
    }

    /** Publishes an order of {@code customer} to its partition. */
    public static void publishOrder(JetStream js, String customer, String orderId) throws Exception {
        int partition = Math.floorMod(customer.hashCode(), PARTITIONS);
        js.publish("orders." + partition + "." + orderId, customer.getBytes(StandardCharsets.UTF_8));
    }

    /** One worker: handles the orders of the partitions it owns. */
    public static final class OrderWorker implements AutoCloseable {
        private final PartitionedConsumer consumer;
        private final AtomicLong handled = new AtomicLong();
        /** Per customer, the order IDs in the order this worker handled them. */
        private final Map<String, List<String>> byCustomer = new ConcurrentHashMap<>();

        /**
         * @param natsUrl NATS server
         * @param tune    adjusts the Parti config (timings); identity for the defaults
         */
        public OrderWorker(String natsUrl, UnaryOperator<PartiConfig.Builder> tune) {
            List<Partition> partitions = PartitionedConsumer.numbered("orders", PARTITIONS);
            PartiConfig parti = tune.apply(PartiConfig.builder("order-workers").natsUrl(natsUrl)
                    .partitionSource(PartitionSource.of(partitions))).build();
            this.consumer = PartitionedConsumer.builder(parti, STREAM, SubjectMapping.template("orders.{partition}.>"),
                    (partition, msg) -> {
                        // the business logic: one call at a time per partition, in stream order; acked on return
                        String customer = new String(msg.getData(), StandardCharsets.UTF_8);
                        String orderId = msg.getSubject().substring(msg.getSubject().lastIndexOf('.') + 1);
                        byCustomer.computeIfAbsent(customer, c -> java.util.Collections.synchronizedList(new ArrayList<>())).add(orderId);
                        handled.incrementAndGet();
                    }).build();
        }

        /** Joins the group; partitions arrive through the assignment. */
        public OrderWorker start() {
            consumer.start();
            return this;
        }

        /** Orders handled by this worker. */
        public long handled() {
            return handled.get();
        }

        /** Per customer, the order IDs this worker handled, in handling order. */
        public Map<String, List<String>> byCustomer() {
            return byCustomer;
        }

        /** The helper (status, worker ID through its manager). */
        public PartitionedConsumer consumer() {
            return consumer;
        }

        /** Leaves the group after the running handler calls returned; its partitions move at once. */
        @Override
        public void close() {
            consumer.close();
        }
    }

    /** Two workers, 1 000 orders of 50 customers. */
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: NatsWorkExample <nats-url>");
            System.exit(2);
        }
        try (Connection nc = Nats.connect(args[0])) {
            createStream(nc);
            UnaryOperator<PartiConfig.Builder> quick = b -> b.coldStartWindow(Duration.ofSeconds(2)).plannedScaleWindow(Duration.ofSeconds(1));
            try (OrderWorker a = new OrderWorker(args[0], quick).start(); OrderWorker b = new OrderWorker(args[0], quick).start()) {
                JetStream js = nc.jetStream();
                for (int i = 0; i < 1_000; i++) {
                    publishOrder(js, "customer-" + (i % 50), "o" + i);
                }
                while (a.handled() + b.handled() < 1_000) {
                    Thread.sleep(100);
                }
                for (OrderWorker w : List.of(a, b)) {
                    System.out.println(w.consumer().manager().workerId() + " handled " + w.handled() + " orders of partitions "
                            + w.consumer().status().stream().map(s -> s.partition().id()).toList());
                }
            }
        }
    }
}
