package dev.parti.internal;

import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link KvContract} against a real nats-server, through {@link KvGateway}: the ground truth for the model. */
class KvServerContractTest extends KvContract {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();
    private static final AtomicInteger GROUPS = new AtomicInteger();

    @Override
    void run(Case c) throws Exception {
        try (Connection conn = Nats.connect(nats.url())) {
            KvGateway kv = new KvGateway(conn, new BucketNames("contract-" + GROUPS.incrementAndGet()), Duration.ofSeconds(2));
            kv.provision(ttls(), 1);
            c.run(realTime(kv));
        }
    }
}
