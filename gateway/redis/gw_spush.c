/*
 * gw_spush.c - classification of the replies a sharded subscriber connection reads;
 * see gw_spush.h. RESP2 shapes (hiredis 0.14 speaks RESP2 only):
 *   ssubscribe:   ["ssubscribe", channel, count]
 *   sunsubscribe: ["sunsubscribe", channel or nil, count]
 *   smessage:     ["smessage", channel, payload]
 *   PING:         ["pong", argument]
 * plus plain error and status replies.
 */
#include "gw_spush.h"

#include <hiredis/hiredis.h>
#include <string.h>

static gw_spush_kind unexpected(gw_spush *out, const char *why)
{
    out->kind = GW_SPUSH_UNEXPECTED;
    out->text = why;
    out->text_len = strlen(why);
    return out->kind;
}

static bool is_bulk(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING;
}

static bool word_is(const redisReply *r, const char *w)
{
    size_t n = strlen(w);
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == n &&
           memcmp(r->str, w, n) == 0;
}

gw_spush_kind gw_spush_classify(const redisReply *r, gw_spush *out)
{
    memset(out, 0, sizeof *out);
    if (r == NULL)
        return unexpected(out, "no reply");
    switch (r->type) {
    case REDIS_REPLY_ERROR:
        out->text = r->str;
        out->text_len = r->len;
        out->kind = gw_redirect_parse(r->str, r->len, &out->redirect, NULL) == 0 ? GW_SPUSH_REDIRECT
                                                                                 : GW_SPUSH_ERROR;
        return out->kind;
    case REDIS_REPLY_STATUS:
        out->text = r->str;
        out->text_len = r->len;
        out->kind = GW_SPUSH_STATUS;
        return out->kind;
    case REDIS_REPLY_ARRAY:
        break;
    default:
        return unexpected(out, "a reply that is not an array, an error or a status");
    }
    if (r->elements < 2)
        return unexpected(out, "an array shorter than a push");
    const redisReply *w = r->element[0];
    if (word_is(w, "pong") && r->elements == 2 && is_bulk(r->element[1])) {
        out->kind = GW_SPUSH_PONG;
        out->payload = r->element[1]->str;
        out->payload_len = r->element[1]->len;
        return out->kind;
    }
    if (r->elements != 3)
        return unexpected(out, "an array that is not a 3-element push");
    const redisReply *a = r->element[1], *b = r->element[2];
    if (word_is(w, "smessage")) {
        if (!is_bulk(a) || !is_bulk(b))
            return unexpected(out, "smessage without a channel and a payload");
        out->kind = GW_SPUSH_SMESSAGE;
        out->channel = a->str;
        out->channel_len = a->len;
        out->payload = b->str;
        out->payload_len = b->len;
        return out->kind;
    }
    bool sub = word_is(w, "ssubscribe"), unsub = word_is(w, "sunsubscribe");
    if (!sub && !unsub)
        return unexpected(out, "a push that is not ssubscribe, sunsubscribe, smessage or pong");
    if (b->type != REDIS_REPLY_INTEGER)
        return unexpected(out, "(un)subscribe push without a count");
    if (is_bulk(a)) {
        out->channel = a->str;
        out->channel_len = a->len;
    } else if (!(unsub && a->type == REDIS_REPLY_NIL)) {
        return unexpected(out, "(un)subscribe push without a channel");
    }
    out->kind = sub ? GW_SPUSH_SSUBSCRIBE : GW_SPUSH_SUNSUBSCRIBE;
    out->count = b->integer;
    return out->kind;
}

const char *gw_spush_kind_name(gw_spush_kind kind)
{
    switch (kind) {
    case GW_SPUSH_SSUBSCRIBE: return "ssubscribe";
    case GW_SPUSH_SUNSUBSCRIBE: return "sunsubscribe";
    case GW_SPUSH_SMESSAGE: return "smessage";
    case GW_SPUSH_PONG: return "pong";
    case GW_SPUSH_REDIRECT: return "redirect";
    case GW_SPUSH_ERROR: return "error";
    case GW_SPUSH_STATUS: return "status";
    case GW_SPUSH_UNEXPECTED: break;
    }
    return "unexpected";
}
