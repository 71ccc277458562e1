/*
 * gw_histmerge.c - merge of a history range with the held live events, the recovered
 * decision and the position tracker; see gw_histmerge.h. Pure logic, no allocation.
 */
#include "gw_histmerge.h"

#include <string.h>

static bool epoch_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool gw_epoch_valid(const char *s, size_t len)
{
    if (len == 0 || len > GW_EPOCH_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!epoch_char((unsigned char)s[i]))
            return false;
    return true;
}

int gw_hpos_set_epoch(gw_hpos *pos, const char *s, size_t len)
{
    if (!gw_epoch_valid(s, len))
        return -1;
    memcpy(pos->epoch, s, len);
    pos->epoch[len] = '\0';
    return 0;
}

typedef struct {
    gw_hout *out;
    gw_hmerge_res *res;
} sink;

static void emit(sink *s, gw_hout_src src, uint64_t offset, uint64_t gap_to, void *item)
{
    s->out[s->res->n++] = (gw_hout){(uint8_t)src, offset, gap_to, item};
    if (src == GW_HOUT_RANGE)
        s->res->replayed++;
    else if (src == GW_HOUT_GAP)
        s->res->gaps++;
}

static bool epoch_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* One positioned event after *last: a gap for any hole before it, then the event. */
static void take(sink *s, gw_hout_src src, gw_hpos *last, uint64_t offset, void *item)
{
    if (offset > last->offset + 1)
        emit(s, GW_HOUT_GAP, last->offset + 1, offset - 1, NULL);
    emit(s, src, offset, 0, item);
    last->offset = offset;
}

/* The held events in arrival order after *last: raw ones as they come, positioned ones
 * once each, a new epoch restarting the count. */
static void take_held(sink *s, const gw_hmerge_in *in, gw_hpos *last)
{
    for (size_t i = 0; i < in->nheld; i++) {
        const gw_hitem *h = &in->held[i];
        if (h->offset == 0) {
            emit(s, GW_HOUT_HELD, 0, 0, h->item);
            continue;
        }
        if (!h->epoch || !h->epoch[0])
            continue; /* a position without an epoch: not from the library; never here */
        if (!last->epoch[0] || !epoch_eq(last->epoch, h->epoch)) {
            /* history (re)started: count from the new epoch's beginning */
            if (gw_hpos_set_epoch(last, h->epoch, strlen(h->epoch)) != 0)
                continue;
            last->offset = 0;
        }
        if (h->offset <= last->offset)
            continue; /* already given (by the range, or held twice) */
        take(s, GW_HOUT_HELD, last, h->offset, h->item);
    }
}

/* Does the range hold every offset since+1 .. top (entries past top are fine)? */
static bool range_complete(const gw_hmerge_in *in)
{
    uint64_t want = in->since.offset + 1;
    for (size_t i = 0; i < in->nrange && want <= in->top.offset; i++) {
        uint64_t o = in->range[i].offset;
        if (o < want)
            continue;
        if (o != want)
            return false;
        want++;
    }
    return want > in->top.offset;
}

static gw_rec_why decide(const gw_hmerge_in *in)
{
    if (!in->top.epoch[0] || !epoch_eq(in->since.epoch, in->top.epoch))
        return GW_REC_EPOCH;
    if (in->since.offset > in->top.offset)
        return GW_REC_AHEAD;
    if (in->cap && in->top.offset - in->since.offset > in->cap)
        return GW_REC_CAP;
    if (!range_complete(in))
        return GW_REC_TRIMMED;
    return GW_REC_OK;
}

void gw_hist_merge(const gw_hmerge_in *in, gw_hout *out, gw_hmerge_res *res)
{
    memset(res, 0, sizeof(*res));
    sink s = {out, res};
    res->why = decide(in);
    res->recovered = res->why == GW_REC_OK;
    gw_hpos last = in->since;

    if (res->recovered || (in->partial && res->why != GW_REC_EPOCH && res->why != GW_REC_AHEAD)) {
        /* replay the range after since (capped when partial), holes marked */
        size_t given = 0;
        for (size_t i = 0; i < in->nrange; i++) {
            uint64_t o = in->range[i].offset;
            if (o <= last.offset)
                continue;
            if (in->cap && given == in->cap)
                break;
            take(&s, GW_HOUT_RANGE, &last, o, in->range[i].item);
            given++;
        }
    } else if (in->partial) {
        /* the history the node stood in is gone (or is not this one): say so once */
        if (in->since.offset > 0)
            emit(&s, GW_HOUT_GAP, in->since.offset + 1, 0, NULL);
        /* what the new history holds up to top was not read: the tail check below
         * marks it, the held events fill in after it */
        last = in->top;
        last.offset = 0;
    } else {
        /* all or nothing, and it is nothing: the client stands at top and reloads */
        last = in->top;
    }
    take_held(&s, in, &last);
    if (in->partial && epoch_eq(last.epoch, in->top.epoch) && last.offset < in->top.offset) {
        /* neither the range nor the held events reached top */
        emit(&s, GW_HOUT_GAP, last.offset + 1, in->top.offset, NULL);
        last.offset = in->top.offset;
    }
    res->last = last;
}

/* ---- tracking ---- */

bool gw_hpos_seen(const gw_hpos *last, const gw_hpos *ev)
{
    return last->epoch[0] && epoch_eq(last->epoch, ev->epoch) && ev->offset <= last->offset;
}

gw_htrack_act gw_htrack_event(gw_htrack *t, const gw_hpos *ev, uint64_t *from, uint64_t *to)
{
    if (t->repairing)
        return GW_HT_HOLD;
    if (!t->pos.epoch[0]) {
        t->pos = *ev;
        return GW_HT_DELIVER;
    }
    if (!epoch_eq(t->pos.epoch, ev->epoch)) {
        t->pos = *ev;
        return GW_HT_RESET;
    }
    if (ev->offset <= t->pos.offset)
        return GW_HT_DUP;
    if (ev->offset == t->pos.offset + 1) {
        t->pos.offset = ev->offset;
        return GW_HT_DELIVER;
    }
    *from = t->pos.offset + 1;
    *to = ev->offset - 1;
    t->repairing = true;
    return GW_HT_REPAIR;
}

bool gw_htrack_reconnect(gw_htrack *t, uint64_t *from)
{
    if (!t->pos.epoch[0]) {
        t->repairing = false;
        return false;
    }
    t->repairing = true;
    *from = t->pos.offset + 1;
    return true;
}

void gw_htrack_repaired(gw_htrack *t, const gw_hpos *last)
{
    if (last->epoch[0])
        t->pos = *last;
    t->repairing = false;
}
