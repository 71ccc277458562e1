/*
 * gw_config.c - loads the gateway's configuration: built-in defaults, then a libconfig
 * file, then PULSE_* environment variables, then command-line flags.
 *
 * One table (keys[] below) describes every key once: its file path, its kind, where it
 * lives in gw_config and its range. The environment name and the long flag are derived
 * from the path (limits.max_connections -> PULSE_LIMITS_MAX_CONNECTIONS and
 * --limits.max-connections), so the three sources cannot drift apart.
 *
 * gw_config_load works on a deep copy of the caller's struct and swaps it in only when
 * every source was applied and the cross-key checks passed: on error the caller's
 * struct is exactly as it was, and nothing leaks. Every string is copied out of
 * libconfig before config_destroy.
 */
#include "gw_config.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_log.h"
#include "pulse_url.h"

#define NODE_ID_MAX 63
#define ADDR_MAX 255
#define ECHO_MAX 40 /* bytes of a bad value quoted back in an error */

/* allocation (pulse_alloc.h): programs abort on out-of-memory, bad input never does */

static void replace_str(char **slot, const char *value)
{
    char *copy = value ? pulse_xstrdup(value) : NULL;
    free(*slot);
    *slot = copy;
}

/* ---- the key table ---- */

typedef enum {
    K_ADDR,      /* a listen address: 1..255 printable bytes, no spaces */
    K_NODE_ID,   /* [A-Za-z0-9._:@-]{1,63} */
    K_URL,       /* redis://... */
    K_LOGLEVEL,  /* error|warn|info|debug */
    K_LOGFORMAT, /* text|json */
    K_INT,
    K_INT64,
    K_STATIC,    /* channels.static: list of channel names or patterns */
    K_RULES,     /* channels.rules: file only */
    K_STR,       /* free text up to 4096 printable bytes, may be empty (paths, lists, keys) */
    K_BOOL,      /* an int field, 0 or 1: true/false, yes/no, on/off, 1/0; a bare flag means true */
    K_EVLOOP,    /* an int field: GW_EVLOOP_POLL, _LIBEV or _EPOLL */
} key_kind;

typedef struct {
    const char *path; /* the file key; env and flag names derive from it */
    key_kind kind;
    size_t off;       /* offset of the field in gw_config */
    long long min, max;
} key_def;

#define F(field) offsetof(gw_config, field)
#define GIB(n) ((long long)(n) * 1024 * 1024 * 1024)

static const key_def keys[] = {
    {"node_id", K_NODE_ID, F(node_id), 0, 0},
    {"bind", K_ADDR, F(bind), 0, 0},
    {"port", K_INT, F(port), 0, 65535},
    {"admin_bind", K_ADDR, F(admin_bind), 0, 0},
    {"admin_port", K_INT, F(admin_port), 0, 65535},
    {"redis", K_URL, F(redis_url), 0, 0},
    {"workers", K_INT, F(workers), 1, 64},
    {"log_level", K_LOGLEVEL, F(log_level), 0, 0},
    {"log_format", K_LOGFORMAT, F(log_format), 0, 0},
    {"limits.max_connections", K_INT, F(max_connections), 1, 10000000},
    {"limits.max_message_size", K_INT, F(max_message_size), 64, 16777216},
    {"limits.max_subscriptions", K_INT, F(max_subscriptions), 1, 100000},
    {"limits.queue_max_messages", K_INT, F(queue_max_messages), 1, 10000000},
    {"limits.queue_max_bytes", K_INT64, F(queue_max_bytes), 1, GIB(64)},
    {"limits.queue_hard_messages", K_INT, F(queue_hard_messages), 1, 10000000},
    {"limits.queue_hard_bytes", K_INT64, F(queue_hard_bytes), 1, GIB(64)},
    {"limits.lag_limit_ms", K_INT, F(lag_limit_ms), 1, 86400000},
    {"limits.heartbeat_interval_s", K_INT, F(heartbeat_interval_s), 0, 86400},
    {"limits.heartbeat_timeout_s", K_INT, F(heartbeat_timeout_s), 1, 86400},
    {"limits.handshake_timeout_s", K_INT, F(handshake_timeout_s), 1, 3600},
    {"limits.drain_timeout_ms", K_INT, F(drain_timeout_ms), 1, 3600000},
    {"limits.redis_ping_interval_ms", K_INT, F(redis_ping_interval_ms), 1, 3600000},
    {"limits.redis_ping_timeout_ms", K_INT, F(redis_ping_timeout_ms), 1, 3600000},
    {"limits.redis_backoff_max_ms", K_INT, F(redis_backoff_max_ms), 1, 3600000},
    {"limits.history_recover_max", K_INT, F(history_recover_max), 0, 10000000},
    {"limits.history_read_max", K_INT, F(history_read_max), 1, 100000},
    {"presence.refresh_interval_s", K_INT, F(presence_refresh_interval_s), 1, 3600},
    {"presence.list_max", K_INT, F(presence_list_max), 1, 1000000},
    {"centrifugo.ping_interval_s", K_INT, F(cf_ping_interval_s), 1, 3600},
    {"centrifugo.pong_timeout_s", K_INT, F(cf_pong_timeout_s), 1, 3600},
    {"centrifugo.expired_close_delay_s", K_INT, F(cf_expired_close_delay_s), 0, 3600},
    {"channels.static", K_STATIC, F(static_channels), 0, 0},
    {"channels.rules", K_RULES, F(rules), 0, 0},
    {"auth.jwt_secret_file", K_STR, F(auth_jwt_secret_file), 0, 0},
    {"auth.jwt_public_key", K_STR, F(auth_jwt_public_key), 0, 0},
    {"auth.algorithm", K_STR, F(auth_algorithm), 0, 0},
    {"auth.leeway_s", K_INT, F(auth_leeway_s), 0, 3600},
    {"auth.audience", K_STR, F(auth_audience), 0, 0},
    {"auth.issuer", K_STR, F(auth_issuer), 0, 0},
    {"auth.handshake_timeout_ms", K_INT, F(auth_handshake_timeout_ms), 100, 600000},
    {"auth.owner_pattern", K_STR, F(auth_owner_pattern), 0, 0},
    {"admin.api_key_file", K_STR, F(admin_api_key_file), 0, 0},
    {"admin.api_key", K_STR, F(admin_api_key), 0, 0},
    {"admin.protect_reads", K_BOOL, F(admin_protect_reads), 0, 1},
    {"ws.allowed_origins", K_STR, F(ws_allowed_origins), 0, 0},
    {"ws.event_loop", K_EVLOOP, F(ws_event_loop), 0, 2},
    {"ws.io_uring", K_BOOL, F(ws_io_uring), 0, 1},
    {"limits.max_connections_per_ip", K_INT, F(max_connections_per_ip), 0, 10000000},
    {"limits.commands_per_second", K_INT, F(commands_per_second), 0, 1000000},
    {"limits.max_channels", K_INT, F(max_channels), 1, 10000000},
    {"limits.max_patterns", K_INT, F(max_patterns), 0, 100000},
    {"limits.max_pattern_stars", K_INT, F(max_pattern_stars), 1, 64},
    {"limits.new_subscriptions_per_second", K_INT, F(new_subscriptions_per_second), 0, 1000000},
    {"tls_cert", K_STR, F(tls_cert), 0, 0},
    {"tls_key", K_STR, F(tls_key), 0, 0},
    {"insecure", K_BOOL, F(insecure), 0, 1},
};

