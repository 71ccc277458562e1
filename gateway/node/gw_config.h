/*
 * gw_config.h - the gateway's configuration: defaults, then a libconfig file, then
 * PULSE_* environment variables, then command-line flags (each overriding the last).
 *
 * Every key has one name used in all three places: the file key "limits.max_connections"
 * is the environment variable PULSE_LIMITS_MAX_CONNECTIONS and the flag
 * --limits.max-connections (the common ones also have short flags: --port, --admin-port,
 * --redis, --node-id, --workers, --log-level, --log-format, --bind, --admin-bind,
 * --config). A bad value (unknown key in the file, wrong type, out of range,
 * unparsable URL) is reported as one line naming the key and the problem; the caller
 * prints it and exits with status 2.
 *
 * Pure logic (no sockets, no threads); the struct is read-only once loaded and may be
 * shared by every thread.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H


#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulse_err.h"
#include "pulse_event.h"
#include "pulse_functions.h"
#include "pulse_url.h"

/* ws.event_loop: the loop under each worker's lws context */
enum {
    GW_EVLOOP_POLL = 0,  /* lws's own, with the C library's poll() */
    GW_EVLOOP_LIBEV = 1, /* libev (epoll) through lws's evlib plugin (gw_evloop.h) */
    GW_EVLOOP_EPOLL = 2, /* lws's own, its poll() answered by an epoll set (gw_epoll.h) */
};

typedef enum {
    GW_POLICY_DROP = 0,   /* a full queue drops the new message for that connection */
    GW_POLICY_LATEST = 1, /* keep only the newest queued message of the channel */
    GW_POLICY_NEVER = 2,  /* never dropped: past the hard bound the connection is closed */
} gw_policy;

/* One channel rule: channels matching `pattern` (glob, '*') get this priority and
 * policy. Rules are tried in order; the first match wins. History is decided the same
 * way among the rules that set it: a rule without history_size leaves history to the
 * next matching rule that has one (so a user rule that only changes the policy of
 * alerts.* keeps the built-in history of alerts.*). */
typedef struct {
    char *pattern;
    pulse_priority priority; /* NORMAL or CRITICAL */
    gw_policy policy;
    /* The most an event's own "priority" field may claim on these channels (an event
     * asking more gets this): CRITICAL lets publishers raise it, NORMAL fixes it. */
    pulse_priority max_priority;
    /* Whether a WebSocket publish's own "priority" counts at all: when false (the
     * default) the worker removes it from the data, and the rule decides. */
    bool ws_priority;
    int history_size;        /* events kept in the channel's stream; 0 none; -1 not set here */
    int history_ttl_s;       /* seconds the history lives after the last publish */
    int presence;            /* presence (docs/PROTOCOL.md): 1 on, 0 off, -1 not set here */
    int join_leave;          /* join/leave events where presence is on: 1, 0, -1 not set */
} gw_channel_rule;

