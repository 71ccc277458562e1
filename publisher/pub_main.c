/*
 * pub_main.c - pulse-publish: writes Pulse events (the schema in docs/PROTOCOL.md) to
 * Redis through the history function (FCALL pulse_publish, see libpulse/pulse_functions.h;
 * plain PUBLISH with --raw), or to a gateway's admin POST /publish with --http, and
 * records every event Redis accepted in a manifest (pulse_record.h format, with the
 * offset the function answered) so pulse-report can tell what each subscriber should
 * have received. One thread; everything here is main's.
 *
 * The function library is loaded by the gateways; pulse-publish asks for pulse_version
 * first and loads the library itself (FUNCTION LOAD, never REPLACE, so a gateway's rules
 * always win) only when Redis answers that the function does not exist. --history-size
 * and --history-ttl are passed as explicit FCALL arguments, so they apply to this run's
 * events only; the library it loads has them as rules for its channels, then the
 * built-in rules.
 *
 * Pacing follows an absolute schedule: event i is due at start + i/rate (or, with
 * --spike, at the previous due time plus the period of the rate in force then), and the
 * publisher sleeps with clock_nanosleep(TIMER_ABSTIME) until that instant. A late send
 * therefore never shifts the following ones (no sleep-after-send drift). published_at_us
 * is read right before the event is formatted and written. With --rate 0 events go out
 * as fast as possible, pipelined: the Redis connection never waits for replies except
 * to keep at most PUB_WINDOW of them outstanding.
 *
 * Simulator mode (--mix) draws each event from the default mix: 70% PostCreated
 * (normal, feed:user-<k>), 20% Notification (normal, notifications:user-<k>), 10%
 * SystemAlert (critical, events.critical), k uniform in 1..--users.
 *
 * The summary says via=fcall last_offset=N (the last offset pulse_publish answered).
 * With --raw it says via=redis redis_deliveries=N, the sum of PUBLISH replies: how many
 * Redis subscriptions (one per gateway node and channel or pattern) took each event. It
 * counts nodes times events, not WebSocket clients.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pub_cluster.h"
#include "pub_http.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_cli.h"
#include "pulse_clock.h"
#include "pulse_err.h"
#include "pulse_event.h"
#include "pulse_functions.h"
#include "pulse_parse.h"
#include "pulse_record.h"
#include "pulse_url.h"
#include "pulse_uuid.h"

#define PUB_WINDOW 1024        /* most PUBLISH replies left unread */
#define PUB_FLUSH_EVERY 32     /* events per write(2) at --rate 0 */
#define PUB_MAX_PAYLOAD (512 * 1024)
#define PUB_CLUSTER_RETRY_MS 15000 /* a failover takes node timeout + election */
#define PUB_RING (PUB_WINDOW + 2) /* manifest records waiting for their reply */

typedef struct {
    const char *type;
    const char *source;
    const char *channel;
    const char *redis_url;
    const char *http_url;
    const char *manifest;
    const char *api_key;     /* --http: admin bearer key */
    pulse_priority priority; /* UNSET: from the channel */
    uint64_t count;          /* 0: unbounded (then --duration bounds it) */
    double rate;             /* events/s, 0 = as fast as possible */
    double duration_s;       /* 0: none */
    size_t payload_bytes;
    bool mix;
    unsigned users;
    double spike_factor, spike_secs, spike_every; /* factor 0 = no spikes */
    uint64_t seed;
    bool quiet;
    bool raw;                /* plain PUBLISH: no offset, no history */
    bool history_given;      /* --history-size or --history-ttl */
    uint32_t history_size, history_ttl_s;
    uint64_t first_sequence; /* the first event's sequence (default 1) */
} pub_opts;

typedef struct {
    redisContext *redis;
    pub_cluster *cluster;  /* redis+cluster:// (then redis is NULL) */
    pub_http http;
    char http_path[512];
    FILE *manifest;
    uint64_t pending;      /* replies not read yet */
    uint64_t sent, failed;
    long long redis_deliveries; /* --raw: sum of PUBLISH replies, subscriptions reached */
    uint64_t last_offset;  /* the last offset FCALL answered */
    uint64_t rng;
    /* Redis: the manifest record of each command in flight, written when its reply
     * says the event was accepted (with its offset). */
    pulse_manifest_rec *ring;
    size_t ring_head;
} pub_state;

static volatile sig_atomic_t pub_stop;

static void pub_on_signal(int sig)
{
    (void)sig;
    pub_stop = 1;
}

