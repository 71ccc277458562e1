/*
 * rep_svg.c - pulse-report's chart, written by hand as SVG text (no plotting library):
 * on top, the latency distribution on a logarithmic axis (bars: share of deliveries per
 * bin, 20 bins per decade; line: the cumulative share, with p50/p99/max marked); below,
 * latency over the run (p50, p99 and max per time slice of the publish schedule). A
 * summary line with the counts heads the chart, so the picture stands on its own.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rep.h"

#define SVG_W 960
#define SVG_PL 80   /* plot left */
#define SVG_PR 880  /* plot right */
#define SVG_T1 90   /* panel 1 top/bottom */
#define SVG_B1 340
#define SVG_T2 420  /* panel 2 top/bottom */
#define SVG_B2 670

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void fmt_us(char *buf, size_t cap, double us)
{
    if (us < 1000)
        snprintf(buf, cap, "%.0f µs", us);
    else if (us < 1e6)
        snprintf(buf, cap, "%.3g ms", us / 1000);
    else
        snprintf(buf, cap, "%.3g s", us / 1e6);
}

/* x of a latency (us) on the log axis spanning bins [lo, hi). */
static double log_x(double us, int lo, int hi)
{
    double b = us < 1 ? 0 : log10(us) * REP_LAT_BINS_PER_DECADE;
    if (b < lo)
        b = lo;
    if (b > hi)
        b = hi;
    return SVG_PL + (SVG_PR - SVG_PL) * (b - lo) / (double)(hi - lo);
}

static void marker(FILE *f, double x, const char *label, int64_t us, const char *color, int dy)
{
    char v[32];

    fmt_us(v, sizeof(v), (double)us);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
               "stroke-dasharray=\"4 3\"/>\n", x, SVG_T1, x, SVG_B1, color);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\" font-size=\"11\">%s %s</text>\n", x + 3,
            SVG_T1 + 12 + dy, color, label, v);
}

static void panel_distribution(FILE *f, const rep_result *res)
{
    int lo = -1, hi = -1, i;
    uint64_t total = 0, peak = 0, cum = 0;
    double bw;

    for (i = 0; i < REP_LAT_BINS; i++) {
        if (res->lat_bins[i] == 0)
            continue;
        if (lo < 0)
            lo = i;
        hi = i + 1;
        total += res->lat_bins[i];
        if (res->lat_bins[i] > peak)
            peak = res->lat_bins[i];
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">Latency "
               "distribution (log scale): bars = share of deliveries, line = cumulative</text>\n",
            SVG_PL, SVG_T1 - 12);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#999\"/>\n", SVG_PL, SVG_T1, SVG_PR - SVG_PL, SVG_B1 - SVG_T1);
    if (total == 0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">no deliveries</text>\n", SVG_PL + 20, (SVG_T1 + SVG_B1) / 2);
        return;
    }
    /* Whole decades around the data, so the ticks land on 1-10-100. */
    lo = (lo / REP_LAT_BINS_PER_DECADE) * REP_LAT_BINS_PER_DECADE;
    hi = ((hi + REP_LAT_BINS_PER_DECADE - 1) / REP_LAT_BINS_PER_DECADE) * REP_LAT_BINS_PER_DECADE;
    if (hi <= lo)
        hi = lo + REP_LAT_BINS_PER_DECADE;
    bw = (double)(SVG_PR - SVG_PL) / (hi - lo);

    for (i = lo; i <= hi; i += REP_LAT_BINS_PER_DECADE) {
        char v[32];
        double x = SVG_PL + bw * (i - lo);
        fmt_us(v, sizeof(v), pow(10, (double)i / REP_LAT_BINS_PER_DECADE));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, SVG_T1,
                x, SVG_B1);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                x, SVG_B1 + 15, v);
    }
    for (i = 0; i <= 4; i++) {
        double y = SVG_B1 - (SVG_B1 - SVG_T1) * i / 4.0;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.1f%%</text>\n",
                SVG_PL - 6, y + 4, 100.0 * (double)peak / (double)total * i / 4.0);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"#c0392b\">%d%%</text>\n",
                SVG_PR + 6, y + 4, 25 * i);
    }
    for (i = lo; i < hi; i++) {
        double h;
        if (res->lat_bins[i] == 0)
            continue;
        h = (SVG_B1 - SVG_T1) * (double)res->lat_bins[i] / (double)peak;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"#4a90d9\"/>\n", SVG_PL + bw * (i - lo) + 0.5, SVG_B1 - h, bw - 1, h);
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"");
    fprintf(f, "%d,%d ", SVG_PL, SVG_B1);
    for (i = lo; i < hi; i++) {
        cum += res->lat_bins[i];
        fprintf(f, "%.1f,%.1f ", SVG_PL + bw * (i + 1 - lo),
                SVG_B1 - (SVG_B1 - SVG_T1) * (double)cum / (double)total);
    }
    fprintf(f, "\"/>\n");
    marker(f, log_x((double)res->overall.p50_us, lo, hi), "p50", res->overall.p50_us, "#27ae60", 0);
    marker(f, log_x((double)res->overall.p99_us, lo, hi), "p99", res->overall.p99_us, "#e67e22", 14);
    marker(f, log_x((double)res->overall.max_us, lo, hi), "max", res->overall.max_us, "#555", 28);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">latency "
               "(received_at - published_at)</text>\n", (SVG_PL + SVG_PR) / 2, SVG_B1 + 32);
}

