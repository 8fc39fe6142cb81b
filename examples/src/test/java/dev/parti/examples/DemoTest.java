package dev.parti.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The demo of {@code scripts/demo}, in a short mode, with its own servers: nothing lost, nothing left running. */
class DemoTest {
    @Test
    void aShortRunCrashesAndRestartsAWorkerLosesNothingAndLeavesNothingRunning() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Demo.Summary s = Demo.run(Demo.Options.parse("--duration", "15s", "--workers", "3", "--partitions", "6", "--plain"), out);
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.println(text);

        assertThat(s.completed()).as(text).isTrue();
        assertThat(s.produced()).isPositive();
        assertThat(s.lost()).isZero();
        assertThat(s.consumedDistinct()).isEqualTo(s.produced());
        assertThat(s.consumed()).isEqualTo(s.consumedDistinct() + s.duplicates());
        assertThat(s.reassignment()).isNotNull().isLessThan(Duration.ofSeconds(30));
        assertThat(s.rejoin()).isNotNull();
        assertThat(s.overlaps()).isZero();
        assertThat(text).contains("crashed (no commit, no leave)", "reassigned", "started again", "== Summary", "nothing lost");

        // the nats-server and the broker JVM are gone, and so are the workers' and Parti's threads
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive)).isEmpty();
            assertThat(Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                    .filter(n -> n.startsWith("parti-") || n.startsWith("kafka-producer") || n.startsWith("kafka-admin")))
                    .isEmpty();
        });
    }

    @Test
    void optionsAreParsedAndBadOnesNamed() {
        Demo.Options o = Demo.Options.parse("--workers=4", "--partitions", "8", "--duration", "1m30s", "--nats-url",
                "nats://n:4222", "--bootstrap-servers", "k:9092", "--rate", "50");
        assertThat(o.workers()).isEqualTo(4);
        assertThat(o.partitions()).isEqualTo(8);
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(90));
        assertThat(o.natsUrl()).isEqualTo("nats://n:4222");
        assertThat(o.bootstrapServers()).isEqualTo("k:9092");
        assertThat(Demo.Options.parse("--duration", "15000ms").duration()).isEqualTo(Duration.ofSeconds(15));
        assertThat(Demo.Options.parse("--duration", "20").duration()).isEqualTo(Duration.ofSeconds(20));
        assertThat(Demo.Options.parse("--help").help()).isTrue();
        assertThatThrownBy(() -> Demo.Options.parse("--workers", "0")).hasMessageContaining("--workers");
        assertThatThrownBy(() -> Demo.Options.parse("--duration", "soon")).hasMessageContaining("--duration");
        assertThatThrownBy(() -> Demo.Options.parse("--frobnicate")).hasMessageContaining("--frobnicate");
        assertThatThrownBy(() -> Demo.Options.parse("--partitions")).hasMessageContaining("needs a value");
    }
}
