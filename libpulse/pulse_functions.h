/*
 * pulse_functions.h - the Redis side of history: the Redis 7 function library `pulse`
 * generated from channel rules, the key names it uses, and the reader of the header it
 * puts in front of every message it publishes. Pure C, no I/O, no allocation except
 * the library text; thread-safe (no shared state).
 *
 * The library (loaded with FUNCTION LOAD REPLACE <text>) holds three functions:
 *   FCALL pulse_publish 1 <C> <payload> [<history_size> <history_ttl_s>] -> offset
 *       channels with history: one atomic step bumps pulse:{C}:meta offset (a new random
 *       epoch when the meta is missing: new channel, expired, FLUSHALL; the epoch is
 *       read from the meta only when the offset is not the one after the last this
 *       library instance gave), appends <offset>-0 d <payload> to pulse:{C}:stream
 *       (XADD, with MAXLEN ~ size every 1 + size/64 events, at most every 16), sets
 *       the TTL of both keys (on a new epoch, and again whenever the meta's PTTL has
 *       fallen below 99% of it: the keys live at least 0.99 x TTL after the last
 *       publish, and a busy channel pays one PTTL instead of two PEXPIREs) and
 *       PUBLISHes "#pulse1 <offset> <epoch>\n<payload>" on C.
 *       Channels without history (size 0 by the rules and no explicit args): plain
 *       PUBLISH C <payload>, returns 0. Explicit args override the rules.
 *   FCALL_RO pulse_position 1 <C> -> [offset, epoch] ([0, ""] when C has no history)
 *   FCALL_RO pulse_version 0 -> "1:<16 hex digits>" (a hash of the whole library text,
 *       so it changes with the rules and with the code)
 * and the presence functions (docs/PROTOCOL.md, "Presence"; keys pulse:{C}:pres,
 * pulse:{C}:pexp, pulse:{C}:pusers), each first purging at most
 * PULSE_PRESENCE_PURGE_MAX expired members (a leave each):
 *   FCALL pulse_presence_add 1 <C> <client> <user> <entry_json> <expire_ms> <join_leave 0|1>
 *   FCALL pulse_presence_remove 1 <C> <client> <join_leave 0|1>
 *   FCALL pulse_presence_touch 1 <C> <expire_ms> <join_leave 0|1> <client>... -> the
 *       clients it does not hold (at most PULSE_PRESENCE_TOUCH_MAX per call)
 *   FCALL pulse_presence 1 <C> <limit> [<join_leave 0|1>] -> at most limit entry JSONs
 *   FCALL pulse_presence_stats 1 <C> [<join_leave 0|1>] -> [clients, distinct users]
 *   With join_leave 1 a new entry publishes "#pulse1 join\n{"op":"join","channel":"C",
 *   <the entry's members>}" on C, a removed or purged one "#pulse1 leave\n...".
 * Rules are tried in order, the first whose pattern matches the channel wins ('*'
 * matches any run, as in pulse_channel_match). No rules given means the built-in ones:
 * events.critical and alerts.* keep PULSE_HISTORY_DEFAULT_SIZE events for
 * PULSE_HISTORY_DEFAULT_TTL_S seconds, every other channel keeps none.
 */
#ifndef PULSE_FUNCTIONS_H
#define PULSE_FUNCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulse_err.h"

#define PULSE_FN_LIBRARY "pulse"           /* FUNCTION LOAD library name */
#define PULSE_FN_PUBLISH "pulse_publish"
#define PULSE_FN_POSITION "pulse_position"
#define PULSE_FN_VERSION "pulse_version"
#define PULSE_FN_PRESENCE_ADD "pulse_presence_add"
#define PULSE_FN_PRESENCE_REMOVE "pulse_presence_remove"
#define PULSE_FN_PRESENCE_TOUCH "pulse_presence_touch"
#define PULSE_FN_PRESENCE "pulse_presence"
#define PULSE_FN_PRESENCE_STATS "pulse_presence_stats"
#define PULSE_PRESENCE_PURGE_MAX 100       /* expired members one call purges */
#define PULSE_PRESENCE_TOUCH_MAX 1000      /* clients one pulse_presence_touch call refreshes */
#define PULSE_FN_VERSION_MAX 24            /* "1:" + 16 hex + NUL fits */
#define PULSE_HISTORY_DEFAULT_SIZE 1000
#define PULSE_HISTORY_DEFAULT_TTL_S 86400
#define PULSE_HISTORY_MAX_SIZE 10000000u   /* events per channel */
#define PULSE_HISTORY_MAX_TTL_S 31536000u  /* one year */
#define PULSE_HISTORY_MAX_RULES 1024
#define PULSE_EPOCH_LEN 8                  /* the library's epochs: 8 of [A-Za-z0-9] */
#define PULSE_EPOCH_MAX 32                 /* what the header reader accepts */
#define PULSE_HEADER_PREFIX "#pulse1 "
#define PULSE_HEADER_PREFIX_LEN 8

