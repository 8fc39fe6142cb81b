package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.nats.client.Connection;
import io.nats.client.Nats;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NothingLeftBehindTest {
  @TempDir
  Path ownershipDir;

  @Test
  void closingEveryKindOfResourceLeavesNoChildProcessNoTemporaryDirectoryAndNoThread() throws Exception {
    Set<Thread> threadsBefore = liveThreads();
    List<Path> directories = new ArrayList<>();
    KafkaBroker[] closedKafka = new KafkaBroker[1];
    NatsServer[] closedNats = new NatsServer[1];

    try (NatsServer nats = NatsServer.start();
         NatsCluster cluster = NatsCluster.start(3);
         KafkaBroker kafka = KafkaBroker.start();
         TcpProxy proxy = TcpProxy.start("127.0.0.1", nats.port());
         WorkerProcess worker = WorkerProcess.start(PingMain.class);
         OwnershipLog log = OwnershipLog.inDirectory(ownershipDir)) {
      closedKafka[0] = kafka;
      closedNats[0] = nats;
      directories.add(nats.logFile().getParent());
      cluster.nodes().forEach(node -> directories.add(node.logFile().getParent()));
      directories.add(kafka.logFile().getParent());
      directories.add(worker.tempDir());
      assertThat(directories).allSatisfy(dir -> assertThat(dir).exists());

      kafka.createTopic("t", 2);
      try (Connection nc = Nats.connect(proxy.url("nats"))) {
        nc.flush(Duration.ofSeconds(5));
        assertThat(liveThreads()).extracting(Thread::getName).anyMatch(n -> n.startsWith("parti-testkit-proxy-"));
      }
      log.acquired("w", "p");
      await().atMost(Duration.ofSeconds(20)).until(() -> worker.logTail(5).contains("READY"));
      worker.suspend();
      cluster.node(2).kill();
      assertThat(ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).count()).isGreaterThanOrEqualTo(5);
    }

    assertThat(ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).map(this::describe))
        .as("child processes still alive").isEmpty();
    assertThat(directories).allSatisfy(dir -> assertThat(dir).doesNotExist());
    assertThatThrownBy(closedKafka[0]::restart).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(closedNats[0]::restart).isInstanceOf(IllegalStateException.class);
    await().pollInSameThread().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      Set<Thread> added = liveThreads();
      added.removeAll(threadsBefore);
      assertThat(added.stream().filter(t -> !t.isDaemon() || t.getName().startsWith("parti-testkit")))
          .as("threads started by the test kit or non-daemon threads left").isEmpty();
    });
  }

  private String describe(ProcessHandle process) {
    return process.pid() + " " + process.info().commandLine().orElse("?");
  }

  private static Set<Thread> liveThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).collect(Collectors.toSet());
  }
}
