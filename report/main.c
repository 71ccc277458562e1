/*
 * main.c - pulse-report: turns a measuring run's directory (manifest.csv from
 * pulse-publish, clients.csv and deliveries*.csv from pulse-subscribe) into the delivery
 * report: expected, received, dropped, duplicates, out-of-order, and latency
 * percentiles overall, per priority and per gateway node, as text or --json, plus an SVG
 * chart (DIR/latency.svg). All the work is in repcore (rep.h); this file is flags and
 * exit codes: 0 ok, 1 when critical events were dropped (so scripts can gate on it),
 * 2 for bad usage or unreadable/malformed input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_cli.h"
#include "pulse_parse.h"
#include "rep.h"

static void usage(FILE *f)
{
    fputs("Usage: pulse-report [OPTIONS] DIR\n"
          "\n"
          "Reads DIR/manifest.csv, DIR/clients.csv and DIR/deliveries*.csv and prints the\n"
          "delivery report: counts and latency percentiles, overall, per priority, per\n"
          "node. It reads files only: no Redis, URL or key settings.\n"
          "\n"
          "Options (default in brackets):\n"
          "  -h, --help                   show this text and exit\n"
          "      --version                print the version and exit\n"
          "      --json                   print the report as JSON instead of text\n"
          "      --svg FILE               where to write the chart [DIR/latency.svg]\n"
          "      --no-svg                 do not write the chart\n"
          "      --lenient                skip malformed log lines (counted) instead of\n"
          "                               failing\n"
          "      --exact-limit N          latency samples kept for exact percentiles;\n"
          "                               beyond it HDR buckets answer within 1% [2000000]\n"
          "\n"
          "Exit status: 0 ok, 1 critical deliveries dropped, 2 bad usage or bad input.\n",
          f);
}

/* What the flags ask for besides rep_options. */
typedef struct {
    const char *dir, *svg;
    bool json, no_svg;
} rep_flags;

/* argv into opt and f. -1 to go on, else the exit status (help, version: 0; bad
 * usage: 2, message printed). */
static int parse_args(int argc, char **argv, rep_options *opt, rep_flags *f)
{
    enum { O_JSON = 256, O_SVG, O_NOSVG, O_LENIENT, O_EXACT, O_VERSION };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"svg", required_argument, NULL, O_SVG},
        {"no-svg", no_argument, NULL, O_NOSVG},
        {"lenient", no_argument, NULL, O_LENIENT},
        {"exact-limit", required_argument, NULL, O_EXACT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;

    rep_options_default(opt);
    memset(f, 0, sizeof(*f));
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_JSON: f->json = true; break;
        case O_SVG: f->svg = optarg; break;
        case O_NOSVG: f->no_svg = true; break;
        case O_LENIENT: opt->lenient = true; break;
        case O_EXACT: {
            uint64_t v;
            if (pulse_parse_u64(optarg, 1000000000ULL, &v) != 0)
                return pulse_cli_usage_error("pulse-report", "--exact-limit: '%s' is not a count",
                                             optarg);
            opt->exact_limit = (size_t)v;
            break;
        }
        default: {
            int rc = pulse_cli_common_option("pulse-report", c, O_VERSION, usage, argv);
            return rc == 1 ? 0 : rc;
        }
        }
    }
    if (optind != argc - 1)
        return pulse_cli_usage_error("pulse-report", "expected exactly one run directory");
    f->dir = argv[optind];
    return -1;
}

/* Loads the run directory and computes the report into res: 0, or 2 (message printed). */
static int load_and_compute(const rep_options *opt, const char *dir, rep_result *res)
{
    pulse_error err;
    rep_run *run = rep_run_new(opt);
    if (run == NULL) {
        fprintf(stderr, "pulse-report: out of memory\n");
        return 2;
    }
    memset(&err, 0, sizeof(err));
    if (rep_load_dir(run, dir, &err) != 0) {
        fprintf(stderr, "pulse-report: %s\n", err.text);
        rep_run_free(run);
        return 2;
    }
    if (rep_compute(run, res) != 0) {
        fprintf(stderr, "pulse-report: out of memory\n");
        rep_run_free(run);
        return 2;
    }
    rep_run_free(run);
    return 0;
}

int main(int argc, char **argv)
{
    rep_options opt;
    rep_flags f;
    rep_result res;
    const char *svg;
    char svg_default[4096];
    int rc;

    rc = parse_args(argc, argv, &opt, &f);
    if (rc >= 0)
        return rc;
    rc = load_and_compute(&opt, f.dir, &res);
    if (rc != 0)
        return rc;

    svg = f.svg;
    if (!f.no_svg) {
        if (svg == NULL) {
            snprintf(svg_default, sizeof(svg_default), "%s/latency.svg", f.dir);
            svg = svg_default;
        }
        if (rep_write_svg(svg, &res, f.dir) != 0)
            fprintf(stderr, "pulse-report: cannot write %s: %s\n", svg, strerror(errno));
    }
    rc = f.json ? rep_print_json(stdout, &res, f.dir) : rep_print_text(stdout, &res, f.dir);
    if (!f.json && !f.no_svg)
        printf("  chart: %s\n", svg);
    if (rc != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "pulse-report: cannot write the report\n");
        rep_result_free(&res);
        return 2;
    }
    rc = res.critical.dropped > 0 ? 1 : 0;
    rep_result_free(&res);
    return rc;
}
