/*
 * gw_slotmap.c - the slot map and its two reply parsers; see gw_slotmap.h.
 *
 * Both parsers fill one builder (a growable shard array plus the slot -> shard table)
 * and validate as they go: every type, every count, every range is checked before it
 * is used, and the first problem ends the parse with a message naming where it was
 * ("shard 2: node 1: port 70000 out of range"). Nothing in the reply is trusted, so a
 * fuzzer can throw any redisReply tree at them (fuzz/fuzz_slotmap.c).
 */
#include "gw_slotmap.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_alloc.h"

/* ---- small helpers ---- */

static const char *rtype(const redisReply *r)
{
    if (r == NULL)
        return "nothing";
    switch (r->type) {
    case REDIS_REPLY_STRING: return "a string";
    case REDIS_REPLY_ARRAY: return "an array";
    case REDIS_REPLY_INTEGER: return "an integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "a status";
    case REDIS_REPLY_ERROR: return "an error";
    default: return "an unknown type";
    }
}

static bool is_text(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool text_eq(const redisReply *r, const char *s)
{
    size_t n = strlen(s);
    return is_text(r) && r->len == n && memcmp(r->str, s, n) == 0;
}

/* Copies a printable, space-free host ("" allowed) into dst; false when unusable. */
static bool copy_host(char *dst, const char *src, size_t len)
{
    if (len > GW_CNODE_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

static bool copy_id(char *dst, const char *src, size_t len)
{
    if (len > GW_CNODE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

/* The top of a CLUSTER SHARDS/SLOTS reply must be an array; an error reply is quoted
 * (at most 80 bytes). Sets *out to NULL. */
static int check_top(gw_slotmap **out, const redisReply *r, const char *what, pulse_error *err)
{
    *out = NULL;
    if (r == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no reply", what);
    if (r->type == REDIS_REPLY_ERROR) {
        int n = r->len > 80 ? 80 : (int)r->len;
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: Redis answered an error: %.*s", what, n,
                               r->str ? r->str : "");
    }
    if (r->type != REDIS_REPLY_ARRAY)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: reply is %s, expected an array", what,
                               rtype(r));
    return 0;
}

/* ---- the builder ---- */

typedef struct {
    gw_slotmap *m;
    size_t cap;
} builder;

static void builder_init(builder *b)
{
    b->m = pulse_xcalloc(1, sizeof *b->m);
    b->cap = 0;
    memset(b->m->owner, 0xff, sizeof b->m->owner); /* every entry -1 */
    b->m->uncovered = GW_SLOTS;
}

/* Adds a shard and stores its index in *idx; more than GW_CLUSTER_SHARDS_MAX is an error. */
static int builder_add_shard(builder *b, const gw_cnode *primary, size_t *idx, const char *where,
                             pulse_error *err)
{
    gw_slotmap *m = b->m;
    if (m->nshards >= GW_CLUSTER_SHARDS_MAX)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: more than %d shards", where,
                               GW_CLUSTER_SHARDS_MAX);
    if (m->nshards == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        m->shards = pulse_xrealloc(m->shards, b->cap * sizeof *m->shards);
    }
    gw_cshard *sh = &m->shards[m->nshards];
    memset(sh, 0, sizeof *sh);
    sh->primary = *primary;
    *idx = m->nshards++;
    return 0;
}

/* Adds a replica unless the shard has it already; more than GW_SHARD_REPLICAS_MAX is
 * an error. */
static int shard_add_replica(gw_cshard *sh, const gw_cnode *n, const char *where, pulse_error *err)
{
    for (size_t i = 0; i < sh->nreplicas; i++) {
        if (gw_cnode_same(&sh->replicas[i], n))
            return 0;
    }
    if (sh->nreplicas >= GW_SHARD_REPLICAS_MAX)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: more than %d replicas", where,
                               GW_SHARD_REPLICAS_MAX);
    sh->replicas = pulse_xrealloc(sh->replicas, (sh->nreplicas + 1) * sizeof *sh->replicas);
    sh->replicas[sh->nreplicas++] = *n;
    return 0;
}

/* Assigns [lo, hi] to shard idx; a slot already assigned is an error. */
static int builder_assign(builder *b, size_t idx, long long lo, long long hi, const char *where,
                          pulse_error *err)
{
    if (lo < 0 || hi < 0 || lo >= GW_SLOTS || hi >= GW_SLOTS || lo > hi)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad slot range %lld-%lld", where, lo, hi);
    /* every slot is visited once at most: a hostile reply repeating 0-16383 a million
     * times stops at its second range instead of costing 16384 steps per range */
    for (long long s = lo; s <= hi; s++) {
        int16_t cur = b->m->owner[s];
        if (cur >= 0)
            return pulse_error_set(err, PULSE_EINVAL, 0, "%s: slot %lld is %s", where, s,
                                   (size_t)cur == idx ? "listed twice" : "claimed by two shards");
        b->m->owner[s] = (int16_t)idx;
        b->m->shards[idx].nslots++;
        b->m->uncovered--;
    }
    return 0;
}

static int builder_finish(builder *b, gw_slotmap **out)
{
    *out = b->m;
    b->m = NULL;
    return 0;
}

static int builder_fail(builder *b, int rc)
{
    gw_slotmap_free(b->m);
    b->m = NULL;
    return rc;
}

void gw_slotmap_free(gw_slotmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nshards; i++)
        free(m->shards[i].replicas);
    free(m->shards);
    free(m);
}

/* ---- CLUSTER SHARDS ---- */

typedef enum { ROLE_UNKNOWN = 0, ROLE_PRIMARY, ROLE_REPLICA } node_role;

/* One node of CLUSTER SHARDS: a flat array of field/value pairs. */
static int parse_shards_node(const redisReply *r, gw_cnode *n, node_role *role, const char *where,
                             pulse_error *err)
{
    const redisReply *ip = NULL, *endpoint = NULL, *hostname = NULL;
    bool have_port = false;
    memset(n, 0, sizeof *n);
    *role = ROLE_UNKNOWN;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s is %s, expected field/value pairs", where,
                               r->type == REDIS_REPLY_ARRAY ? "an odd-length array" : rtype(r));
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (!is_text(k))
            return pulse_error_set(err, PULSE_EINVAL, 0, "%s: field name is %s", where, rtype(k));
        if (text_eq(k, "id")) {
            if (!is_text(v) || v->len == 0 || !copy_id(n->id, v->str, v->len))
                return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad id", where);
        } else if (text_eq(k, "port")) {
            if (v == NULL || v->type != REDIS_REPLY_INTEGER || v->integer < 1 || v->integer > 65535)
                return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad port (%s%s)", where, rtype(v),
                                       v && v->type == REDIS_REPLY_INTEGER ? ", out of range" : "");
            n->port = (int)v->integer;
            have_port = true;
        } else if (text_eq(k, "ip")) {
            ip = v;
        } else if (text_eq(k, "endpoint")) {
            endpoint = v;
        } else if (text_eq(k, "hostname")) {
            hostname = v;
        } else if (text_eq(k, "role")) {
            if (text_eq(v, "master"))
                *role = ROLE_PRIMARY;
            else if (text_eq(v, "replica") || text_eq(v, "slave"))
                *role = ROLE_REPLICA;
            else
                return pulse_error_set(err, PULSE_EINVAL, 0, "%s: unknown role", where);
        } else if (text_eq(k, "health")) {
            if (!is_text(v))
                return pulse_error_set(err, PULSE_EINVAL, 0, "%s: health is %s", where, rtype(v));
            n->online = text_eq(v, "online");
        }
        /* other fields (tls-port, replication-offset, ...) are not needed */
    }
    (void)hostname; /* the endpoint already is the hostname when Redis prefers hostnames */
    if (n->id[0] == '\0')
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no id", where);
    if (!have_port)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no plaintext port", where);
    if (*role == ROLE_UNKNOWN)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no role", where);
    /* endpoint is what Redis wants clients to use; "?" means unknown, then the ip */
    const redisReply *h = NULL;
    if (is_text(endpoint) && !text_eq(endpoint, "?"))
        h = endpoint;
    else if (is_text(ip) && !text_eq(ip, "?"))
        h = ip;
    if (h == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no usable endpoint or ip", where);
    if (!copy_host(n->host, h->str, h->len))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad host", where);
    return 0;
}

