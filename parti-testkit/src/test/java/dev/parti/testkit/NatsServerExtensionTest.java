package dev.parti.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.Closeable;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class NatsServerExtensionTest {
  @Nested
  class RegisteredOnAnInstanceField {
    @RegisterExtension
    final NatsServerExtension nats = new NatsServerExtension(NatsServer.builder().token("t0ken"));

    @Test
    void firstTestGetsARunningServerOfItsOwn() {
      PerTestServers.SEEN.add(nats.server());
      assertThat(nats.server().isRunning()).isTrue();
      assertThat(nats.url()).isEqualTo(nats.server().url());
    }

    @Test
    void secondTestGetsAnotherOne() {
      PerTestServers.SEEN.add(nats.server());
      assertThat(nats.server().isRunning()).isTrue();
    }
  }

  /** Holds the servers seen by {@link RegisteredOnAnInstanceField}; checked after all tests. */
  static final class PerTestServers {
    static final List<NatsServer> SEEN = new ArrayList<>();
  }

  @AfterAll
  static void eachTestHadItsOwnServerAndEveryOneIsClosed() {
    assertThat(PerTestServers.SEEN).hasSize(2).doesNotHaveDuplicates().noneMatch(NatsServer::isRunning);
  }

  @Test
  void aClassWideResourceSurvivesNestedClassesAndClosesOnceAtTheOutermostEnd() {
    Scoped<CountingResource> scoped = new Scoped<>();
    CountingResource resource = new CountingResource();

    scoped.beforeAll(() -> resource);
    scoped.beforeAll(() -> new CountingResource()); // a nested class
    scoped.beforeEach(() -> new CountingResource());
    assertThat(scoped.get("r")).isSameAs(resource);
    scoped.afterEach();
    scoped.afterAll();
    assertThat(resource.closed).isZero();
    scoped.afterAll();

    assertThat(resource.closed).isEqualTo(1);
    assertThatThrownBy(() -> scoped.get("r")).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void theServerIsOnlyAvailableWhileATestRuns() {
    assertThatThrownBy(() -> new NatsServerExtension().server())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("NatsServer");
  }

  private static final class CountingResource implements Closeable {
    int closed;

    @Override
    public void close() {
      closed++;
    }
  }
}
