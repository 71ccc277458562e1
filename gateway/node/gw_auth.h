/*
 * gw_auth.h - the gateway's security decisions, as pure logic: JWT verification with
 * the algorithm pinned by configuration, per-channel authorization from the token's
 * claims (with user-owned channels), the admin API key and the Origin allow-list.
 * The runtime counters that go with them (per-address connections, command rate) are
 * gw_limits.h's. docs/SECURITY.md describes the controls and their defaults.
 *
 * One gw_auth per process, built by main from the configuration before any thread
 * starts (gw_auth_new), held by the node (node->auth) and read-only afterwards: every
 * function here may be called from any thread.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "pulse_err.h"

typedef struct gw_auth gw_auth;

/* What a verified token allows: one malloc'd block (free with gw_auth_principal_free).
 * pats[0..n_channels) are the subscribe patterns ("channels" claim), then n_publish
 * publish patterns ("publish" claim). */
#define GW_AUTH_INFO_MAX 1024

typedef struct gw_principal {
    int64_t exp;        /* "exp" in seconds since the epoch; 0 when the token has none */
    const char *sub;    /* "sub", NULL when absent */
    const char *info;   /* "info" (an object) as compact JSON, at most GW_AUTH_INFO_MAX bytes;
                         * NULL when absent (presence entries carry it) */
    uint16_t n_channels, n_publish;
    const char *pats[];
} gw_principal;

/* Verification results: 0, or one of these codes (pulse_err.h's contract: unique
 * across Pulse, never a PULSE_E* value). gw_auth_reason is their errstr: a short
 * static text, fit for a close frame (it never holds the key or the token). */
enum {
    GW_AUTH_EMISSING = PULSE_ECODE_GATEWAY - 1,    /* no token */
    GW_AUTH_EMALFORMED = PULSE_ECODE_GATEWAY - 2,  /* not three base64url parts of JSON objects */
    GW_AUTH_EALG = PULSE_ECODE_GATEWAY - 3,        /* header alg is not the configured one (incl. "none") */
    GW_AUTH_ESIG = PULSE_ECODE_GATEWAY - 4,        /* signature does not verify */
    GW_AUTH_EEXPIRED = PULSE_ECODE_GATEWAY - 5,    /* now >= exp + leeway */
    GW_AUTH_ENOTYET = PULSE_ECODE_GATEWAY - 6,     /* now < nbf - leeway */
    GW_AUTH_EAUD = PULSE_ECODE_GATEWAY - 7,        /* audience configured and not in "aud" */
    GW_AUTH_EISS = PULSE_ECODE_GATEWAY - 8,        /* issuer configured and "iss" differs */
    GW_AUTH_ECLAIMS = PULSE_ECODE_GATEWAY - 9,     /* a claim of the wrong type (channels not an array, ...) */
    GW_AUTH_ESUB = PULSE_ECODE_GATEWAY - 10,       /* refresh: the new token's sub differs */
};

#define GW_AUTH_TOKEN_MAX 8192 /* bytes; longer tokens are malformed */
/* The latest exp kept (9999-12-31T23:59:59Z): a later one, up to any double, counts as
 * this, so every time computed from it stays far inside int64 milliseconds. */
#define GW_AUTH_EXP_MAX INT64_C(253402300799)

/* Builds the process's security context from cfg: reads the JWT key (auth.*) and the
 * admin key files, checks that the key type fits the pinned algorithm, parses the
 * owner patterns and the Origin list. 0 with *out set (also when auth is off), or a
 * negative code with err filled (never quoting a key). */
int gw_auth_new(const gw_config *cfg, gw_auth **out, pulse_error *err);
void gw_auth_free(gw_auth *a); /* NULL is fine */

/* true when connections must present a token (a JWT key is configured). */
bool gw_auth_enabled(const gw_auth *a);
/* "HS256", ... or "off". */
const char *gw_auth_algorithm(const gw_auth *a);

/* Verifies token[0..len) at wall-clock time now_s. 0 with *out (caller frees), or a
 * GW_AUTH_E* code. */
int gw_auth_verify(const gw_auth *a, const char *token, size_t len, int64_t now_s, gw_principal **out);
/* The monotonic time (ms) at which a principal with exp (seconds since the epoch, 0:
 * none) stops being valid given leeway_s, the wall clock now_s and the monotonic
 * now_mono_ms: 0 for never, now_mono_ms when already past, else saturated at
 * INT64_MAX (no overflow whatever the inputs). Pure; any thread. */