static int parse_shard(builder *b, const redisReply *r, size_t si, pulse_error *err)
{
    char where[64], nwhere[112];
    const redisReply *slots = NULL, *nodes = NULL;
    snprintf(where, sizeof where, "CLUSTER SHARDS: shard %zu", si);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s is %s, expected field/value pairs", where,
                               r && r->type == REDIS_REPLY_ARRAY ? "an odd-length array" : rtype(r));
    for (size_t i = 0; i < r->elements; i += 2) {
        if (text_eq(r->element[i], "slots"))
            slots = r->element[i + 1];
        else if (text_eq(r->element[i], "nodes"))
            nodes = r->element[i + 1];
    }
    if (slots == NULL || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: slots is %s, expected start/end pairs",
                               where, slots && slots->type == REDIS_REPLY_ARRAY ? "an odd-length array"
                                                                               : rtype(slots));
    if (nodes == NULL || nodes->type != REDIS_REPLY_ARRAY)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: nodes is %s, expected an array", where,
                               rtype(nodes));
    for (size_t i = 0; i < slots->elements; i++) {
        if (slots->element[i]->type != REDIS_REPLY_INTEGER)
            return pulse_error_set(err, PULSE_EINVAL, 0, "%s: slot bound %zu is %s", where, i,
                                   rtype(slots->element[i]));
    }
    /* the primary first, so the shard exists before its replicas and slots */
    gw_cnode primary, *replicas = NULL;
    size_t nrep = 0;
    memset(&primary, 0, sizeof primary);
    bool have_primary = false;
    int rc = 0;
    if (nodes->elements > 0)
        replicas = pulse_xcalloc(nodes->elements, sizeof *replicas);
    for (size_t i = 0; i < nodes->elements && rc == 0; i++) {
        gw_cnode n;
        node_role role;
        snprintf(nwhere, sizeof nwhere, "%s: node %zu", where, i);
        rc = parse_shards_node(nodes->element[i], &n, &role, nwhere, err);
        if (rc != 0)
            break;
        if (role == ROLE_PRIMARY) {
            if (have_primary)
                rc = pulse_error_set(err, PULSE_EINVAL, 0, "%s: two primaries", where);
            primary = n;
            have_primary = true;
        } else {
            replicas[nrep++] = n;
        }
    }
    if (rc == 0 && !have_primary) {
        /* a shard with no primary can serve no slot; with slots it is malformed */
        if (slots->elements > 0)
            rc = pulse_error_set(err, PULSE_EINVAL, 0, "%s: serves slots but has no primary", where);
        free(replicas);
        return rc;
    }
    size_t idx = 0;
    if (rc == 0)
        rc = builder_add_shard(b, &primary, &idx, where, err);
    for (size_t i = 0; i < nrep && rc == 0; i++)
        rc = shard_add_replica(&b->m->shards[idx], &replicas[i], where, err);
    for (size_t i = 0; i + 1 < slots->elements && rc == 0; i += 2)
        rc = builder_assign(b, idx, slots->element[i]->integer, slots->element[i + 1]->integer, where,
                            err);
    free(replicas);
    return rc;
}

