package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerProcessTest {
  private static final Pattern READY = Pattern.compile("READY (\\d+)");

  @TempDir
  Path ownershipDir;

  @Test
  void aSuspendedWorkerStopsAnsweringAndAnswersAgainAfterResume() throws Exception {
    try (WorkerProcess worker = WorkerProcess.builder(PingMain.class).jvmArgs("-Xmx32m").start();
         Socket socket = new Socket("127.0.0.1", awaitPort(worker))) {
      BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
      PrintWriter out = new PrintWriter(socket.getOutputStream(), true, StandardCharsets.UTF_8);
      socket.setSoTimeout(5_000);
      out.println("1");
      assertThat(in.readLine()).isEqualTo("pong 1");

      worker.suspend();
      assertThat(worker.isSuspended()).isTrue();
      assertThat(worker.isAlive()).isTrue();
      out.println("2");
      socket.setSoTimeout(500);
      assertThatThrownBy(in::readLine).isInstanceOf(SocketTimeoutException.class);

      worker.resume();
      socket.setSoTimeout(5_000);
      assertThat(in.readLine()).isEqualTo("pong 2");
      assertThat(worker.isSuspended()).isFalse();
    }
  }

  @Test
  void killEndsTheWorkerEvenWhileSuspended() throws Exception {
    try (WorkerProcess worker = WorkerProcess.start(PingMain.class)) {
      awaitPort(worker);
      worker.suspend();

      worker.kill();

      assertThat(worker.isAlive()).isFalse();
      assertThat(worker.waitFor(Duration.ofSeconds(1))).hasValue(137);
      assertThatThrownBy(worker::resume).isInstanceOf(IllegalStateException.class);
    }
  }

  @Test
  void stopAsksTheWorkerToExit() throws Exception {
    try (WorkerProcess worker = WorkerProcess.start(PingMain.class)) {
      awaitPort(worker);
      assertThat(worker.stop(Duration.ofSeconds(10))).isTrue();
      assertThat(worker.isAlive()).isFalse();
    }
  }

  @Test
  void theWorkerGetsArgumentsEnvironmentAndJvmOptionsAndItsOutputIsInTheLog() {
    long before = System.nanoTime();
    try (WorkerProcess worker = WorkerProcess.builder(ReportMain.class.getName())
        .name("reporter")
        .env("GREETING", "hello")
        .jvmArgs("-Dflavour=vanilla")
        .args(ownershipDir.toString(), "orders-7", "w-3", "3")
        .start()) {

      OptionalInt exit = worker.waitFor(Duration.ofSeconds(30));
      long after = System.nanoTime();

      assertThat(exit).hasValue(3);
      assertThat(worker.logTail(10)).contains("GREETING=hello", "flavour=vanilla", "name=reporter",
          "dir=" + worker.tempDir(), "args=" + ownershipDir + ",orders-7,w-3,3");
      assertThat(worker.logTail(1)).startsWith("args=");
      assertThat(OwnershipLog.read(ownershipDir)).singleElement().satisfies(event -> {
        assertThat(event.workerId()).isEqualTo("w-3");
        assertThat(event.partition()).isEqualTo("orders-7");
        // System.nanoTime() of the child lies between the parent's readings: one CLOCK_MONOTONIC on Linux.
        assertThat(event.nanos()).isBetween(before, after);
      });
    }
  }

  @Test
  void closeKillsTheWorkerAndDeletesItsDirectory() throws Exception {
    WorkerProcess worker = WorkerProcess.start(PingMain.class);
    awaitPort(worker);
    Path dir = worker.tempDir();
    long pid = worker.pid();

    worker.close();

    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).isNotEqualTo(java.util.Optional.of(true));
    assertThat(dir).doesNotExist();
    worker.close();
  }

  private static int awaitPort(WorkerProcess worker) {
    await().atMost(Duration.ofSeconds(20)).until(() -> READY.matcher(worker.logTail(5)).find());
    Matcher matcher = READY.matcher(worker.logTail(5));
    assertThat(matcher.find()).isTrue();
    return Integer.parseInt(matcher.group(1));
  }

}