/* The security keys' strings, copied and freed with the rest of the struct. */
static const size_t sec_str_fields[] = {
    F(auth_jwt_secret_file), F(auth_jwt_public_key), F(auth_algorithm), F(auth_audience),
    F(auth_issuer), F(auth_owner_pattern), F(admin_api_key_file), F(admin_api_key),
    F(ws_allowed_origins), F(tls_cert), F(tls_key),
};
#define N_SEC_STR (sizeof sec_str_fields / sizeof sec_str_fields[0])
#define SEC_STR(cfg, i) ((char **)((char *)(cfg) + sec_str_fields[i]))

#define N_KEYS (sizeof keys / sizeof keys[0])

static const key_def *key_find(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* PULSE_ + path upper-cased, '.' -> '_'. */
static void key_env_name(const key_def *k, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "PULSE_");
    for (const char *p = k->path; *p && n + 1 < cap; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

/* ---- where a value came from, for error messages ---- */

typedef struct {
    const char *file; /* file source: the path; NULL otherwise */
    int line;         /* file source: the line */
    const char *name; /* env variable or flag as typed; for a file, the key path */
} origin;

/* Quotes at most ECHO_MAX bytes of s, printable ASCII only, so an error line stays one
 * short line whatever was typed. */
static const char *echo(const char *s, char *buf, size_t cap)
{
    size_t n = 0, i;
    for (i = 0; s[i] && n + 4 < cap && i < ECHO_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s[i] && n + 4 <= cap) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* A long file path is shortened from the left so the key and the problem still fit in
 * pulse_error.text. */
static const char *short_path(const char *path)
{
    size_t n = strlen(path);
    return n > 60 ? path + n - 60 : path;
}

static int fail(pulse_error *err, const origin *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(pulse_error *err, const origin *o, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o->file)
        return pulse_error_set(err, PULSE_EINVAL, o->line, "config: %s%s:%d: %s: %s",
                               short_path(o->file) == o->file ? "" : "...",
                               short_path(o->file), o->line, o->name, msg);
    return pulse_error_set(err, PULSE_EINVAL, 0, "config: %s: %s", o->name, msg);
}

/* ---- the built-in rules and struct copies ---- */

static const gw_channel_rule builtin_rules[] = {
    {(char *)"events.critical", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER, PULSE_PRIO_CRITICAL, false,
     PULSE_HISTORY_DEFAULT_SIZE, PULSE_HISTORY_DEFAULT_TTL_S, -1, -1},
    {(char *)"alerts.*", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER, PULSE_PRIO_CRITICAL, false,
     PULSE_HISTORY_DEFAULT_SIZE, PULSE_HISTORY_DEFAULT_TTL_S, -1, -1},
    {(char *)"*", PULSE_PRIO_NORMAL, GW_POLICY_DROP, PULSE_PRIO_CRITICAL, false, 0, 0, 0, 0},
};
#define N_BUILTIN (sizeof builtin_rules / sizeof builtin_rules[0])

static char **strv_copy(char *const *v, size_t n)
{
    if (n == 0)
        return NULL;
    char **out = pulse_xmalloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = pulse_xstrdup(v[i]);
    return out;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static gw_channel_rule *rules_copy(const gw_channel_rule *r, size_t n)
{
    if (n == 0)
        return NULL;
    gw_channel_rule *out = pulse_xmalloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i] = r[i];
        out[i].pattern = pulse_xstrdup(r[i].pattern);
    }
    return out;
}

static void rules_free(gw_channel_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].pattern);
    free(r);
}

static char *dup_or_null(const char *s)
{
    return s ? pulse_xstrdup(s) : NULL;
}

static void config_copy(gw_config *dst, const gw_config *src)
{
    *dst = *src;
    dst->node_id = dup_or_null(src->node_id);
    dst->bind = dup_or_null(src->bind);
    dst->admin_bind = dup_or_null(src->admin_bind);
    dst->redis_url = dup_or_null(src->redis_url);
    dst->redis_host = dup_or_null(src->redis_host);
    dst->redis_password = dup_or_null(src->redis_password);
    if (src->redis_seeds) {
        dst->redis_seeds = pulse_xcalloc(src->n_redis_seeds, sizeof(pulse_url));
        memcpy(dst->redis_seeds, src->redis_seeds, src->n_redis_seeds * sizeof(pulse_url));
    }
    dst->log_level = dup_or_null(src->log_level);
    dst->log_format = dup_or_null(src->log_format);
    dst->config_path = dup_or_null(src->config_path);
    dst->static_channels = strv_copy(src->static_channels, src->n_static_channels);
    dst->rules = rules_copy(src->rules, src->n_rules);
    for (size_t i = 0; i < N_SEC_STR; i++)
        *SEC_STR(dst, i) = dup_or_null(*SEC_STR(src, i));
}

void gw_config_free(gw_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->node_id);
    free(cfg->bind);
    free(cfg->admin_bind);
    free(cfg->redis_url);
    free(cfg->redis_host);
    free(cfg->redis_password);
    free(cfg->redis_seeds);
    cfg->redis_seeds = NULL;
    cfg->n_redis_seeds = 0;
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->config_path);
    strv_free(cfg->static_channels, cfg->n_static_channels);
    rules_free(cfg->rules, cfg->n_rules);
    for (size_t i = 0; i < N_SEC_STR; i++) {
        free(*SEC_STR(cfg, i));
        *SEC_STR(cfg, i) = NULL;
    }
    /* Leave no dangling pointers: freeing twice, or loading after a free, stays safe. */
    cfg->node_id = cfg->bind = cfg->admin_bind = cfg->redis_url = NULL;
    cfg->redis_host = cfg->redis_password = cfg->log_level = cfg->log_format = NULL;
    cfg->config_path = NULL;
    cfg->static_channels = NULL;
    cfg->n_static_channels = 0;
    cfg->rules = NULL;
    cfg->n_rules = 0;
}

/* ---- defaults ---- */

static bool node_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("._:@-", c))
            return false;
    }
    return true;
}

static char *default_node_id(void)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        return pulse_xstrdup("pulse");
    host[sizeof host - 1] = '\0';
    host[NODE_ID_MAX] = '\0';
    /* Host names are [A-Za-z0-9.-] in practice; anything else would break CSV logs. */
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._:@-", *p))
            *p = '-';
    return pulse_xstrdup(host);
}