int gw_slotmap_from_shards(gw_slotmap **out, const redisReply *reply, pulse_error *err)
{
    builder b;
    int rc = check_top(out, reply, "CLUSTER SHARDS", err);
    if (rc != 0)
        return rc;
    builder_init(&b);
    for (size_t i = 0; i < reply->elements; i++) {
        rc = parse_shard(&b, reply->element[i], i, err);
        if (rc != 0)
            return builder_fail(&b, rc);
    }
    return builder_finish(&b, out);
}

/* ---- CLUSTER SLOTS ---- */

/* [host, port, id?, metadata?]; *unknown set when the endpoint is nil or "?". */
static int parse_slots_node(const redisReply *r, gw_cnode *n, bool *unknown, const char *where,
                            pulse_error *err)
{
    memset(n, 0, sizeof *n);
    *unknown = false;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s is %s, expected [host, port, ...]", where,
                               r && r->type == REDIS_REPLY_ARRAY ? "a short array" : rtype(r));
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->type == REDIS_REPLY_NIL || text_eq(h, "?"))
        *unknown = true;
    else if (!is_text(h) || !copy_host(n->host, h->str, h->len))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad host (%s)", where, rtype(h));
    if (p->type != REDIS_REPLY_INTEGER || p->integer < 1 || p->integer > 65535)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad port (%s%s)", where, rtype(p),
                               p->type == REDIS_REPLY_INTEGER ? ", out of range" : "");
    n->port = (int)p->integer;
    if (r->elements >= 3) {
        const redisReply *id = r->element[2];
        if (!is_text(id) || !copy_id(n->id, id->str, id->len))
            return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad id", where);
    }
    n->online = true;
    return 0;
}

