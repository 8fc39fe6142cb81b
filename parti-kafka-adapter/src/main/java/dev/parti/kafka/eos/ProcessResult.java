package dev.parti.kafka.eos;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * What one {@link ExactlyOnceProcessor#process} call did, per input partition.
 *
 * @param committed partitions whose transaction committed, with the number of input records in it
 * @param fenced    partitions whose transaction was fenced: another member opened the producer of the
 *                  partition (it owns the partition now); nothing of the transaction is visible to
 *                  {@code read_committed} readers and the partition is paused until this member's
 *                  listener reports it revoked or lost
 * @param retried   partitions whose transaction failed for another reason: it was aborted and the
 *                  consumer rewound to the last committed offset, so the records come again
 * @param skipped   partitions whose records were dropped unprocessed because the partition was fenced
 *                  earlier or its producer could not be opened yet (paused; the records come again from
 *                  the committed offset once the partition is processed here or elsewhere)
 */
public record ProcessResult(Map<TopicPartition, Integer> committed, Set<TopicPartition> fenced,
                            Set<TopicPartition> retried, Set<TopicPartition> skipped) {
    /** Unmodifiable views. */
    public ProcessResult {
        committed = Collections.unmodifiableMap(committed);
        fenced = Collections.unmodifiableSet(fenced);
        retried = Collections.unmodifiableSet(retried);
        skipped = Collections.unmodifiableSet(skipped);
    }

    /** The number of input records whose transactions committed. */
    public int recordsCommitted() {
        int n = 0;
        for (int c : committed.values()) {
            n += c;
        }
        return n;
    }
}
