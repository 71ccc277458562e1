/*
 * gw_spush.h - what a sharded pub/sub subscriber connection can read, classified: the
 * confirmation of an SSUBSCRIBE, an SUNSUBSCRIBE (ours, or pushed by Redis when the
 * channel's slot left that node), an smessage, the pong of a PING, a redirection
 * (MOVED/ASK: the channel lives elsewhere), another error, a status, or something
 * unexpected with the reason.
 *
 * Why this exists: hiredis 0.14.1's async API knows only (P)SUBSCRIBE replies and
 * aborts on the first "smessage"; Pulse reads a plain redisContext itself (gw_ssub.c)
 * and gives each reply tree to gw_spush_classify. Pure, no I/O, no allocation; the
 * result borrows from the reply (valid until it is freed). Any thread.
 */
#ifndef GW_SPUSH_H
#define GW_SPUSH_H

#include <stddef.h>

#include "gw_slotmap.h"

struct redisReply;

typedef enum {
    GW_SPUSH_UNEXPECTED = 0, /* reason in text: a shape this connection never expects */
    GW_SPUSH_SSUBSCRIBE,     /* channel subscribed; count = shard channels now on the connection */
    GW_SPUSH_SUNSUBSCRIBE,   /* channel gone (NULL when Redis had none to drop); count as above */
    GW_SPUSH_SMESSAGE,       /* channel, payload */
    GW_SPUSH_PONG,           /* the answer to PING in subscribed mode; payload = its argument */
    GW_SPUSH_REDIRECT,       /* MOVED/ASK in redirect (text = the whole error) */
    GW_SPUSH_ERROR,          /* any other error reply (CROSSSLOT, NOAUTH, ...); text */
    GW_SPUSH_STATUS          /* a status reply such as +OK (to AUTH); text */
} gw_spush_kind;

typedef struct {
    gw_spush_kind kind;
    const char *channel;  /* borrowed; NULL when absent */
    size_t channel_len;
    const char *payload;  /* borrowed; smessage data or pong argument */
    size_t payload_len;
    long long count;
    const char *text;     /* error/status text, or the reason for UNEXPECTED (static) */
    size_t text_len;
    gw_redirect redirect; /* GW_SPUSH_REDIRECT only */
} gw_spush;

/* Classifies one reply tree. Always fills *out; returns out->kind. */
gw_spush_kind gw_spush_classify(const struct redisReply *reply, gw_spush *out);

/* "ssubscribe", "smessage", ... for logs. */
const char *gw_spush_kind_name(gw_spush_kind kind);

#endif
