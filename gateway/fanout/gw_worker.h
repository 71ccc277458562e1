/*
 * gw_worker.h - a WebSocket worker thread: one libwebsockets context, its
 * connections, its channel table (channel -> local subscribers) and the fan-out.
 *
 * The ingest thread accepts (gw_node_listen), with one worker too, and hands each
 * socket to a worker (GW_MAIL_ADOPT). A worker never touches Redis and never blocks: it posts requests and client publishes to the
 * node's mailboxes and reads its own inbox, node->inbox[index] (gw_bridge.h). Its
 * counters are node->wstats[index], written only by it.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include "gw_node.h"
#include "pulse_err.h"

/* Creates the lws context and binds port (0: any; read it back with gw_worker_port;
 * -1: no listener of its own, sockets come through GW_MAIL_ADOPT) and hooks itself up
 * as the reader of node->inbox[index]. Main thread, before gw_worker_start. NULL with
 * err filled on failure. */
/* Before the first worker: lws's allocations go through the worker's allocator (the
 * handshakes' header tables from a slab of their own). max_sockets: the node's bound. */
void gw_worker_memory_init(int64_t max_sockets);
gw_worker *gw_worker_new(gw_node *n, int index, int port, pulse_error *err);
int gw_worker_port(const gw_worker *w);
int gw_worker_start(gw_worker *w);
void gw_worker_join(gw_worker *w);
void gw_worker_free(gw_worker *w); /* after join; NULL is fine */

#endif