int gw_slotmap_from_slots(gw_slotmap **out, const redisReply *reply, pulse_error *err)
{
    builder b;
    char where[64], nwhere[112];
    int rc = check_top(out, reply, "CLUSTER SLOTS", err);
    if (rc != 0)
        return rc;
    builder_init(&b);
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        gw_cnode primary;
        bool unknown;
        snprintf(where, sizeof where, "CLUSTER SLOTS: range %zu", i);
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
            return builder_fail(&b, pulse_error_set(err, PULSE_EINVAL, 0,
                                                    "%s is %s, expected [start, end, primary, ...]",
                                                    where, e->type == REDIS_REPLY_ARRAY ? "a short array"
                                                                                        : rtype(e)));
        if (e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
            return builder_fail(&b, pulse_error_set(err, PULSE_EINVAL, 0,
                                                    "%s: start and end must be integers", where));
        snprintf(nwhere, sizeof nwhere, "%s: primary", where);
        rc = parse_slots_node(e->element[2], &primary, &unknown, nwhere, err);
        if (rc == 0 && unknown)
            rc = pulse_error_set(err, PULSE_EINVAL, 0, "%s: endpoint unknown", nwhere);
        if (rc != 0)
            return builder_fail(&b, rc);
        size_t idx = b.m->nshards;
        for (size_t s = 0; s < b.m->nshards && idx == b.m->nshards; s++) {
            if (gw_cnode_same(&b.m->shards[s].primary, &primary))
                idx = s;
        }
        if (idx == b.m->nshards) {
            rc = builder_add_shard(&b, &primary, &idx, where, err);
            if (rc != 0)
                return builder_fail(&b, rc);
        }
        for (size_t k = 3; k < e->elements; k++) {
            gw_cnode rep;
            snprintf(nwhere, sizeof nwhere, "%s: replica %zu", where, k - 3);
            rc = parse_slots_node(e->element[k], &rep, &unknown, nwhere, err);
            if (rc == 0 && !unknown)
                rc = shard_add_replica(&b.m->shards[idx], &rep, where, err);
            if (rc != 0)
                return builder_fail(&b, rc);
        }
        rc = builder_assign(&b, idx, e->element[0]->integer, e->element[1]->integer, where, err);
        if (rc != 0)
            return builder_fail(&b, rc);
    }
    return builder_finish(&b, out);
}

/* ---- queries ---- */

int gw_slotmap_fill_host(gw_slotmap *m, const char *host)
{
    if (host == NULL || strlen(host) > GW_CNODE_HOST_MAX)
        return PULSE_EINVAL;
    for (size_t i = 0; i < m->nshards; i++) {
        gw_cshard *sh = &m->shards[i];
        if (sh->primary.host[0] == '\0')
            snprintf(sh->primary.host, sizeof sh->primary.host, "%s", host);
        for (size_t r = 0; r < sh->nreplicas; r++) {
            if (sh->replicas[r].host[0] == '\0')
                snprintf(sh->replicas[r].host, sizeof sh->replicas[r].host, "%s", host);
        }
    }
    return 0;
}

int gw_slotmap_shard_index(const gw_slotmap *m, unsigned slot)
{
    if (m == NULL || slot >= GW_SLOTS)
        return -1;
    return m->owner[slot];
}

const gw_cshard *gw_slotmap_shard(const gw_slotmap *m, unsigned slot)
{
    int i = gw_slotmap_shard_index(m, slot);
    return i < 0 ? NULL : &m->shards[i];
}

int gw_slotmap_find_primary(const gw_slotmap *m, const char *host, int port)
{
    for (size_t i = 0; m != NULL && i < m->nshards; i++) {
        if (m->shards[i].primary.port == port && strcmp(m->shards[i].primary.host, host) == 0)
            return (int)i;
    }
    return -1;
}

