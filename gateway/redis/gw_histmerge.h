/*
 * gw_histmerge.h - the I/O-free core of history recovery: merging the live events held
 * while a stream range was read with that range, the recovered true/false decision,
 * and the per-channel position tracking that finds a node's own gaps.
 *
 * Recovery (a client's subscribe with `since`, or the node repairing a channel) is:
 * join the live channel first, hold the live events that arrive from then on, read
 * the channel's position and the stream range after `since` in one transaction, then
 * gw_hist_merge(): range + held in offset order, each offset once, nothing missing.
 * Why it is exact: every event published after the live subscription was confirmed is
 * held; every event published before the read is in the range; the two overlap
 * (pub/sub messages and command replies travel on different connections, so either
 * may arrive first) and the merge keeps the first copy of each offset.
 *
 * Items are opaque (void *item: a framed message, a stream entry...); the merge only
 * orders, filters and marks holes. Pure functions, no allocation, one owner thread per
 * struct.
 */
#ifndef GW_HISTMERGE_H
#define GW_HISTMERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulse_functions.h"

/* An epoch is 1..PULSE_EPOCH_MAX characters of [A-Za-z0-9_-] (the library makes 8 of
 * [A-Za-z0-9]), as pulse_position_hdr_parse accepts; "" means "no history". */
#define GW_EPOCH_MAX PULSE_EPOCH_MAX

/* A position in a channel's history: the offset of an event, or the top of the
 * stream. offset 0 with epoch "" = no position. */
typedef struct {
    uint64_t offset;
    char epoch[GW_EPOCH_MAX + 1];
} gw_hpos;

/* true when s[0..len) is a well-formed epoch (len 0 is not). */
bool gw_epoch_valid(const char *s, size_t len);
/* Copies a valid epoch into pos->epoch; -1 (pos unchanged) when not valid. */
int gw_hpos_set_epoch(gw_hpos *pos, const char *s, size_t len);

/* One event given to the merge. offset 0 (and epoch NULL or "") = a raw PUBLISH:
 * no position, kept where it arrived among the held events. */
typedef struct {
    uint64_t offset;
    const char *epoch; /* held items: the epoch they were published in; range items: ignored */
    void *item;
} gw_hitem;

typedef enum {
    GW_HOUT_RANGE = 1, /* item from the range: a replayed event */
    GW_HOUT_HELD,      /* item from the held live events */
    GW_HOUT_GAP,       /* no item: events [offset, gap_to] are lost (gap_to 0: unknown end) */
} gw_hout_src;

typedef struct {
    uint8_t src; /* gw_hout_src */
    uint64_t offset;
    uint64_t gap_to;
    void *item; /* NULL for GW_HOUT_GAP */
} gw_hout;

typedef enum {
    GW_REC_OK = 0,
    GW_REC_EPOCH,   /* the channel's epoch is not the subscriber's (history lost or new) */
    GW_REC_AHEAD,   /* the subscriber claims an offset past the top: not this history */
    GW_REC_CAP,     /* more than cap events missed */
    GW_REC_TRIMMED, /* the stream no longer holds since+1 (or has a hole) */
} gw_rec_why;

typedef struct {
    gw_hpos since;        /* where the subscriber stands */
    gw_hpos top;          /* the channel's position read with the range */
    const gw_hitem *range; /* the stream range after since, ascending */
    size_t nrange;
    const gw_hitem *held; /* the live events held during the read, in arrival order */
    size_t nheld;
    uint64_t cap;         /* most events to replay; 0 = no limit */
    /* false (a client's recovery): all or nothing: either every missed event is
     * replayed (recovered) or none is and the client reloads.
     * true (the node's own repair): replay what the stream still has and mark the
     * holes it cannot fill as GW_HOUT_GAP. */
    bool partial;
} gw_hmerge_in;

typedef struct {
    bool recovered;   /* every event after since is in the output, none twice */
    gw_rec_why why;
    gw_hpos last;     /* the position after the output: where the subscriber stands now */
    size_t replayed;  /* GW_HOUT_RANGE items in the output */
    size_t gaps;      /* GW_HOUT_GAP items in the output */
    size_t n;         /* items written to out */
} gw_hmerge_res;

/* Room the output needs for nrange range items and nheld held items. */
#define GW_HMERGE_OUT_MAX(nrange, nheld) (2 * ((nrange) + (nheld)) + 1)

/* Merges in into out[0..GW_HMERGE_OUT_MAX(in->nrange, in->nheld)). Output order:
 * the range events after since (ascending), then the held events in arrival order
 * without the offsets already given, raw ones in place. A held event of another epoch
 * than the one in force (history was reset during the read) is delivered and starts
 * the new epoch. The decision (recovered, why):
 *   epoch differs -> EPOCH; since past top -> AHEAD; top - since > cap -> CAP;
 *   range not starting at since+1, or a hole before top -> TRIMMED.
 * Not recovered and not partial: only the held events after top (and raw ones). */
void gw_hist_merge(const gw_hmerge_in *in, gw_hout *out, gw_hmerge_res *res);

/* ---- per-channel position tracking (the node's own gap repair) ---- */

typedef struct {
    gw_hpos pos;    /* the last position delivered (offset 0: none yet) */
    bool repairing; /* a range read is in flight: live events are held */
} gw_htrack;

typedef enum {
    GW_HT_DELIVER = 0, /* next in order, or the first seen: deliver (pos advanced) */
    GW_HT_RESET,       /* another epoch: history was reset; deliver (pos restarts there) */
    GW_HT_DUP,         /* already delivered (offset <= pos, same epoch): drop */
    GW_HT_HOLD,        /* a repair is in flight: hold it for the merge */
    GW_HT_REPAIR,      /* offsets [*from, *to] are missing: hold this one, read them
                        * (repairing is now set) */
} gw_htrack_act;

/* A live event with a position arrived. */
gw_htrack_act gw_htrack_event(gw_htrack *t, const gw_hpos *ev, uint64_t *from, uint64_t *to);
/* The subscription to Redis was lost and is back: everything after pos may be
 * missing. true (repairing set, *from = pos + 1) when a position is known; false when
 * nothing was ever delivered (nothing to repair; repairing cleared). A read that was
 * in flight is void (its connection is gone): the caller issues the new one. */
bool gw_htrack_reconnect(gw_htrack *t, uint64_t *from);
/* The repair read came back and was merged: pos = the merge's last, repairing off. */
void gw_htrack_repaired(gw_htrack *t, const gw_hpos *last);
/* true when ev was already delivered after last (same epoch, offset <= last). */
bool gw_hpos_seen(const gw_hpos *last, const gw_hpos *ev);

#endif