void gw_config_defaults(gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->node_id = default_node_id();
    cfg->bind = pulse_xstrdup("127.0.0.1");
    cfg->port = 8080;
    cfg->admin_bind = pulse_xstrdup("127.0.0.1");
    cfg->admin_port = 9090;
    cfg->admin_protect_reads = -1;
    cfg->redis_url = pulse_xstrdup("redis://127.0.0.1:6379");
    cfg->redis_host = pulse_xstrdup("127.0.0.1");
    cfg->redis_port = 6379;
    cfg->redis_password = NULL;
    cfg->workers = 1;
    cfg->ws_io_uring = 1;
    cfg->ws_event_loop = GW_EVLOOP_EPOLL;
    cfg->log_level = pulse_xstrdup("info");
    cfg->log_format = pulse_xstrdup("text");

    cfg->max_connections = 100000;
    cfg->max_message_size = 65536;
    cfg->max_subscriptions = 64;
    cfg->queue_max_messages = 1024;
    cfg->queue_max_bytes = 1024 * 1024;
    cfg->queue_hard_messages = 8192;
    cfg->queue_hard_bytes = 8 * 1024 * 1024;
    cfg->lag_limit_ms = 10000;
    cfg->heartbeat_interval_s = 30;
    cfg->heartbeat_timeout_s = 10;
    cfg->handshake_timeout_s = 10;
    cfg->drain_timeout_ms = 5000;
    cfg->redis_ping_interval_ms = 1000;
    cfg->redis_ping_timeout_ms = 3000;
    cfg->redis_backoff_max_ms = 1000;
    cfg->history_recover_max = 5000;
    cfg->history_read_max = 1000;
    cfg->presence_refresh_interval_s = 5;
    cfg->presence_list_max = 1000;
    cfg->cf_ping_interval_s = 25;
    cfg->cf_pong_timeout_s = 10;
    cfg->cf_expired_close_delay_s = 25;
    cfg->auth_leeway_s = 30;
    cfg->auth_handshake_timeout_ms = 5000;
    cfg->auth_owner_pattern = pulse_xstrdup("feed:user-{sub},notifications:user-{sub}");
    cfg->commands_per_second = 50;
    cfg->max_channels = 100000;
    cfg->max_patterns = 100;
    cfg->max_pattern_stars = 3;
    cfg->new_subscriptions_per_second = 1000;

    cfg->static_channels = NULL;
    cfg->n_static_channels = 0;
    cfg->rules = rules_copy(builtin_rules, N_BUILTIN);
    cfg->n_rules = N_BUILTIN;
}

/* ---- setting one key from a value ---- */

static const char channel_rule_text[] = "must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'";

static int check_channel(const char *name, const origin *o, pulse_error *err)
{
    bool is_pattern;
    char e[64];
    if (pulse_channel_validate_pattern(name, strlen(name), &is_pattern) != 0)
        return fail(err, o, "bad channel name '%s': %s", echo(name, e, sizeof e), channel_rule_text);
    return 0;
}

static void static_add(gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_static_channels; i++)
        if (strcmp(cfg->static_channels[i], name) == 0)
            return;
    cfg->static_channels = pulse_xrealloc(cfg->static_channels,
                                    (cfg->n_static_channels + 1) * sizeof *cfg->static_channels);
    cfg->static_channels[cfg->n_static_channels++] = pulse_xstrdup(name);
}

static void static_clear(gw_config *cfg)
{
    strv_free(cfg->static_channels, cfg->n_static_channels);
    cfg->static_channels = NULL;
    cfg->n_static_channels = 0;
}

/* Adds each name of a comma-separated list (empty items skipped). */
static int static_add_list(gw_config *cfg, const char *list, const origin *o, pulse_error *err)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            char *name = pulse_xstrndup(p, n);
            int rc = check_channel(name, o, err);
            if (rc == 0)
                static_add(cfg, name);
            free(name);
            if (rc != 0)
                return rc;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int set_int(gw_config *cfg, const key_def *k, long long v, const char *got, const origin *o,
                   pulse_error *err)
{
    char e[64];
    if (v < k->min || v > k->max)
        return fail(err, o, "must be an integer from %lld to %lld (got '%s')", k->min, k->max,
                    echo(got, e, sizeof e));
    if (k->kind == K_INT64)
        *(int64_t *)((char *)cfg + k->off) = (int64_t)v;
    else
        *(int *)((char *)cfg + k->off) = (int)v;
    return 0;
}

/* A plain decimal integer, nothing before or after it. */
static bool parse_ll(const char *s, long long *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]) && !((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Sets a scalar key (everything but the channel keys) from a string. */
static int set_scalar_str(gw_config *cfg, const key_def *k, const char *v, const origin *o,
                          pulse_error *err)
{
    char e[64];
    char **slot = (char **)((char *)cfg + k->off);
    switch (k->kind) {
    case K_INT:
    case K_INT64: {
        long long n;
        if (!parse_ll(v, &n))
            return fail(err, o, "must be an integer from %lld to %lld (got '%s')", k->min, k->max,
                        echo(v, e, sizeof e));
        return set_int(cfg, k, n, v, o, err);
    }
    case K_ADDR: {
        size_t n = strlen(v);
        bool ok = n >= 1 && n <= ADDR_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = v[i] > 0x20 && v[i] < 0x7f;
        if (!ok)
            return fail(err, o, "must be a host name or IP address (got '%s')", echo(v, e, sizeof e));
        break;
    }
    case K_NODE_ID:
        if (!node_id_valid(v))
            return fail(err, o, "must be 1-63 bytes of [A-Za-z0-9._:@-] (got '%s')", echo(v, e, sizeof e));
        break;
    case K_URL: {
        pulse_url u, seeds[PULSE_URL_SEEDS_MAX];
        pulse_error uerr = {0};
        size_t nseeds = 0;
        if (pulse_url_is_cluster(v) ? pulse_url_parse_cluster(v, seeds, PULSE_URL_SEEDS_MAX, &nseeds, &uerr) != 0
                                    : pulse_url_parse(v, "redis", &u, &uerr) != 0)
            return fail(err, o, "%s", uerr.text[0] ? uerr.text : "unparsable URL");
        break;
    }
    case K_LOGLEVEL: {
        /* Stored by its canonical name ("WARNING" -> "warn"): one spelling downstream. */
        static const char *const names[] = {"error", "warn", "info", "debug"};
        pulse_log_level lv;
        if (pulse_log_level_parse(v, &lv) != 0 || (int)lv < 0 || (int)lv > PULSE_LOG_DEBUG)
            return fail(err, o, "must be one of error, warn, info, debug (got '%s')", echo(v, e, sizeof e));
        v = names[lv];
        break;
    }
    case K_LOGFORMAT: {
        pulse_log_format lf;
        if (pulse_log_format_parse(v, &lf) != 0)
            return fail(err, o, "must be text or json (got '%s')", echo(v, e, sizeof e));
        v = lf == PULSE_LOG_JSON ? "json" : "text";
        break;
    }
    case K_STR: {
        size_t n = strlen(v);
        bool ok = n <= 4096;
        for (size_t i = 0; ok && i < n; i++)
            ok = v[i] >= 0x20 && v[i] < 0x7f;
        if (!ok) /* never echoed: the value may be a secret */
            return fail(err, o, "must be at most 4096 printable ASCII bytes");
        break;
    }
    case K_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
                *(int *)((char *)cfg + k->off) = strcasecmp(v, yes[i]) == 0;
                return 0;
            }
        }
        return fail(err, o, "must be true or false (got '%s')", echo(v, e, sizeof e));
    }
    case K_EVLOOP:
        if (strcmp(v, "epoll") == 0)
            *(int *)((char *)cfg + k->off) = GW_EVLOOP_EPOLL;
        else if (strcmp(v, "poll") == 0)
            *(int *)((char *)cfg + k->off) = GW_EVLOOP_POLL;
        else if (strcmp(v, "libev") == 0)
            *(int *)((char *)cfg + k->off) = GW_EVLOOP_LIBEV;
        else
            return fail(err, o, "must be epoll, poll or libev (got '%s')", echo(v, e, sizeof e));
        return 0;
    default:
        return fail(err, o, "internal: not a scalar key");
    }
    replace_str(slot, v);
    return 0;
}

