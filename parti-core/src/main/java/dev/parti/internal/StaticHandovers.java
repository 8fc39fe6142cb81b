package dev.parti.internal;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What an instance of a static member ({@code group.instance.id}) that closed while staying in the group
 * leaves to the next instance of that member in the same JVM: the revisions of its ID key and of its last
 * heartbeat, which reported nothing held (issue 19, goal 1: a returning static member).
 *
 * <p>Why it is safe to use: the closed instance's {@code close()} returned with its threads ended, so it is
 * <em>known</em> to have stopped, not merely silent; and its last heartbeat reported every partition released.
 * The next instance can therefore take the ID and the heartbeat over with one compare-and-set each (expecting
 * exactly those revisions) instead of create, read and update, and owes nobody a takeover wait. If anything
 * wrote either key since (another instance, an expiry and a re-creation), the compare-and-set fails and the
 * usual claim and takeover run, with all their checks.
 *
 * <p>In production one registry per JVM ({@link #JVM}); the simulator uses {@link #NONE}, whose members are
 * separate processes. Thread-safe.
 */
final class StaticHandovers {
    /** The closed instance, its ID key's and heartbeat's revisions, and when it closed (monotonic nanos). */
    record Handover(String instance, long idRevision, long heartbeatRevision, long closedAtNanos) { }

    /** Shares nothing: every start claims and takes over the usual way. */
    static final StaticHandovers NONE = new StaticHandovers(false);
    /** The members of this JVM. */
    static final StaticHandovers JVM = new StaticHandovers(true);

    private final boolean enabled;
    private final Map<String, Handover> byMember = new ConcurrentHashMap<>();

    private StaticHandovers(boolean enabled) {
        this.enabled = enabled;
    }

    /** The key of a static member: where its buckets live, its group and its static ID. */
    static String key(String nats, String group, String staticId) {
        return nats + '\u0000' + group + '\u0000' + staticId;
    }

    /** Called by a closed instance once its threads have ended; replaces an older handover of the member. */
    void offer(String member, Handover handover) {
        if (enabled) {
            byMember.put(member, handover);
        }
    }

    /** The member's handover, left in place (tests). */
    Handover peek(String member) {
        return byMember.get(member);
    }

    /** The member's handover, removed (one successor uses it), or null; none older than {@code maxAgeNanos}. */
    Handover take(String member, long nowNanos, long maxAgeNanos) {
        if (!enabled) {
            return null;
        }
        Handover h = byMember.remove(member);
        return h == null || nowNanos - h.closedAtNanos() > maxAgeNanos ? null : h;
    }
}