static void usage(FILE *f)
{
    fputs("Usage: pulse-publish [OPTIONS]\n"
          "\n"
          "Publishes Pulse events to Redis (or through a gateway's admin API) and records\n"
          "them in a manifest for pulse-report. Through Redis each event goes out as\n"
          "FCALL pulse_publish (history: the channel's next offset), loading the function\n"
          "library when Redis has none. Settings come from built-in defaults, then the\n"
          "gateway's PULSE_* environment variables, then flags.\n"
          "\n"
          "Options (default in brackets):\n"
          "  -h, --help                   show this text and exit\n"
          "      --version                print the version and exit\n"
          "      --redis URL              redis://[[user]:password@]host[:port][/db], or\n"
          "                               redis+cluster://host:port[,host:port...] (Redis Cluster:\n"
          "                               each event to its channel's primary, SPUBLISH with --raw)\n"
          "                               [PULSE_REDIS, else redis://127.0.0.1:6379]\n"
          "      --http URL               publish through a gateway's admin POST /publish\n"
          "                               instead, e.g. http://127.0.0.1:9090/publish [off]\n"
          "      --api-key KEY            with --http: the admin key, sent as\n"
          "                               \"Authorization: Bearer KEY\" [PULSE_ADMIN_API_KEY]\n"
          "      --raw                    plain PUBLISH instead of FCALL pulse_publish (no\n"
          "                               offset, no history: live delivery only) [off]\n"
          "      --history-size N         keep N events of history for this run's events\n"
          "                               (explicit FCALL arguments) [the channel rules in\n"
          "                               Redis; 1000 when only --history-ttl is given]\n"
          "      --history-ttl S          and keep them S seconds [86400 with\n"
          "                               --history-size]\n"
          "      --channel C              channel [events.critical]\n"
          "      --type T                 event_type [SERVER_DOWN]\n"
          "      --source S               source [server-a]\n"
          "      --count N                events to publish [10; with --duration: no limit]\n"
          "      --first-sequence N       number the events from N, to continue a run [1]\n"
          "      --priority P             critical|normal [events.critical and alerts.* are\n"
          "                               critical, other channels normal]\n"
          "      --rate N                 events per second, evenly paced [0 = as fast as\n"
          "                               possible, pipelined]\n"
          "      --duration S             stop after S seconds (with --rate or --mix) [none]\n"
          "      --payload-bytes N        pad the event's data to about N bytes [0]\n"
          "      --manifest FILE          write one line per event Redis accepted:\n"
          "                               event_id,sequence,channel,priority,\n"
          "                               published_at_us,offset (offset 0 with --raw,\n"
          "                               --http or a channel without history) [none]\n"
          "      --mix                    simulator: 70% PostCreated to feed:user-<k>, 20%\n"
          "                               Notification to notifications:user-<k>, 10%\n"
          "                               SystemAlert to events.critical [off]\n"
          "      --users N                users k=1..N for --mix [100]\n"
          "      --spike F:S:E            every E seconds, multiply the rate by F for S\n"
          "                               seconds [off]\n"
          "      --seed N                 random seed for --mix [from the clock]\n"
          "      --quiet                  no summary line\n"
          "\n"
          "Prints one summary line on stdout: sent, failed, elapsed, rate, then through\n"
          "FCALL via=fcall last_offset (the last offset Redis gave), with --raw via=redis\n"
          "redis_deliveries (the sum of PUBLISH replies: gateway nodes reached times events,\n"
          "not clients), with --http via=http.\n"
          "\n"
          "Exit status: 0 every event published, 1 failure (Redis or the gateway refused\n"
          "or could not be reached, the manifest could not be written), 2 bad usage.\n",
          f);
}

static int bad_usage(const char *fmt, const char *arg)
{
    return pulse_cli_usage_error("pulse-publish", fmt, arg);
}

static int parse_spike(const char *s, pub_opts *o)
{
    char buf[128], *a, *b;

    if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
        return -1;
    a = strchr(buf, ':');
    if (a == NULL)
        return -1;
    *a++ = '\0';
    b = strchr(a, ':');
    if (b == NULL)
        return -1;
    *b++ = '\0';
    if (pulse_parse_double(buf, 0.01, 1e6, &o->spike_factor) != 0 ||
        pulse_parse_double(a, 0.001, 1e6, &o->spike_secs) != 0 ||
        pulse_parse_double(b, 0.001, 1e6, &o->spike_every) != 0 || o->spike_secs > o->spike_every)
        return -1;
    return 0;
}

enum { O_TYPE = 256, O_SOURCE, O_COUNT, O_CHANNEL, O_PRIO, O_RATE, O_DURATION, O_PAYLOAD,
       O_REDIS, O_HTTP, O_MANIFEST, O_MIX, O_USERS, O_SPIKE, O_SEED, O_QUIET, O_APIKEY,
       O_RAW, O_HSIZE, O_HTTL, O_FIRSTSEQ, O_VERSION };

/* Which defaults the flags replaced (the checks after the flags depend on it). */
typedef struct {
    bool count, size;
} pub_given;

static void set_defaults(pub_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->type = "SERVER_DOWN";
    o->source = "server-a";
    o->channel = "events.critical";
    o->redis_url = pulse_cli_env("PULSE_REDIS", "redis://127.0.0.1:6379");
    o->count = 10;
    o->users = 100;
    o->first_sequence = 1;
    o->seed = (uint64_t)pulse_now_us();
    o->api_key = pulse_cli_env("PULSE_ADMIN_API_KEY", NULL);
}

