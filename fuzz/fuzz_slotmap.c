/*
 * fuzz_slotmap.c - libFuzzer target for the Redis Cluster reply parsers of
 * gateway/redis/: the input is RESP bytes, read into redisReply trees by hiredis's own
 * reader (as the gateway's connections read them); every reply is given to the
 * CLUSTER SHARDS and CLUSTER SLOTS parsers, to the sharded pub/sub classifier, and
 * every error/status text to the MOVED/ASK parser. Invariants checked: a map accounts
 * for every slot exactly once, its strings are terminated, and every borrowed slice
 * the classifier returns lies inside the reply. Seeds: fuzz/corpus/fuzz_slotmap/,
 * replies recorded from a real Redis 7.0.15 cluster.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_resp.h"
#include "gw_slotmap.h"
#include "gw_spush.h"

static void check_map(gw_slotmap *m)
{
    unsigned counted[64] = {0}, uncovered = 0;
    for (unsigned s = 0; s < GW_SLOTS; s++) {
        int o = m->owner[s];
        if (o < -1 || (o >= 0 && (size_t)o >= m->nshards))
            abort();
        if (o < 0)
            uncovered++;
        else if (o < 64)
            counted[o]++;
    }
    if (uncovered != m->uncovered)
        abort();
    for (size_t i = 0; i < m->nshards && i < 64; i++) {
        const gw_cshard *sh = &m->shards[i];
        if (sh->nslots != counted[i])
            abort();
        if (memchr(sh->primary.host, '\0', sizeof sh->primary.host) == NULL ||
            memchr(sh->primary.id, '\0', sizeof sh->primary.id) == NULL)
            abort();
        if (sh->primary.port < 1 || sh->primary.port > 65535)
            abort();
        for (size_t r = 0; r < sh->nreplicas; r++) {
            if (memchr(sh->replicas[r].host, '\0', sizeof sh->replicas[r].host) == NULL)
                abort();
        }
    }
}

static void inside(const redisReply *r, const char *p, size_t len)
{
    if (p == NULL || len == 0)
        return;
    /* a slice borrows one of the reply's strings: the top one or an element's */
    if (r->str && p >= r->str && p + len <= r->str + r->len)
        return;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->str && p >= e->str && p + len <= e->str + e->len)
            return;
    }
    abort();
}

static void one_reply(const redisReply *r)
{
    gw_slotmap *m = NULL;
    pulse_error err;
    if (gw_slotmap_from_shards(&m, r, &err) == 0) {
        check_map(m);
        gw_redirect mv = {GW_REDIRECT_MOVED, 5, "", 0};
        if (m->nshards > 0) {
            mv.port = m->shards[0].primary.port;
            memcpy(mv.host, m->shards[0].primary.host, sizeof mv.host);
            gw_slotmap_apply_redirect(m, &mv);
            check_map(m);
        }
        gw_slotmap_free(m);
    } else if (m != NULL) {
        abort();
    }
    if (gw_slotmap_from_slots(&m, r, &err) == 0) {
        check_map(m);
        gw_slotmap_free(m);
    } else if (m != NULL) {
        abort();
    }
    gw_spush p;
    gw_spush_classify(r, &p);
    inside(r, p.channel, p.channel_len);
    inside(r, p.payload, p.payload_len);
    if (p.kind != GW_SPUSH_UNEXPECTED)
        inside(r, p.text, p.text_len);
    if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS) {
        gw_redirect rd;
        if (gw_redirect_parse(r->str, r->len, &rd, &err) == 0 &&
            (rd.slot >= GW_SLOTS || rd.port < 1 || rd.port > 65535 ||
             memchr(rd.host, '\0', sizeof rd.host) == NULL))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_resp_each(data, size, 16, one_reply); /* bounded: each map costs a 16384-slot table */
    return 0;
}