/* Sets any key from a string (environment, --set, flags). channels.static takes a
 * comma list that replaces the current list. */
static int set_from_string(gw_config *cfg, const key_def *k, const char *v, const origin *o,
                           pulse_error *err)
{
    if (k->kind == K_RULES)
        return fail(err, o, "channel rules can only be set in the config file");
    if (k->kind == K_STATIC) {
        gw_config scratch;
        memset(&scratch, 0, sizeof scratch);
        int rc = static_add_list(&scratch, v, o, err);
        if (rc != 0) {
            static_clear(&scratch);
            return rc;
        }
        static_clear(cfg);
        cfg->static_channels = scratch.static_channels;
        cfg->n_static_channels = scratch.n_static_channels;
        return 0;
    }
    return set_scalar_str(cfg, k, v, o, err);
}

/* ---- the file ---- */

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT: return "an integer";
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "empty";
    }
}

typedef struct {
    const char *file;
    char *text;             /* the file's bytes, NUL-terminated (see raw_int) */
    gw_channel_rule *rules; /* user rules from the file, in file order */
    size_t n_rules;
} file_ctx;

/* libconfig 1.5 reads a number without the L suffix as a 32-bit int and silently wraps
 * one that does not fit (8589934592 reads as 0, 5000000000 as 705032704). So the
 * digits are read again from the setting's source line: a big value is then taken
 * whole by a 64-bit key, or refused by the range check, never wrapped. Returns false
 * when the text cannot be found (e.g. a setting from an @include'd file): the value
 * libconfig gave is then used. */
static bool raw_int(const file_ctx *fc, const config_setting_t *s, long long *out)
{
    const char *name = config_setting_name(s);
    const char *src = config_setting_source_file(s);
    int line = (int)config_setting_source_line(s);
    if (!fc->text || !name || !src || strcmp(src, fc->file) != 0 || line < 1)
        return false;
    const char *p = fc->text;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return false;
    const char *eol = strchr(p, '\n');
    if (!eol)
        eol = p + strlen(p);
    size_t nl = strlen(name);
    for (const char *q = p; q + nl <= eol; q++) {
        if (strncmp(q, name, nl) != 0)
            continue;
        if (q > p && (isalnum((unsigned char)q[-1]) || q[-1] == '_' || q[-1] == '-' || q[-1] == '*'))
            continue;
        const char *v = q + nl;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        if (v >= eol || (*v != '=' && *v != ':'))
            continue;
        v++;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        const char *d = v;
        if (d < eol && (*d == '-' || *d == '+'))
            d++;
        int base = (d + 1 < eol && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) ? 16 : 10;
        if (d >= eol || !isdigit((unsigned char)*d))
            return false;
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, base);
        if (errno == ERANGE)
            n = n < 0 ? LLONG_MIN : LLONG_MAX; /* out of any range: refused */
        *out = n;
        return true;
    }
    return false;
}

static char *read_text(FILE *f)
{
    size_t cap = 4096, len = 0, got;
    char *buf = pulse_xmalloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0)
            buf = pulse_xrealloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

static void file_origin(origin *o, const file_ctx *fc, const config_setting_t *s, const char *path)
{
    o->file = fc->file;
    o->line = (int)config_setting_source_line(s);
    o->name = path;
}

static int unknown_key(pulse_error *err, const file_ctx *fc, const config_setting_t *s, const char *path)
{
    int line = (int)config_setting_source_line(s);
    const char *sp = short_path(fc->file);
    return pulse_error_set(err, PULSE_EINVAL, line, "config: %s%s:%d: unknown key '%s'",
                           sp == fc->file ? "" : "...", sp, line, path);
}

static int file_static(gw_config *cfg, const file_ctx *fc, config_setting_t *s, pulse_error *err)
{
    origin o;
    file_origin(&o, fc, s, "channels.static");
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail(err, &o, "must be an array of channel names, not %s", type_name(t));
    static_clear(cfg);
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char path[48];
        snprintf(path, sizeof path, "channels.static[%d]", i);
        file_origin(&o, fc, e, path);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail(err, &o, "must be a string, not %s", type_name(config_setting_type(e)));
        const char *name = config_setting_get_string(e);
        int rc = check_channel(name, &o, err);
        if (rc != 0)
            return rc;
        static_add(cfg, name);
    }
    return 0;
}

static int parse_policy(const char *s, gw_policy *out)
{
    if (strcmp(s, "drop") == 0)
        *out = GW_POLICY_DROP;
    else if (strcmp(s, "latest") == 0)
        *out = GW_POLICY_LATEST;
    else if (strcmp(s, "never") == 0)
        *out = GW_POLICY_NEVER;
    else
        return -1;
    return 0;
}

/* One rule while its keys are read: the pattern is borrowed from libconfig until the
 * rule is kept. */
typedef struct {
    gw_channel_rule r;
    const char *pattern;
    bool have_policy;
} rule_draft;

/* pattern, priority, max_priority and policy: the string-valued keys of a rule. */
static int rule_string_key(const char *name, const char *v, origin *ko, rule_draft *d, pulse_error *err)
{
    char e[64];
    if (strcmp(name, "pattern") == 0) {
        int rc = check_channel(v, ko, err);
        if (rc != 0)
            return rc;
        d->pattern = v;
    } else if (strcmp(name, "priority") == 0 || strcmp(name, "max_priority") == 0) {
        pulse_priority p = pulse_priority_parse(v, strlen(v));
        if (p != PULSE_PRIO_NORMAL && p != PULSE_PRIO_CRITICAL)
            return fail(err, ko, "must be critical or normal (got '%s')", echo(v, e, sizeof e));
        if (name[0] == 'm')
            d->r.max_priority = p;
        else
            d->r.priority = p;
    } else {
        if (parse_policy(v, &d->r.policy) != 0)
            return fail(err, ko, "must be drop, latest or never (got '%s')", echo(v, e, sizeof e));
        d->have_policy = true;
    }
    return 0;
}

