/*
 * sub_main.c - pulse-subscribe: holds N WebSocket connections to one or more Pulse
 * gateways in ONE epoll set on one thread (sub_conn.c), and logs one line per
 * delivery (pulse_record.h format) to DIR/deliveries.csv for pulse-report.
 *
 * Files written in --out DIR:
 *   deliveries.csv  client,node,channel,event_id,sequence,event_type,published_at_us,
 *                   received_at_us,offset,recovered   (one line per delivery, written
 *                   through a 4 MiB buffer; offset 0 when the event has no history,
 *                   recovered 1 when it came from a recovery replay)
 *   clients.csv     header + client,url,node,channels(';'-separated),connected_at_us,
 *                   disconnects      (written when all are ready and again at the end;
 *                   connected_at_us is when all of the client's subscriptions were first
 *                   acknowledged, 0 if never)
 *   gaps.csv        client,node,down_at_us,up_at_us,gap_ms,attempts,reason (one line per
 *                   reconnect: when the connection dropped, when it was subscribed again,
 *                   how many connection attempts that took, and why it dropped)
 *   recoveries.csv  client,channel,down_at_us,subscribed_at_us,caught_up_at_us,
 *                   from_offset,top,recovered (one line per channel a reconnect asked to
 *                   recover with since: when the replay reached the top the gateway
 *                   announced, or when the gateway said recovered:false, recovered 0)
 *
 * Each client reconnects with &since=channel:offset:epoch,... for the channels whose
 * position it knows (events published with history), see sub_conn.c.
 *
 * Connections are spread round-robin over the --url list and opened at most
 * --connect-concurrency at a time. "pulse-subscribe ready clients=N" goes to stdout once
 * every connection has all its subscriptions acknowledged, so a script can start the
 * publisher only then. It stops after --duration, after --expect deliveries, or on
 * SIGINT/SIGTERM, always flushing its files; a summary line ends on stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_cli.h"
#include "pulse_clock.h"
#include "pulse_log.h"
#include "pulse_parse.h"
#include "pulse_url.h"
#include "sub.h"

#define SUB_TICK_MS 50
#define SUB_READ_BUFFER (256u << 10) /* one read takes up to this much from one socket */
#define SUB_EVENTS 256
#define SUB_LOG_BUFFER (4u << 20)
#define SUB_MEMO_SETS 4096u          /* 8192 envelopes indexed */
#define SUB_MEMO_RING (4u << 20)     /* ~5000 kept at 256 B: a 256 KiB read brings ~800 */

volatile sig_atomic_t sub_stop_requested;
sub_run *sub_the_run;

static void on_signal(int sig)
{
    (void)sig;
    sub_stop_requested = 1;
}

static void usage(FILE *f)
{
    fputs("Usage: pulse-subscribe --out DIR [OPTIONS]\n"
          "\n"
          "Holds N WebSocket connections to Pulse gateways and logs every delivery for\n"
          "pulse-report. Settings come from built-in defaults, then the gateway's PULSE_*\n"
          "environment variables, then flags.\n"
          "\n"
          "Options (default in brackets):\n"
          "  -h, --help                   show this text and exit\n"
          "      --version                print the version and exit\n"
          "      --url URL                ws://host:port[/path] (repeatable; clients are\n"
          "                               spread round-robin) [PULSE_URL (comma-separated),\n"
          "                               else ws://127.0.0.1:PULSE_PORT/ws, PULSE_PORT 8080]\n"
          "      --token JWT              send this token (&token=JWT) on every connection\n"
          "                               [PULSE_TOKEN, else none]\n"
          "      --out DIR                where deliveries.csv, clients.csv, gaps.csv go\n"
          "                               (created) [required]\n"
          "      --clients N              connections to hold [1]\n"
          "      --channels C,...         channels (or patterns with *) every client\n"
          "                               subscribes to [events.critical]\n"
          "      --users N                simulator: client i follows user k=(i mod N)+1,\n"
          "                               i.e. feed:user-k, notifications:user-k and\n"
          "                               events.critical [off]\n"
          "      --duration S             stop after S seconds [none]\n"
          "      --expect N               stop after N deliveries in total [none]\n"
          "      --batch                  ask the gateway to batch envelopes (?batch=1)\n"
          "      --connect-concurrency N  handshakes in flight at once [200]\n"
          "      --log-level L            error|warn|info|debug [warn]\n"
          "\n"
          "Prints \"pulse-subscribe ready clients=N\" when every subscription is\n"
          "acknowledged, and a summary line at the end.\n"
          "\n"
          "Exit status: 0 ok, 1 failure (no client ever got ready, or a log write\n"
          "failed), 2 bad usage.\n",
          f);
}

