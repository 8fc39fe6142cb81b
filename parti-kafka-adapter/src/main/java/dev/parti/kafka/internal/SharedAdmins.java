package dev.parti.kafka.internal;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;

/**
 * One metadata {@link Admin} client per JVM and Admin configuration (bootstrap servers, security and
 * timeout settings: every Admin key of the consumer's map except {@code client.id}), shared by the
 * {@code PartiConsumer}s that read topic metadata and inspect their group with it. Created by the first
 * {@link #acquire}, closed by the last {@link Lease#close}. Its client id is {@code parti-admin-N}. An
 * Admin client is thread-safe and its calls are asynchronous: one consumer's slow call does not hold
 * another's (they wait on their own futures).
 */
final class SharedAdmins {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Map<Map<String, Object>, Entry> ADMINS = new HashMap<>(); // guarded by itself

    private SharedAdmins() {
    }

    private static final class Entry {
        final Map<String, Object> key;
        final Admin admin;
        int users;

        Entry(Map<String, Object> key, Admin admin) {
            this.key = key;
            this.admin = admin;
        }
    }

    /** A consumer's hold on the shared Admin client; close it once. */
    static final class Lease {
        private final Entry entry;
        private boolean closed;

        private Lease(Entry entry) {
            this.entry = entry;
        }

        Admin admin() {
            return entry.admin;
        }

        /** Gives the client back; the last user closes it, waiting at most {@code timeout}. */
        void close(Duration timeout) {
            boolean last;
            synchronized (ADMINS) {
                if (closed) {
                    return;
                }
                closed = true;
                last = --entry.users == 0;
                if (last) {
                    ADMINS.remove(entry.key, entry);
                }
            }
            if (last) {
                entry.admin.close(timeout);
            }
        }
    }

    /** A lease on the Admin client for {@code adminConfig} (without {@code client.id}), creating it if needed. */
    static Lease acquire(Map<String, Object> adminConfig) {
        Map<String, Object> key = new TreeMap<>(adminConfig);
        key.remove(CommonClientConfigs.CLIENT_ID_CONFIG);
        synchronized (ADMINS) {
            Entry e = ADMINS.get(key);
            if (e == null) {
                Map<String, Object> config = new HashMap<>(key);
                config.put(CommonClientConfigs.CLIENT_ID_CONFIG, "parti-admin-" + IDS.incrementAndGet());
                e = new Entry(key, Admin.create(config));
                ADMINS.put(key, e);
            }
            e.users++;
            return new Lease(e);
        }
    }

    /** How many shared Admin clients are open (for tests). */
    static int open() {
        synchronized (ADMINS) {
            return ADMINS.size();
        }
    }
}
