/*
 * gw_queue.h - a connection's bounded outgoing queue and the delivery policy.
 *
 * A ring of gw_msg references, allocated on first use (an idle connection costs the
 * empty struct only) and grown by doubling up to the hard bound.
 *   - policy DROP:   past the soft bound (messages or bytes) the new message is dropped
 *                    for this connection only.
 *   - policy LATEST: a queued message of the same channel is replaced by the new one
 *                    (in its place, so order across channels holds); otherwise as DROP.
 *   - policy NEVER:  (every critical message) may exceed the soft bound up to the hard
 *                    bound; past it the caller must close the connection (1008).
 * Control messages are always NEVER. Pure logic, one owner thread.
 */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include <stdint.h>

#include "gw_msg.h"

typedef struct {
    uint32_t soft_msgs, hard_msgs;
    uint64_t soft_bytes, hard_bytes;
} gw_queue_limits;

/* Up to GW_QUEUE_INLINE references live in the struct itself (an idle connection's
 * queue allocates nothing), more in a ring allocated on first need. A gw_queue must
 * not be moved once used: ring may point at inl. */
#define GW_QUEUE_INLINE 2

typedef struct {
    gw_msg **ring;
    uint32_t cap;   /* power of two, 0 before first use */
    uint32_t head;
    uint32_t count;
    uint32_t pad_;
    uint64_t bytes;
    gw_msg *inl[GW_QUEUE_INLINE];
} gw_queue;

typedef enum {
    GW_Q_QUEUED = 0,     /* taken (one reference added) */
    GW_Q_DROPPED = 1,    /* not taken: soft bound, policy drop/latest */
    GW_Q_REPLACED = 2,   /* taken, an older message of its channel was dropped */
    GW_Q_OVERFLOW = 3,   /* not taken: past the hard bound; close the connection */
} gw_queue_result;

void gw_queue_limits_from_config(gw_queue_limits *l, const gw_config *cfg);

gw_queue_result gw_queue_push(gw_queue *q, gw_msg *m, const gw_queue_limits *l);
/* The oldest message (the queue's reference passes to the caller), or NULL. */
gw_msg *gw_queue_pop(gw_queue *q);
/* The oldest message without removing it, or NULL. */
gw_msg *gw_queue_peek(const gw_queue *q);
/* The i-th queued message from the head (i < count), left in the queue. */
gw_msg *gw_queue_at(const gw_queue *q, uint32_t i);
/* Drops every message; returns how many event (non-control) messages were dropped. */
uint32_t gw_queue_clear(gw_queue *q);
/* Frees the ring too (after clear). */
void gw_queue_release(gw_queue *q);

#endif