static int bad_usage(const char *what, const char *arg)
{
    return pulse_cli_usage_error("pulse-subscribe", "%s '%s'", what, arg);
}

static int add_url(sub_run *r, const char *s)
{
    pulse_url u;
    pulse_error err;
    sub_url *nu, *x;
    char *q;

    if (pulse_url_parse(s, "ws", &u, &err) != 0) {
        fprintf(stderr, "pulse-subscribe: --url: %s\n", err.text);
        return 2;
    }
    if (strcmp(u.scheme, "ws") != 0) {
        fprintf(stderr, "pulse-subscribe: --url '%s': only ws:// is supported\n", s);
        return 2;
    }
    nu = realloc(r->urls, (r->nurls + 1) * sizeof(*nu));
    if (nu == NULL) {
        fprintf(stderr, "pulse-subscribe: out of memory\n");
        abort();
    }
    r->urls = nu;
    x = &nu[r->nurls++];
    memset(x, 0, sizeof(*x));
    snprintf(x->host, sizeof(x->host), "%s", u.host);
    x->port = u.port;
    q = strchr(u.path, '?');
    if (q != NULL) {
        *q = '\0';
        snprintf(x->query, sizeof(x->query), "%s", q + 1);
    }
    snprintf(x->path, sizeof(x->path), "%s", strcmp(u.path, "/") == 0 ? "/ws" : u.path);
    /* No query in the CSV copy: queries may hold commas. */
    snprintf(x->url, sizeof(x->url), "ws://%s:%d%s", x->host, x->port, x->path);
    return 0;
}

