/*
 * gw_queue.c - bounded per-connection ring with the delivery policy; see gw_queue.h.
 */
#include "gw_queue.h"
#include "pulse_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_queue_limits_from_config(gw_queue_limits *l, const gw_config *cfg)
{
    l->soft_msgs = (uint32_t)cfg->queue_max_messages;
    l->hard_msgs = (uint32_t)cfg->queue_hard_messages;
    l->soft_bytes = (uint64_t)cfg->queue_max_bytes;
    l->hard_bytes = (uint64_t)cfg->queue_hard_bytes;
}

static void grow(gw_queue *q)
{
    if (!q->cap) {
        q->ring = q->inl;
        q->cap = GW_QUEUE_INLINE;
        q->head = 0;
        return;
    }
    uint32_t ncap = q->cap == GW_QUEUE_INLINE ? 8 : q->cap * 2;
    gw_msg **r = pulse_xmalloc((size_t)ncap * sizeof(*r));
    for (uint32_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) & (q->cap - 1)];
    if (q->ring != q->inl)
        free(q->ring);
    q->ring = r;
    q->cap = ncap;
    q->head = 0;
}

static void append(gw_queue *q, gw_msg *m)
{
    if (q->count == q->cap)
        grow(q);
    q->ring[(q->head + q->count) & (q->cap - 1)] = gw_msg_ref(m);
    q->count++;
    q->bytes += m->len;
}

gw_queue_result gw_queue_push(gw_queue *q, gw_msg *m, const gw_queue_limits *l)
{
    if (m->policy == GW_POLICY_LATEST && q->count > 0) {
        /* newest first: the most recent same-channel entry is the one to replace */
        for (uint32_t i = q->count; i-- > 0;) {
            gw_msg **slot = &q->ring[(q->head + i) & (q->cap - 1)];
            gw_msg *old = *slot;
            if (old->kind == GW_MSG_EVENT && strcmp(old->channel, m->channel) == 0) {
                q->bytes = q->bytes - old->len + m->len;
                *slot = gw_msg_ref(m);
                gw_msg_unref(old);
                return GW_Q_REPLACED;
            }
        }
    }
    if (m->policy == GW_POLICY_NEVER) {
        if (q->count + 1 > l->hard_msgs || q->bytes + m->len > l->hard_bytes)
            return GW_Q_OVERFLOW;
    } else if (q->count + 1 > l->soft_msgs || q->bytes + m->len > l->soft_bytes) {
        return GW_Q_DROPPED;
    }
    append(q, m);
    return GW_Q_QUEUED;
}

gw_msg *gw_queue_peek(const gw_queue *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

gw_msg *gw_queue_at(const gw_queue *q, uint32_t i)
{
    return i < q->count ? q->ring[(q->head + i) & (q->cap - 1)] : NULL;
}

gw_msg *gw_queue_pop(gw_queue *q)
{
    if (!q->count)
        return NULL;
    gw_msg *m = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->bytes -= m->len;
    return m;
}

uint32_t gw_queue_clear(gw_queue *q)
{
    uint32_t events = 0;
    gw_msg *m;
    while ((m = gw_queue_pop(q))) {
        if (m->kind == GW_MSG_EVENT)
            events++;
        gw_msg_unref(m);
    }
    return events;
}

void gw_queue_release(gw_queue *q)
{
    gw_queue_clear(q);
    if (q->ring != q->inl)
        free(q->ring);
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
}