/* One option (O_TYPE..O_FIRSTSEQ) with its value: 0, or 2 (message printed). */
static int set_option(pub_opts *o, int c, char *arg, pub_given *g)
{
    uint64_t v;

    switch (c) {
    case O_TYPE: o->type = arg; return 0;
    case O_SOURCE: o->source = arg; return 0;
    case O_COUNT:
        if (pulse_parse_u64(arg, UINT32_MAX * 16ULL, &o->count) != 0)
            return bad_usage("--count: '%s' is not a count", arg);
        g->count = true;
        return 0;
    case O_CHANNEL: o->channel = arg; return 0;
    case O_PRIO:
        o->priority = pulse_priority_parse(arg, strlen(arg));
        if (o->priority == PULSE_PRIO_UNSET)
            return bad_usage("--priority: '%s' is not critical or normal", arg);
        return 0;
    case O_RATE:
        if (pulse_parse_double(arg, 0, 1e7, &o->rate) != 0)
            return bad_usage("--rate: '%s' is not a rate in events/s", arg);
        return 0;
    case O_DURATION:
        if (pulse_parse_double(arg, 0.001, 1e7, &o->duration_s) != 0)
            return bad_usage("--duration: '%s' is not a number of seconds", arg);
        return 0;
    case O_PAYLOAD:
        if (pulse_parse_u64(arg, PUB_MAX_PAYLOAD, &v) != 0)
            return bad_usage("--payload-bytes: '%s' is not a size up to 524288", arg);
        o->payload_bytes = (size_t)v;
        return 0;
    case O_REDIS: o->redis_url = arg; return 0;
    case O_HTTP: o->http_url = arg; return 0;
    case O_MANIFEST: o->manifest = arg; return 0;
    case O_MIX: o->mix = true; return 0;
    case O_USERS:
        if (pulse_parse_u64(arg, 100000000, &v) != 0 || v == 0)
            return bad_usage("--users: '%s' is not a positive count", arg);
        o->users = (unsigned)v;
        return 0;
    case O_SPIKE:
        if (parse_spike(arg, o) != 0)
            return bad_usage("--spike: '%s' is not FACTOR:SECONDS:EVERY", arg);
        return 0;
    case O_SEED:
        if (pulse_parse_u64(arg, UINT64_MAX, &o->seed) != 0)
            return bad_usage("--seed: '%s' is not a number", arg);
        return 0;
    case O_QUIET: o->quiet = true; return 0;
    case O_APIKEY:
        if (arg[0] == '\0' || strpbrk(arg, "\r\n") != NULL)
            return bad_usage("--api-key: '%s' is empty or spans lines", "(hidden)");
        o->api_key = arg;
        return 0;
    case O_RAW: o->raw = true; return 0;
    case O_FIRSTSEQ:
        if (pulse_parse_u64(arg, UINT64_MAX / 2, &o->first_sequence) != 0)
            return bad_usage("--first-sequence: '%s' is not a number", arg);
        return 0;
    case O_HSIZE:
        if (pulse_parse_u64(arg, PULSE_HISTORY_MAX_SIZE, &v) != 0)
            return bad_usage("--history-size: '%s' is not a count up to 10000000", arg);
        o->history_size = (uint32_t)v;
        o->history_given = g->size = true;
        return 0;
    case O_HTTL:
        if (pulse_parse_u64(arg, PULSE_HISTORY_MAX_TTL_S, &v) != 0 || v == 0)
            return bad_usage("--history-ttl: '%s' is not 1..31536000 seconds", arg);
        o->history_ttl_s = (uint32_t)v;
        o->history_given = true;
        return 0;
    default:
        return 0;
    }
}

/* After the flags: combinations and the values the flags leave to be derived. */
static int finish_args(pub_opts *o, const pub_given *g)
{
    if (o->duration_s > 0 && !g->count)
        o->count = 0;
    if (o->count == 0 && o->duration_s <= 0)
        return bad_usage("%s", "--count 0 needs --duration");
    if (strlen(o->type) == 0 || strlen(o->type) > PULSE_EVENT_TYPE_MAX || strchr(o->type, ',') ||
        strchr(o->type, '"') || strchr(o->type, '\\'))
        return bad_usage("--type: '%s' must be 1..64 characters without , \" or \\", o->type);
    if (strlen(o->source) > PULSE_SOURCE_MAX || strchr(o->source, '"') || strchr(o->source, '\\'))
        return bad_usage("--source: '%s' must be up to 128 characters without \" or \\", o->source);
    if (pulse_channel_validate(o->channel, strlen(o->channel)) != 0)
        return bad_usage("--channel: '%s' is not a channel name ([A-Za-z0-9._:@-], 1..128)",
                         o->channel);
    if (o->spike_factor > 0 && o->rate <= 0)
        return bad_usage("%s", "--spike needs --rate");
    if (o->history_given && (o->raw || o->http_url != NULL))
        return bad_usage("%s", "--history-size/--history-ttl need Redis without --raw");
    if (o->history_given && o->history_ttl_s == 0)
        o->history_ttl_s = PULSE_HISTORY_DEFAULT_TTL_S;
    if (o->history_given && !g->size)
        o->history_size = PULSE_HISTORY_DEFAULT_SIZE;
    return 0;
}

