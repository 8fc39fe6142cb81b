package dev.parti.internal;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@link KvContract} against the simulation's KV model ({@link SimKvServer} through {@link SimKvClient}),
 * in virtual time: the case runs on a simulated thread, with the model's usual latencies and watch lags
 * but no lost replies (the contract is about the store, not the network).
 */
class KvModelContractTest extends KvContract {

    @Override
    void run(Case c) throws Exception {
        SimScheduler sim = new SimScheduler(42);
        SimKvServer server = new SimKvServer(sim);
        SimScheduler.Proc proc = sim.newProc("contract", 1.0, 0);
        SimKvClient.Net net = new SimKvClient.Net();
        net.lostReplyProbability = 0;
        net.slowProbability = 0;
        SimKvClient kv = new SimKvClient(sim, server, proc, Duration.ofSeconds(2), new SimKvClient.Conn(net), "contract");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<Boolean> done = new AtomicReference<>(false);
        SimScheduler.VThread t = sim.new VThread(proc, "case");
        sim.submit(t, () -> {
            try {
                kv.provision(ttls(), 1);
                c.run(new World() {
                    @Override
                    public Kv kv() {
                        return kv;
                    }

                    @Override
                    public void eventually(Duration max, java.util.function.BooleanSupplier condition) {
                        long deadline = sim.now + max.toNanos();
                        while (!condition.getAsBoolean()) {
                            if (sim.now > deadline) {
                                throw new AssertionError("condition not met within " + max + " of virtual time");
                            }
                            sim.sleep(20_000_000L);
                        }
                    }

                    @Override
                    public void pause(Duration d) {
                        sim.sleep(d.toNanos());
                    }
                });
            } catch (Throwable e) {
                failure.set(e);
            }
            done.set(true);
        });
        try {
            sim.runUntil(Duration.ofSeconds(60).toNanos(), done::get);
        } finally {
            sim.shutdown();
        }
        if (failure.get() instanceof Exception e) {
            throw e;
        }
        if (failure.get() instanceof Error e) {
            throw e;
        }
        if (!done.get()) {
            throw new AssertionError("the case did not finish within 60 s of virtual time");
        }
    }
}
