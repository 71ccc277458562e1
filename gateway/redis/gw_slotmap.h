/*
 * gw_slotmap.h - the Redis Cluster slot map: which primary (and which replicas) serve
 * each of the 16384 slots, learned from a `CLUSTER SHARDS` (Redis 7) or `CLUSTER SLOTS`
 * reply, plus what the sharded pub/sub side asks of it: the shard of a channel, the
 * primaries a set of channels needs, which channels moved between two maps, and the
 * MOVED/ASK redirections that tell a client its map is stale.
 *
 * I/O-free: the parsers take a hiredis redisReply tree that someone else read (the
 * caller's command connection, a unit test's redisReader, the fuzzer), and never keep
 * a pointer into it. A map is a plain value: built by a parser, read by anyone, freed
 * by its owner; nothing in it is shared, so a map may be handed to another thread and
 * read there as long as nobody modifies it. Malformed replies give PULSE_EINVAL and a
 * one-line reason in the caller's pulse_error; the output map is then not created.
 */
#ifndef GW_SLOTMAP_H
#define GW_SLOTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_slot.h"
#include "pulse_err.h"

struct redisReply;

#define GW_CNODE_ID_MAX 40    /* Redis node ids are 40 hex characters */
/* Limits a reply must respect (Redis Cluster's own guidance is ~1000 nodes): they keep
 * a hostile reply from costing more than a few milliseconds to parse. */
#define GW_CLUSTER_SHARDS_MAX 1024
#define GW_SHARD_REPLICAS_MAX 64
#define GW_CNODE_HOST_MAX 255 /* an IP address or a hostname */

/* One cluster node as the map knows it. host "" means "the address the reply came
 * from" (Redis sends an empty endpoint for that); gw_slotmap_fill_host fills it in. */
typedef struct {
    char id[GW_CNODE_ID_MAX + 1];     /* "" when the reply named none (old CLUSTER SLOTS) */
    char host[GW_CNODE_HOST_MAX + 1];
    int port;                         /* 1..65535 */
    bool online;                      /* CLUSTER SHARDS health "online"; true from SLOTS */
} gw_cnode;

/* One shard: a primary, its replicas and how many slots it serves (0 is possible: a
 * shard whose slots all moved away, kept so its replicas stay known). */
typedef struct {
    gw_cnode primary;
    gw_cnode *replicas;   /* nreplicas entries, owned by the map */
    size_t nreplicas;
    unsigned nslots;
} gw_cshard;

typedef struct {
    gw_cshard *shards;    /* nshards entries, owned by the map */
    size_t nshards;
    unsigned uncovered;   /* slots no shard serves (the cluster is then not "ok") */
    int16_t owner[GW_SLOTS]; /* slot -> index in shards, -1 when uncovered */
} gw_slotmap;

/* Parses a CLUSTER SHARDS reply (Redis >= 7.0) into a new map (*out, freed with
 * gw_slotmap_free). A shard's host is its node's "endpoint" when usable, else its "ip".
 * Returns 0, or PULSE_EINVAL for an error reply or a malformed one (err says which
 * part and why; an error reply's text is quoted, e.g. for Redis < 7 "unknown
 * subcommand"). *out is NULL on failure. Aborts on out-of-memory like the rest of the
 * gateway. */
int gw_slotmap_from_shards(gw_slotmap **out, const struct redisReply *reply, pulse_error *err);

/* The same from a CLUSTER SLOTS reply (every Redis Cluster version): one entry per slot
 * range [start, end, primary, replica...], each node [host, port, id?, metadata?].
 * Ranges with the same primary become one shard. A replica whose endpoint is unknown
 * (nil or "?") is left out; a primary's is an error. */
int gw_slotmap_from_slots(gw_slotmap **out, const struct redisReply *reply, pulse_error *err);

/* Frees a map; NULL is fine. */
void gw_slotmap_free(gw_slotmap *m);

/* Replaces every empty host in the map (primaries and replicas) with host: the
 * address the reply was read from. Hosts longer than GW_CNODE_HOST_MAX are refused
 * (PULSE_EINVAL, map unchanged). */
int gw_slotmap_fill_host(gw_slotmap *m, const char *host);

/* The shard serving slot, or NULL when uncovered (or slot out of range). Borrowed from m. */
const gw_cshard *gw_slotmap_shard(const gw_slotmap *m, unsigned slot);
/* Its index in m->shards, or -1. */
int gw_slotmap_shard_index(const gw_slotmap *m, unsigned slot);
/* The index of the shard whose primary is host:port, or -1. */
int gw_slotmap_find_primary(const gw_slotmap *m, const char *host, int port);

/* Two nodes are the same when host, port and id match (an id may be "" on both). A
 * promoted replica is a different node from the primary it replaced. */
bool gw_cnode_same(const gw_cnode *a, const gw_cnode *b);
/* "host:port" (IPv6 hosts in brackets) into buf; returns buf. */
const char *gw_cnode_addr(const gw_cnode *n, char *buf, size_t cap);

/* Which shards names[0..n) need (lens may be NULL: strlen). need[] has m->nshards
 * entries and is set true for every shard that serves one of the names (never cleared,
 * so calls accumulate). Returns how many names fall in uncovered slots. */
size_t gw_slotmap_needed(const gw_slotmap *m, const char *const *names, const size_t *lens, size_t n,
                         bool *need);

/* Does slot have a different primary in cur than in old? Also true when it is
 * uncovered in either map; old NULL: always true. */
bool gw_slotmap_slot_moved(const gw_slotmap *old, const gw_slotmap *cur, unsigned slot);

/* The names that moved from old to cur (gw_slotmap_slot_moved on their slot): their
 * indexes in increasing order into moved[] (n entries, the caller's). Returns the
 * count. A moved channel must be subscribed again on its new primary; one whose slot is
 * uncovered in cur cannot be, until a later map covers it. */
size_t gw_slotmap_moved(const gw_slotmap *old, const gw_slotmap *cur, const char *const *names,
                        const size_t *lens, size_t n, size_t *moved);

/* ---- redirections ---- */
typedef enum { GW_REDIRECT_MOVED = 1, GW_REDIRECT_ASK = 2 } gw_redirect_kind;

typedef struct {
    gw_redirect_kind kind;
    unsigned slot;
    char host[GW_CNODE_HOST_MAX + 1]; /* "" when Redis sent ":port" (same host as asked) */
    int port;
} gw_redirect;

/* Parses an error reply's text, "MOVED <slot> <host>:<port>" or "ASK <slot>
 * <host>:<port>" (the host may be empty or an IPv6 address: the port follows the last
 * ':'). Returns 0; PULSE_ENOENT when the text is some other error (not a redirection);
 * PULSE_EINVAL when it starts like one but is malformed (err says why). */
int gw_redirect_parse(const char *text, size_t len, gw_redirect *out, pulse_error *err);

/* MOVED means the slot now lives on that primary for good: when the map already knows
 * a shard with that primary, moves the slot to it and returns 0. PULSE_ENOENT when the
 * target is no known primary (the map must be fetched again); ASK never changes the
 * map (PULSE_ENOENT: it is a one-off during a migration). */
int gw_slotmap_apply_redirect(gw_slotmap *m, const gw_redirect *r);

#endif