/* Parses argv into o (flags over PULSE_* environment over defaults). Returns 0, 1 for
 * --help/--version (already printed) or 2 (message printed). */
static int parse_args(int argc, char **argv, pub_opts *o)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, O_TYPE},
        {"source", required_argument, NULL, O_SOURCE},
        {"count", required_argument, NULL, O_COUNT},
        {"channel", required_argument, NULL, O_CHANNEL},
        {"priority", required_argument, NULL, O_PRIO},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"payload-bytes", required_argument, NULL, O_PAYLOAD},
        {"redis", required_argument, NULL, O_REDIS},
        {"http", required_argument, NULL, O_HTTP},
        {"manifest", required_argument, NULL, O_MANIFEST},
        {"mix", no_argument, NULL, O_MIX},
        {"users", required_argument, NULL, O_USERS},
        {"spike", required_argument, NULL, O_SPIKE},
        {"seed", required_argument, NULL, O_SEED},
        {"quiet", no_argument, NULL, O_QUIET},
        {"api-key", required_argument, NULL, O_APIKEY},
        {"raw", no_argument, NULL, O_RAW},
        {"first-sequence", required_argument, NULL, O_FIRSTSEQ},
        {"history-size", required_argument, NULL, O_HSIZE},
        {"history-ttl", required_argument, NULL, O_HTTL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    pub_given g = {false, false};
    int c, rc;

    set_defaults(o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        rc = pulse_cli_common_option("pulse-publish", c, O_VERSION, usage, argv);
        if (rc == 0)
            rc = set_option(o, c, optarg, &g);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    return finish_args(o, &g);
}

/* xorshift64*: small, seedable, good enough to pick event kinds and users. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* The rate in force at t seconds after the start (spikes on top of the base rate). */
static double rate_at(const pub_opts *o, double t)
{
    if (o->spike_factor > 0 && o->spike_every > 0) {
        double phase = t - o->spike_every * (double)(int64_t)(t / o->spike_every);
        if (phase < o->spike_secs)
            return o->rate * o->spike_factor;
    }
    return o->rate;
}

static void sleep_until_ns(int64_t due_ns)
{
    struct timespec ts = {.tv_sec = due_ns / 1000000000, .tv_nsec = due_ns % 1000000000};
    while (!pub_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int manifest_write(pub_state *st, const pulse_manifest_rec *m)
{
    char line[512];
    int n;

    if (st->manifest == NULL)
        return 0;
    n = pulse_manifest_rec_format(m, line, sizeof(line));
    if (n < 0 || fwrite(line, 1, (size_t)n, st->manifest) != (size_t)n) {
        fprintf(stderr, "pulse-publish: cannot write the manifest: %s\n",
                n < 0 ? pulse_strerror(n) : strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads the oldest outstanding reply; an accepted event goes to the manifest with the
 * offset FCALL answered (0 for --raw, whose integer is the receiver count). */
static int redis_read_one(const pub_opts *o, pub_state *st)
{
    redisReply *r = NULL;
    pulse_manifest_rec *m = &st->ring[st->ring_head];
    int rc = 0;

    if (redisGetReply(st->redis, (void **)&r) != REDIS_OK || r == NULL) {
        fprintf(stderr, "pulse-publish: redis: %s\n",
                st->redis->errstr[0] ? st->redis->errstr : "connection lost");
        return -1;
    }
    st->pending--;
    st->ring_head = (st->ring_head + 1) % PUB_RING;
    if (r->type == REDIS_REPLY_INTEGER) {
        if (o->raw) {
            st->redis_deliveries += r->integer;
        } else {
            m->offset = r->integer > 0 ? (uint64_t)r->integer : 0;
            if (m->offset > 0)
                st->last_offset = m->offset;
        }
        rc = manifest_write(st, m);
    } else {
        if (st->failed == 0)
            fprintf(stderr, "pulse-publish: %s failed: %s\n", o->raw ? "PUBLISH" : "FCALL",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        st->failed++;
        st->sent--;
    }
    freeReplyObject(r);
    return rc;
}

/* The library when Redis has none: this run's --history-* for its channels, then the
 * built-in rules. FUNCTION LOAD without REPLACE: a library a gateway loaded meanwhile
 * stays. 0, or 1 with a message. */
static char *library_source(const pub_opts *o, bool sharded, char *version)
{
    pulse_history_rule rules[8];
    size_t n = 0, nd;
    const pulse_history_rule *d = pulse_history_default_rules(&nd);
    char *src = NULL;
    pulse_error err;

    if (o->history_given) {
        static const char *const mix[] = {"feed:user-*", "notifications:user-*",
                                          "events.critical"};
        for (size_t i = 0; i < (o->mix ? 3u : 1u); i++) {
            rules[n].pattern = o->mix ? mix[i] : o->channel;
            rules[n].history_size = o->history_size;
            rules[n++].history_ttl_s = o->history_ttl_s;
        }
    }
    for (size_t i = 0; i < nd; i++)
        rules[n++] = d[i];
    if (pulse_functions_source_for(rules, n, sharded, &src, version, &err) != 0)
        fprintf(stderr, "pulse-publish: cannot build the function library: %s\n", err.text);
    return src;
}

static int load_library(const pub_opts *o, pub_state *st)
{
    char version[PULSE_FN_VERSION_MAX];
    char *src = library_source(o, false, version);
    redisReply *r;
    int rc = 0;

    if (src == NULL)
        return 1;
    r = redisCommand(st->redis, "FUNCTION LOAD %s", src);
    free(src);
    if (r == NULL || (r->type == REDIS_REPLY_ERROR && strstr(r->str, "already exists") == NULL)) {
        fprintf(stderr, "pulse-publish: FUNCTION LOAD failed: %s\n",
                r ? r->str : st->redis->errstr);
        rc = 1;
    } else if (!o->quiet) {
        fprintf(stderr, "pulse-publish: loaded the Redis function library %s (version %s)\n",
                PULSE_FN_LIBRARY, version);
    }
    freeReplyObject(r);
    return rc;
}

/* Is the history function there? Loads the library when Redis says it is not. */
static int ensure_library(const pub_opts *o, pub_state *st)
{
    redisReply *r = redisCommand(st->redis, "FCALL_RO %s 0", PULSE_FN_VERSION);
    int rc = 0;

    if (r == NULL) {
        fprintf(stderr, "pulse-publish: redis: %s\n", st->redis->errstr);
        return 1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "Function not found") != NULL) {
            rc = load_library(o, st);
        } else {
            fprintf(stderr, "pulse-publish: Redis cannot run the history function (%s); "
                            "Redis 7 is needed, or use --raw\n", r->str);
            rc = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int redis_flush(pub_state *st)
{
    int done = 0;

    do {
        if (redisBufferWrite(st->redis, &done) != REDIS_OK) {
            fprintf(stderr, "pulse-publish: redis: %s\n", st->redis->errstr);
            return -1;
        }
    } while (!done);
    return 0;
}

static int redis_open(const pub_opts *o, pub_state *st)
{
    pulse_url u;
    pulse_error err;
    struct timeval tv = {.tv_sec = 5};
    redisReply *r;

    if (pulse_url_is_cluster(o->redis_url)) {
        char version[PULSE_FN_VERSION_MAX];
        char *src = o->raw ? NULL : library_source(o, true, version);
        if (!o->raw && src == NULL)
            return 1;
        st->cluster = pub_cluster_open(o->redis_url, src, PUB_CLUSTER_RETRY_MS, &err);
        free(src);
        if (st->cluster == NULL) {
            fprintf(stderr, "pulse-publish: --redis: %s\n", err.text);
            return 1;
        }
        return 0;
    }
    if (pulse_url_parse(o->redis_url, "redis", &u, &err) != 0) {
        fprintf(stderr, "pulse-publish: --redis: %s\n", err.text);
        return 2;
    }
    st->redis = redisConnectWithTimeout(u.host, u.port, tv);
    if (st->redis == NULL || st->redis->err) {
        fprintf(stderr, "pulse-publish: cannot connect to Redis at %s:%d: %s\n", u.host, u.port,
                st->redis ? st->redis->errstr : "out of memory");
        return 1;
    }
    if (redisSetTimeout(st->redis, tv) != REDIS_OK) {
        fprintf(stderr, "pulse-publish: cannot set the Redis timeout\n");
        return 1;
    }
    if (u.password[0] != '\0') {
        r = redisCommand(st->redis, "AUTH %s", u.password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "pulse-publish: Redis AUTH failed: %s\n",
                    r ? r->str : st->redis->errstr);
            freeReplyObject(r);
            return 1;
        }
        freeReplyObject(r);
    }
    return 0;
}

static int http_open(const pub_opts *o, pub_state *st)
{
    pulse_url u;
    pulse_error err;

    if (pulse_url_parse(o->http_url, "http", &u, &err) != 0) {
        fprintf(stderr, "pulse-publish: --http: %s\n", err.text);
        return 2;
    }
    if (strcmp(u.scheme, "http") != 0) {
        fprintf(stderr, "pulse-publish: --http: only http:// is supported\n");
        return 2;
    }
    pub_http_init(&st->http, u.host, u.port, 5000);
    if (o->api_key != NULL) {
        static char auth[1024];
        const char *key = o->api_key;
        if (snprintf(auth, sizeof(auth), "Bearer %s", key) >= (int)sizeof(auth) ||
            strpbrk(key, "\r\n") != NULL) {
            fprintf(stderr, "pulse-publish: the admin API key is too long or spans lines\n");
            return 2;
        }
        st->http.authorization = auth;
    }
    snprintf(st->http_path, sizeof(st->http_path), "%s",
             strcmp(u.path, "/") == 0 ? "/publish" : u.path);
    return 0;
}

/* Builds the "data" member: the user for --mix, plus padding to payload_bytes. */
static int build_data(const pub_opts *o, unsigned user, char *buf, size_t cap)
{
    int n;
    size_t pad;

    if (user > 0)
        n = snprintf(buf, cap, "{\"user\":\"user-%u\"", user);
    else
        n = snprintf(buf, cap, "{");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (o->payload_bytes > (size_t)n + 10) {
        pad = o->payload_bytes - (size_t)n - 10;
        if ((size_t)n + pad + 16 > cap)
            return -1;
        n += snprintf(buf + n, cap - (size_t)n, "%s\"pad\":\"", user > 0 ? "," : "");
        memset(buf + n, 'x', pad);
        n += (int)pad;
        buf[n++] = '"';
    }
    if ((size_t)n + 2 > cap)
        return -1;
    buf[n++] = '}';
    buf[n] = '\0';
    return n;
}

/* What one event is made of: where it goes and what kind it is. */
typedef struct {
    char channel[PULSE_CHANNEL_MAX + 1];
    const char *type;
    unsigned user; /* --mix: the user it is about; 0 otherwise */
    pulse_priority prio;
} pub_pick;

/* Pacing phase: waits until the next event is due. false when the run is over (the
 * duration ran out, or a signal came). */
static bool pub_wait_turn(const pub_opts *o, int64_t start_ns, int64_t end_ns, double *due_ns)
{
    if (pub_stop)
        return false;
    if (o->rate <= 0)
        return pulse_mono_ns() < end_ns;
    if ((int64_t)*due_ns >= end_ns)
        return false;
    sleep_until_ns((int64_t)*due_ns);
    if (pub_stop)
        return false;
    *due_ns += 1e9 / rate_at(o, (*due_ns - (double)start_ns) / 1e9);
    return true;
}

/* Choice phase: the channel, type and priority of the next event (--mix draws them). */
static void pub_choose(const pub_opts *o, pub_state *st, pub_pick *p)
{
    snprintf(p->channel, sizeof(p->channel), "%s", o->channel);
    p->type = o->type;
    p->user = 0;
    p->prio = o->priority;
    if (o->mix) {
        uint64_t r = rng_next(&st->rng) % 100;
        p->user = (unsigned)(rng_next(&st->rng) % o->users) + 1;
        p->prio = PULSE_PRIO_NORMAL;
        if (r < 70) {
            p->type = "PostCreated";
            snprintf(p->channel, sizeof(p->channel), "feed:user-%u", p->user);
        } else if (r < 90) {
            p->type = "Notification";
            snprintf(p->channel, sizeof(p->channel), "notifications:user-%u", p->user);
        } else {
            p->type = "SystemAlert";
            snprintf(p->channel, sizeof(p->channel), "events.critical");
            p->prio = PULSE_PRIO_CRITICAL;
        }
    }
    if (p->prio == PULSE_PRIO_UNSET)
        p->prio = pulse_priority_for_channel(p->channel);
}

/* Formatting phase: fills ev (published_at_us is read here, right before the write)
 * and writes its JSON into evbuf. Returns the length, or -1 with a message. */
static int pub_format(const pub_opts *o, const pub_pick *p, uint64_t seq, pulse_event *ev,
                      char *evbuf, size_t cap)
{
    static char data[PUB_MAX_PAYLOAD + 256];
    int dlen = build_data(o, p->user, data, sizeof(data));
    int elen;

    if (dlen < 0) {
        fprintf(stderr, "pulse-publish: payload too large\n");
        return -1;
    }
    memset(ev, 0, sizeof(*ev));
    pulse_uuid4(ev->event_id);
    snprintf(ev->event_type, sizeof(ev->event_type), "%s", p->type);
    snprintf(ev->source, sizeof(ev->source), "%s", o->source);
    ev->sequence = seq;
    ev->priority = p->prio;
    ev->published_at_us = pulse_now_us();
    elen = pulse_event_format(ev, data, evbuf, cap);
    if (elen < 0) {
        fprintf(stderr, "pulse-publish: cannot format event %" PRIu64 ": %s\n", seq,
                pulse_strerror(elen));
        return -1;
    }
    return elen;
}

/* Sending phase through Redis: queues FCALL pulse_publish (PUBLISH with --raw), writes
 * when paced (or every PUB_FLUSH_EVERY), reads replies past the window. The event's
 * manifest record is already in the ring (pub_record). 0, or -1 with a message. */
static int pub_send_redis(const pub_opts *o, pub_state *st, const char *channel,
                          const char *evbuf, int elen)
{
    int arc;

    if (o->raw)
        arc = redisAppendCommand(st->redis, "PUBLISH %s %b", channel, evbuf, (size_t)elen);
    else if (o->history_given)
        arc = redisAppendCommand(st->redis, "FCALL %s 1 %s %b %u %u", PULSE_FN_PUBLISH, channel,
                                 evbuf, (size_t)elen, o->history_size, o->history_ttl_s);
    else
        arc = redisAppendCommand(st->redis, "FCALL %s 1 %s %b", PULSE_FN_PUBLISH, channel, evbuf,
                                 (size_t)elen);
    if (arc != REDIS_OK) {
        fprintf(stderr, "pulse-publish: out of memory\n");
        return -1;
    }
    st->pending++;
    st->sent++;
    if ((o->rate > 0 || st->pending % PUB_FLUSH_EVERY == 0) && redis_flush(st) != 0)
        return -1;
    while (st->pending > PUB_WINDOW) {
        if (redis_read_one(o, st) != 0)
            return -1;
    }
    return 0;
}

/* Sending phase through Redis Cluster: one command at a time to the channel's primary
 * (pub_cluster follows MOVED/ASK and waits out a failover up to PUB_CLUSTER_RETRY_MS);
 * an accepted event goes to the manifest with its offset. 0, or -1 with a message. */
static int pub_send_cluster(const pub_opts *o, pub_state *st, const pulse_event *ev, const char *channel,
                            pulse_priority prio, const char *evbuf, int elen)
{
    char size[16], ttl[16], meta[PULSE_CHANNEL_MAX + 16], stream[PULSE_CHANNEL_MAX + 16];
    const char *argv[8];
    size_t lens[8];
    int argc = 0, key;
    pulse_error err = {0};

    if (o->raw) {
        argv[argc++] = "SPUBLISH";
        key = argc;
        argv[argc++] = channel;
    } else {
        /* the cluster form: the keys it touches declared (see pulse_cluster_keys) */
        if (pulse_cluster_keys(channel, meta, sizeof meta, stream, sizeof stream) != 0) {
            fprintf(stderr, "pulse-publish: channel name too long: %s\n", channel);
            return -1;
        }
        argv[argc++] = "FCALL";
        argv[argc++] = PULSE_FN_PUBLISH;
        argv[argc++] = "2";
        key = argc;
        argv[argc++] = meta;
        argv[argc++] = stream;
    }
    int payload = argc;
    argv[argc++] = evbuf;
    if (!o->raw && o->history_given) {
        snprintf(size, sizeof size, "%u", o->history_size);
        snprintf(ttl, sizeof ttl, "%u", o->history_ttl_s);
        argv[argc++] = size;
        argv[argc++] = ttl;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = i == payload ? (size_t)elen : strlen(argv[i]);
    redisReply *r = pub_cluster_command(st->cluster, key, argc, argv, lens, &err);
    if (r == NULL) {
        fprintf(stderr, "pulse-publish: redis cluster: %s\n", err.text);
        return -1;
    }
    st->sent++;
    if (r->type == REDIS_REPLY_INTEGER) {
        pulse_manifest_rec m;
        memset(&m, 0, sizeof(m));
        memcpy(m.event_id, ev->event_id, sizeof(m.event_id));
        m.sequence = ev->sequence;
        snprintf(m.channel, sizeof(m.channel), "%s", channel);
        m.priority = prio;
        m.published_at_us = ev->published_at_us;
        if (o->raw) {
            st->redis_deliveries += r->integer;
        } else if (r->integer > 0) {
            m.offset = (uint64_t)r->integer;
            st->last_offset = m.offset;
        }
        freeReplyObject(r);
        return manifest_write(st, &m);
    }
    if (st->failed == 0)
        fprintf(stderr, "pulse-publish: %s failed: %s\n", argv[0],
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    st->failed++;
    st->sent--;
    freeReplyObject(r);
    return 0;
}

/* Sending phase through the admin API. 1 published, 0 refused (counted; it stays out
 * of the manifest), -1 with a message when the gateway cannot be reached. */
static int pub_send_http(pub_state *st, const char *channel, const char *evbuf, int elen)
{
    static char body[PUB_MAX_PAYLOAD + 2400];
    int blen = snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"data\":%.*s}", channel, elen,
                        evbuf);
    int status;

    if (blen < 0 || (size_t)blen >= sizeof(body)) {
        fprintf(stderr, "pulse-publish: request too large\n");
        return -1;
    }
    status = pub_http_post(&st->http, st->http_path, body, (size_t)blen);
    if (status < 0) {
        fprintf(stderr, "pulse-publish: POST %s: %s\n", st->http_path, st->http.errstr);
        return -1;
    }
    if (status / 100 != 2) {
        if (st->failed == 0)
            fprintf(stderr, "pulse-publish: POST %s answered %d\n", st->http_path, status);
        st->failed++;
        return 0;
    }
    st->sent++;
    return 1;
}

/* Recording phase: the manifest record of an event. Through Redis it goes into the
 * ring slot of the command about to be sent and is written when the reply comes
 * (redis_read_one: with the offset, and only if Redis accepted the event); through the
 * admin API, for an event the gateway took, it is written now (offset 0). 0, or -1. */
static int pub_record(pub_state *st, const pulse_event *ev, const pub_pick *p)
{
    pulse_manifest_rec m;

    memset(&m, 0, sizeof(m));
    memcpy(m.event_id, ev->event_id, sizeof(m.event_id));
    m.sequence = ev->sequence;
    snprintf(m.channel, sizeof(m.channel), "%s", p->channel);
    m.priority = p->prio;
    m.published_at_us = ev->published_at_us;
    if (st->redis != NULL) {
        st->ring[(st->ring_head + st->pending) % PUB_RING] = m;
        return 0;
    }
    return manifest_write(st, &m);
}

/* Final phase: writes what is queued and reads every outstanding reply. */
static int pub_drain(const pub_opts *o, pub_state *st)
{
    if (st->redis == NULL)
        return 0;
    if (st->pending > 0 && redis_flush(st) != 0)
        return -1;
    while (st->pending > 0) {
        if (redis_read_one(o, st) != 0)
            return -1;
    }
    return 0;
}

/* The run: for each event, wait its turn, choose, format, record and send; then drain.
 * Returns the exit status. */
static int run(const pub_opts *o, pub_state *st)
{
    static char evbuf[PUB_MAX_PAYLOAD + 2048];
    const int64_t start_ns = pulse_mono_ns();
    const int64_t end_ns = o->duration_s > 0 ? start_ns + (int64_t)(o->duration_s * 1e9) : INT64_MAX;
    double due_ns = (double)start_ns;
    uint64_t seq;

    for (seq = o->first_sequence; o->count == 0 || seq - o->first_sequence < o->count; seq++) {
        pulse_event ev;
        pub_pick pick;
        int elen, sent = 1;

        if (!pub_wait_turn(o, start_ns, end_ns, &due_ns))
            break;
        pub_choose(o, st, &pick);
        elen = pub_format(o, &pick, seq, &ev, evbuf, sizeof(evbuf));
        if (elen < 0)
            return 1;
        if (st->cluster != NULL) {
            if (pub_send_cluster(o, st, &ev, pick.channel, pick.prio, evbuf, elen) != 0)
                return 1;
        } else if (st->redis != NULL) {
            /* The record first: it waits in the ring for the command's reply. */
            pub_record(st, &ev, &pick);
            if (pub_send_redis(o, st, pick.channel, evbuf, elen) != 0)
                return 1;
        } else if ((sent = pub_send_http(st, pick.channel, evbuf, elen)) < 0) {
            return 1;
        } else if (sent && pub_record(st, &ev, &pick) != 0) {
            return 1;
        }
    }
    if (pub_drain(o, st) != 0)
        return 1;
    return st->failed > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    pub_opts o;
    pub_state st;
    struct sigaction sa;
    int rc;
    int64_t t0, t1;
    double secs;

    rc = parse_args(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;

    memset(&st, 0, sizeof(st));
    st.rng = o.seed ? o.seed : 0x9E3779B97F4A7C15ULL;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pub_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        fprintf(stderr, "pulse-publish: sigaction: %s\n", strerror(errno));
        return 1;
    }

    rc = o.http_url ? http_open(&o, &st) : redis_open(&o, &st);
    if (rc == 0 && st.redis != NULL && !o.raw)
        rc = ensure_library(&o, &st);
    if (rc != 0)
        goto out;
    st.ring = pulse_xcalloc(PUB_RING, sizeof(*st.ring));
    if (o.manifest != NULL) {
        st.manifest = fopen(o.manifest, "w");
        if (st.manifest == NULL) {
            fprintf(stderr, "pulse-publish: cannot open manifest %s: %s\n", o.manifest,
                    strerror(errno));
            rc = 1;
            goto out;
        }
        /* Full buffering: one write(2) per 1 MiB of manifest, not one per event. */
        if (setvbuf(st.manifest, NULL, _IOFBF, 1 << 20) != 0) {
            fprintf(stderr, "pulse-publish: setvbuf failed\n");
            rc = 1;
            goto out;
        }
    }

    t0 = pulse_mono_ns();
    rc = run(&o, &st);
    t1 = pulse_mono_ns();
    secs = (double)(t1 - t0) / 1e9;
    if (!o.quiet) {
        printf("pulse-publish: sent=%" PRIu64 " failed=%" PRIu64 " elapsed=%.3fs rate=%.1f/s",
               st.sent, st.failed, secs, secs > 0 ? (double)st.sent / secs : 0.0);
        if (o.http_url != NULL)
            printf(" via=http\n");
        else if (o.raw)
            printf(" via=redis redis_deliveries=%lld%s\n", st.redis_deliveries,
                   pub_stop ? " (interrupted)" : "");
        else
            printf(" via=fcall last_offset=%" PRIu64 "%s\n", st.last_offset,
                   pub_stop ? " (interrupted)" : "");
    }

out:
    if (st.manifest != NULL && fclose(st.manifest) != 0) {
        fprintf(stderr, "pulse-publish: cannot write the manifest %s: %s\n", o.manifest,
                strerror(errno));
        rc = 1;
    }
    if (st.redis != NULL)
        redisFree(st.redis);
    pub_cluster_close(st.cluster);
    pub_http_close(&st.http);
    free(st.ring);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}