int64_t gw_auth_deadline_ms(int64_t exp, int64_t leeway_s, int64_t now_s, int64_t now_mono_ms);
const char *gw_auth_reason(int code);
void gw_auth_principal_free(gw_principal *p);

/* Authorization. With auth off everything is allowed; with auth on and p NULL
 * (not yet authenticated) nothing is. The rules (docs/SECURITY.md):
 *  - owner rule: a channel in an owner pattern's namespace (feed:user-{sub} ->
 *    feed:user-*) is allowed only to the token whose sub fills it in, whatever the
 *    other claims say; the owner may always subscribe to it;
 *  - otherwise a channel is allowed when a "channels" (subscribe) or "publish"
 *    pattern matches it;
 *  - a pattern subscription is allowed when an allowed pattern covers it (every
 *    channel it can match is matched by the allowed pattern) and it cannot reach any
 *    owner namespace. Publishing is to channels only, never patterns, and needs a
 *    token: with auth off gw_auth_may_publish is always false. */
bool gw_auth_may_subscribe(const gw_auth *a, const gw_principal *p, const char *name, bool is_pattern);
bool gw_auth_may_publish(const gw_auth *a, const gw_principal *p, const char *channel);

/* true when every channel matched by pattern `inner` is matched by `outer` too. */
bool gw_auth_pattern_covers(const char *outer, const char *inner);
/* true when some channel matches both patterns. */
bool gw_auth_patterns_overlap(const char *a, const char *b);

/* Admin API: 0 when a request with this Authorization header value (NULL: none) may
 * proceed; is_write for state-changing endpoints. The key is compared in constant
 * time (SHA-256 of both, CRYPTO_memcmp). */
int gw_auth_admin_check(const gw_auth *a, const char *authorization, bool is_write);
bool gw_auth_admin_has_key(const gw_auth *a);
/* Reads (is_write false) need the key when one is set unless admin.protect_reads is
 * false; /healthz only when it is true (load-balancer probes carry no key). */
bool gw_auth_admin_health_protected(const gw_auth *a);
/* true when channel lies in an owner namespace (feed:user-*, ...): listings leave it
 * out, as its name says who is online. */
bool gw_auth_owner_channel(const gw_auth *a, const char *channel);
/* Admin requests from browsers and DNS rebinding (issue 13.7). gw_auth_admin_host_ok:
 * true when the Host header value (NULL: absent, an HTTP/1.0 client) names the admin
 * listener bound to bind: with a wildcard bind (0.0.0.0, ::, *) any; otherwise an
 * address literal equal to bind or a loopback one, or "localhost" (any port).
 * gw_auth_admin_origin_ok: true when there is no Origin or it is the admin's own
 * (http[s]://<host>, host as in the Host header): the admin's own page (GET /) is
 * the only page it serves, so any other Origin is a foreign page's request. Pure;
 * any thread. */
bool gw_auth_admin_host_ok(const char *bind, const char *host);
bool gw_auth_admin_origin_ok(const char *origin, const char *host);
/* The host name of a Host header value (NULL: absent) as a CSP host-source for the
 * admin page's connect-src: the part before the port when it is 1-255 bytes of
 * [A-Za-z0-9.-], else "*" (an IPv6 literal, anything a CSP cannot name). out gets a
 * NUL-terminated string of at most cap-1 bytes (cap >= 2; "*" when the name does not
 * fit). Pure; any thread. */
void gw_auth_csp_host(const char *host, char *out, size_t cap);

/* Origin allow-list: true when no list is configured, the request has no Origin
 * (a non-browser client), or origin equals an entry (ASCII case-insensitive; an
 * entry "*" allows any). */
bool gw_auth_origin_allowed(const gw_auth *a, const char *origin);

/* The listener exposure rule: 0, or PULSE_EINVAL with err saying why, when bind is
 * not loopback and JWT auth is off, or admin_bind is not loopback and there is no
 * admin key, and cfg->insecure is not set. */
int gw_auth_check_exposure(const gw_config *cfg, const gw_auth *a, pulse_error *err);
/* true when addr is a loopback address literal (127.0.0.0/8, ::1, [::1], IPv4-mapped
 * 127.x) or a name that resolves (getaddrinfo: blocking, start-up only) to loopback
 * addresses only; "127.evil.example" is whatever its DNS says. */
bool gw_auth_is_loopback(const char *addr);

#endif
