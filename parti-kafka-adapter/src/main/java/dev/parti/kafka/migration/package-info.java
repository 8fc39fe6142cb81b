/**
 * The rolling migration of a live consumer group from Kafka's group coordinator to Parti, used by {@link
 * dev.parti.kafka.PartiConsumer} with {@code parti.migration=kafka-to-parti}: {@link
 * dev.parti.kafka.migration.KafkaToPartiMigration} drives one consumer through the phases (Kafka member, switching,
 * waiting for the Kafka group to empty, Parti), and {@link dev.parti.kafka.migration.MigrationAssignor} is the
 * assignor its Kafka-side consumer uses to agree with the rest of the group on one switch. Users configure neither
 * class (the migration guide, "Rolling migration", describes the behaviour); both are public only because {@code
 * PartiConsumer} and Kafka's assignor loading need them to be, and may change in any release.
 */
package dev.parti.kafka.migration;