/* One key of channels.rules[idx]. */
static int rule_key(file_ctx *fc, config_setting_t *s, int idx, rule_draft *d, pulse_error *err)
{
    const char *name = config_setting_name(s);
    char kpath[96];
    snprintf(kpath, sizeof kpath, "channels.rules[%d].%s", idx, name);
    origin ko;
    file_origin(&ko, fc, s, kpath);
    bool known = strcmp(name, "pattern") == 0 || strcmp(name, "priority") == 0 || strcmp(name, "policy") == 0 ||
                 strcmp(name, "max_priority") == 0 || strcmp(name, "ws_priority") == 0;
    bool is_size = strcmp(name, "history_size") == 0, is_ttl = strcmp(name, "history_ttl_s") == 0;
    if (is_size || is_ttl) {
        int t = config_setting_type(s);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return fail(err, &ko, "must be an integer, not %s", type_name(t));
        long long v = config_setting_get_int64(s);
        long long lo = is_size ? 0 : 1;
        long long hi = is_size ? PULSE_HISTORY_MAX_SIZE : PULSE_HISTORY_MAX_TTL_S;
        if (v < lo || v > hi)
            return fail(err, &ko, "must be an integer from %lld to %lld (got '%lld')", lo, hi, v);
        *(is_size ? &d->r.history_size : &d->r.history_ttl_s) = (int)v;
        return 0;
    }
    bool is_pres = strcmp(name, "presence") == 0, is_jl = strcmp(name, "join_leave") == 0;
    bool is_ws = strcmp(name, "ws_priority") == 0;
    if (!known && !is_pres && !is_jl)
        return unknown_key(err, fc, s, kpath);
    if (is_pres || is_jl || is_ws) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return fail(err, &ko, "must be true or false, not %s", type_name(config_setting_type(s)));
        int on = config_setting_get_bool(s) ? 1 : 0;
        if (is_ws)
            d->r.ws_priority = on;
        else
            *(is_pres ? &d->r.presence : &d->r.join_leave) = on;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(err, &ko, "must be a string, not %s", type_name(config_setting_type(s)));
    return rule_string_key(name, config_setting_get_string(s), &ko, d, err);
}

static int file_rule(file_ctx *fc, config_setting_t *g, int idx, pulse_error *err)
{
    char path[64];
    origin o;
    snprintf(path, sizeof path, "channels.rules[%d]", idx);
    file_origin(&o, fc, g, path);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return fail(err, &o, "must be a group { pattern = \"...\"; priority = \"...\"; policy = \"...\"; }, not %s",
                    type_name(config_setting_type(g)));

    rule_draft d = {
        .r = {.priority = PULSE_PRIO_NORMAL, .max_priority = PULSE_PRIO_CRITICAL, .policy = GW_POLICY_DROP,
              .history_size = -1, .history_ttl_s = -1, .presence = -1, .join_leave = -1},
    };
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        int rc = rule_key(fc, config_setting_get_elem(g, (unsigned)i), idx, &d, err);
        if (rc != 0)
            return rc;
    }
    gw_channel_rule *r = &d.r;
    if (!d.pattern)
        return fail(err, &o, "missing pattern");
    if (!d.have_policy)
        r->policy = r->priority == PULSE_PRIO_CRITICAL ? GW_POLICY_NEVER : GW_POLICY_DROP;
    if (r->history_ttl_s >= 0 && r->history_size < 0)
        return fail(err, &o, "history_ttl_s needs history_size");
    if (r->history_size > 0 && r->history_ttl_s < 0)
        r->history_ttl_s = PULSE_HISTORY_DEFAULT_TTL_S;
    if (r->history_size == 0)
        r->history_ttl_s = 0;

    r->pattern = pulse_xstrdup(d.pattern);
    fc->rules = pulse_xrealloc(fc->rules, (fc->n_rules + 1) * sizeof *fc->rules);
    fc->rules[fc->n_rules++] = *r;
    return 0;
}

static int file_rules(file_ctx *fc, config_setting_t *s, pulse_error *err)
{
    origin o;
    file_origin(&o, fc, s, "channels.rules");
    if (config_setting_type(s) != CONFIG_TYPE_LIST)
        return fail(err, &o, "must be a list ( { pattern = ...; }, ... ), not %s",
                    type_name(config_setting_type(s)));
    /* The file replaces any rules an earlier file gave; the list is rebuilt below. */
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        int rc = file_rule(fc, config_setting_get_elem(s, (unsigned)i), i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One scalar setting s for key k. */
static int file_scalar(gw_config *cfg, const file_ctx *fc, const key_def *k, config_setting_t *s,
                       pulse_error *err)
{
    origin o;
    file_origin(&o, fc, s, k->path);
    int t = config_setting_type(s);
    if (k->kind == K_INT || k->kind == K_INT64) {
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return fail(err, &o, "must be an integer, not %s", type_name(t));
        long long v = config_setting_get_int64(s), raw;
        if (raw_int(fc, s, &raw))
            v = raw;
        char got[32];
        snprintf(got, sizeof got, "%lld", v);
        return set_int(cfg, k, v, got, &o, err);
    }
    if (k->kind == K_BOOL) {
        if (t != CONFIG_TYPE_BOOL)
            return fail(err, &o, "must be true or false, not %s", type_name(t));
        *(int *)((char *)cfg + k->off) = config_setting_get_bool(s) ? 1 : 0;
        return 0;
    }
    if (t != CONFIG_TYPE_STRING)
        return fail(err, &o, "must be a string, not %s", type_name(t));
    return set_scalar_str(cfg, k, config_setting_get_string(s), &o, err);
}

static int file_group(gw_config *cfg, file_ctx *fc, config_setting_t *group, const char *prefix,
                      pulse_error *err)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char path[128];
        int rc;
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", name ? name : "?");

        if (!prefix[0] && (strcmp(path, "limits") == 0 || strcmp(path, "channels") == 0 ||
                           strcmp(path, "auth") == 0 || strcmp(path, "admin") == 0 || strcmp(path, "ws") == 0 ||
                           strcmp(path, "presence") == 0 || strcmp(path, "centrifugo") == 0)) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                origin o;
                file_origin(&o, fc, s, path);
                return fail(err, &o, "must be a group { ... }, not %s", type_name(config_setting_type(s)));
            }
            rc = file_group(cfg, fc, s, path, err);
        } else {
            const key_def *k = key_find(path);
            if (!k)
                return unknown_key(err, fc, s, path);
            if (k->kind == K_STATIC)
                rc = file_static(cfg, fc, s, err);
            else if (k->kind == K_RULES)
                rc = file_rules(fc, s, err);
            else
                rc = file_scalar(cfg, fc, k, s, err);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int load_file(gw_config *cfg, const char *path, pulse_error *err)
{
    const char *sp = short_path(path);
    const char *dots = sp == path ? "" : "...";
    /* libconfig only says "file I/O error"; open it first to report why. */
    FILE *f = fopen(path, "r");
    if (!f)
        return pulse_error_set(err, PULSE_EIO, 0, "config: cannot read %s%s: %s", dots, sp, strerror(errno));
    char *text = read_text(f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(text);
        return pulse_error_set(err, PULSE_EIO, 0, "config: cannot read %s%s: %s", dots, sp, strerror(e));
    }
    fclose(f);

    config_t lc;
    config_init(&lc);
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        int rc;
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            rc = pulse_error_set(err, PULSE_EIO, 0, "config: cannot read %s%s", dots, sp);
        else
            rc = pulse_error_set(err, PULSE_EINVAL, config_error_line(&lc), "config: %s%s:%d: %s", dots, sp,
                                 config_error_line(&lc), config_error_text(&lc));
        config_destroy(&lc);
        free(text);
        return rc;
    }

    file_ctx fc = {.file = path, .text = text, .rules = NULL, .n_rules = 0};
    int rc = file_group(cfg, &fc, config_root_setting(&lc), "", err);
    config_destroy(&lc);
    free(text);
    if (rc == 0 && fc.n_rules > 0) {
        /* User rules go first, ahead of whatever was there (the built-ins). */
        size_t total = fc.n_rules + cfg->n_rules;
        fc.rules = pulse_xrealloc(fc.rules, total * sizeof *fc.rules);
        memcpy(fc.rules + fc.n_rules, cfg->rules, cfg->n_rules * sizeof *cfg->rules);
        free(cfg->rules);
        cfg->rules = fc.rules;
        cfg->n_rules = total;
    } else {
        rules_free(fc.rules, fc.n_rules);
    }
    if (rc == 0)
        replace_str(&cfg->config_path, path);
    return rc;
}