static int check_channel_list(const char *list)
{
    const char *p = list;

    if (*p == '\0')
        return -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool pat;
        if (pulse_channel_validate_pattern(p, len, &pat) != 0)
            return -1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* A JWT is base64url parts joined by dots: nothing to escape in a query. */
static int check_token(const char *t)
{
    return t[0] != '\0' && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_.") == strlen(t) ? 0 : -1;
}

/* No --url: PULSE_URL (comma-separated), else the gateway's PULSE_PORT on loopback. */
static int add_default_urls(sub_run *r)
{
    const char *env = pulse_cli_env("PULSE_URL", NULL);
    char buf[1024];
    uint64_t port;

    if (env == NULL) {
        const char *p = pulse_cli_env("PULSE_PORT", "8080");
        if (pulse_parse_u64(p, 65535, &port) != 0 || port == 0)
            return pulse_cli_usage_error("pulse-subscribe", "PULSE_PORT: '%s' is not a port", p);
        snprintf(buf, sizeof(buf), "ws://127.0.0.1:%u/ws", (unsigned)port);
        return add_url(r, buf);
    }
    if (snprintf(buf, sizeof(buf), "%s", env) >= (int)sizeof(buf))
        return pulse_cli_usage_error("pulse-subscribe", "PULSE_URL: longer than %zu bytes",
                                     sizeof(buf) - 1);
    for (char *save = NULL, *u = strtok_r(buf, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
        if (add_url(r, u) != 0)
            return 2;
    }
    return r->nurls > 0 ? 0 : pulse_cli_usage_error("pulse-subscribe", "PULSE_URL: no URL in '%s'", env);
}

enum { O_URL = 256, O_CLIENTS, O_CHANNELS, O_USERS, O_OUT, O_DURATION, O_EXPECT, O_BATCH,
       O_CONC, O_LOG, O_TOKEN, O_VERSION };

/* One option with its value: 0, or 2 (message printed). */
static int set_option(sub_run *r, int c, const char *arg)
{
    uint64_t v;
    pulse_log_level lvl;
    char *end;

    switch (c) {
    case O_URL:
        return add_url(r, arg);
    case O_CLIENTS:
        if (pulse_parse_u64(arg, 1000000, &v) != 0 || v == 0)
            return bad_usage("--clients: not a count from 1 to 1000000:", arg);
        r->nclients = (unsigned)v;
        return 0;
    case O_CHANNELS:
        if (check_channel_list(arg) != 0)
            return bad_usage("--channels: not a comma-separated list of channels:", arg);
        r->channels = arg;
        return 0;
    case O_USERS:
        if (pulse_parse_u64(arg, 100000000, &v) != 0 || v == 0)
            return bad_usage("--users: not a positive count:", arg);
        r->users = (unsigned)v;
        return 0;
    case O_OUT: r->out_dir = arg; return 0;
    case O_DURATION:
        errno = 0;
        r->duration_s = strtod(arg, &end);
        if (errno != 0 || end == arg || *end != '\0' || !(r->duration_s > 0))
            return bad_usage("--duration: not a number of seconds:", arg);
        return 0;
    case O_EXPECT:
        if (pulse_parse_u64(arg, UINT64_MAX, &v) != 0)
            return bad_usage("--expect: not a count:", arg);
        r->expect = v;
        return 0;
    case O_BATCH: r->batch = true; return 0;
    case O_CONC:
        if (pulse_parse_u64(arg, 100000, &v) != 0 || v == 0)
            return bad_usage("--connect-concurrency: not a positive count:", arg);
        r->connect_concurrency = (unsigned)v;
        return 0;
    case O_LOG:
        if (pulse_log_level_parse(arg, &lvl) != 0)
            return bad_usage("--log-level: not error|warn|info|debug:", arg);
        pulse_log_set_level(lvl);
        return 0;
    default: /* O_TOKEN */
        /* A JWT is base64url parts joined by dots: nothing to escape in a query. */
        if (check_token(arg) != 0)
            return bad_usage("--token: not a JWT (base64url and dots):", arg);
        r->token = arg;
        return 0;
    }
}

/* After the flags: what is required, and what the environment fills in. */
static int finish_args(sub_run *r)
{
    if (r->out_dir == NULL)
        return pulse_cli_usage_error("pulse-subscribe", "--out DIR is required");
    if (r->token == NULL) {
        r->token = pulse_cli_env("PULSE_TOKEN", NULL);
        if (r->token != NULL && check_token(r->token) != 0)
            return pulse_cli_usage_error("pulse-subscribe", "PULSE_TOKEN: not a JWT (base64url and dots)");
    }
    if (r->nurls == 0)
        return add_default_urls(r);
    return 0;
}

/* Parses argv into r (flags over PULSE_* environment over defaults). Returns 0, 1 for
 * --help/--version (already printed) or 2 (message printed). */
static int parse_args(int argc, char **argv, sub_run *r)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"channels", required_argument, NULL, O_CHANNELS},
        {"users", required_argument, NULL, O_USERS},
        {"out", required_argument, NULL, O_OUT},
        {"duration", required_argument, NULL, O_DURATION},
        {"expect", required_argument, NULL, O_EXPECT},
        {"batch", no_argument, NULL, O_BATCH},
        {"connect-concurrency", required_argument, NULL, O_CONC},
        {"log-level", required_argument, NULL, O_LOG},
        {"token", required_argument, NULL, O_TOKEN},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    r->nclients = 1;
    r->channels = "events.critical";
    r->connect_concurrency = 200;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        rc = pulse_cli_common_option("pulse-subscribe", c, O_VERSION, usage, argv);
        if (rc == 0)
            rc = set_option(r, c, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return bad_usage("unexpected argument", argv[optind]);
    return finish_args(r);
}

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "pulse-subscribe: out of memory\n");
        abort();
    }
    return s;
}

