package dev.parti.testkit;

import java.util.Objects;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * JUnit 5 extension around a {@link KafkaBroker}. Registered on a {@code static} field it starts one
 * broker before all tests of the class and closes it after them; on an instance field it starts a
 * fresh broker for every test.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final KafkaBrokerExtension KAFKA = new KafkaBrokerExtension();
 *
 * @Test void works() {
 *   KAFKA.broker().createTopic("orders", 3);
 *   try (var producer = new KafkaProducer<>(Map.of("bootstrap.servers", KAFKA.bootstrapServers()), ...)) { ... }
 * }
 * }</pre>
 */
public final class KafkaBrokerExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
    AfterEachCallback {
  private final Supplier<KafkaBroker> factory;
  private final Scoped<KafkaBroker> scoped = new Scoped<>();

  /** An extension starting {@link KafkaBroker#start()} brokers. */
  public KafkaBrokerExtension() {
    this(KafkaBroker::start);
  }

  /** An extension starting brokers from {@code builder} (properties, JVM options). */
  public KafkaBrokerExtension(KafkaBroker.Builder builder) {
    this(Objects.requireNonNull(builder, "builder")::start);
  }

  private KafkaBrokerExtension(Supplier<KafkaBroker> factory) {
    this.factory = factory;
  }

  /** The running broker of the current test or class. */
  public KafkaBroker broker() {
    return scoped.get("KafkaBroker");
  }

  /** Shorthand for {@code broker().bootstrapServers()}. */
  public String bootstrapServers() {
    return broker().bootstrapServers();
  }

  /** Starts the class-wide broker (static registration). */
  @Override
  public void beforeAll(ExtensionContext context) {
    scoped.beforeAll(factory);
  }

  /** Closes the class-wide broker. */
  @Override
  public void afterAll(ExtensionContext context) {
    scoped.afterAll();
  }

  /** Starts a per-test broker unless a class-wide one runs (instance registration). */
  @Override
  public void beforeEach(ExtensionContext context) {
    scoped.beforeEach(factory);
  }

  /** Closes the per-test broker. */
  @Override
  public void afterEach(ExtensionContext context) {
    scoped.afterEach();
  }
}
