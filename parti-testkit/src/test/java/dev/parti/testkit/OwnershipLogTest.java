package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OwnershipLogTest {
  @TempDir
  Path dir;

  @Test
  void anInMemoryLogKeepsEventsInRecordingOrderWithMonotonicTimestamps() {
    try (OwnershipLog log = OwnershipLog.inMemory()) {
      long before = System.nanoTime();
      log.acquired("w-1", "t-0");
      log.released("w-1", "t-0");
      log.gone("w-1");

      assertThat(log.events()).extracting(OwnershipEvent::kind).containsExactly(
          OwnershipEvent.Kind.ACQUIRED, OwnershipEvent.Kind.RELEASED, OwnershipEvent.Kind.GONE);
      assertThat(log.events()).allSatisfy(e -> assertThat(e.nanos() - before).isNotNegative());
      assertThat(log.directory()).isEmpty();
    }
  }

  @Test
  void recordingAfterCloseIsRefused() {
    OwnershipLog log = OwnershipLog.inMemory();
    log.close();
    assertThatThrownBy(() -> log.acquired("w", "p")).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void directoryLogsOfSeveralWritersMergeInTimeOrder() throws Exception {
    try (OwnershipLog first = OwnershipLog.inDirectory(dir); OwnershipLog second = OwnershipLog.inDirectory(dir)) {
      first.record(OwnershipEvent.acquired("a", "p", 10));
      second.record(OwnershipEvent.acquired("b", "q", 5));
      first.record(OwnershipEvent.released("a", "p", 20));

      assertThat(OwnershipLog.read(dir)).containsExactly(
          OwnershipEvent.acquired("b", "q", 5), OwnershipEvent.acquired("a", "p", 10),
          OwnershipEvent.released("a", "p", 20));
      assertThat(first.events()).isEqualTo(OwnershipLog.read(dir));
    }
    try (var files = Files.list(dir)) {
      assertThat(files.count()).isEqualTo(2);
    }
  }

  @Test
  void eachEventIsOnDiskWhenRecordReturns() throws Exception {
    try (OwnershipLog log = OwnershipLog.inDirectory(dir)) {
      log.acquired("w", "p");
      assertThat(OwnershipLog.read(dir)).hasSize(1);
    }
  }

  @Test
  void aTornLastLineFromAKilledWriterIsSkippedButCorruptionElsewhereIsAnError() throws Exception {
    Path file = dir.resolve("123-1.ownership");
    Files.writeString(file, "# header\n1\tACQUIRED\tw\tp\n2\tRELEA", StandardCharsets.UTF_8);
    assertThat(OwnershipLog.read(dir)).containsExactly(OwnershipEvent.acquired("w", "p", 1));

    Files.writeString(file, "\n3\tRELEASED\tw\tp\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    assertThatThrownBy(() -> OwnershipLog.read(dir)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("line 3");
  }

  @Test
  void theInstanceOfAnEventSurvivesTheDirectoryFormatAndFourFieldLinesStillParse() throws Exception {
    try (OwnershipLog log = OwnershipLog.inDirectory(dir)) {
      log.record(OwnershipEvent.acquired("w-0#2", "w-0", "p", 10));
      log.record(OwnershipEvent.released("w-0#2", "w-0", "p", 20));
      log.record(OwnershipEvent.gone("w-0#2", 30));
    }
    Files.writeString(dir.resolve("1-1.ownership"), "5\tACQUIRED\tw-1\tq\n", StandardCharsets.UTF_8);

    assertThat(OwnershipLog.read(dir)).containsExactly(
        OwnershipEvent.acquired("w-1", "q", 5),
        OwnershipEvent.acquired("w-0#2", "w-0", "p", 10),
        OwnershipEvent.released("w-0#2", "w-0", "p", 20),
        OwnershipEvent.gone("w-0#2", 30));
    assertThat(OwnershipLog.read(dir).get(1).instance()).isEqualTo("w-0#2");
    assertThat(OwnershipLog.read(dir).get(0).instance()).isEqualTo("w-1");
  }

  @Test
  void filesThatAreNotOwnershipLogsAreIgnored() throws Exception {
    Files.writeString(dir.resolve("notes.txt"), "not a log");
    assertThat(OwnershipLog.read(dir)).isEmpty();
  }
}
