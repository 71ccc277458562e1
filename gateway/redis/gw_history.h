/*
 * gw_history.h - the ingest thread's side of channel history (docs/RELIABILITY.md):
 * the function library this node loads, the position of every exact channel it
 * delivers, the node's own gap repair, and the stream reads behind a client's
 * recovery (subscribe with since), the history op and GET /history.
 *
 * Gap repair: each exact channel with history keeps the position of the last event the
 * node delivered (gw_htrack). A live event whose offset jumps past it, or the channel's
 * resubscription after a Redis outage, starts a repair: later live events of the
 * channel are held, the missing range is read from the stream (one MULTI/EXEC:
 * position + XRANGE), and gw_hist_merge puts range and held events in offset order;
 * what the stream no longer holds becomes {"op":"gap",...,"reason":"redis_reconnect"}.
 *
 * Client recovery: the worker holds the live events of the recovering subscription;
 * this side only reads (once the live subscription is confirmed) and sends the events
 * after since, framed, back to the worker (GW_MAIL_RECOVERED), which merges.
 *
 * Ingest thread only. Pattern subscriptions carry positions in their deliveries but are
 * neither tracked nor repaired here (a gap after an outage is announced as before).
 */
#ifndef GW_HISTORY_H
#define GW_HISTORY_H

#include <stdbool.h>

#include "gw_msg.h"
#include "gw_node.h"

struct evhttp_request;

/* Generates the library from the config's rules and hands it to n->redis (loaded on
 * every command connection). 0, or -1 with err filled (bad rules). Before Redis starts. */
int gw_history_init(gw_node *n, pulse_error *err);

/* A live event m arrived on exact channel c. true: history took it (held for a repair
 * in flight, or dropped as already delivered; the reference is taken); false: deliver
 * it now (the caller keeps its reference). */
bool gw_history_live(gw_node *n, gw_chan *c, gw_msg *m);

/* Redis confirmed c's subscription. after_outage: it had been live before the
 * subscriber connection dropped. Starts what waited for it (client recoveries; a repair
 * after an outage; the first position read of a channel with history). Returns true
 * when the outage is handled by a repair alone (no blanket gap notice needed: the node
 * knew its position and saw no raw PUBLISH on the channel, which no stream keeps). */
bool gw_history_subscribed(gw_node *n, gw_chan *c, bool after_outage);

/* A worker's GW_MAIL_RECOVER or GW_MAIL_HISTORY; takes r. */
void gw_history_request(gw_node *n, gw_hreq *r);

/* c is going away: frees its history state (reads in flight find it gone). */
void gw_history_chan_free(gw_chan *c);

/* GET /history?channel=C&limit=N[&since=N:E][&reverse=1] (admin, already authorized). */
void gw_history_http(gw_node *n, struct evhttp_request *req);

#endif