/* One channel rule. pattern is a channel name or a glob with '*'
 * (pulse_channel_validate_pattern); history_size 0 means no history (then the TTL is
 * ignored), else 1..PULSE_HISTORY_MAX_SIZE with history_ttl_s 1..PULSE_HISTORY_MAX_TTL_S. */
typedef struct {
    const char *pattern;
    uint32_t history_size;
    uint32_t history_ttl_s;
} pulse_history_rule;

/* The built-in rules (static storage, never freed); *n gets their count. */
const pulse_history_rule *pulse_history_default_rules(size_t *n);

/* 0 when r is a valid rule, else PULSE_EINVAL with err naming the field. */
int pulse_history_rule_check(const pulse_history_rule *r, pulse_error *err);

/* The first rule of rules[0..n) matching channel (the built-in rules when n is 0),
 * exactly as the generated library decides; NULL when none matches. The result points
 * into rules (or the static defaults). A match with history_size 0 means no history. */
const pulse_history_rule *pulse_history_rule_for(const pulse_history_rule *rules, size_t n,
                                                 const char *channel);

/* Generates the library's Lua text for rules[0..n) (n 0: the built-in rules).
 * On success returns 0, *src is a NUL-terminated malloc'd string the caller frees with
 * free(), and version (PULSE_FN_VERSION_MAX bytes, may be NULL) holds what
 * pulse_version will answer. On failure *src is NULL and err says which rule is bad
 * (PULSE_EINVAL) or PULSE_ENOMEM. */
int pulse_functions_source(const pulse_history_rule *rules, size_t n, char **src,
                           char *version, pulse_error *err);
/* The same; sharded true generates the Redis Cluster variant, which publishes with
 * SPUBLISH (sharded pub/sub: the message travels only inside the channel's shard)
 * where the other uses PUBLISH. The version differs between the two. */
int pulse_functions_source_for(const pulse_history_rule *rules, size_t n, bool sharded, char **src,
                               char *version, pulse_error *err);

/* Writes the name of a channel's key, "pulse:{<channel>}:meta" (which "meta") or
 * "pulse:{<channel>}:stream" ("stream"), NUL-terminated, into buf. Returns its length,
 * PULSE_ENOSPC, or PULSE_EINVAL (bad channel or which). */
int pulse_history_key(const char *channel, const char *which, char *buf, size_t cap);

/* The position a message published by pulse_publish carries. */
typedef struct {
    uint64_t offset;                /* >= 1 */
    char epoch[PULSE_EPOCH_MAX + 1];
    size_t header_len;              /* bytes before the payload (prefix, fields, '\n') */
} pulse_position_hdr;

/* Reads the header of a message received on a channel: msg[0..len) (not necessarily
 * NUL-terminated) starting with "#pulse1 <offset> <epoch>\n". Returns 0 and fills out
 * (the payload is msg + out->header_len); PULSE_ENOENT when msg does not start with the
 * prefix (a raw PUBLISH: deliver it as it is); PULSE_EINVAL when it starts with the
 * prefix but the header is malformed (offset not 1..2^63-1 in decimal, epoch not 1..32
 * of [A-Za-z0-9_-], no '\n'). Never reads past len. */
int pulse_position_hdr_parse(const char *msg, size_t len, pulse_position_hdr *out);

/* The two history keys of channel, pulse:{channel}:meta and pulse:{channel}:stream,
 * as the Redis Cluster form of the publish names them: FCALL pulse_publish 2 <meta>
 * <stream> <payload> [...]. Declaring the keys the function touches (not the channel,
 * which is no key) lets Redis Cluster route the call while the slot migrates: it runs
 * where both keys are, answers ASK where neither is, TRYAGAIN where one is. 0, or -1
 * when a name does not fit its buffer. */
int pulse_cluster_keys(const char *channel, char *meta, size_t meta_cap, char *stream, size_t stream_cap);

#endif
