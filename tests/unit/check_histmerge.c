/*
 * check_histmerge.c - the recovery merge and the position tracker: held live events
 * merged with a stream range (no duplicate, no gap, in order) over every interleaving
 * of publish, live join and read; the recovered decision (epoch, trimmed, cap, ahead);
 * raw events and epoch resets among the held ones; the node's partial repair with its
 * gap marks; and the tracker's deliver / dup / jump / reconnect steps.
 */
#include <check.h>

#include "ts_check.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_histmerge.h"

#define E "Ep0ch123"

/* Items are their own offsets (as pointers) so the output can be checked directly;
 * raw events are 1000 + n. */
#define IT(o) ((void *)(uintptr_t)(o))
#define VAL(p) ((uint64_t)(uintptr_t)(p))

typedef struct {
    gw_hitem range[64], held[64];
    size_t nrange, nheld;
    gw_hout out[GW_HMERGE_OUT_MAX(64, 64)];
    gw_hmerge_res res;
} fx;

static void add_range(fx *f, uint64_t from, uint64_t to)
{
    for (uint64_t o = from; o <= to; o++)
        f->range[f->nrange++] = (gw_hitem){o, NULL, IT(o)};
}

static void add_held(fx *f, uint64_t from, uint64_t to, const char *epoch)
{
    for (uint64_t o = from; o <= to; o++)
        f->held[f->nheld++] = (gw_hitem){o, epoch, IT(o)};
}

static void add_raw(fx *f, uint64_t n)
{
    f->held[f->nheld++] = (gw_hitem){0, NULL, IT(1000 + n)};
}

static void run(fx *f, uint64_t since, const char *since_epoch, uint64_t top, const char *top_epoch, uint64_t cap,
                bool partial)
{
    gw_hmerge_in in = {.range = f->range, .nrange = f->nrange, .held = f->held, .nheld = f->nheld,
                       .cap = cap, .partial = partial};
    in.since.offset = since;
    strcpy(in.since.epoch, since_epoch);
    in.top.offset = top;
    strcpy(in.top.epoch, top_epoch);
    gw_hist_merge(&in, f->out, &f->res);
}

/* The output's items as values, gaps as -from (to ignored), into v; returns count. */
static size_t values(const fx *f, long long *v)
{
    for (size_t i = 0; i < f->res.n; i++)
        v[i] = f->out[i].src == GW_HOUT_GAP ? -(long long)f->out[i].offset : (long long)VAL(f->out[i].item);
    return f->res.n;
}

static void expect(const fx *f, const long long *want, size_t n)
{
    long long got[256];
    size_t gn = values(f, got);
    ck_assert_uint_eq(gn, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "item %zu: got %lld, want %lld", i, got[i], want[i]);
}

START_TEST(test_recovered_overlap)
{
    fx f = {0};
    add_range(&f, 41, 45);
    add_held(&f, 44, 47, E); /* the read and the live channel overlap on 44, 45 */
    run(&f, 40, E, 45, E, 100, false);
    ck_assert(f.res.recovered);
    ck_assert_int_eq(f.res.why, GW_REC_OK);
    static const long long want[] = {41, 42, 43, 44, 45, 46, 47};
    expect(&f, want, 7);
    ck_assert_uint_eq(f.res.replayed, 5);
    ck_assert_uint_eq(f.res.gaps, 0);
    ck_assert_uint_eq(f.res.last.offset, 47);
    ck_assert_str_eq(f.res.last.epoch, E);
    ck_assert_int_eq(f.out[0].src, GW_HOUT_RANGE);
    ck_assert_int_eq(f.out[5].src, GW_HOUT_HELD);
}
END_TEST

START_TEST(test_nothing_missed)
{
    fx f = {0};
    add_held(&f, 46, 46, E);
    run(&f, 45, E, 45, E, 100, false);
    ck_assert(f.res.recovered);
    static const long long want[] = {46};
    expect(&f, want, 1);
    ck_assert_uint_eq(f.res.replayed, 0);

    fx g = {0};
    run(&g, 45, E, 45, E, 100, false);
    ck_assert(g.res.recovered);
    ck_assert_uint_eq(g.res.n, 0);
    ck_assert_uint_eq(g.res.last.offset, 45);
}
END_TEST

