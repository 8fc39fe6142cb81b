package dev.parti.cli;

import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Parses {@code 500ms}, {@code 5s}, {@code 2m}, {@code 1h} (or an ISO-8601 {@code PT5S}); formats ages for people. */
final class Durations implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
        return parse(value);
    }

    static Duration parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        try {
            if (v.startsWith("pt")) {
                return Duration.parse(value.trim());
            }
            if (v.endsWith("ms")) {
                return positive(Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2))), value);
            }
            long n = Long.parseLong(v.substring(0, v.length() - 1));
            switch (v.charAt(v.length() - 1)) {
                case 's': return positive(Duration.ofSeconds(n), value);
                case 'm': return positive(Duration.ofMinutes(n), value);
                case 'h': return positive(Duration.ofHours(n), value);
                default: break;
            }
        } catch (RuntimeException e) {
            // fall through to the message below
        }
        throw new TypeConversionException("'" + value + "' is not a duration (examples: 500ms, 5s, 2m, 1h)");
    }

    private static Duration positive(Duration d, String value) {
        if (d.isNegative() || d.isZero()) {
            throw new TypeConversionException("'" + value + "' must be a positive duration");
        }
        return d;
    }

    /** {@code 0.3 s}, {@code 12 s}, {@code 4 min}: an age in one short field. */
    static String human(Duration d) {
        if (d == null) {
            return "-";
        }
        long ms = d.toMillis();
        if (ms < 0) {
            ms = 0; // the server's clock is ahead of ours
        }
        if (ms < 10_000) {
            return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
        }
        if (ms < 120_000) {
            return (ms / 1000) + " s";
        }
        if (ms < 7_200_000) {
            return (ms / 60_000) + " min";
        }
        return (ms / 3_600_000) + " h";
    }
}
