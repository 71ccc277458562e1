/*
 * gw_wspub.h - publishing from WebSocket clients ({"op":"publish"}): worker threads
 * never touch Redis, so a worker queues the PUBLISH here and the ingest thread sends
 * it over its command connection (gw_redis_publish), like subscription requests go
 * through gw_node_request.
 *
 * One queue per process (one node per process), bounded (GW_WSPUB_MAX_ITEMS,
 * GW_WSPUB_MAX_BYTES): past the bound a publish is refused, not buffered.
 */
#ifndef GW_WSPUB_H
#define GW_WSPUB_H

#include <stddef.h>
#include <stdint.h>

#include "gw_node.h"

#define GW_WSPUB_MAX_ITEMS 10000
#define GW_WSPUB_MAX_BYTES (16 * 1024 * 1024)

/* Ingest thread, after gw_node_init and before the workers start. */
void gw_wspub_init(gw_node *n);
/* Ingest thread, after the workers stopped; drops what is still queued. */
void gw_wspub_cleanup(void);

/* Worker threads: queue PUBLISH channel payload[0..len) (both copied). 0, or -1 when
 * the queue is full or not initialised. */
int gw_wspub_post(const char *channel, const char *payload, size_t len);

/* Counters for the logs and tests: published (Redis took it), failed (Redis down or
 * refused), refused (queue full). Any thread. */
void gw_wspub_counts(uint64_t *published, uint64_t *failed, uint64_t *refused);

#endif