START_TEST(test_raw_held_in_place)
{
    fx f = {0};
    add_range(&f, 3, 4);
    add_held(&f, 4, 4, E);
    add_raw(&f, 1);
    add_held(&f, 5, 5, E);
    add_raw(&f, 2);
    run(&f, 2, E, 4, E, 0, false);
    ck_assert(f.res.recovered);
    static const long long want[] = {3, 4, 1001, 5, 1002};
    expect(&f, want, 5);
}
END_TEST

START_TEST(test_not_recovered)
{
    /* epoch differs: nothing replayed, the held events after top still come */
    fx f = {0};
    add_range(&f, 41, 45);
    add_held(&f, 45, 46, E);
    run(&f, 40, "OtherEp", 45, E, 100, false);
    ck_assert(!f.res.recovered);
    ck_assert_int_eq(f.res.why, GW_REC_EPOCH);
    static const long long want[] = {46};
    expect(&f, want, 1);
    ck_assert_uint_eq(f.res.last.offset, 46);
    ck_assert_uint_eq(f.res.replayed, 0);

    /* no history at all any more (FLUSHALL, expired) */
    fx g = {0};
    run(&g, 40, E, 0, "", 100, false);
    ck_assert_int_eq(g.res.why, GW_REC_EPOCH);
    ck_assert_uint_eq(g.res.n, 0);

    /* the stream no longer holds since+1 */
    fx h = {0};
    add_range(&h, 43, 45);
    run(&h, 40, E, 45, E, 100, false);
    ck_assert_int_eq(h.res.why, GW_REC_TRIMMED);
    ck_assert_uint_eq(h.res.n, 0);
    ck_assert_uint_eq(h.res.last.offset, 45);

    /* a hole inside the range, and a range that stops short of top */
    fx i = {0};
    add_range(&i, 41, 42);
    add_range(&i, 44, 45);
    run(&i, 40, E, 45, E, 100, false);
    ck_assert_int_eq(i.res.why, GW_REC_TRIMMED);
    fx j = {0};
    add_range(&j, 41, 44);
    run(&j, 40, E, 45, E, 100, false);
    ck_assert_int_eq(j.res.why, GW_REC_TRIMMED);

    /* past the cap (10 missed, cap 9), at the cap */
    fx k = {0};
    add_range(&k, 41, 50);
    run(&k, 40, E, 50, E, 9, false);
    ck_assert_int_eq(k.res.why, GW_REC_CAP);
    ck_assert_uint_eq(k.res.n, 0);
    fx l = {0};
    add_range(&l, 41, 50);
    run(&l, 40, E, 50, E, 10, false);
    ck_assert(l.res.recovered);
    ck_assert_uint_eq(l.res.replayed, 10);

    /* a client ahead of the history */
    fx m = {0};
    run(&m, 60, E, 50, E, 10, false);
    ck_assert_int_eq(m.res.why, GW_REC_AHEAD);
    ck_assert_uint_eq(m.res.last.offset, 50);
}
END_TEST

START_TEST(test_epoch_reset_among_held)
{
    /* history was lost and restarted while the read was in flight */
    fx f = {0};
    add_range(&f, 41, 42);
    add_held(&f, 42, 43, E);
    add_held(&f, 1, 2, "NewEpoch");
    run(&f, 40, E, 42, E, 100, false);
    ck_assert(f.res.recovered);
    static const long long want[] = {41, 42, 43, 1, 2};
    expect(&f, want, 5);
    ck_assert_str_eq(f.res.last.epoch, "NewEpoch");
    ck_assert_uint_eq(f.res.last.offset, 2);

    /* the new epoch's first events were missed: marked as a gap in it */
    fx g = {0};
    add_held(&g, 3, 3, "NewEpoch");
    run(&g, 45, E, 45, E, 100, false);
    static const long long want2[] = {-1, 3};
    expect(&g, want2, 2);
    ck_assert_uint_eq(g.out[0].gap_to, 2);
}
END_TEST

