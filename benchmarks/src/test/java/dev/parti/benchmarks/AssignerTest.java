package dev.parti.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The harness is fair: every assignor sees the same input and is checked the same way. */
class AssignerTest {

    @Test
    void everyAssignorAssignsEveryPartitionOnceToTheGivenMembers() {
        List<TopicPartition> partitions = Scenario.partitions(103);
        List<String> members = Scenario.workers(7);
        for (String name : Assigner.names()) {
            Map<String, List<TopicPartition>> result = Assigner.byName(name)
                    .prepare(members, partitions, Map.of(), 1).assign();

            assertThat(result.keySet()).as(name).containsExactlyInAnyOrderElementsOf(members);
            List<TopicPartition> all = new ArrayList<>();
            result.values().forEach(all::addAll);
            assertThat(all).as(name).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(partitions);
        }
    }

    @Test
    void theScenarioSpreadsPartitionsOverFourTopicsAndTheNewestWorkerOwnsNothing() {
        List<TopicPartition> partitions = Scenario.partitions(10);
        Map<String, List<TopicPartition>> previous = Scenario.scaleOutPrevious(3, partitions);

        assertThat(Scenario.topics(partitions)).containsExactly("topic-0", "topic-1", "topic-2", "topic-3");
        assertThat(previous.get("w-0002")).isEmpty();
        assertThat(previous.get("w-0000")).hasSize(5);
        assertThat(Scenario.toKafka(Scenario.toParti(new TopicPartition("topic-1", 42))))
                .isEqualTo(new TopicPartition("topic-1", 42));
    }

    @Test
    void stickyBalancedMatchesTheIdealMovementAndCooperativeStickyNeedsTwoRoundsToScaleOut() {
        List<MovementReport.Row> rows = MovementReport.compute(List.of(new Size(10, 100)),
                List.of("sticky-balanced", Assigner.KAFKA_COOPERATIVE_STICKY));

        MovementReport.Row sticky = rows.get(0);
        assertThat(sticky.outMoved()).isEqualTo(sticky.outIdeal());
        assertThat(sticky.inMoved()).isEqualTo(sticky.inLeaverOwned());
        assertThat(sticky.outMinMax()[1] - sticky.outMinMax()[0]).isLessThanOrEqualTo(1);
        MovementReport.Row kafka = rows.get(1);
        assertThat(kafka.outRounds()).isEqualTo(2);
        assertThat(MovementReport.markdown(rows)).contains("| 10x100 | sticky-balanced |");
    }
}
