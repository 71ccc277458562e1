/*
 * gw_limits.h - the node's runtime limits on clients, apart from the pure auth logic
 * (gw_auth.h): the per-address connection count (limits.max_connections_per_ip) and
 * the per-connection command rate limit (limits.commands_per_second).
 *
 * The node owns one gw_limits (node->limits, made by gw_node_init, freed by
 * gw_node_cleanup); its table has its own lock, so every worker thread may call it.
 * A gw_ratelimit lives in its connection and is touched only by that worker.
 */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gw_limits gw_limits;

/* max_per_ip 0: no per-address limit (every call below is then a no-op). */
gw_limits *gw_limits_new(int max_per_ip);
void gw_limits_free(gw_limits *l); /* NULL is fine */

/* gw_limits_ip_full answers before the handshake completes; gw_limits_ip_acquire
 * counts an established connection and returns the key to release it with (0 when
 * the limit is off; releasing 0 does nothing). */
bool gw_limits_ip_full(gw_limits *l, const char *ip);
uint64_t gw_limits_ip_acquire(gw_limits *l, const char *ip);
void gw_limits_ip_release(gw_limits *l, uint64_t key);
/* At accept, so that half-open handshakes count (issue 13.1): counts the socket for
 * ip and returns its key unless ip already holds `hard` sockets (then 0, nothing
 * counted). 0 as well when the limit is off. gw_limits_ip_over: whether key's address
 * holds more sockets than the limit (the handshake is then answered 429). */
uint64_t gw_limits_ip_admit(gw_limits *l, const char *ip, int hard);
bool gw_limits_ip_over(gw_limits *l, uint64_t key);

/* A token bucket per connection: rate commands per second, bursts of 2 x rate. */
typedef struct {
    float tokens;
    float strikes;    /* recent refusals, decaying at rate/2 per second */
    int64_t last_ms;  /* 0: never used */
} gw_ratelimit;

enum { GW_RL_OK = 0, GW_RL_LIMITED = 1, GW_RL_ABUSE = 2 };
/* GW_RL_OK, GW_RL_LIMITED (answer "rate_limited"), or GW_RL_ABUSE (more than
 * 2 x rate + 10 refusals outstanding: close 1008). rate 0: always OK. Pure. */
int gw_ratelimit_take(gw_ratelimit *rl, int rate, int64_t now_ms);

#endif
