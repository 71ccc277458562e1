/*
 * gw_rcluster.h - gw_redis's interface over Redis Cluster with sharded pub/sub: what
 * gw_redis does when the config says redis+cluster:// (gw_redis.c forwards every call
 * here, so the ingest thread's code is the same for one Redis and for a cluster).
 *
 *  - The slot map comes from CLUSTER SHARDS (CLUSTER SLOTS when Redis answers
 *    "unknown subcommand"), asked of the seeds and then of the known nodes in turn.
 *  - Subscriptions: the module keeps the set of channels the ingest thread wants and
 *    SSUBSCRIBEs them through one gw_ssub (one connection per primary, batched per
 *    slot, flushed once per loop iteration). A subscription that is lost (the
 *    primary's connection went down, Redis pushed sunsubscribe because the slot moved,
 *    or a map refresh shows another primary) is reported with on_lost and subscribed
 *    again on the new primary as soon as the map knows it; its confirmation comes
 *    again as on_subscribed (which is where the ingest thread repairs the gap).
 *  - Commands (publishes, history reads, the presence functions) go over one async
 *    hiredis command connection per node, to the primary of the channel's slot; the
 *    function library is loaded first on every primary's connection. MOVED / ASK
 *    answers to a publish or a presence call are followed once (ASKING first for
 *    ASK); MOVED also refreshes the map.
 *  - Patterns: sharded pub/sub has none; gw_rcluster_subscribe refuses them (-1), and
 *    the workers refuse pattern subscriptions in cluster mode before they get here.
 *  - The map is refreshed on a lost connection (every 250 ms until the shard has a
 *    reachable primary), on a pushed sunsubscribe, on MOVED, and every 5 s.
 *
 * Runs on the ingest thread only, like gw_redis.
 */
#ifndef GW_RCLUSTER_H
#define GW_RCLUSTER_H

#include "gw_redis.h"

typedef struct gw_rcluster gw_rcluster;

gw_rcluster *gw_rcluster_new(struct event_base *base, const gw_config *cfg, const gw_redis_cbs *cbs, void *ud);
void gw_rcluster_start(gw_rcluster *r);
void gw_rcluster_stop(gw_rcluster *r);
void gw_rcluster_free(gw_rcluster *r);

int gw_rcluster_subscribe(gw_rcluster *r, const char *name, bool is_pattern);
int gw_rcluster_unsubscribe(gw_rcluster *r, const char *name, bool is_pattern);
void gw_rcluster_set_library(gw_rcluster *r, const char *src, const char *version);
bool gw_rcluster_library_loaded(const gw_rcluster *r);
int gw_rcluster_publish(gw_rcluster *r, const char *channel, const char *payload, size_t len, gw_publish_cb cb,
                        void *ud);
int gw_rcluster_history_read(gw_rcluster *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                             bool reverse, bool wait, gw_reply_cb cb, void *ud);
int gw_rcluster_command(gw_rcluster *r, int argc, const char **argv, const size_t *argvlen, gw_reply_cb cb,
                        void *ud);
bool gw_rcluster_healthy(const gw_rcluster *r, const char **reason);
bool gw_rcluster_sub_up(const gw_rcluster *r);
uint64_t gw_rcluster_reconnects(const gw_rcluster *r);
/* One line for /healthz and /stats: "3 shards, all up" or "3 shards, 1 down for 1200
 * ms (127.0.0.1:7002)"; map refreshes and resubscriptions. */
const char *gw_rcluster_detail(const gw_rcluster *r);
/* Appends the Prometheus lines of cluster mode to o (text exposition format). */
struct evbuffer;
void gw_rcluster_metrics(const gw_rcluster *r, struct evbuffer *o);

#endif
