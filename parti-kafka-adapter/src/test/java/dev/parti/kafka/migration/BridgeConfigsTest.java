package dev.parti.kafka.migration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.parti.kafka.PartiAssignor;
import dev.parti.kafka.PartiConsumerConfig;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.junit.jupiter.api.Test;

/** The Kafka side's assignors: Parti's protocol first, then the old fleet's on the way to Parti only. */
class BridgeConfigsTest {
    private static final MigrationAssignor.SwitchSignal SIGNAL = (generation, members) -> { };

    private static List<Object> bridgeAssignors(Object strategy, String migration) {
        Map<String, Object> user = new HashMap<>();
        user.put(ConsumerConfig.GROUP_ID_CONFIG, "g");
        if (strategy != null) {
            user.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, strategy);
        }
        @SuppressWarnings("unchecked")
        List<Object> out = (List<Object>) BridgeConfigs.of(user, SIGNAL, migration, "needed").bridge()
                .get(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
        return out;
    }

    @Test
    void withoutTheSettingTheBridgeOffersKafkasClassicDefaultAfterPartis() {
        assertThat(bridgeAssignors(null, PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI))
                .containsExactly(MigrationAssignor.class, RangeAssignor.class, CooperativeStickyAssignor.class);
    }

    @Test
    void theOldFleetsAssignorsFollowPartisWithoutPartiAssignorWhoseProtocolMigrationAssignorSpeaks() {
        assertThat(bridgeAssignors(" " + CooperativeStickyAssignor.class.getName() + ", " + PartiAssignor.class.getName()
                + ",", PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI))
                .containsExactly(MigrationAssignor.class, CooperativeStickyAssignor.class.getName());
        assertThat(bridgeAssignors(List.of(PartiAssignor.class, RangeAssignor.class), PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI))
                .containsExactly(MigrationAssignor.class, RangeAssignor.class);
        assertThat(bridgeAssignors(PartiAssignor.class.getName(), PartiConsumerConfig.MIGRATION_KAFKA_TO_PARTI))
                .containsExactly(MigrationAssignor.class);
    }

    @Test
    void onTheWayBackEveryMemberSpeaksPartisProtocolOnly() {
        assertThat(bridgeAssignors(CooperativeStickyAssignor.class.getName(), PartiConsumerConfig.MIGRATION_PARTI_TO_KAFKA))
                .containsExactly(MigrationAssignor.class);
    }
}
