/*
 * gw_preswire.h - the presence wire, read without I/O: the replies of the presence
 * functions of the library `pulse` (libpulse/pulse_functions.h) as hiredis redisReply
 * trees, and the join/leave messages those functions PUBLISH on a channel.
 *
 * Redis keeps, per presence channel C (all in C's hash slot):
 *   pulse:{C}:pres    hash  client id -> entry JSON {"client":..,"user":..,"node":..[,"info":{..}]}
 *   pulse:{C}:pexp    zset  client id -> expiry time in ms
 *   pulse:{C}:pusers  hash  user -> number of entries of that user
 * and publishes on C "#pulse1 join\n{"op":"join","channel":"C",<entry fields>}" (and
 * "leave") when the channel's rule has join_leave.
 *
 * Pure functions, any thread; nothing here allocates beyond jansson's temporary parse
 * tree. Parsed strings are borrowed from the reply or message they came from.
 */
#ifndef GW_PRESWIRE_H
#define GW_PRESWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redisReply;

#define GW_PRES_ENTRY_MAX 4096  /* bytes of one entry JSON (info included) */
#define GW_PRES_INFO_MAX 1024   /* bytes of a token's "info" object, compact JSON */
#define GW_PRES_CLIENT_MAX 200  /* bytes of a client id ("<node>:<conn>") */
#define GW_PRES_ERR_MAX 128
#define GW_PRES_JOIN_PREFIX "#pulse1 join\n"
#define GW_PRES_LEAVE_PREFIX "#pulse1 leave\n"

/* true when e[0..len) is a presence entry: a JSON object of at most GW_PRES_ENTRY_MAX
 * bytes, without a raw line break, with string members "client" (1..GW_PRES_CLIENT_MAX bytes), "user" and "node",
 * and "info" absent or an object. */
bool gw_pres_entry_valid(const char *e, size_t len);

/* The reply of `FCALL pulse_presence 1 C <limit>`: an array of entry JSON strings.
 * Calls cb for each valid entry (borrowed from r) in the reply's order; entries that
 * are not valid are skipped and counted in *skipped (may be NULL). 0, or -1 with err
 * filled when r is not an array (an error reply's text is quoted). */
int gw_pres_parse_list(const struct redisReply *r, void (*cb)(void *ud, const char *entry, size_t len), void *ud,
                       size_t *skipped, char *err, size_t errcap);

/* The reply of `FCALL pulse_presence_stats 1 C`: [clients, users], two non-negative
 * integers. 0 with both filled, or -1 with err filled (outputs untouched). */
int gw_pres_parse_stats(const struct redisReply *r, uint64_t *clients, uint64_t *users, char *err, size_t errcap);

/* The reply of `FCALL pulse_presence_touch 1 C ...`: an array of the client ids the
 * channel does not hold (1..GW_PRES_CLIENT_MAX bytes each). Calls cb for each, in
 * order; 0, or -1 with err filled (no cb call happened) when any element is not such a
 * string or r is not an array. */
int gw_pres_parse_missing(const struct redisReply *r, void (*cb)(void *ud, const char *client, size_t len),
                          void *ud, char *err, size_t errcap);

typedef enum { GW_PRES_JOIN = 0, GW_PRES_LEAVE = 1 } gw_pres_kind;

/* A join/leave message received on channel: msg[0..len) (not NUL-terminated).
 * Returns 0 with *kind and the JSON after the header in *json / *json_len (borrowed
 * from msg) when it is "#pulse1 join\n" or "#pulse1 leave\n" followed by a JSON object
 * whose "op" is that kind, whose "channel" is channel, with the entry members
 * (gw_pres_entry_valid's rules, op and channel aside); PULSE_ENOENT when msg starts
 * with neither header (not a presence message); PULSE_EINVAL when it starts with one
 * and the rest does not hold. Never reads past len. */
int gw_pres_event_parse(const char *msg, size_t len, const char *channel, gw_pres_kind *kind, const char **json,
                        size_t *json_len);

#endif
