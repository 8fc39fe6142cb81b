package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueOperation;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.api.StorageType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class NatsServerTest {
  @RegisterExtension
  static final NatsServerExtension NATS = new NatsServerExtension();

  private static Connection connect(String url) throws Exception {
    return Nats.connect(Options.builder().server(url).connectionTimeout(Duration.ofSeconds(5)).build());
  }

  private static KeyValue bucket(Connection nc, String name, KeyValueConfiguration.Builder config) throws Exception {
    KeyValueManagement kvm = nc.keyValueManagement();
    kvm.create(config.name(name).build());
    return nc.keyValue(name);
  }

  @Test
  void keyValueCreateRefusesAnExistingKeyAndUpdateRefusesAWrongRevision() throws Exception {
    try (Connection nc = connect(NATS.url())) {
      KeyValue kv = bucket(nc, "cas", KeyValueConfiguration.builder().storageType(StorageType.Memory));

      long first = kv.create("k", bytes("a"));
      assertThatThrownBy(() -> kv.create("k", bytes("b"))).isInstanceOf(JetStreamApiException.class);
      long second = kv.update("k", bytes("b"), first);

      assertThat(second).isGreaterThan(first);
      assertThatThrownBy(() -> kv.update("k", bytes("c"), first))
          .isInstanceOfSatisfying(JetStreamApiException.class, e -> assertThat(e.getApiErrorCode()).isEqualTo(10071));
      assertThat(new String(kv.get("k").getValue(), StandardCharsets.UTF_8)).isEqualTo("b");
    }
  }

  @Test
  void keyValueEntriesExpireWithTheBucketTtl() throws Exception {
    try (Connection nc = connect(NATS.url())) {
      KeyValue kv = bucket(nc, "ttl", KeyValueConfiguration.builder()
          .storageType(StorageType.Memory).ttl(Duration.ofSeconds(1)));
      kv.put("k", bytes("v"));
      assertThat(kv.get("k")).isNotNull();

      await().atMost(Duration.ofSeconds(5)).until(() -> kv.get("k") == null);
    }
  }

  @Test
  void keyValueWatchSeesPutsAndDeletes() throws Exception {
    try (Connection nc = connect(NATS.url())) {
      KeyValue kv = bucket(nc, "watch", KeyValueConfiguration.builder().storageType(StorageType.Memory));
      List<KeyValueEntry> seen = new CopyOnWriteArrayList<>();
      KeyValueWatcher watcher = new KeyValueWatcher() {
        @Override
        public void watch(KeyValueEntry entry) {
          seen.add(entry);
        }

        @Override
        public void endOfData() {}
      };
      try (var subscription = kv.watchAll(watcher)) {
        kv.put("a", bytes("1"));
        kv.delete("a");

        await().atMost(Duration.ofSeconds(5)).until(() -> seen.size() >= 2);
        assertThat(seen).extracting(KeyValueEntry::getOperation)
            .containsExactly(KeyValueOperation.PUT, KeyValueOperation.DELETE);
      }
    }
  }

  @Test
  void killAndRestartKeepAFileStoredBucketOnTheSamePort() throws Exception {
    try (NatsServer nats = NatsServer.start()) {
      int port = nats.port();
      try (Connection nc = connect(nats.url())) {
        bucket(nc, "durable", KeyValueConfiguration.builder().storageType(StorageType.File)).put("k", bytes("kept"));
      }

      nats.kill();
      assertThat(nats.isRunning()).isFalse();
      nats.restart();

      assertThat(nats.port()).isEqualTo(port);
      try (Connection nc = connect(nats.url())) {
        assertThat(new String(nc.keyValue("durable").get("k").getValue(), StandardCharsets.UTF_8)).isEqualTo("kept");
      }
    }
  }

  @Test
  void gracefulStopAndRestartKeepData() throws Exception {
    try (NatsServer nats = NatsServer.start()) {
      try (Connection nc = connect(nats.url())) {
        bucket(nc, "durable", KeyValueConfiguration.builder().storageType(StorageType.File)).put("k", bytes("kept"));
      }
      nats.stop();
      assertThat(nats.pid()).isEmpty();
      nats.restart();
      try (Connection nc = connect(nats.url())) {
        assertThat(nc.keyValue("durable").get("k")).isNotNull();
      }
    }
  }

  @Test
  void closeDeletesTheStoreAndRefusesRestart() {
    NatsServer nats = NatsServer.start();
    var storeDir = nats.storeDir();
    assertThat(storeDir).exists();

    nats.close();

    assertThat(storeDir).doesNotExist();
    assertThat(nats.isRunning()).isFalse();
    assertThatThrownBy(nats::restart).isInstanceOf(IllegalStateException.class);
    nats.close(); // idempotent
  }

  @Test
  void userPasswordAuthenticationIsEnforced() throws Exception {
    try (NatsServer nats = NatsServer.builder().user("alice", "secret").start()) {
      assertThatThrownBy(() -> Nats.connect(Options.builder().server(nats.url()).maxReconnects(0).build()))
          .isNotNull();
      try (Connection nc = Nats.connect(Options.builder().server(nats.url()).userInfo("alice", "secret").build())) {
        assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
      }
      try (Connection nc = connect(nats.urlWithCredentials())) {
        assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
      }
    }
  }

  @Test
  void tokenAuthenticationIsEnforced() throws Exception {
    try (NatsServer nats = NatsServer.builder().token("s3cret").start()) {
      try (Connection nc = Nats.connect(Options.builder().server(nats.url()).token("s3cret".toCharArray()).build())) {
        assertThat(nc.getStatus()).isEqualTo(Connection.Status.CONNECTED);
      }
      assertThat(nats.logTail(50)).doesNotContain("s3cret");
    }
  }

  @Test
  void aFailedStartReportsTheEndOfTheServerLog() {
    assertThatThrownBy(() -> NatsServer.builder().args("-c", "/no/such/nats.conf").start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("/no/such/nats.conf: no such file");
  }

  @Test
  void aFixedPortThatIsTakenFailsWithAClearMessage() throws Exception {
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      assertThatThrownBy(() -> NatsServer.builder().port(taken.getLocalPort()).start())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("in use");
    }
  }

  @Test
  void aSuppliedStoreDirIsUsedAndKept() throws Exception {
    var dir = Files.createTempDirectory("parti-test-store");
    try {
      try (NatsServer nats = NatsServer.builder().storeDir(dir).start()) {
        assertThat(nats.storeDir()).isEqualTo(dir.toAbsolutePath());
        assertThat(nats.monitor("/jsz")).contains(dir.toString());
      }
      assertThat(dir).exists();
    } finally {
      TempDirs.delete(dir);
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
