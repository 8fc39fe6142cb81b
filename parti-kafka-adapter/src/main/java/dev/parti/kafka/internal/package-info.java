/**
 * Internals of {@link dev.parti.kafka.PartiConsumer}: the delegate that implements it, the bridge
 * between Parti's callback thread and the polling thread, the topic metadata snapshot read by Parti's
 * leader, and configuration plumbing. Not a public API: anything here may change in any release.
 */
package dev.parti.kafka.internal;
