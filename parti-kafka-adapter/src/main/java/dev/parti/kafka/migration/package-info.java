/**
 * The rolling migration of a live consumer group between Kafka's group coordinator and Parti, in both directions,
 * used by {@link dev.parti.kafka.PartiConsumer}. With {@code parti.migration=kafka-to-parti}, {@link
 * dev.parti.kafka.migration.KafkaToPartiMigration} drives one consumer through the phases (Kafka member, switching,
 * waiting for the Kafka group to empty, Parti); with {@code parti.migration=parti-to-kafka}, {@link
 * dev.parti.kafka.migration.PartiToKafkaMigration} drives the rollback (Parti member, joining the Kafka group keeping
 * its partitions, Kafka member). {@link dev.parti.kafka.migration.MigrationAssignor} is the assignor their Kafka-side
 * consumer uses to agree with the rest of the group on one switch. Users configure none of these classes (the
 * migration guide, "Rolling migration" and "Rolling rollback", describes the behaviour); they are public only because
 * {@code PartiConsumer} and Kafka's assignor loading need them to be, and may change in any release.
 */
package dev.parti.kafka.migration;