/* ---- the environment ---- */

static const char *env_get(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            found = envp[i] + n + 1; /* the last one wins, like getenv on most libcs */
    return found;
}

static int load_env(gw_config *cfg, char *const envp[], pulse_error *err)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char name[64];
        key_env_name(&keys[i], name, sizeof name);
        if (keys[i].kind == K_RULES)
            continue;
        const char *v = env_get(envp, name);
        if (!v)
            continue;
        origin o = {.file = NULL, .line = 0, .name = name};
        int rc = set_from_string(cfg, &keys[i], v, &o, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- the command line ---- */

typedef enum { OPT_UNKNOWN, OPT_HELP, OPT_VERSION, OPT_CONFIG, OPT_CHANNEL, OPT_SET, OPT_KEY } opt_kind;

/* "--limits.max-connections=5" -> the key "limits.max_connections". */
static opt_kind classify(const char *arg, const key_def **key)
{
    char name[64];
    *key = NULL;
    if (strcmp(arg, "-h") == 0)
        return OPT_HELP;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return OPT_UNKNOWN;
    size_t n = strcspn(arg + 2, "=");
    if (n >= sizeof name)
        return OPT_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        name[i] = arg[2 + i] == '-' ? '_' : arg[2 + i];
    name[n] = '\0';
    if (strcmp(name, "help") == 0)
        return OPT_HELP;
    if (strcmp(name, "version") == 0)
        return OPT_VERSION;
    if (strcmp(name, "config") == 0)
        return OPT_CONFIG;
    if (strcmp(name, "channel") == 0)
        return OPT_CHANNEL;
    if (strcmp(name, "set") == 0)
        return OPT_SET;
    if (strcmp(name, "redis_url") == 0)
        name[5] = '\0'; /* --redis-url reads naturally too */
    if (strcmp(name, "jwt_secret_file") == 0 || strcmp(name, "jwt_public_key") == 0) {
        memmove(name + 5, name, strlen(name) + 1); /* --jwt-secret-file: auth.jwt_secret_file */
        memcpy(name, "auth.", 5);
    }
    *key = key_find(name);
    return *key ? OPT_KEY : OPT_UNKNOWN;
}

/* Walks argv. With cfg NULL only looks for --help/--version/--config (so help works
 * even with a broken config, and the file is known before it is loaded). */
/* --set key=value: a setting by its file name. */
static int set_option(gw_config *cfg, const char *v, pulse_error *err)
{
    char e[64];
    const char *eq = strchr(v, '=');
    char key[64], where[80];
    size_t kn = eq ? (size_t)(eq - v) : 0;
    if (!eq || kn == 0 || kn >= sizeof key)
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: --set: expected key=value (got '%s')",
                               echo(v, e, sizeof e));
    for (size_t j = 0; j < kn; j++)
        key[j] = v[j] == '-' ? '_' : v[j];
    key[kn] = '\0';
    const key_def *sk = key_find(key);
    if (!sk)
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: --set: unknown key '%s'", echo(key, e, sizeof e));
    snprintf(where, sizeof where, "--set %s", key);
    origin o = {.file = NULL, .line = 0, .name = where};
    return set_from_string(cfg, sk, eq + 1, &o, err);
}

/* One option with its value v; flag is the option as typed, without "=value". */
static int apply_option(gw_config *cfg, opt_kind kind, const key_def *k, const char *flag, const char *v,
                        pulse_error *err)
{
    origin o = {.file = NULL, .line = 0, .name = flag};
    switch (kind) {
    case OPT_CHANNEL:
        return static_add_list(cfg, v, &o, err);
    case OPT_KEY:
        return set_from_string(cfg, k, v, &o, err);
    case OPT_SET:
        return set_option(cfg, v, err);
    default:
        return 0; /* OPT_CONFIG: loaded before the environment */
    }
}

