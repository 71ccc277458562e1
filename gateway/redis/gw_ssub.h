/*
 * gw_ssub.h - the sharded pub/sub subscriber: one plain hiredis redisContext per
 * cluster primary that the subscribed channels need, read from libevent events with
 * redisBufferRead + redisGetReplyFromReader (hiredis 0.14.1's async API aborts on
 * "smessage", so it is not used here). It sends SSUBSCRIBE/SUNSUBSCRIBE batched per
 * slot to the channel's primary according to the slot map it holds, and hands every
 * reply, classified by gw_spush_classify, to the owner's callback.
 *
 * What it does NOT do, on purpose: keep the set of wanted channels (the owner has it,
 * e.g. the ingest thread's channel table), fetch the slot map (that needs a command
 * connection; a subscribed connection may only (un)subscribe and PING), or retry. The
 * owner reacts to what it is told:
 *  - on_down(node): that connection is gone with all its subscriptions (EOF, error,
 *    connect failure or timeout, AUTH refused). Refresh the map, gw_ssub_set_map, and
 *    subscribe again the channels that were on that node.
 *  - a GW_SPUSH_SUNSUBSCRIBE for a channel the owner still wants: Redis dropped it
 *    because its slot moved; refresh the map and subscribe it again. (Our own
 *    SUNSUBSCRIBE is confirmed the same way, for a channel no longer wanted.)
 *  - a GW_SPUSH_REDIRECT: the map is stale (gw_slotmap_apply_redirect or a refresh).
 *
 * Threading: everything runs on the thread of the event_base given to gw_ssub_new; no
 * function here may be called from another thread. Callbacks run on that thread from
 * the event loop, never from inside a gw_ssub_* call. A callback may call
 * gw_ssub_subscribe/unsubscribe/set_map/ping, but not gw_ssub_free.
 * Connecting: redisConnectNonBlock, so give IP addresses (a hostname would be resolved
 * by hiredis with a blocking getaddrinfo).
 */
#ifndef GW_SSUB_H
#define GW_SSUB_H

#include <stddef.h>

#include "gw_slotmap.h"
#include "gw_spush.h"

struct event_base;

typedef struct gw_ssub gw_ssub;

typedef struct {
    /* Every reply read from node's connection except the AUTH reply. push borrows from
     * a reply freed right after the callback returns. Required. */
    void (*on_push)(gw_ssub *s, const gw_cnode *node, const gw_spush *push, void *arg);
    /* node's connection is closed; reason is one line. Called once per connection that
     * gw_ssub opened, unless gw_ssub_set_map or gw_ssub_free closed it. Optional. */
    void (*on_down)(gw_ssub *s, const gw_cnode *node, const char *reason, void *arg);
} gw_ssub_callbacks;

typedef struct {
    const char *password;   /* AUTH password, NULL or "" for none (copied) */
    int connect_timeout_ms; /* 0: 2000 */
    size_t batch_max;       /* channels per SSUBSCRIBE command; 0: 512 */
} gw_ssub_options;

/* A subscriber with no map and no connection. opts may be NULL. Never NULL (aborts on
 * out-of-memory). Free with gw_ssub_free. */
gw_ssub *gw_ssub_new(struct event_base *base, const gw_ssub_options *opts,
                     const gw_ssub_callbacks *cbs, void *arg);
/* Closes every connection (no on_down) and frees everything; NULL is fine. */
void gw_ssub_free(gw_ssub *s);

/* Takes ownership of map (NULL: forget the map) and frees the previous one. Every
 * connection whose node is not a primary serving slots in the new map is closed
 * without on_down:
 * compute what moved (gw_slotmap_moved against gw_ssub_map) before calling this, and
 * subscribe those channels again after it. Connections to primaries that stay are
 * kept with their subscriptions. */
void gw_ssub_set_map(gw_ssub *s, gw_slotmap *map);
/* The map in use (borrowed until the next gw_ssub_set_map), or NULL. */
const gw_slotmap *gw_ssub_map(const gw_ssub *s);

/* Queues SSUBSCRIBE for names[0..n) (lens NULL: strlen), one command per slot batch,
 * each on the connection to that slot's primary (opened now if needed). The
 * confirmations come as GW_SPUSH_SSUBSCRIBE pushes. Returns 0; PULSE_ENOENT when some
 * names fall in slots the map does not cover, or there is no map (the others are still
 * sent; err says how many were left out). */
int gw_ssub_subscribe(gw_ssub *s, const char *const *names, const size_t *lens, size_t n,
                      pulse_error *err);
/* The same with SUNSUBSCRIBE; names whose primary has no connection are skipped (there
 * is nothing to drop). */
int gw_ssub_unsubscribe(gw_ssub *s, const char *const *names, const size_t *lens, size_t n,
                        pulse_error *err);
/* Sends PING on every connection (answers come as GW_SPUSH_PONG): a liveness probe. */
void gw_ssub_ping(gw_ssub *s);
/* Connections open or being opened. */
size_t gw_ssub_connections(const gw_ssub *s);

#endif
