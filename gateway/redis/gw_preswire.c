/*
 * gw_preswire.c - readers of the presence replies and join/leave messages; see
 * gw_preswire.h. Pure: any thread; entries are checked with jansson and handed on as
 * the bytes Redis holds (the node inserts them into frames as they are).
 */
#include "gw_preswire.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "pulse_err.h"

static int fail(char *err, size_t cap, const char *what, const struct redisReply *r)
{
    if (err && cap) {
        if (r && r->type == REDIS_REPLY_ERROR)
            snprintf(err, cap, "%s: Redis answered: %.32s", what, r->str ? r->str : "");
        else
            snprintf(err, cap, "%s: unexpected reply", what);
    }
    return -1;
}

static bool str_member(json_t *o, const char *name, size_t min, size_t max)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) && json_string_length(v) >= min && json_string_length(v) <= max;
}

/* The entry members of an object (op and channel checked by the caller). */
static bool entry_members(json_t *o)
{
    json_t *info = json_object_get(o, "info");
    return json_is_object(o) && str_member(o, "client", 1, GW_PRES_CLIENT_MAX) &&
           str_member(o, "user", 0, GW_PRES_ENTRY_MAX) && str_member(o, "node", 1, GW_PRES_CLIENT_MAX) &&
           (!info || json_is_object(info));
}

/* A raw line break (JSON whitespace) is refused: with ?batch=1 the worker joins frames
 * with '\n', and one inside a join/leave would let a publisher forge a frame. The
 * nodes' own entries never hold one. */
static json_t *load_object(const char *s, size_t len, size_t max)
{
    if (!s || len < 2 || len > max || s[0] != '{' || memchr(s, '\n', len) || memchr(s, '\r', len))
        return NULL;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

bool gw_pres_entry_valid(const char *e, size_t len)
{
    json_t *o = load_object(e, len, GW_PRES_ENTRY_MAX);
    bool ok = o && entry_members(o);
    json_decref(o);
    return ok;
}

int gw_pres_parse_list(const struct redisReply *r, void (*cb)(void *ud, const char *entry, size_t len), void *ud,
                       size_t *skipped, char *err, size_t errcap)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errcap, "presence list", r);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e && e->type == REDIS_REPLY_STRING && gw_pres_entry_valid(e->str, e->len))
            cb(ud, e->str, e->len);
        else if (skipped)
            (*skipped)++;
    }
    return 0;
}

static bool reply_u64(const redisReply *e, uint64_t *out)
{
    if (!e || e->type != REDIS_REPLY_INTEGER || e->integer < 0)
        return false;
    *out = (uint64_t)e->integer;
    return true;
}

int gw_pres_parse_stats(const struct redisReply *r, uint64_t *clients, uint64_t *users, char *err, size_t errcap)
{
    uint64_t c, u;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !reply_u64(r->element[0], &c) ||
        !reply_u64(r->element[1], &u))
        return fail(err, errcap, "presence stats", r);
    *clients = c;
    *users = u;
    return 0;
}

int gw_pres_parse_missing(const struct redisReply *r, void (*cb)(void *ud, const char *client, size_t len),
                          void *ud, char *err, size_t errcap)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errcap, "presence touch", r);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!e || e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > GW_PRES_CLIENT_MAX)
            return fail(err, errcap, "presence touch", NULL);
    }
    for (size_t i = 0; i < r->elements; i++)
        cb(ud, r->element[i]->str, r->element[i]->len);
    return 0;
}

int gw_pres_event_parse(const char *msg, size_t len, const char *channel, gw_pres_kind *kind, const char **json,
                        size_t *json_len)
{
    static const struct {
        const char *prefix, *op;
    } heads[2] = {{GW_PRES_JOIN_PREFIX, "join"}, {GW_PRES_LEAVE_PREFIX, "leave"}};
    for (int k = 0; k < 2; k++) {
        size_t pl = strlen(heads[k].prefix);
        if (!msg || len < pl || memcmp(msg, heads[k].prefix, pl) != 0)
            continue;
        const char *j = msg + pl;
        size_t jl = len - pl;
        json_t *o = load_object(j, jl, GW_PRES_ENTRY_MAX + 256);
        json_t *op = o ? json_object_get(o, "op") : NULL, *ch = o ? json_object_get(o, "channel") : NULL;
        bool ok = o && entry_members(o) && json_is_string(op) && json_string_length(op) == strlen(heads[k].op) &&
                  strcmp(json_string_value(op), heads[k].op) == 0 && json_is_string(ch) && channel &&
                  json_string_length(ch) == strlen(channel) && strcmp(json_string_value(ch), channel) == 0;
        json_decref(o);
        if (!ok)
            return PULSE_EINVAL;
        *kind = (gw_pres_kind)k;
        *json = j;
        *json_len = jl;
        return 0;
    }
    return PULSE_ENOENT;
}
