/*
 * gw_ingest.h - the ingest thread's side of a node (gw_ingest.c): the node's
 * lifecycle, Redis messages in, framed messages out to the workers' inboxes, the
 * node-wide subscription bookkeeping and the listener.
 * Every function here runs on the ingest (main) thread.
 */
#ifndef GW_INGEST_H
#define GW_INGEST_H

#include "gw_msg.h"
#include "gw_node.h"
#include "pulse_err.h"

/* Sets up n for cfg and auth (kept, not owned) on base: the worker arrays (cfg->workers; the workers themselves
 * come from gw_worker_new), the mailboxes, the Redis side, the signal handlers. */
int gw_node_init(gw_node *n, const gw_config *cfg, const gw_auth *auth, struct event_base *base);
void gw_node_start(gw_node *n);      /* Redis connect, static subscriptions */
void gw_node_shutdown(gw_node *n);   /* begin the graceful drain */
/* After the workers were joined and freed. */
void gw_node_cleanup(gw_node *n);
/* Listen on cfg->bind:cfg->port on the ingest thread and hand each accepted socket to
 * the worker with the fewest connections (lws 4.1.6 cannot share a port between
 * contexts: its listen-share option sets no SO_REUSEPORT on Linux; and owning accept
 * lets the node count sockets from accept and pause on EMFILE). Sets n->ws_port. 0,
 * or a negative code with err filled. */
int gw_node_listen(gw_node *n, pulse_error *err);
/* An evconnlistener error callback (the WebSocket and the admin listeners): on
 * EMFILE/ENFILE/ENOBUFS/ENOMEM it pauses accepting for 100 ms instead of spinning on
 * the still-readable socket; logs at most once a second. */
struct evconnlistener;
void gw_node_accept_error(struct evconnlistener *l, void *arg);

/* The port a listening socket is bound to (port 0 picks one), or fallback. */
int gw_bound_port(int fd, int fallback);

/* Posts a command to worker w's inbox; name copied (may be NULL). */
void gw_node_post(gw_node *n, int w, gw_mail_kind kind, const char *name, bool is_pattern);

/* Redis subscription state of an ingest channel entry (gw_chan.state). */
enum { GW_RS_NONE = 0, GW_RS_SUBSCRIBING, GW_RS_SUBSCRIBED, GW_RS_UNSUBSCRIBING };

/* payload[0..len) as one JSON value: itself when it is JSON, else a new JSON string
 * of it (*owned set, free() it); NULL when it is neither JSON nor UTF-8. */
const char *gw_ingest_json_data(const char *payload, size_t len, size_t *out_len, char **owned);

/* Frames one event of channel (pattern NULL: an exact subscription) at pos (NULL:
 * none) with the channel's rule and the payload's own priority. NULL (logged) when the
 * payload is neither JSON nor UTF-8. */
gw_msg *gw_ingest_event(gw_node *n, const char *channel, const char *pattern, const gw_hpos *pos,
                        const char *payload, size_t len, int64_t arrived_ns);

/* Hands m to every worker in mask, one copy each; takes m's reference. */
void gw_ingest_fanout(gw_node *n, uint64_t mask, gw_msg *m);

#endif