static int parse_args(gw_config *cfg, int argc, char *const argv[], const char **config_path,
                      int *help, pulse_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const key_def *k;
        char e[64];
        if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0') {
            if (strcmp(a, "--") == 0)
                a = i + 1 < argc ? argv[++i] : NULL;
            if (!a)
                break;
            if (!cfg)
                continue;
            return pulse_error_set(err, PULSE_EINVAL, 0, "config: unexpected argument '%s' (see --help)",
                                   echo(a, e, sizeof e));
        }
        opt_kind kind = classify(a, &k);
        if (kind == OPT_HELP || kind == OPT_VERSION) {
            if (!cfg && !*help)
                *help = kind == OPT_HELP ? 1 : 2;
            continue;
        }
        if (kind == OPT_UNKNOWN) {
            if (!cfg)
                continue;
            char opt[64];
            size_t n = strcspn(a, "=");
            snprintf(opt, sizeof opt, "%.*s", (int)(n < 48 ? n : 48), a);
            return pulse_error_set(err, PULSE_EINVAL, 0, "config: unknown option '%s' (see --help)",
                                   echo(opt, e, sizeof e));
        }

        /* Every other option takes a value: --opt=V or --opt V. */
        char flag[64];
        size_t fl = strcspn(a, "=");
        snprintf(flag, sizeof flag, "%.*s", (int)(fl < 60 ? fl : 60), a);
        const char *v;
        if (a[fl] == '=') {
            v = a + fl + 1;
        } else if (kind == OPT_KEY && k->kind == K_BOOL) {
            v = "true"; /* --insecure */
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            if (!cfg)
                continue;
            return pulse_error_set(err, PULSE_EINVAL, 0, "config: option '%s' needs a value", flag);
        }
        if (!cfg) {
            if (kind == OPT_CONFIG)
                *config_path = v;
            continue;
        }

        int rc = apply_option(cfg, kind, k, flag, v, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- after every source: checks that involve more than one key ---- */

static int finish(gw_config *cfg, pulse_error *err)
{
    if (cfg->queue_hard_messages < cfg->queue_max_messages)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: limits.queue_hard_messages (%d) must be >= limits.queue_max_messages (%d)",
                               cfg->queue_hard_messages, cfg->queue_max_messages);
    if (cfg->queue_hard_bytes < cfg->queue_max_bytes)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "config: limits.queue_hard_bytes (%lld) must be >= limits.queue_max_bytes (%lld)",
                               (long long)cfg->queue_hard_bytes, (long long)cfg->queue_max_bytes);

    pulse_url u, seeds[PULSE_URL_SEEDS_MAX];
    pulse_error uerr = {0};
    size_t nseeds = 0;
    free(cfg->redis_seeds);
    cfg->redis_seeds = NULL;
    cfg->n_redis_seeds = 0;
    cfg->redis_cluster = cfg->redis_url && pulse_url_is_cluster(cfg->redis_url);
    if (cfg->redis_cluster) {
        if (pulse_url_parse_cluster(cfg->redis_url, seeds, PULSE_URL_SEEDS_MAX, &nseeds, &uerr) != 0)
            return pulse_error_set(err, PULSE_EINVAL, 0, "config: redis: %s", uerr.text);
        cfg->redis_seeds = pulse_xcalloc(nseeds, sizeof(pulse_url));
        memcpy(cfg->redis_seeds, seeds, nseeds * sizeof(pulse_url));
        cfg->n_redis_seeds = nseeds;
        u = seeds[0];
        for (size_t i = 0; i < cfg->n_static_channels; i++)
            if (strchr(cfg->static_channels[i], '*'))
                return pulse_error_set(err, PULSE_EINVAL, 0,
                                       "config: channels.static: pattern '%s' with Redis Cluster (sharded pub/sub "
                                       "has no patterns)", cfg->static_channels[i]);
    } else if (!cfg->redis_url || pulse_url_parse(cfg->redis_url, "redis", &u, &uerr) != 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "config: redis: %s", uerr.text);
    replace_str(&cfg->redis_host, u.host);
    cfg->redis_port = u.port;
    replace_str(&cfg->redis_password, u.password[0] ? u.password : NULL);
    return 0;
}

int gw_config_load(gw_config *cfg, const char *path, char *const envp[], int argc, char *const argv[],
                   pulse_error *err)
{
    const char *flag_path = NULL;
    int help = 0;
    parse_args(NULL, argc, argv, &flag_path, &help, err);
    cfg->help_requested = help;
    if (help)
        return 1;

    if (!path)
        path = flag_path;
    if (!path) {
        path = env_get(envp, "PULSE_CONFIG");
        if (path && !path[0])
            path = NULL;
    }

    gw_config work;
    config_copy(&work, cfg);
    int rc = 0;
    if (path)
        rc = load_file(&work, path, err);
    if (rc == 0)
        rc = load_env(&work, envp, err);
    if (rc == 0)
        rc = parse_args(&work, argc, argv, NULL, NULL, err);
    if (rc == 0)
        rc = finish(&work, err);
    if (rc != 0) {
        gw_config_free(&work);
        return rc < 0 ? rc : PULSE_EINVAL;
    }
    gw_config_free(cfg);
    *cfg = work;
    return 0;
}

/* ---- lookups ---- */

const gw_channel_rule *gw_config_history_for(const gw_config *cfg, const char *channel)
{
    for (size_t i = 0; i < cfg->n_rules; i++)
        if (cfg->rules[i].history_size >= 0 && pulse_channel_match(cfg->rules[i].pattern, channel))
            return &cfg->rules[i];
    return &builtin_rules[N_BUILTIN - 1];
}

const gw_channel_rule *gw_config_presence_for(const gw_config *cfg, const char *channel)
{
    for (size_t i = 0; i < cfg->n_rules; i++)
        if (cfg->rules[i].presence >= 0 && pulse_channel_match(cfg->rules[i].pattern, channel))
            return &cfg->rules[i];
    return &builtin_rules[N_BUILTIN - 1];
}

pulse_history_rule *gw_config_history_rules(const gw_config *cfg, size_t *n)
{
    pulse_history_rule *out = pulse_xmalloc((cfg->n_rules + 1) * sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const gw_channel_rule *r = &cfg->rules[i];
        if (r->history_size >= 0)
            out[k++] = (pulse_history_rule){r->pattern, (uint32_t)r->history_size, (uint32_t)r->history_ttl_s};
    }
    if (k == 0 || strcmp(out[k - 1].pattern, "*") != 0)
        out[k++] = (pulse_history_rule){"*", 0, 0};
    *n = k;
    return out;
}

const gw_channel_rule *gw_config_rule_for(const gw_config *cfg, const char *channel)
{
    for (size_t i = 0; i < cfg->n_rules; i++)
        if (pulse_channel_match(cfg->rules[i].pattern, channel))
            return &cfg->rules[i];
    /* Only reachable when cfg never had gw_config_defaults. */
    return &builtin_rules[N_BUILTIN - 1];
}

