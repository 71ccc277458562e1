/*
 * fuzz_histwire.c - libFuzzer target for the history read replies
 * (gateway/redis/gw_histwire.c: position, XRANGE / XREVRANGE, MULTI/EXEC), which come
 * as RESP bytes from Redis and are turned into reply trees by hiredis's own reader.
 * (The "#pulse1" message header has its own target, fuzz_position.)
 *
 * Invariants: a parsed position has a valid epoch (or none and offset 0); parsed
 * ranges are strictly ordered, offsets >= 1, payloads inside the reply; a failed parse
 * leaves its outputs as they were.
 */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_resp.h"
#include "gw_histwire.h"

static void check_range(const gw_hentries *e, size_t from, bool descending)
{
    for (size_t i = from; i < e->n; i++) {
        if (e->v[i].offset == 0 || (e->v[i].len && !e->v[i].data))
            abort();
        if (i > from && (descending ? e->v[i].offset >= e->v[i - 1].offset : e->v[i].offset <= e->v[i - 1].offset))
            abort();
        /* touch every payload byte: ASan checks they lie inside the reply */
        volatile unsigned char sum = 0;
        for (size_t k = 0; k < e->v[i].len; k++)
            sum += (unsigned char)e->v[i].data[k];
        (void)sum;
    }
}

static void check_reply(const redisReply *r)
{
    char err[GW_HIST_ERR_MAX];
    gw_hpos pos = {5, "keep"};
    if (gw_hist_parse_position(r, &pos, err, sizeof err) == 0) {
        if (pos.epoch[0] ? !gw_epoch_valid(pos.epoch, strlen(pos.epoch)) : pos.offset != 0)
            abort();
    } else if (pos.offset != 5 || strcmp(pos.epoch, "keep") != 0 || !memchr(err, '\0', sizeof err)) {
        abort();
    }
    for (int desc = 0; desc < 2; desc++) {
        gw_hentries e = {0};
        gw_hentries_push(&e, 9, "x", 1); /* what was there before must survive */
        if (gw_hist_parse_range(r, desc, &e, err, sizeof err) == 0)
            check_range(&e, 1, desc);
        else if (e.n != 1)
            abort();
        if (e.v[0].offset != 9)
            abort();
        gw_hentries_free(&e);

        gw_hpos p = {5, "keep"};
        if (gw_hist_parse_exec(r, desc, &p, &e, err, sizeof err) == 0)
            check_range(&e, 0, desc);
        else if (p.offset != 5)
            abort();
        gw_hentries_free(&e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_resp_each(data, size, 64, check_reply);
    return 0;
}
