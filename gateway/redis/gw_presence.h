/*
 * gw_presence.h - the ingest thread's side of presence (docs/PROTOCOL.md, "Presence"):
 * the node's registry of its own connections subscribed to presence channels, the
 * refresh of their entries in Redis, the presence reads, and the join/leave messages.
 *
 * Workers never touch Redis: on a subscribe to a channel whose rule has presence they
 * post GW_MAIL_PRES_ADD (connection id, the token's sub and info), on unsubscribe,
 * close and token expiry GW_MAIL_PRES_REMOVE, and for the presence / presence_stats
 * ops GW_MAIL_PRES_LIST / GW_MAIL_PRES_STATS (gw_preq, gw_msg.h). This side calls
 * the library's functions (FCALL pulse_presence_add / _remove at once; every
 * presence.refresh_interval_s one pipelined FCALL pulse_presence_touch per channel it
 * holds: one round trip per node per interval, whatever the number of connections)
 * and answers the asking connection with GW_MAIL_REPLY.
 *
 * An entry lives in Redis for 3 refresh intervals past its last refresh: a node that
 * dies leaves its members for at most that long (any later call on the channel purges
 * them, each purge counting as a leave). A touch answers the members Redis lost
 * (restart, FLUSHALL, expiry while the node stalled) and the node adds them again.
 *
 * Ingest thread only.
 */
#ifndef GW_PRESENCE_H
#define GW_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_msg.h"
#include "gw_node.h"

struct evhttp_request;

/* Entries are refreshed every interval and expire after this many intervals. */
#define GW_PRES_EXPIRE_INTERVALS 3
/* Most clients one pulse_presence_touch call carries (the library's bound). */
#define GW_PRES_TOUCH_MAX 1000

/* Sets up the registry and its refresh timer on n->base. */
void gw_presence_init(gw_node *n);
/* Frees the registry (after the loop stopped). */
void gw_presence_cleanup(gw_node *n);

/* A worker's GW_MAIL_PRES_*; takes r. */
void gw_presence_request(gw_node *n, gw_preq *r);

/* A message arrived on channel (through pattern, or NULL). When it is a join/leave
 * message of the library, delivers it (the JSON after the header, as is) to the
 * workers in mask and returns true; a malformed one is dropped (logged) and true too.
 * false: not a presence message, deliver it as usual. */
bool gw_presence_message(gw_node *n, const char *channel, const char *pattern, uint64_t mask, const char *payload,
                         size_t len, int64_t arrived_ns);

/* GET /presence?channel=C[&stats=1] (admin, already authorized). */
void gw_presence_http(gw_node *n, struct evhttp_request *req);

/* Entries the node holds (the gauge). */
uint64_t gw_presence_entries(const gw_node *n);

#endif
