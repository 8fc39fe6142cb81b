package dev.parti.testkit;

import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * JUnit 5 extension around a {@link NatsServer}. Registered on a {@code static} field it starts one
 * server before all tests of the class and closes it after them; on an instance field it starts a
 * fresh server for every test.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final NatsServerExtension NATS = new NatsServerExtension();
 *
 * @Test void works() throws Exception {
 *   try (Connection nc = Nats.connect(NATS.url())) { ... }
 * }
 * }</pre>
 */
public final class NatsServerExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
    AfterEachCallback {
  private final Supplier<NatsServer> factory;
  private final Scoped<NatsServer> scoped = new Scoped<>();

  /** An extension starting {@link NatsServer#start()} servers. */
  public NatsServerExtension() {
    this(NatsServer::start);
  }

  /** An extension starting servers from {@code builder} (authentication, extra arguments, ...). */
  public NatsServerExtension(NatsServer.Builder builder) {
    this(Objects.requireNonNull(builder, "builder")::start);
  }

  private NatsServerExtension(Supplier<NatsServer> factory) {
    this.factory = factory;
  }

  /** The running server of the current test or class. */
  public NatsServer server() {
    return scoped.get("NatsServer");
  }

  /** Shorthand for {@code server().url()}. */
  public String url() {
    return server().url();
  }

  /** Starts the class-wide server (static registration). */
  @Override
  public void beforeAll(ExtensionContext context) {
    scoped.beforeAll(factory);
  }

  /** Closes the class-wide server. */
  @Override
  public void afterAll(ExtensionContext context) {
    scoped.afterAll();
  }

  /** Starts a per-test server unless a class-wide one runs (instance registration). */
  @Override
  public void beforeEach(ExtensionContext context) {
    scoped.beforeEach(factory);
  }

  /** Closes the per-test server. */
  @Override
  public void afterEach(ExtensionContext context) {
    scoped.afterEach();
  }
}
