/**
 * Real servers and real faults for Parti's tests, and for the tests of Parti's users.
 *
 * <ul>
 *   <li>{@link dev.parti.testkit.NatsServer} and {@link dev.parti.testkit.NatsCluster}: {@code nats-server}
 *       child processes with JetStream on free loopback ports, with stop, kill, restart and close.</li>
 *   <li>{@link dev.parti.testkit.KafkaBroker}: a single-node KRaft Kafka broker in a child JVM.</li>
 *   <li>{@link dev.parti.testkit.TcpProxy}: a loopback proxy that can cut, refuse or delay traffic.</li>
 *   <li>{@link dev.parti.testkit.WorkerProcess}: a Java main class in a child JVM that can be killed,
 *       suspended (SIGSTOP) and resumed.</li>
 *   <li>{@link dev.parti.testkit.OwnershipLog} and {@link dev.parti.testkit.OwnershipChecker}: who owned
 *       which partition when, and whether that ever overlapped or left a partition unowned too long.</li>
 *   <li>{@link dev.parti.testkit.NatsServerExtension} and {@link dev.parti.testkit.KafkaBrokerExtension}:
 *       JUnit 5 extensions around the servers.</li>
 * </ul>
 *
 * <p>Every type is {@link java.io.Closeable}; {@code close()} leaves no child process, no temporary
 * directory and no thread behind. Children still running when the JVM exits are killed by a
 * shutdown hook. The kit is meant for Linux and macOS (it sends signals with {@code kill}).
 */
package dev.parti.testkit;
