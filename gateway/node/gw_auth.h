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
typedef struct gw_principal {
    int64_t exp;        /* "exp" in seconds since the epoch; 0 when the token has none */
    const char *sub;    /* "sub", NULL when absent */
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

/* Origin allow-list: true when no list is configured, the request has no Origin
 * (a non-browser client), or origin equals an entry (ASCII case-insensitive; an
 * entry "*" allows any). */
bool gw_auth_origin_allowed(const gw_auth *a, const char *origin);

/* The listener exposure rule: 0, or PULSE_EINVAL with err saying why, when bind is
 * not loopback and JWT auth is off, or admin_bind is not loopback and there is no
 * admin key, and cfg->insecure is not set. */
int gw_auth_check_exposure(const gw_config *cfg, const gw_auth *a, pulse_error *err);
bool gw_auth_is_loopback(const char *addr);

#endif
