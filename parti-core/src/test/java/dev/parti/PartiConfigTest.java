package dev.parti;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PartiConfigTest {
    private static PartiConfig.Builder valid() {
        return PartiConfig.builder("g").natsUrl("nats://127.0.0.1:4222")
                .partitionSource(PartitionSource.of(List.of(Partition.of("t", "0"))));
    }

    @Test
    void defaultsAreValidAndFollowKafkaTimings() {
        PartiConfig c = valid().build();
        assertThat(c.heartbeatInterval()).isEqualTo(Duration.ofSeconds(1));
        assertThat(c.sessionTimeout()).isEqualTo(Duration.ofSeconds(6));
        assertThat(c.recoveryGrace()).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.lossPolicy()).isEqualTo(LossPolicy.FENCE);
        assertThat(c.strategy()).isNotNull();
    }

    @Test
    void disconnectEventsAreOffByDefaultAndValidatedWhenSet() {
        PartiConfig off = valid().build();
        assertThat(off.disconnectEvents()).isNull();
        PartiConfig on = valid().disconnectEvents("$SYS.ACCOUNT.APP.DISCONNECT").build();
        assertThat(on.disconnectEvents()).isEqualTo("$SYS.ACCOUNT.APP.DISCONNECT");
        assertThat(on.disconnectGrace()).isEqualTo(on.safetyMargin());
        assertThat(valid().disconnectEvents("a.b").disconnectGrace(Duration.ofMillis(300)).build().disconnectGrace())
                .isEqualTo(Duration.ofMillis(300));
        assertThatThrownBy(() -> valid().disconnectEvents("$SYS..DISCONNECT").build())
                .hasMessageContaining("disconnectEvents").hasMessageContaining("not a NATS subject");
        assertThatThrownBy(() -> valid().disconnectEvents("a b").build()).hasMessageContaining("not a NATS subject");
        assertThatThrownBy(() -> valid().disconnectEvents("a.b").lossPolicy(LossPolicy.HOLD).build())
                .hasMessageContaining("disconnectEvents requires lossPolicy FENCE");
        assertThatThrownBy(() -> valid().disconnectEvents("a.b").disconnectGrace(Duration.ZERO).build())
                .hasMessageContaining("disconnectGrace must be > 0");
        assertThatThrownBy(() -> valid().disconnectEvents("a.b").disconnectGrace(Duration.ofSeconds(6)).build())
                .hasMessageContaining("disconnectGrace must be < sessionTimeout");
    }

    @Test
    void sessionTimeoutBelowTwoHeartbeatsIsRejectedNamingTheField() {
        assertThatThrownBy(() -> valid().heartbeatInterval(Duration.ofSeconds(4)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sessionTimeout").hasMessageContaining("2 x heartbeatInterval");
    }

    @Test
    void workerIdTtlBelowSessionTimeoutIsRejected() {
        assertThatThrownBy(() -> valid().workerIdTtl(Duration.ofSeconds(5)).build())
                .hasMessageContaining("workerIdTtl").hasMessageContaining(">= sessionTimeout");
    }

    @Test
    void coldStartWindowBelowPlannedScaleWindowIsRejected() {
        assertThatThrownBy(() -> valid().coldStartWindow(Duration.ofSeconds(1)).build())
                .hasMessageContaining("coldStartWindow").hasMessageContaining("plannedScaleWindow");
    }

    @Test
    void cooldownLongerThanTheWindowIsRejected() {
        assertThatThrownBy(() -> valid().rebalanceCooldown(Duration.ofSeconds(11)).build())
                .hasMessageContaining("rebalanceCooldown");
    }

    @Test
    void missingNatsOrBothNatsSettingsAreRejected() {
        assertThatThrownBy(() -> PartiConfig.builder("g").partitionSource(List::of).build())
                .hasMessageContaining("natsUrl/connection");
    }

    @Test
    void emptyGroupMissingSourceAndBadNumbersAreRejectedNamingTheField() {
        assertThatThrownBy(() -> PartiConfig.builder("").natsUrl("nats://x").partitionSource(List::of).build())
                .hasMessageContaining("group");
        assertThatThrownBy(() -> PartiConfig.builder("g").natsUrl("nats://x").build())
                .hasMessageContaining("partitionSource");
        assertThatThrownBy(() -> valid().capacity(0).build()).hasMessageContaining("capacity");
        assertThatThrownBy(() -> valid().maxWorkers(0).build()).hasMessageContaining("maxWorkers");
        assertThatThrownBy(() -> valid().bucketReplicas(7).build()).hasMessageContaining("bucketReplicas");
        assertThatThrownBy(() -> valid().heartbeatInterval(Duration.ZERO).build()).hasMessageContaining("heartbeatInterval");
        assertThatThrownBy(() -> valid().workerId("a.b").build()).hasMessageContaining("workerId");
        assertThatThrownBy(() -> valid().recoveryGrace(Duration.ofMillis(10)).build()).hasMessageContaining("recoveryGrace");
        assertThatThrownBy(() -> valid().heartbeatInterval(null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("heartbeatInterval");
    }

    @Test
    void theLeaderTtlDefaultGrowsWithTheSessionSoThatTheLeaseOutlastsAnElectionRound() {
        assertThat(valid().build().leaderTtl()).isEqualTo(Duration.ofSeconds(3));
        PartiConfig fifteen = valid().sessionTimeout(Duration.ofSeconds(15)).build();
        assertThat(fifteen.safetyMargin()).isEqualTo(Duration.ofMillis(2500));
        assertThat(fifteen.leaderTtl()).isEqualTo(Duration.ofMillis(4500));
        PartiConfig thirty = valid().sessionTimeout(Duration.ofSeconds(30)).build();
        assertThat(thirty.leaderTtl()).isEqualTo(Duration.ofSeconds(7));
        // the builder keeps what the user set: a second build after a change derives again
        PartiConfig.Builder b = valid().sessionTimeout(Duration.ofSeconds(30));
        b.build();
        assertThat(b.sessionTimeout(Duration.ofSeconds(6)).build().leaderTtl()).isEqualTo(Duration.ofSeconds(3));
    }

    @Test
    void anExplicitLeaderTtlThatLeavesNoLeaseIsRejectedWithTheArithmetic() {
        assertThatThrownBy(() -> valid().sessionTimeout(Duration.ofSeconds(15)).leaderTtl(Duration.ofSeconds(3)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("Invalid Parti config: leaderTtl ")
                .hasMessageContaining("leaderTtl - safetyMargin = 3 s - 2.5 s = 500 ms")
                .hasMessageContaining("election round (1.5 s")
                .hasMessageContaining("raise leaderTtl to >= 4 s");
        assertThatThrownBy(() -> valid().safetyMargin(Duration.ofSeconds(2)).leaderTtl(Duration.ofSeconds(3)).build())
                .hasMessageStartingWith("Invalid Parti config: leaderTtl ")
                .hasMessageContaining("lower safetyMargin (2 s)");
    }

    @Test
    void aSafetyMarginThatLeavesNoSessionLeaseIsRejectedNamingIt() {
        assertThatThrownBy(() -> valid().safetyMargin(Duration.ofSeconds(5)).leaderTtl(Duration.ofSeconds(10)).build())
                .hasMessageStartingWith("Invalid Parti config: safetyMargin ")
                .hasMessageContaining("sessionTimeout - safetyMargin = 6 s - 5 s = 1 s");
        assertThatThrownBy(() -> valid().heartbeatInterval(Duration.ofSeconds(2)).sessionTimeout(Duration.ofSeconds(4)).build())
                .hasMessageStartingWith("Invalid Parti config: sessionTimeout ")
                .hasMessageContaining("heartbeat round (3 s");
    }

    @Test
    void staticWorkerIdsFollowNatsKeyRules() {
        assertThat(valid().workerId("orders-1_a/b=c").build().workerId()).isEqualTo("orders-1_a/b=c");
        for (String bad : List.of("a:b", "a b", "a.b", "a*", "a>", "é", "tab\t", "")) {
            String id = bad;
            assertThatThrownBy(() -> valid().workerId(id).build()).as(id)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("Invalid Parti config: workerId ");
        }
        assertThatThrownBy(() -> valid().workerId("a:b").build())
                .hasMessageContaining("'a:b' has ':' at index 1").hasMessageContaining("NATS KV key");
        assertThatThrownBy(() -> valid().workerId("x".repeat(PartiConfig.MAX_WORKER_ID_LENGTH + 1)).build())
                .hasMessageContaining("at most " + PartiConfig.MAX_WORKER_ID_LENGTH);
    }

    @Test
    void stateTransitionsFollowTheDocumentedMachine() {
        assertThat(ManagerState.INIT.canMoveTo(ManagerState.CLAIMING_ID)).isTrue();
        assertThat(ManagerState.INIT.canMoveTo(ManagerState.STABLE)).isFalse();
        assertThat(ManagerState.STABLE.canMoveTo(ManagerState.SCALING)).isTrue();
        assertThat(ManagerState.SCALING.canMoveTo(ManagerState.REBALANCING)).isTrue();
        assertThat(ManagerState.STABLE.canMoveTo(ManagerState.WAITING_ASSIGNMENT)).isFalse();
        assertThat(ManagerState.SHUTDOWN.canMoveTo(ManagerState.STABLE)).isFalse();
        for (ManagerState s : ManagerState.values()) {
            assertThat(s.canMoveTo(ManagerState.SHUTDOWN)).isEqualTo(s != ManagerState.SHUTDOWN);
        }
    }
}
