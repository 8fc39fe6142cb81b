package dev.parti.internal;

import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import java.time.Duration;
import java.util.EnumMap;

/** A group's buckets on a real server for gateway-level tests: 30 s TTLs, one replica. */
final class TestBuckets {
    private TestBuckets() {
    }

    /** A gateway over freshly provisioned buckets of {@code group}, with the given request timeout. */
    static KvGateway provisioned(Connection nc, String group, Duration requestTimeout) {
        KvGateway kv = new KvGateway(nc, new BucketNames(group), requestTimeout);
        EnumMap<Bucket, Duration> ttls = new EnumMap<>(Bucket.class);
        ttls.put(Bucket.IDS, Duration.ofSeconds(30));
        ttls.put(Bucket.HEARTBEATS, Duration.ofSeconds(30));
        ttls.put(Bucket.LEADER, Duration.ofSeconds(30));
        kv.provision(ttls, 1);
        return kv;
    }
}
