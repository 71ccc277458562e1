/*
 * check_chantab.c - the channel table: lookups in separate namespaces, growth,
 * O(1) subscriber removal with back-index fix-ups, remove_if.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ts_check.h"
#include "gw_chantab.h"

START_TEST(test_add_get_namespaces)
{
    gw_chantab *t = gw_chantab_new();
    bool created = false;
    gw_chan *a = gw_chantab_add(t, "events.*", false, &created);
    ck_assert(created);
    gw_chan *p = gw_chantab_add(t, "events.*", true, &created);
    ck_assert(created);
    ck_assert_ptr_ne(a, p);
    ck_assert_ptr_eq(gw_chantab_add(t, "events.*", true, &created), p);
    ck_assert(!created);
    ck_assert_ptr_eq(gw_chantab_get(t, "events.*", false), a);
    ck_assert_ptr_eq(gw_chantab_get(t, "events.*", true), p);
    ck_assert_ptr_null(gw_chantab_get(t, "events", false));
    ck_assert_uint_eq(gw_chantab_count(t), 2);
    gw_chantab_remove(t, a);
    ck_assert_ptr_null(gw_chantab_get(t, "events.*", false));
    ck_assert_ptr_eq(gw_chantab_get(t, "events.*", true), p);
    ck_assert_uint_eq(gw_chantab_count(t), 1);
    gw_chantab_free(t);
}
END_TEST

START_TEST(test_growth_keeps_entries)
{
    gw_chantab *t = gw_chantab_new();
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "feed:user-%d", i);
        gw_chan *c = gw_chantab_add(t, name, false, NULL);
        c->refs = i;
    }
    ck_assert_uint_eq(gw_chantab_count(t), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "feed:user-%d", i);
        gw_chan *c = gw_chantab_get(t, name, false);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(c->refs, i);
        ck_assert_str_eq(c->name, name);
    }
    gw_chantab_free(t);
}
END_TEST

/* Subscribers record their slot in the channel, as gw_worker does. */
typedef struct {
    uint32_t idx;
} fake_sub;

START_TEST(test_remove_sub_moves_last)
{
    gw_chantab *t = gw_chantab_new();
    gw_chan *c = gw_chantab_add(t, "a", false, NULL);
    fake_sub subs[5];
    for (uint32_t i = 0; i < 5; i++)
        subs[i].idx = gw_chan_add_sub(c, &subs[i], i);
    ck_assert_uint_eq(c->nsubs, 5);
    ck_assert_uint_eq(subs[3].idx, 3);

    /* remove #1: #4 moves into slot 1 */
    gw_sub moved;
    ck_assert_int_eq(gw_chan_remove_sub(c, subs[1].idx, &moved), 1);
    ck_assert_ptr_eq(moved.sub, &subs[4]);
    ck_assert_uint_eq(moved.back, 4);
    subs[4].idx = subs[1].idx;
    ck_assert_uint_eq(c->nsubs, 4);
    ck_assert_ptr_eq(c->subs[1].sub, &subs[4]);

    /* removing the last entry moves nothing */
    ck_assert_int_eq(gw_chan_remove_sub(c, c->nsubs - 1, &moved), 0);
    ck_assert_uint_eq(c->nsubs, 3);
    /* out of range is ignored */
    ck_assert_int_eq(gw_chan_remove_sub(c, 99, &moved), 0);
    ck_assert_uint_eq(c->nsubs, 3);

    /* every remaining entry is still found at its recorded index */
    for (uint32_t i = 0; i < c->nsubs; i++) {
        fake_sub *s = c->subs[i].sub;
        ck_assert_uint_eq(s->idx, i);
    }
    gw_chantab_free(t);
}
END_TEST

static bool refs_zero(gw_chan *c, void *ud)
{
    (*(int *)ud)++;
    return c->refs == 0;
}

static void count_cb(gw_chan *c, void *ud)
{
    (*(int *)ud)++;
}

START_TEST(test_remove_if_and_foreach)
{
    gw_chantab *t = gw_chantab_new();
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        gw_chantab_add(t, name, i % 3 == 0, NULL)->refs = i % 2;
    }
    int visited = 0;
    gw_chantab_remove_if(t, refs_zero, &visited);
    ck_assert_int_eq(visited, 100);
    ck_assert_uint_eq(gw_chantab_count(t), 50);
    int n = 0;
    gw_chantab_foreach(t, count_cb, &n);
    ck_assert_int_eq(n, 50);
    ck_assert_ptr_null(gw_chantab_get(t, "c0", true));
    ck_assert_ptr_nonnull(gw_chantab_get(t, "c1", false));
    gw_chantab_free(t);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("chantab", "core", 0, test_add_get_namespaces, test_growth_keeps_entries,
                       test_remove_sub_moves_last, test_remove_if_and_foreach);
}
