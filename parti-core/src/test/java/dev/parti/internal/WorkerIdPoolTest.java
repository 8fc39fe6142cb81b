package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.parti.PartiException;
import dev.parti.internal.KvGateway.Bucket;
import dev.parti.testkit.NatsServerExtension;
import io.nats.client.Connection;
import io.nats.client.Nats;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Pool worker IDs ({@code w-N}): the lowest free one is claimed, and a large group does not pay a refused create
 * per held ID (issue 19, goal 2: a cold start of 1 000 workers made about half a million). Against a real nats-server.
 */
class WorkerIdPoolTest {
    @RegisterExtension
    static final NatsServerExtension nats = new NatsServerExtension();

    private static Kv counting(Kv kv, List<String> calls) {
        return (Kv) Proxy.newProxyInstance(Kv.class.getClassLoader(), new Class<?>[] {Kv.class}, (p, m, args) -> {
            calls.add(m.getName());
            try {
                return m.invoke(kv, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    @Test
    void aWorkerJoiningALargeGroupClaimsAnIdNearTheNumberInUseWithoutListingTheKeys() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "id-pool-near", Duration.ofSeconds(2));
            for (int n = 0; n < 300; n++) {
                kv.create(Bucket.IDS, "w-" + n, new byte[] {1});
            }
            List<String> calls = new ArrayList<>();
            assertThat(new WorkerIdClaimer(counting(kv, calls), null, 1000, "newcomer").claim()).isEqualTo("w-300");
            assertThat(calls).as("a create for each of the first IDs, one key count, one create")
                    .hasSize(WorkerIdClaimer.LINEAR_PROBES + 2).containsOnlyOnce("keyCountHint").doesNotContain("keys");
        }
    }

    @Test
    void whenTheIdsNearTheNumberInUseAreTakenTheLowestFreeOneIsFoundInOneListing() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "id-pool", Duration.ofSeconds(2));
            for (int n = 0; n < 300; n++) {
                if (n != 250) {
                    kv.create(Bucket.IDS, "w-" + n, new byte[] {1});
                }
            }
            List<String> calls = new ArrayList<>();
            // a pool of 300: 299 IDs in use, and w-299, the only one from there up, is held
            WorkerIdClaimer claimer = new WorkerIdClaimer(counting(kv, calls), null, 300, "newcomer");

            assertThat(claimer.claim()).as("the lowest free ID").isEqualTo("w-250");
            assertThat(calls).as("the first IDs, one key count, w-299, one listing, one create")
                    .hasSize(WorkerIdClaimer.LINEAR_PROBES + 4).containsOnlyOnce("keys");

            calls.clear();
            assertThatThrownBy(() -> new WorkerIdClaimer(counting(kv, calls), null, 300, "next").claim())
                    .isInstanceOf(PartiException.class).hasMessageContaining("maxWorkers");
        }
    }

    @Test
    void aSmallGroupNeverListsAndAFullPoolIsRefusedNamingTheSetting() throws Exception {
        try (Connection nc = Nats.connect(nats.url())) {
            KvGateway kv = TestBuckets.provisioned(nc, "id-pool-small", Duration.ofSeconds(2));
            List<String> calls = new ArrayList<>();
            for (int n = 0; n < WorkerIdClaimer.LINEAR_PROBES; n++) {
                assertThat(new WorkerIdClaimer(counting(kv, calls), null, 12, "i" + n).claim()).isEqualTo("w-" + n);
            }
            assertThat(calls).as("up to %d workers, creates only", WorkerIdClaimer.LINEAR_PROBES).doesNotContain("keys");
            for (int n = WorkerIdClaimer.LINEAR_PROBES; n < 12; n++) {
                new WorkerIdClaimer(kv, null, 12, "i" + n).claim();
            }
            assertThatThrownBy(() -> new WorkerIdClaimer(kv, null, 12, "one-too-many").claim())
                    .isInstanceOf(PartiException.class).hasMessageContaining("maxWorkers");
        }
    }
}
