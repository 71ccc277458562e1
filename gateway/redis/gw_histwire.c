/*
 * gw_histwire.c - the history read replies; see gw_histwire.h.
 * Pure: no I/O, no globals, any thread. Every byte here came from Redis (and so from
 * whoever can publish), so every length is checked and nothing is trusted to be
 * NUL-terminated.
 */
#include "gw_histwire.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFSET_DIGITS_MAX 20 /* UINT64_MAX has 20 digits */

/* Decimal digits s[0..len) -> *out; no sign, no leading zero unless "0", no
 * overflow. 0 or -1. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > OFFSET_DIGITS_MAX || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void gw_hentries_push(gw_hentries *a, uint64_t offset, const char *data, size_t len)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        gw_hentry *v = realloc(a->v, cap * sizeof(*v));
        if (!v) {
            fputs("pulse-gateway: out of memory\n", stderr);
            abort();
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (gw_hentry){offset, data, len};
}

void gw_hentries_free(gw_hentries *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* ---- replies ---- */

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* At most 32 bytes of s, control bytes and quotes replaced, for error texts. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len < 32 ? len : 32;
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c < 0x20 || c >= 0x7f || c == '\'' ? '?' : (char)c;
    }
    buf[n] = '\0';
    return buf;
}

static int error_reply(const redisReply *r, const char *what, char *err, size_t cap)
{
    char q[40];
    return fail(err, cap, "%s: Redis error '%s'", what, shown(r->str ? r->str : "", r->str ? r->len : 0, q, sizeof q));
}

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && (r->str || r->len == 0);
}

int gw_hist_parse_position(const redisReply *r, gw_hpos *pos, char *err, size_t errcap)
{
    static const char what[] = "pulse_position";
    if (!r)
        return fail(err, errcap, "%s: no reply", what);
    if (r->type == REDIS_REPLY_ERROR)
        return error_reply(r, what, err, errcap);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element)
        return fail(err, errcap, "%s: expected [offset, epoch]", what);
    const redisReply *ro = r->element[0], *re = r->element[1];
    uint64_t off;
    if (ro && ro->type == REDIS_REPLY_INTEGER && ro->integer >= 0) {
        off = (uint64_t)ro->integer;
    } else if (is_str(ro) && parse_u64(ro->str, ro->len, &off) == 0) {
        /* a decimal string is fine too (HGET answers strings) */
    } else {
        return fail(err, errcap, "%s: offset is not a non-negative integer", what);
    }
    if (!re || re->type == REDIS_REPLY_NIL || (is_str(re) && re->len == 0)) {
        if (off != 0)
            return fail(err, errcap, "%s: offset %llu without an epoch", what, (unsigned long long)off);
        pos->offset = 0;
        pos->epoch[0] = '\0';
        return 0;
    }
    if (!is_str(re) || !gw_epoch_valid(re->str, re->len)) {
        char q[40];
        return fail(err, errcap, "%s: bad epoch '%s'", what,
                    is_str(re) ? shown(re->str, re->len, q, sizeof q) : "(not a string)");
    }
    pos->offset = off;
    memcpy(pos->epoch, re->str, re->len);
    pos->epoch[re->len] = '\0';
    return 0;
}

/* "<offset>-0" with offset >= 1. */
static int parse_entry_id(const redisReply *id, uint64_t *off)
{
    if (!is_str(id) || id->len < 3)
        return -1;
    if (id->str[id->len - 2] != '-' || id->str[id->len - 1] != '0')
        return -1;
    if (parse_u64(id->str, id->len - 2, off) != 0 || *off == 0)
        return -1;
    return 0;
}

static int parse_entry(const redisReply *e, size_t idx, gw_hentry *out, char *err, size_t errcap)
{
    static const char what[] = "history range";
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !e->element)
        return fail(err, errcap, "%s: entry %zu is not [id, fields]", what, idx);
    uint64_t off;
    if (parse_entry_id(e->element[0], &off) != 0) {
        char q[40];
        const redisReply *id = e->element[0];
        return fail(err, errcap, "%s: entry %zu: ID '%s' is not <offset>-0", what, idx,
                    is_str(id) ? shown(id->str, id->len, q, sizeof q) : "(not a string)");
    }
    const redisReply *f = e->element[1];
    if (!f || f->type != REDIS_REPLY_ARRAY || f->elements % 2 != 0 || (f->elements && !f->element))
        return fail(err, errcap, "%s: entry %llu: fields are not name/value pairs", what, (unsigned long long)off);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (!is_str(k) || !is_str(v))
            return fail(err, errcap, "%s: entry %llu: a field is not a string", what, (unsigned long long)off);
        if (k->len == 1 && k->str[0] == 'd') {
            out->offset = off;
            out->data = v->str ? v->str : "";
            out->len = v->len;
            return 0;
        }
    }
    return fail(err, errcap, "%s: entry %llu has no field 'd'", what, (unsigned long long)off);
}

int gw_hist_parse_range(const redisReply *r, bool descending, gw_hentries *out, char *err, size_t errcap)
{
    static const char what[] = "history range";
    if (!r)
        return fail(err, errcap, "%s: no reply", what);
    if (r->type == REDIS_REPLY_ERROR)
        return error_reply(r, what, err, errcap);
    if (r->type == REDIS_REPLY_NIL)
        return 0; /* nothing there */
    if (r->type != REDIS_REPLY_ARRAY || (r->elements && !r->element))
        return fail(err, errcap, "%s: not an array", what);
    size_t before = out->n;
    uint64_t prev = 0;
    for (size_t i = 0; i < r->elements; i++) {
        gw_hentry e = {0, NULL, 0};
        if (parse_entry(r->element[i], i, &e, err, errcap) != 0) {
            out->n = before;
            return -1;
        }
        if (i > 0 && (descending ? e.offset >= prev : e.offset <= prev)) {
            out->n = before;
            return fail(err, errcap, "%s: offset %llu after %llu is out of order", what,
                        (unsigned long long)e.offset, (unsigned long long)prev);
        }
        prev = e.offset;
        gw_hentries_push(out, e.offset, e.data, e.len);
    }
    return 0;
}

int gw_hist_parse_exec(const redisReply *r, bool descending, gw_hpos *pos, gw_hentries *out, char *err,
                       size_t errcap)
{
    if (!r)
        return fail(err, errcap, "history read: no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return error_reply(r, "history read", err, errcap);
    if (r->type == REDIS_REPLY_NIL)
        return fail(err, errcap, "history read: transaction aborted");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element)
        return fail(err, errcap, "history read: expected [position, range]");
    gw_hpos p;
    if (gw_hist_parse_position(r->element[0], &p, err, errcap) != 0)
        return -1;
    if (gw_hist_parse_range(r->element[1], descending, out, err, errcap) != 0)
        return -1;
    *pos = p;
    return 0;
}