START_TEST(test_partial_repair)
{
    /* the node stood at 40; the stream starts at 43 now; live from 46 */
    fx f = {0};
    add_range(&f, 43, 45);
    add_held(&f, 46, 47, E);
    run(&f, 40, E, 45, E, 0, true);
    ck_assert(!f.res.recovered);
    ck_assert_int_eq(f.res.why, GW_REC_TRIMMED);
    static const long long want[] = {-41, 43, 44, 45, 46, 47};
    expect(&f, want, 6);
    ck_assert_uint_eq(f.out[0].gap_to, 42);
    ck_assert_uint_eq(f.res.gaps, 1);
    ck_assert_uint_eq(f.res.replayed, 3);

    /* a full repair: no gap */
    fx g = {0};
    add_range(&g, 41, 45);
    add_held(&g, 45, 46, E);
    run(&g, 40, E, 45, E, 0, true);
    ck_assert(g.res.recovered);
    ck_assert_uint_eq(g.res.gaps, 0);
    ck_assert_uint_eq(g.res.n, 6);

    /* capped repair: the rest up to top is a gap */
    fx h = {0};
    add_range(&h, 41, 43);
    run(&h, 40, E, 50, E, 2, true);
    static const long long want3[] = {41, 42, -43};
    expect(&h, want3, 3);
    ck_assert_uint_eq(h.out[2].gap_to, 50);
    ck_assert_uint_eq(h.res.last.offset, 50);

    /* history gone: one gap of unknown end, then live */
    fx i = {0};
    add_held(&i, 1, 2, "NewEpoch");
    run(&i, 40, E, 2, "NewEpoch", 0, true);
    ck_assert_int_eq(i.res.why, GW_REC_EPOCH);
    static const long long want4[] = {-41, 1, 2};
    expect(&i, want4, 3);
    ck_assert_uint_eq(i.out[0].gap_to, 0);
}
END_TEST

/* Every interleaving: events 1..M are published; the live join is confirmed after
 * event s (so the live channel carries s+1..M); the read happens after event r >= s
 * (so the range holds since+1..r); the client stood at since <= s. The merge must give
 * exactly since+1..M, in order, whatever the three points are. */
START_TEST(test_every_interleaving)
{
    const uint64_t M = 12;
    for (uint64_t since = 0; since <= M; since++)
        for (uint64_t s = since; s <= M; s++)
            for (uint64_t r = s; r <= M; r++) {
                fx f = {0};
                if (r > since)
                    add_range(&f, since + 1, r);
                if (M > s)
                    add_held(&f, s + 1, M, E);
                run(&f, since, E, r, E, 0, false);
                ck_assert_msg(f.res.recovered, "since %llu s %llu r %llu", (unsigned long long)since,
                              (unsigned long long)s, (unsigned long long)r);
                ck_assert_uint_eq(f.res.n, M - since);
                for (size_t i = 0; i < f.res.n; i++)
                    ck_assert_uint_eq(VAL(f.out[i].item), since + 1 + i);
                ck_assert_uint_eq(f.res.replayed, r - since);
                ck_assert_uint_eq(f.res.last.offset, M);
            }
}
END_TEST

START_TEST(test_track)
{
    gw_htrack t = {0};
    uint64_t from = 0, to = 0;
    gw_hpos ev = {5, E};
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_DELIVER); /* first seen */
    ev.offset = 6;
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_DELIVER);
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_DUP);
    ev.offset = 3;
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_DUP);
    ck_assert(gw_hpos_seen(&t.pos, &ev));

    ev.offset = 10; /* a jump: 7..9 missing */
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_REPAIR);
    ck_assert_uint_eq(from, 7);
    ck_assert_uint_eq(to, 9);
    ck_assert(t.repairing);
    ev.offset = 11;
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_HOLD);
    gw_hpos last = {11, E};
    gw_htrack_repaired(&t, &last);
    ck_assert(!t.repairing);
    ev.offset = 12;
    ck_assert_int_eq(gw_htrack_event(&t, &ev, &from, &to), GW_HT_DELIVER);

    gw_hpos other = {1, "Fresh"};
    ck_assert(!gw_hpos_seen(&t.pos, &other));
    ck_assert_int_eq(gw_htrack_event(&t, &other, &from, &to), GW_HT_RESET);
    ck_assert_str_eq(t.pos.epoch, "Fresh");
    ck_assert_uint_eq(t.pos.offset, 1);

    ck_assert(gw_htrack_reconnect(&t, &from));
    ck_assert_uint_eq(from, 2);
    ck_assert(t.repairing);
    gw_hpos none = {0, ""};
    gw_htrack_repaired(&t, &none); /* a failed read keeps the position */
    ck_assert_str_eq(t.pos.epoch, "Fresh");
    ck_assert(!t.repairing);

    gw_htrack u = {0};
    ck_assert(!gw_htrack_reconnect(&u, &from)); /* nothing seen, nothing to repair */
    ck_assert(!u.repairing);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("histmerge", "core", 0, test_recovered_overlap, test_nothing_missed,
                       test_raw_held_in_place, test_not_recovered, test_epoch_reset_among_held,
                       test_partial_repair, test_every_interleaving, test_track);
}