const char *gw_config_usage(void)
{
    return "Usage: pulse-gateway [OPTIONS]\n"
           "\n"
           "Redis-backed WebSocket gateway (pulse.v1). Settings come from, in rising order:\n"
           "built-in defaults, a config file, PULSE_* environment variables, flags.\n"
           "\n"
           "Every setting has one name everywhere: the file key limits.max_connections is\n"
           "the environment variable PULSE_LIMITS_MAX_CONNECTIONS and the flag\n"
           "--limits.max-connections (dashes or underscores). Flags take --opt VALUE or\n"
           "--opt=VALUE; --set KEY=VALUE sets any file key. Unknown PULSE_* variables are\n"
           "ignored (other Pulse tools share the prefix). A sample file: gateway/pulse.conf.\n"
           "\n"
           "Options (default in brackets):\n"
           "  -h, --help                   show this text and exit\n"
           "      --version                print the version and exit\n"
           "      --config FILE            libconfig file to load [PULSE_CONFIG, else none]\n"
           "      --set KEY=VALUE          set any key, e.g. --set limits.lag_limit_ms=5000\n"
           "      --node-id ID             node name in logs and metrics, [A-Za-z0-9._:@-]{1,63}\n"
           "                               [host name]\n"
           "      --bind ADDR              WebSocket listen address [127.0.0.1]\n"
           "      --port N                 WebSocket port, 0 picks a free one [8080]\n"
           "      --admin-bind ADDR        admin HTTP listen address [127.0.0.1]\n"
           "      --admin-port N           admin HTTP port (/metrics /healthz /stats /publish),\n"
           "                               0 picks a free one [9090]\n"
           "      --redis URL              redis://[[user]:password@]host[:port][/db], or\n"
           "                               redis+cluster://[[user]:password@]host:port[,host:port...]\n"
           "                               [redis://127.0.0.1:6379]\n"
           "      --workers N              WebSocket worker threads, 1-64 [1]\n"
           "      --log-level L            error|warn|info|debug [info]\n"
           "      --log-format F           text|json [text]\n"
           "      --channel C[,C...]       add channels subscribed at start (repeatable);\n"
           "                               --channels.static=C,... replaces the list [none]\n"
           "\n"
           "Limits (--limits.NAME N, PULSE_LIMITS_NAME, file group limits = { NAME = N; }):\n"
           "      --limits.max-connections N        per node, 1-10000000 [100000]\n"
           "      --limits.max-message-size N       bytes per client message, 64-16777216 [65536]\n"
           "      --limits.max-subscriptions N      per connection, 1-100000 [64]\n"
           "      --limits.queue-max-messages N     soft queue bound per connection [1024]\n"
           "      --limits.queue-max-bytes N        soft queue bound in bytes [1048576]\n"
           "      --limits.queue-hard-messages N    hard bound for critical, >= soft [8192]\n"
           "      --limits.queue-hard-bytes N       hard bound in bytes, >= soft [8388608]\n"
           "      --limits.lag-limit-ms N           unwritable longer: closed 1008 [10000]\n"
           "      --limits.heartbeat-interval-s N   idle seconds before a PING, 0 = off [30]\n"
           "      --limits.heartbeat-timeout-s N    no PONG within this: closed [10]\n"
           "      --limits.handshake-timeout-s N    seconds to finish the WebSocket handshake [10]\n"
           "      --limits.drain-timeout-ms N       on SIGTERM [5000]\n"
           "      --limits.redis-ping-interval-ms N Redis watchdog PING period [1000]\n"
           "      --limits.redis-ping-timeout-ms N  no PONG within this: Redis stalled [3000]\n"
           "      --limits.redis-backoff-max-ms N   reconnect backoff cap [1000]\n"
           "      --limits.history-recover-max N    most events one recovery replays, 0 = no cap [5000]\n"
           "      --limits.history-read-max N       most events one history read returns [1000]\n"
           "\n"
           "Channel rules (priority, drop policy, history_size and history_ttl_s, presence and\n"
           "join_leave per channel pattern) are set in the file only; built in: events.critical\n"
           "and alerts.* critical/never with 1000 events of history for 86400 s, * normal/drop,\n"
           "no history; presence off everywhere.\n"
           "\n"
           "Presence (docs/PROTOCOL.md; file group presence = { NAME = N; }):\n"
           "      --presence.refresh-interval-s N   refresh of the node's entries, 1-3600; an\n"
           "                                        entry expires after 3 intervals [5]\n"
           "      --presence.list-max N             most clients one presence answer lists [1000]\n"
           "\n"
           "The Centrifugo endpoint /connection/websocket (docs/CENTRIFUGO.md; file group\n"
           "centrifugo = { NAME = N; }):\n"
           "      --centrifugo.ping-interval-s N    server ping {} period, told to the client [25]\n"
           "      --centrifugo.pong-timeout-s N     no pong {} within this of a ping: close 3012 [10]\n"
           "      --centrifugo.expired-close-delay-s N  past the token's exp without a refresh:\n"
           "                                        close 3005 after this [25]\n"
           "\n"
           "Security (docs/SECURITY.md; file groups auth = {...}, admin = {...}, ws = {...}):\n"
           "      --jwt-secret-file PATH            HS256 key: every connection needs a JWT [off]\n"
           "      --jwt-public-key PATH             RS256/ES256 PEM public key instead [off]\n"
           "      --auth.algorithm A                pinned algorithm [from the key]\n"
           "      --auth.leeway-s N                 exp/nbf leeway, 0-3600 [30]\n"
           "      --auth.audience S / --auth.issuer S   required aud / iss [not checked]\n"
           "      --auth.handshake-timeout-ms N     time for {\"op\":\"auth\"} without ?token= [5000]\n"
           "      --auth.owner-pattern P[,P...]     user-owned channels, {sub} = token subject\n"
           "                                        [feed:user-{sub},notifications:user-{sub}]\n"
           "      --admin.api-key-file PATH         admin Bearer key (or PULSE_ADMIN_API_KEY) [none]\n"
           "      --admin.protect-reads             true: /metrics /healthz /stats need the key; false: reads\n"
           "                                        open [auto: /metrics /stats need it when a key is set]\n"
           "      --ws.allowed-origins O[,O...]     allowed Origin headers [any]\n"
           "      --ws.event-loop epoll|poll|libev  each worker's loop: lws's, its poll() answered by epoll;\n"
           "                                        lws's with the C library's poll(); or libev [epoll]\n"
           "      --ws.io-uring[=BOOL]              a fan-out's sends in one io_uring call; false: one\n"
           "                                        send() each (also when the kernel refuses io_uring) [true]\n"
           "      --limits.max-connections-per-ip N 0 = off [0]\n"
           "      --limits.commands-per-second N    client commands per connection, 0 = off [50]\n"
           "      --limits.max-channels N           distinct channels per node [100000]\n"
           "      --limits.max-patterns N           distinct patterns per node, 0 = none [100]\n"
           "      --limits.max-pattern-stars N      '*' per pattern, 1-64 [3]\n"
           "      --limits.new-subscriptions-per-second N  new Redis subscriptions per node, bursts of\n"
           "                                        2x, 0 = off [1000]\n"
           "      --tls-cert PATH --tls-key PATH    serve wss:// [off]\n"
           "      --insecure                        allow a non-loopback --bind without auth, or a\n"
           "                                        non-loopback --admin-bind without a key [false]\n"
           "\n"
           "Exit status: 0 after a clean shutdown (SIGTERM/SIGINT, queued events drained) or\n"
           "--help/--version, 1 runtime failure (cannot listen, out of memory), 2 bad usage\n"
           "or configuration (the message names the key).\n";
}