bool gw_cnode_same(const gw_cnode *a, const gw_cnode *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0 && strcmp(a->id, b->id) == 0;
}

const char *gw_cnode_addr(const gw_cnode *n, char *buf, size_t cap)
{
    if (strchr(n->host, ':') != NULL)
        snprintf(buf, cap, "[%s]:%d", n->host, n->port);
    else
        snprintf(buf, cap, "%s:%d", n->host, n->port);
    return buf;
}

size_t gw_slotmap_needed(const gw_slotmap *m, const char *const *names, const size_t *lens, size_t n,
                         bool *need)
{
    size_t uncovered = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned slot = gw_slot_of(names[i], lens ? lens[i] : strlen(names[i]));
        int idx = gw_slotmap_shard_index(m, slot);
        if (idx < 0)
            uncovered++;
        else
            need[idx] = true;
    }
    return uncovered;
}

bool gw_slotmap_slot_moved(const gw_slotmap *old, const gw_slotmap *cur, unsigned slot)
{
    const gw_cshard *a = gw_slotmap_shard(old, slot), *b = gw_slotmap_shard(cur, slot);
    if (a == NULL || b == NULL)
        return true;
    return !gw_cnode_same(&a->primary, &b->primary);
}

size_t gw_slotmap_moved(const gw_slotmap *old, const gw_slotmap *cur, const char *const *names,
                        const size_t *lens, size_t n, size_t *moved)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned slot = gw_slot_of(names[i], lens ? lens[i] : strlen(names[i]));
        if (gw_slotmap_slot_moved(old, cur, slot))
            moved[count++] = i;
    }
    return count;
}

/* ---- redirections ---- */

/* Decimal digits [p, end) into *v (at most max); false when empty, not digits or too big. */
static bool parse_uint(const char *p, const char *end, unsigned long max, unsigned long *v)
{
    unsigned long x = 0;
    if (p >= end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        x = x * 10 + (unsigned long)(*p - '0');
        if (x > max)
            return false;
    }
    *v = x;
    return true;
}

int gw_redirect_parse(const char *text, size_t len, gw_redirect *out, pulse_error *err)
{
    const char *p = text, *end = text + len;
    memset(out, 0, sizeof *out);
    if (len >= 6 && memcmp(text, "MOVED ", 6) == 0) {
        out->kind = GW_REDIRECT_MOVED;
        p += 6;
    } else if (len >= 4 && memcmp(text, "ASK ", 4) == 0) {
        out->kind = GW_REDIRECT_ASK;
        p += 4;
    } else {
        return PULSE_ENOENT;
    }
    const char *kind = out->kind == GW_REDIRECT_MOVED ? "MOVED" : "ASK";
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    unsigned long slot, port;
    if (sp == NULL || !parse_uint(p, sp, GW_SLOTS - 1, &slot))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad slot", kind);
    const char *addr = sp + 1, *colon = NULL;
    for (const char *q = addr; q < end; q++) {
        if (*q == ':')
            colon = q;
    }
    if (colon == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: address has no port", kind);
    if (!parse_uint(colon + 1, end, 65535, &port) || port == 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad port", kind);
    const char *h = addr, *hend = colon;
    if (hend - h >= 2 && h[0] == '[' && hend[-1] == ']') { /* [v6]:port */
        h++;
        hend--;
    }
    if (!copy_host(out->host, h, (size_t)(hend - h)))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: bad host", kind);
    out->slot = (unsigned)slot;
    out->port = (int)port;
    return 0;
}

int gw_slotmap_apply_redirect(gw_slotmap *m, const gw_redirect *r)
{
    if (r->kind != GW_REDIRECT_MOVED || r->slot >= GW_SLOTS || r->host[0] == '\0')
        return PULSE_ENOENT;
    int to = gw_slotmap_find_primary(m, r->host, r->port);
    if (to < 0)
        return PULSE_ENOENT;
    int from = m->owner[r->slot];
    if (from == to)
        return 0;
    if (from < 0)
        m->uncovered--;
    else
        m->shards[from].nslots--;
    m->owner[r->slot] = (int16_t)to;
    m->shards[to].nslots++;
    return 0;
}
