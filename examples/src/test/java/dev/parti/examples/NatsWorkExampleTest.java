package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class NatsWorkExampleTest {
    @RegisterExtension
    static final NatsServerExtension NATS = new NatsServerExtension();

    @Test
    void twoWorkersShareTheOrdersAndEachCustomerStaysInOrder() throws Exception {
        UnaryOperator<dev.parti.PartiConfig.Builder> fast = b -> b.heartbeatInterval(Duration.ofMillis(100))
                .sessionTimeout(Duration.ofMillis(1000)).leaderTtl(Duration.ofMillis(800)).workerIdTtl(Duration.ofMillis(3000))
                .coldStartWindow(Duration.ofMillis(300)).plannedScaleWindow(Duration.ofMillis(300)).rebalanceCooldown(Duration.ofMillis(100));
        try (Connection nc = Nats.connect(NATS.url())) {
            NatsWorkExample.createStream(nc);
            try (NatsWorkExample.OrderWorker a = new NatsWorkExample.OrderWorker(NATS.url(), fast).start();
                 NatsWorkExample.OrderWorker b = new NatsWorkExample.OrderWorker(NATS.url(), fast).start()) {
                check(nc, a, b);
            }
        }
    }

    private static void check(Connection nc, NatsWorkExample.OrderWorker a, NatsWorkExample.OrderWorker b) throws Exception {
        await().atMost(Duration.ofSeconds(15)).until(() -> a.consumer().isFullyRunning() && b.consumer().isFullyRunning()
                && a.consumer().status().size() + b.consumer().status().size() == NatsWorkExample.PARTITIONS
                && !a.consumer().status().isEmpty() && !b.consumer().status().isEmpty());
        JetStream js = nc.jetStream();
        for (int i = 0; i < 400; i++) {
            NatsWorkExample.publishOrder(js, "customer-" + (i % 20), "o" + i);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> a.handled() + b.handled() >= 400);
        assertThat(a.handled()).isPositive();
        assertThat(b.handled()).isPositive();
        assertThat(a.handled() + b.handled()).isEqualTo(400);
        Set<String> customersOfA = a.byCustomer().keySet();
        assertThat(b.byCustomer().keySet()).doesNotContainAnyElementsOf(customersOfA); // a customer's partition has one owner
        for (NatsWorkExample.OrderWorker w : List.of(a, b)) {
            w.byCustomer().forEach((customer, ids) -> {
                List<String> sorted = new ArrayList<>(ids);
                sorted.sort(Comparator.comparingInt(id -> Integer.parseInt(id.substring(1))));
                assertThat(ids).as("orders of %s in publish order", customer).containsExactlyElementsOf(sorted);
                assertThat(new HashSet<>(ids)).hasSameSizeAs(ids);
            });
        }
    }
}
