/*
 * gw_worker.h - a WebSocket worker thread: one libwebsockets context, its
 * connections, its channel table (channel -> local subscribers) and the fan-out.
 *
 * Workers share the listening port (SO_REUSEPORT when there are several). A worker
 * never touches Redis and never blocks: it asks the ingest thread to (un)subscribe
 * (gw_node_request) and receives messages and commands through its inbox.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <stdbool.h>

#include "gw_metrics.h"
#include "gw_msg.h"
#include "gw_node.h"

typedef enum {
    GW_WCMD_CONFIRM = 1, /* Redis confirmed a subscription: ack waiting clients */
    GW_WCMD_DRAIN,       /* graceful shutdown: stop accepting, flush, close 1001 */
    GW_WCMD_GAP,         /* resubscribed after a Redis outage: events may have been missed */
    GW_WCMD_ADOPT,       /* an accepted socket to serve */
} gw_wcmd_kind;

/* Creates the lws context; port -1: no listener of its own, sockets come through
 * gw_worker_adopt (how main runs it); port >= 0 binds it (0: any; gw_worker_port).
 * Main thread, before gw_worker_start. NULL with err filled on failure. */
gw_worker *gw_worker_new(gw_node *n, int index, int port, pulse_error *err);
int gw_worker_port(const gw_worker *w);
int gw_worker_start(gw_worker *w);
void gw_worker_join(gw_worker *w);
void gw_worker_free(gw_worker *w); /* after join; NULL is fine */

/* Ingest thread: hand a message to the worker (the reference passes to it). */
void gw_worker_post_msg(gw_worker *w, gw_msg *m);
/* Ingest thread: a command; name copied (may be NULL). */
void gw_worker_post_cmd(gw_worker *w, gw_wcmd_kind kind, const char *name, bool is_pattern);

/* Ingest thread: hand an accepted, non-blocking socket to the worker, which owns it
 * from now on, with the node's count of it (n->sockets) and its address's key
 * (gw_auth_ip_admit, 0: not counted): the worker releases both when it closes. */
void gw_worker_adopt(gw_worker *w, int fd, uint64_t ip_key);

/* Any thread (read with GW_GET). */
gw_wstats *gw_worker_stats(gw_worker *w);

#endif
