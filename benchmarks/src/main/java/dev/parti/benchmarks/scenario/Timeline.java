package dev.parti.benchmarks.scenario;

import dev.parti.testkit.OwnershipEvent;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * SVG timeline of one or more runs: one panel per run, a row per partition, time to the right, each
 * ownership interval coloured by its owner; unowned stretches stay red so gaps are visible; vertical
 * marks for the scenario's events (new consumer, kill).
 */
final class Timeline {
    private static final String[] COLORS = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
        "#9c755f", "#bab0ac"};
    private static final int WIDTH = 960;
    private static final int LEFT = 60;
    private static final int ROW = 5;

    /** One panel. */
    record Panel(String title, List<OwnershipEvent> events, String topic, int partitions, long from, long to,
                 Map<String, Long> marks) {}

    static String render(String title, List<Panel> panels) {
        StringBuilder b = new StringBuilder();
        int y = 30;
        StringBuilder body = new StringBuilder();
        for (Panel p : panels) {
            y = panel(body, p, y) + 30;
        }
        b.append(String.format(Locale.ROOT,
                "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>%n",
                WIDTH + LEFT + 20, y));
        b.append("<rect width='100%' height='100%' fill='white'/>\n");
        b.append("<text x='10' y='18' font-size='14' font-weight='bold'>").append(esc(title))
                .append("</text>\n");
        b.append(body);
        b.append("</svg>\n");
        return b.toString();
    }

    private static int panel(StringBuilder b, Panel p, int y0) {
        double span = Math.max(1, p.to() - p.from());
        int top = y0 + 16;
        int height = p.partitions() * ROW;
        b.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-weight='bold'>%s</text>%n", LEFT, y0 + 10, esc(p.title())));
        // red background: unowned
        b.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='%d' height='%d' fill='#e15759' opacity='0.85'/>%n",
                LEFT, top, WIDTH, height));
        Map<String, Integer> color = new TreeMap<>();
        Map<String, Long> open = new HashMap<>(); // partition|worker -> since
        List<String[]> intervals = new ArrayList<>();
        for (OwnershipEvent e : p.events()) {
            switch (e.kind()) {
                case ACQUIRED -> open.putIfAbsent(e.partition() + "|" + e.workerId(), e.nanos());
                case RELEASED -> {
                    Long s = open.remove(e.partition() + "|" + e.workerId());
                    if (s != null) {
                        intervals.add(new String[] {e.partition(), e.workerId(), Long.toString(s), Long.toString(e.nanos())});
                    }
                }
                case GONE -> {
                    for (String k : new ArrayList<>(open.keySet())) {
                        if (k.endsWith("|" + e.workerId())) {
                            long s = open.remove(k);
                            intervals.add(new String[] {k.substring(0, k.lastIndexOf('|')), e.workerId(), Long.toString(s),
                                Long.toString(e.nanos())});
                        }
                    }
                }
            }
        }
        open.forEach((k, s) -> intervals.add(new String[] {k.substring(0, k.lastIndexOf('|')), k.substring(k.lastIndexOf('|') + 1),
            Long.toString(s), Long.toString(Long.MAX_VALUE)}));
        for (String[] iv : intervals) {
            int part;
            try {
                part = Runs.partitionIndex(iv[0]);
            } catch (NumberFormatException e) {
                continue;
            }
            long s = Math.max(Long.parseLong(iv[2]), p.from());
            long t = Long.parseLong(iv[3]) == Long.MAX_VALUE ? p.to() : Math.min(Long.parseLong(iv[3]), p.to());
            if (t - s <= 0) {
                continue;
            }
            int c = color.computeIfAbsent(iv[1], w -> color.size());
            double x = LEFT + (s - p.from()) / span * WIDTH;
            double w = Math.max(0.5, (t - s) / span * WIDTH);
            b.append(String.format(Locale.ROOT, "<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='%s'><title>%s %s</title></rect>%n",
                    x, top + part * ROW, w, ROW - 1, COLORS[c % COLORS.length], esc(iv[1]), esc(iv[0])));
        }
        // time axis: a tick per second (per 5 s when long)
        double seconds = span / 1e9;
        int step = seconds > 60 ? 10 : seconds > 20 ? 5 : 1;
        for (int s = 0; s <= seconds; s += step) {
            double x = LEFT + s * 1e9 / span * WIDTH;
            b.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#333'/>"
                    + "<text x='%.1f' y='%d' text-anchor='middle'>%ds</text>%n", x, top + height, x, top + height + 4, x,
                    top + height + 15, s));
        }
        b.append(String.format(Locale.ROOT, "<text x='4' y='%d'>p0</text><text x='4' y='%d'>p%d</text>%n", top + 6,
                top + height, p.partitions() - 1));
        for (Map.Entry<String, Long> m : p.marks().entrySet()) {
            double x = LEFT + (m.getValue() - p.from()) / span * WIDTH;
            b.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='black' stroke-dasharray='4,2'/>"
                    + "<text x='%.1f' y='%d'>%s</text>%n", x, top - 4, x, top + height, x + 3, top - 4, esc(m.getKey())));
        }
        int lx = LEFT + 300;
        for (Map.Entry<String, Integer> c : color.entrySet()) {
            b.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d'>%s</text>%n",
                    lx, y0, COLORS[c.getValue() % COLORS.length], lx + 13, y0 + 9, esc(c.getKey())));
            lx += 80;
        }
        b.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='10' height='10' fill='#e15759'/><text x='%d' y='%d'>no owner</text>%n",
                lx, y0, lx + 13, y0 + 9));
        return top + height + 18;
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }
}