static void setup_clients(sub_run *r)
{
    unsigned i;

    r->clients = calloc(r->nclients, sizeof(*r->clients));
    if (r->clients == NULL) {
        fprintf(stderr, "pulse-subscribe: out of memory for %u clients\n", r->nclients);
        abort();
    }
    for (i = 0; i < r->nclients; i++) {
        sub_client *c = &r->clients[i];
        sub_url *u = &r->urls[i % r->nurls];
        char *list;
        c->id = i;
        c->fd = -1;
        c->url = u;
        if (r->users > 0) {
            unsigned k = i % r->users + 1;
            list = xstrdup_printf("feed:user-%u,notifications:user-%u,events.critical", k, k);
        } else {
            list = xstrdup_printf("%s", r->channels);
        }
        c->path = xstrdup_printf("%s?%s%schannels=%s%s%s%s", u->path, u->query,
                                 u->query[0] ? "&" : "", list, r->batch ? "&batch=1" : "",
                                 r->token ? "&token=" : "", r->token ? r->token : "");
        c->nchannels = 1;
        for (char *p = list; *p; p++) {
            if (*p == ',') {
                *p = ';';
                c->nchannels++;
            }
        }
        c->channels = list;
        c->chans = pulse_xcalloc(c->nchannels, sizeof(*c->chans));
        {
            unsigned k = 0;
            for (char *p = list; k < c->nchannels; k++) {
                char *semi = strchr(p, ';');
                size_t n = semi ? (size_t)(semi - p) : strlen(p);
                sub_chan *ch = &c->chans[k];
                snprintf(ch->name, sizeof(ch->name), "%.*s", (int)n, p);
                ch->exact = memchr(p, '*', n) == NULL;
                p = semi ? semi + 1 : p + n;
            }
        }
    }
}

/* Raises the soft fd limit to what N connections need; 0, or -1 with a message. */
static int raise_nofile(unsigned nclients)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)nclients + 128;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "pulse-subscribe: getrlimit: %s\n", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        fprintf(stderr,
                "pulse-subscribe: cannot hold %u connections: the file-descriptor limit is "
                "%llu (hard); raise it (ulimit -Hn, or run as root) or use fewer --clients\n",
                nclients, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "pulse-subscribe: cannot raise the file-descriptor limit to %llu: %s\n",
                (unsigned long long)want, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_tick(sub_run *r)
{
    int64_t now = pulse_mono_ms();

    if (sub_stop_requested && !r->stopping) {
        r->stopping = true;
        r->stop_reason = "signal";
    }
    if (r->duration_s > 0 && now - r->start_ms >= (int64_t)(r->duration_s * 1000) && !r->stopping) {
        r->stopping = true;
        r->stop_reason = "duration reached";
    }
    sub_conn_kick(r);
    if (now - r->last_progress_ms >= 1000) {
        double secs = (double)(now - r->last_progress_ms) / 1000.0;
        if (r->progress)
            fprintf(stderr,
                    "pulse-subscribe: open=%u/%u ready=%u connecting=%u failed=%u "
                    "received=%" PRIu64 " (%.0f/s)\n",
                    r->open_count, r->nclients, r->ready_count, r->connecting, r->failed_connects,
                    r->total_deliveries,
                    (double)(r->total_deliveries - r->last_progress_deliveries) / secs);
        r->last_progress_ms = now;
        r->last_progress_deliveries = r->total_deliveries;
        /* Keep the log at most about a second behind, for people tailing it. */
        if (r->deliveries.len > 0)
            sub_out_flush(&r->deliveries);
        if (r->gaps != NULL)
            fflush(r->gaps);
        if (r->recoveries != NULL)
            fflush(r->recoveries);
    }
}

/* Waits for sockets and runs the tick every SUB_TICK_MS until the run stops. */
static void run_loop(sub_run *r)
{
    struct epoll_event ev[SUB_EVENTS];
    int64_t next_tick = pulse_mono_ms();

    while (!r->stopping) {
        int64_t now = pulse_mono_ms();
        int n, wait_ms;

        if (now >= next_tick) {
            on_tick(r);
            next_tick = now + SUB_TICK_MS;
            if (r->stopping)
                break;
        }
        wait_ms = (int)(next_tick - now);
        n = epoll_wait(r->epfd, ev, SUB_EVENTS, wait_ms < 0 ? 0 : wait_ms);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "pulse-subscribe: epoll_wait: %s\n", strerror(errno));
            r->stop_reason = NULL;
            break;
        }
        for (int i = 0; i < n && !r->stopping; i++)
            sub_conn_event(r, ev[i].data.ptr, ev[i].events);
    }
}

/* out_dir/name for writing, or NULL (message printed). */
static FILE *open_csv(const sub_run *r, const char *name)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", r->out_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "pulse-subscribe: cannot create %s: %s\n", path, strerror(errno));
    return f;
}