static void panel_series(FILE *f, const rep_result *res)
{
    double tmax = 0, ymax = 0;
    size_t i;
    int k;
    static const struct { const char *name, *color; size_t off; } lines[] = {
        {"max", "#999", offsetof(rep_point, max_us)},
        {"p99", "#e67e22", offsetof(rep_point, p99_us)},
        {"p50", "#27ae60", offsetof(rep_point, p50_us)},
    };

    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">Latency over the "
               "run (by publish time)</text>\n", SVG_PL, SVG_T2 - 12);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#999\"/>\n", SVG_PL, SVG_T2, SVG_PR - SVG_PL, SVG_B2 - SVG_T2);
    if (res->n_series == 0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">no deliveries</text>\n", SVG_PL + 20, (SVG_T2 + SVG_B2) / 2);
        return;
    }
    for (i = 0; i < res->n_series; i++) {
        double t = res->series[i].t_s + res->series_step_s;
        if (t > tmax)
            tmax = t;
        if ((double)res->series[i].max_us > ymax)
            ymax = (double)res->series[i].max_us;
    }
    if (tmax <= 0)
        tmax = 1;
    ymax = ymax <= 0 ? 1000 : ymax * 1.1;
    for (k = 0; k <= 4; k++) {
        char v[32];
        double y = SVG_B2 - (SVG_B2 - SVG_T2) * k / 4.0;
        fmt_us(v, sizeof(v), ymax * k / 4.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", SVG_PL, y,
                SVG_PR, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                SVG_PL - 6, y + 4, v);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.3g s"
                   "</text>\n", SVG_PL + (SVG_PR - SVG_PL) * k / 4.0, SVG_B2 + 15, tmax * k / 4.0);
    }
    for (k = 0; k < 3; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"",
                lines[k].color, k == 0 ? "1" : "2");
        for (i = 0; i < res->n_series; i++) {
            const rep_point *p = &res->series[i];
            int64_t v;
            memcpy(&v, (const char *)p + lines[k].off, sizeof(v));
            fprintf(f, "%.1f,%.1f ",
                    SVG_PL + (SVG_PR - SVG_PL) * (p->t_s + res->series_step_s / 2) / tmax,
                    SVG_B2 - (SVG_B2 - SVG_T2) * (double)v / ymax);
        }
        fprintf(f, "\"/>\n");
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"%s\">%s</text>\n", SVG_PR - 120 + 40 * k,
                SVG_T2 + 16, lines[k].color, lines[k].name);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">seconds since "
               "the first publish</text>\n", (SVG_PL + SVG_PR) / 2, SVG_B2 + 32);
}

int rep_write_svg(const char *path, const rep_result *res, const char *title)
{
    FILE *f = fopen(path, "w");
    char p50[32], p99[32], mx[32];
    int rc = 0;

    if (f == NULL)
        return -1;
    fmt_us(p50, sizeof(p50), (double)res->overall.p50_us);
    fmt_us(p99, sizeof(p99), (double)res->overall.p99_us);
    fmt_us(mx, sizeof(mx), (double)res->overall.max_us);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"720\" "
               "viewBox=\"0 0 %d 720\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", SVG_W, SVG_W);
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">Pulse latency: ", SVG_PL);
    xml_text(f, title);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"50\" font-size=\"12\">%" PRIu64 " events, %" PRIu64
               " clients, expected %" PRIu64 ", received %" PRIu64 ", dropped %" PRIu64
               " (critical %" PRIu64 "), duplicates %" PRIu64 "; p50 %s, p99 %s, max %s</text>\n",
            SVG_PL, res->overall.events, res->clients_connected, res->overall.expected,
            res->overall.received, res->overall.dropped, res->critical.dropped,
            res->overall.duplicates, p50, p99, mx);
    panel_distribution(f, res);
    panel_series(f, res);
    fputs("</svg>\n", f);
    if (ferror(f))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}
