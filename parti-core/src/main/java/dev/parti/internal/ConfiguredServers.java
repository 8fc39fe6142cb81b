package dev.parti.internal;

import io.nats.client.Options;
import io.nats.client.impl.NatsServerPool;
import io.nats.client.impl.ServerPoolEntry;
import io.nats.client.support.NatsUri;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;

/**
 * jnats' server pool limited to the servers of {@code natsUrl} (and those the cluster gossips, as usual).
 * {@link Options.Builder#servers} appends, and {@link Options.Builder#build()} puts {@code nats://localhost:4222}
 * into options built without servers, so options copied from the user's {@code natsOptions} would also try
 * localhost:4222: a worker could join whatever NATS server listens there instead of its group's. Public for the
 * Kafka adapter's own short connections (not an API).
 */
public final class ConfiguredServers extends NatsServerPool {
    private final List<NatsUri> configured = new ArrayList<>();

    /**
     * @param urls the configured server URLs
     * @throws IllegalArgumentException naming a URL that cannot be parsed
     */
    public ConfiguredServers(String[] urls) {
        for (String url : urls) {
            try {
                configured.add(new NatsUri(url.trim()));
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("natsUrl holds a bad server URL '" + url + "': " + e.getMessage(), e);
            }
        }
    }

    @Override
    public void initialize(Options options) {
        super.initialize(options);
        listLock.lock();
        try {
            entryList.removeIf(e -> !e.isGossiped && configured.stream().noneMatch(c -> c.equivalent(e.nuri)));
            afterListChanged();
        } finally {
            listLock.unlock();
        }
    }

    /** The servers left in the pool, for tests. */
    List<String> servers() {
        List<String> out = new ArrayList<>();
        listLock.lock();
        try {
            for (ServerPoolEntry e : entryList) {
                out.add(e.nuri.toString());
            }
        } finally {
            listLock.unlock();
        }
        return out;
    }
}
