package dev.parti.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.internal.KvGateway.Bucket;
import io.nats.client.Connection;
import io.nats.client.ErrorListener;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** How server errors are told apart and explained; the real server's refusals are in the CLI's SecurityTest. */
class PermissionWatchTest {
    final BucketNames names = new BucketNames("orders");
    final List<String> passedOn = new CopyOnWriteArrayList<>();
    final PermissionWatch watch = new PermissionWatch(new ErrorListener() {
        @Override
        public void errorOccurred(Connection conn, String error) {
            passedOn.add(error);
        }
    }, names);

    @Test
    void parsesPublishAndSubscriptionViolationsAndNothingElse() {
        PermissionWatch.Violation pub = PermissionWatch.parse(1, "Permissions Violation for Publish to \"$KV.x.w-0\"");
        assertThat(pub.operation()).isEqualTo("publish");
        assertThat(pub.subject()).isEqualTo("$KV.x.w-0");
        PermissionWatch.Violation sub = PermissionWatch.parse(2,
                "'Permissions Violation for Subscription to \"_INBOX.abc\" using queue \"q\"'");
        assertThat(sub.operation()).isEqualTo("subscribe");
        assertThat(sub.subject()).isEqualTo("_INBOX.abc");
        assertThat(PermissionWatch.parse(3, "Authorization Violation")).isNull();
        assertThat(PermissionWatch.parse(3, "Maximum Payload Violation")).isNull();
        assertThat(PermissionWatch.parse(3, null)).isNull();
    }

    @Test
    void reportsOnlyViolationsAfterTheMarkAndPassesEveryErrorOn() {
        watch.errorOccurred(null, "Permissions Violation for Publish to \"$KV.a\"");
        long mark = watch.mark();
        assertThat(watch.since(mark)).isNull();
        watch.errorOccurred(null, "Stale Connection");
        assertThat(watch.since(mark)).isNull();
        String subject = "$JS.API.STREAM.INFO.KV_" + names.name(Bucket.HEARTBEATS);
        watch.errorOccurred(null, "Permissions Violation for Publish to \"" + subject + "\"");
        assertThat(watch.since(mark).subject()).isEqualTo(subject);
        assertThat(passedOn).hasSize(3);
    }

    @Test
    void remembersARefusalOfTheCredentials() {
        assertThat(watch.credentialsRefused()).isNull();
        watch.errorOccurred(null, "Stale Connection");
        assertThat(watch.credentialsRefused()).isNull();
        watch.errorOccurred(null, "Authorization Violation");
        assertThat(watch.credentialsRefused()).isEqualTo("Authorization Violation");
        watch.errorOccurred(null, "User Authentication Expired");
        assertThat(watch.credentialsRefused()).isEqualTo("User Authentication Expired");
    }

    @Test
    void namesTheGroupsBucketBehindASubject() {
        String ids = names.name(Bucket.IDS);
        assertThat(watch.bucketOf("$KV." + ids + ".w-0")).isEqualTo(ids);
        assertThat(watch.bucketOf("$JS.API.STREAM.CREATE.KV_" + ids)).isEqualTo(ids);
        assertThat(watch.bucketOf("$JS.API.CONSUMER.CREATE.KV_" + ids + ".c1.$KV." + ids + ".>")).isEqualTo(ids);
        assertThat(watch.bucketOf("$JS.API.INFO")).isNull();
        assertThat(watch.bucketOf("$KV." + new BucketNames("billing").name(Bucket.IDS) + ".w-0")).isNull();
    }

    @Test
    void aTimeoutAfterARefusalBecomesARejectionNamingThePermission() {
        long mark = watch.mark();
        RuntimeException timeout = new KvGateway.KvUnavailableException("timed out", null);
        assertThat(watch.classify(timeout, "heartbeat", mark)).isSameAs(timeout);
        String subject = "$KV." + names.name(Bucket.HEARTBEATS) + ".w-0";
        watch.errorOccurred(null, "Permissions Violation for Publish to \"" + subject + "\"");
        RuntimeException e = watch.classify(timeout, "heartbeat", mark);
        assertThat(e).isInstanceOf(PermissionWatch.PermissionDeniedException.class)
                .isInstanceOf(KvGateway.KvRejectedException.class).hasCause(timeout)
                .hasMessageContaining("NATS denied heartbeat for group orders")
                .hasMessageContaining("publish permission on \"" + subject + "\"")
                .hasMessageContaining("(bucket " + names.name(Bucket.HEARTBEATS) + ")");
        RuntimeException cas = new KvGateway.CasConflictException("lost");
        assertThat(watch.classify(cas, "heartbeat", mark)).as("only timeouts hide refusals").isSameAs(cas);
    }
}