/* The output directory and its files: 0, or 1 (message printed). */
static int open_outputs(sub_run *r)
{
    char path[1100];
    if (mkdir(r->out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "pulse-subscribe: cannot create %s: %s\n", r->out_dir, strerror(errno));
        return 1;
    }
    if (raise_nofile(r->nclients) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/deliveries.csv", r->out_dir);
    if (sub_out_open(&r->deliveries, path, SUB_LOG_BUFFER) != 0) {
        fprintf(stderr, "pulse-subscribe: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    r->gaps = open_csv(r, "gaps.csv");
    if (r->gaps == NULL)
        return 1;
    r->recoveries = open_csv(r, "recoveries.csv");
    return r->recoveries == NULL ? 1 : 0;
}

/* Signals, the epoll set and the read buffer: 0, or 1 (message printed). */
static int start_loop(sub_run *r)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        fprintf(stderr, "pulse-subscribe: sigaction: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)pulse_now_us());

    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) {
        fprintf(stderr, "pulse-subscribe: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    r->rbuf_cap = SUB_READ_BUFFER;
    r->rbuf = pulse_xmalloc(r->rbuf_cap);
    if (sub_memo_init(&r->memo, SUB_MEMO_SETS, SUB_MEMO_RING) != 0) {
        fprintf(stderr, "pulse-subscribe: bad memo size\n");
        return 1;
    }
    return 0;
}

/* Flushes and closes the files and writes clients.csv: 0, or 1 when one failed.
 * Flush first: a slow teardown must not lose what was received. */
static int close_outputs(sub_run *r)
{
    int exit_code = 0;
    if (sub_out_close(&r->deliveries) != 0)
        exit_code = 1;
    if (fclose(r->gaps) != 0)
        exit_code = 1;
    r->gaps = NULL;
    if (fclose(r->recoveries) != 0)
        exit_code = 1;
    r->recoveries = NULL;
    if (sub_write_clients_csv(r) != 0) {
        fprintf(stderr, "pulse-subscribe: cannot write %s/clients.csv\n", r->out_dir);
        exit_code = 1;
    }
    return exit_code;
}

/* The summary line on stdout; 1 when no connection was ever ready, else 0. */
static int print_summary(const sub_run *r)
{
    printf("pulse-subscribe: clients=%u ready=%u deliveries=%" PRIu64 " frames=%" PRIu64
           " bad_frames=%" PRIu64
           " gateway_errors=%" PRIu64 " disconnects=%" PRIu64 " failed_connects=%u"
           " recovered=%" PRIu64 " recoveries=%" PRIu64 " recoveries_failed=%" PRIu64
           " elapsed=%.3fs stop=%s\n",
           r->nclients, r->ready_count, r->total_deliveries, r->total_frames, r->bad_frames,
           r->server_errors,
           r->total_disconnects, r->failed_connects, r->recovered_deliveries, r->recoveries_ok,
           r->recoveries_failed,
           (double)(pulse_mono_ms() - r->start_ms) / 1000.0,
           r->stop_reason ? r->stop_reason : "service error");
    if (r->ready_count == 0) {
        fprintf(stderr, "pulse-subscribe: no connection was ever ready (%u attempts failed)\n",
                r->failed_connects);
        return 1;
    }
    if (r->ready_count < r->nclients)
        fprintf(stderr, "pulse-subscribe: only %u of %u connections were ever ready\n",
                r->ready_count, r->nclients);
    return 0;
}

static void free_clients(sub_run *r)
{
    for (unsigned i = 0; i < r->nclients; i++) {
        sub_conn_close(&r->clients[i]);
        free(r->clients[i].in);
        free(r->clients[i].path);
        free(r->clients[i].channels);
        free(r->clients[i].msg);
        free(r->clients[i].chans);
        free(r->clients[i].conn_path);
    }
    free(r->clients);
    free(r->urls);
}

int main(int argc, char **argv)
{
    static sub_run run;
    sub_run *r = &run;
    int rc, exit_code;

    pulse_log_set_level(PULSE_LOG_WARN);
    rc = parse_args(argc, argv, r);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;
    sub_the_run = r;

    if (open_outputs(r) != 0)
        return 1;
    setup_clients(r);
    if (start_loop(r) != 0)
        return 1;
    r->progress = isatty(2);
    r->start_ms = pulse_mono_ms();
    r->last_progress_ms = r->start_ms;
    run_loop(r);

    exit_code = close_outputs(r);
    r->stopping = true;
    if (print_summary(r) != 0)
        exit_code = 1;
    fflush(stdout);
    free_clients(r);
    free(r->rbuf);
    sub_memo_free(&r->memo);
    close(r->epfd);
    return exit_code;
}