typedef struct {
    /* node */
    char *node_id;          /* default: the host name */
    char *bind;             /* WebSocket listen address, default "127.0.0.1" */
    int port;               /* 0..65535, default 8080 (0 = pick a free port) */
    char *admin_bind;       /* default "127.0.0.1" */
    int admin_port;         /* 0..65535, default 9090 */
    char *redis_url;        /* default "redis://127.0.0.1:6379" */
    char *redis_host;       /* parsed from redis_url */
    int redis_port;
    char *redis_password;   /* NULL when none */
    bool redis_cluster;     /* redis_url is redis+cluster://: Redis Cluster, sharded pub/sub */
    pulse_url *redis_seeds; /* cluster seed nodes (n_redis_seeds), NULL otherwise; the
                             * first is also redis_host/redis_port */
    size_t n_redis_seeds;
    int workers;            /* 1..64, default 1 */
    char *log_level;        /* error|warn|info|debug, default info */
    char *log_format;       /* text|json, default text */

    /* limits */
    int max_connections;        /* default 100000 */
    int max_message_size;       /* bytes per client message, across fragments; default 65536 */
    int max_subscriptions;      /* per connection, default 64 */
    int queue_max_messages;     /* soft bound per connection, default 1024 */
    int64_t queue_max_bytes;    /* soft bound per connection, default 1 MiB */
    int queue_hard_messages;    /* hard bound (critical may exceed the soft one), default 8192 */
    int64_t queue_hard_bytes;   /* default 8 MiB */
    int lag_limit_ms;           /* unwritable longer than this: closed 1008; default 5000 */
    int heartbeat_interval_s;   /* idle seconds before a PING, default 30 */
    int heartbeat_timeout_s;    /* no PONG within this: closed, default 10 */
    int handshake_timeout_s;    /* default 10 */
    int drain_timeout_ms;       /* on SIGTERM, default 5000 */
    int redis_ping_interval_ms; /* watchdog PING period, default 1000 */
    int redis_ping_timeout_ms;  /* no PONG within this: Redis declared stalled, default 3000 */
    int redis_backoff_max_ms;   /* reconnect backoff cap, default 1000 */
    int history_recover_max;    /* most events replayed by one recovery or gap repair, default 5000 */
    int history_read_max;       /* most events one history read returns, default 1000 */

    /* presence (docs/PROTOCOL.md, "Presence") */
    int presence_refresh_interval_s; /* the node refreshes its entries this often, default 5 */
    int presence_list_max;           /* most clients one presence answer lists, default 1000 */
    /* The Centrifugo endpoint (docs/CENTRIFUGO.md) */
    int cf_ping_interval_s;          /* server ping {} period (the connect reply's "ping"), default 25 */
    int cf_pong_timeout_s;           /* no pong {} this long after a ping: close 3012, default 10 */
    int cf_expired_close_delay_s;    /* exp (+ leeway) passed without a refresh: close 3005 after this, default 25 */

    /* channels */
    char **static_channels;     /* subscribed at start whatever the clients do */
    size_t n_static_channels;
    gw_channel_rule *rules;     /* user rules first, then the built-in defaults */
    size_t n_rules;

    /* security (docs/SECURITY.md); strings NULL or "" when unset */
    char *auth_jwt_secret_file;   /* HS* key file; auth is on when this or the next is set */
    char *auth_jwt_public_key;    /* RS256/ES256 PEM public key file */
    char *auth_algorithm;         /* pinned alg; default from the key (HS256/RS256/ES256) */
    int auth_leeway_s;            /* exp/nbf leeway, default 30 */
    char *auth_audience;          /* required "aud" when set */
    char *auth_issuer;            /* required "iss" when set */
    int auth_handshake_timeout_ms; /* in-band {"op":"auth"} deadline, default 5000 */
    char *auth_owner_pattern;     /* comma list, default "feed:user-{sub},notifications:user-{sub}" */
    char *admin_api_key_file;     /* admin bearer key from a file ... */
    char *admin_api_key;          /* ... or given directly (PULSE_ADMIN_API_KEY) */
    int admin_protect_reads;      /* -1 (default) auto: /metrics and /stats need the key whenever one is
                                   * set; 1: /healthz too; 0: reads are open */
    char *ws_allowed_origins;     /* comma list of Origin values; unset: any */
    int ws_event_loop;            /* each worker's lws loop: GW_EVLOOP_* */
    int ws_io_uring;              /* 1: a fan-out's sends through io_uring (gw_usend.h), 0: send() each */
    int max_connections_per_ip;   /* 0 = off (default) */
    int commands_per_second;      /* per connection token bucket, 0 = off, default 50 */
    /* Node-wide subscription limits (issue 13.2): every distinct name is a SUBSCRIBE
     * on the shared Redis, every pattern costs each PUBLISH there for every node. */
    int max_channels;             /* distinct channels per node, default 100000 */
    int max_patterns;             /* distinct patterns per node, default 100 */
    int max_pattern_stars;        /* '*' per pattern, default 3 */
    int new_subscriptions_per_second; /* new Redis (P)SUBSCRIBEs per node, bursts of 2x, 0 = off */
    char *tls_cert, *tls_key;     /* PEM files: wss:// when both are set */
    int insecure;                 /* 1: allow non-loopback listeners without auth/key */

    /* load results */
    char *config_path;          /* the file that was loaded, NULL when none */
    int help_requested;         /* when gw_config_load returns 1: 1 = --help, 2 = --version */
} gw_config;

/* Fills cfg with the defaults. The built-in rules are, in order:
 *   events.critical -> critical/never, alerts.* -> critical/never, * -> normal/drop. */
void gw_config_defaults(gw_config *cfg);

/* Loads in order: file (when path is not NULL), environment (envp, NULL-terminated
 * "K=V" strings; NULL skips), then argv flags (argc/argv as given to main, argv[0]
 * skipped). The --config flag in argv names the file when path is NULL.
 * Returns 0; 1 when --help or --version was asked (the caller prints usage and exits
 * 0); or a negative code with err filled ("config: limits.max_connections: must be
 * an integer from 1 to 10000000 (got 'abc')"; file errors carry the line). cfg must
 * have been given gw_config_defaults first. On error cfg is left exactly as it was (the
 * caller still frees it). log_level and log_format are stored by their canonical names. */
int gw_config_load(gw_config *cfg, const char *path, char *const envp[], int argc, char *const argv[],
                   pulse_error *err);

/* The usage text for --help. Static storage. */
const char *gw_config_usage(void);

/* The first rule matching channel; never NULL (the last built-in rule matches all). */
const gw_channel_rule *gw_config_rule_for(const gw_config *cfg, const char *channel);

/* The first rule matching channel that sets history (history_size >= 0); never NULL
 * (the last built-in rule, '*', sets none). */
const gw_channel_rule *gw_config_history_for(const gw_config *cfg, const char *channel);

/* The first rule matching channel that sets presence (presence >= 0); never NULL (the
 * last built-in rule, '*', sets none). Its join_leave counts only when presence is 1
 * (-1 there means off). */
const gw_channel_rule *gw_config_presence_for(const gw_config *cfg, const char *channel);

/* The rules that set history, in order, as the function library takes them
 * (pulse_functions_source). A new array (free() it) whose patterns point into cfg;
 * *n gets its length (>= 1: the built-in '*' is always there). */
pulse_history_rule *gw_config_history_rules(const gw_config *cfg, size_t *n);

/* Frees every string and array cfg owns (not cfg itself); cfg may be NULL. */
void gw_config_free(gw_config *cfg);

#endif
