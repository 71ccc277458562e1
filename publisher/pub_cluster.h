/*
 * pub_cluster.h - pulse-publish's Redis Cluster client (--redis redis+cluster://...):
 * the slot map from CLUSTER SHARDS (CLUSTER SLOTS on Redis 6) asked of the seeds, one
 * blocking hiredis connection per primary, each command sent to the primary of its
 * key's slot. MOVED is followed (and the map learned again), ASK is followed with
 * ASKING; a connection that fails makes it learn the map again and retry until a
 * deadline, so a failover (node timeout + election) delays events instead of losing
 * them. "Function not found" loads the library given to pub_cluster_open on that
 * primary (FUNCTION LOAD, never REPLACE) and retries. No pipelining: one command at a
 * time.
 */
#ifndef PUB_CLUSTER_H
#define PUB_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "pulse_err.h"

typedef struct pub_cluster pub_cluster;

/* Parses url (redis+cluster://...), learns the map. library: FUNCTION LOAD text for
 * primaries that lack it (NULL: none; copied). NULL on failure with err filled. */
pub_cluster *pub_cluster_open(const char *url, const char *library, int retry_ms, pulse_error *err);
void pub_cluster_close(pub_cluster *c);

/* argv[key_index] routes the command. The reply (free with freeReplyObject), an error
 * reply included; NULL when no primary answered within retry_ms (err says why). */
redisReply *pub_cluster_command(pub_cluster *c, int key_index, int argc, const char **argv, const size_t *lens,
                                pulse_error *err);

/* Map refreshes so far (for the summary). */
unsigned pub_cluster_refreshes(const pub_cluster *c);

#endif
