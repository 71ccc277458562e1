/*
 * check_queue.c - the per-connection queue and the delivery policy: soft and hard
 * bounds in messages and bytes, drop / latest / never, control messages, ring growth
 * and reference counting, and the message framing it carries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_frame.h"
#include "ts_check.h"
#include "gw_queue.h"

static const gw_queue_limits LIM = {.soft_msgs = 4, .hard_msgs = 8, .soft_bytes = 100000, .hard_bytes = 200000};

static gw_msg *ev(const char *channel, pulse_priority p, gw_policy pol, const char *data)
{
    return gw_msg_new_event(channel, NULL, NULL, data, strlen(data), p, pol, 0);
}

START_TEST(test_frame_format)
{
    gw_msg *m = gw_msg_new_event("feed:user-1", NULL, NULL, "{\"a\":1}", 7, PULSE_PRIO_NORMAL, GW_POLICY_DROP, 5);
    ck_assert_str_eq((const char *)m->payload, "{\"channel\":\"feed:user-1\",\"data\":{\"a\":1}}");
    ck_assert_uint_eq(m->len, strlen((const char *)m->payload));
    ck_assert_str_eq(m->channel, "feed:user-1");
    ck_assert_str_eq(m->route, "feed:user-1");
    ck_assert_int_eq(m->is_pattern, 0);
    ck_assert_ptr_eq(m->payload, m->buf + GW_FRAME_PRE);

    gw_msg *p = gw_msg_new_event("events.x\"y", "events.*", NULL, "1", 1, PULSE_PRIO_CRITICAL, GW_POLICY_DROP, 0);
    ck_assert_str_eq((const char *)p->payload, "{\"channel\":\"events.x\\\"y\",\"data\":1}");
    ck_assert_str_eq(p->route, "events.*");
    ck_assert_int_eq(p->is_pattern, 1);
    ck_assert_int_eq(p->policy, GW_POLICY_NEVER); /* critical is always never-drop */

    gw_msg *c = gw_msg_clone(p);
    ck_assert_ptr_ne(c, p);
    ck_assert_str_eq((const char *)c->payload, (const char *)p->payload);
    ck_assert_str_eq(c->route, "events.*");
    ck_assert_str_eq(c->channel, "events.x\"y");
    ck_assert_ptr_eq(c->payload, c->buf + GW_FRAME_PRE);
    ck_assert_uint_eq(c->refs, 1);
    gw_msg_unref(c);
    gw_msg_unref(p);
    gw_msg_unref(m);
}
END_TEST

START_TEST(test_json_quote)
{
    char out[64];
    ck_assert_int_eq(gw_json_quote("a\n\"\\\x01", 5, out, sizeof(out)), 15);
    ck_assert_str_eq(out, "\"a\\n\\\"\\\\\\u0001\"");
    ck_assert_int_eq(gw_json_quote("abcdef", 6, out, 5), -1);
}
END_TEST

START_TEST(test_fifo_and_refs)
{
    gw_queue q = {0};
    gw_msg *a = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "1");
    gw_msg *b = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "2");
    ck_assert_int_eq(gw_queue_push(&q, a, &LIM), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, b, &LIM), GW_Q_QUEUED);
    ck_assert_uint_eq(a->refs, 2);
    ck_assert_uint_eq(q.count, 2);
    ck_assert_uint_eq(q.bytes, a->len + b->len);
    ck_assert_ptr_eq(gw_queue_peek(&q), a);
    gw_msg *m = gw_queue_pop(&q);
    ck_assert_ptr_eq(m, a);
    gw_msg_unref(m);
    ck_assert_uint_eq(a->refs, 1);
    ck_assert_uint_eq(q.bytes, b->len);
    ck_assert_uint_eq(gw_queue_clear(&q), 1);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_ptr_null(gw_queue_pop(&q));
    gw_queue_release(&q);
    gw_msg_unref(a);
    gw_msg_unref(b);
}
END_TEST

START_TEST(test_ring_wraps_and_grows)
{
    gw_queue q = {0};
    gw_queue_limits big = {1000, 1000, 1 << 20, 1 << 20};
    gw_msg *m[40];
    char d[8];
    for (int i = 0; i < 40; i++) {
        snprintf(d, sizeof(d), "%d", i);
        m[i] = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, d);
    }
    /* interleave pushes and pops so head wraps before growth */
    int next_pop = 0;
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(gw_queue_push(&q, m[i], &big), GW_Q_QUEUED);
        for (uint32_t k = 0; k < q.count; k++) /* gw_queue_at: in order, across the wrap */
            ck_assert_ptr_eq(gw_queue_at(&q, k), m[next_pop + (int)k]);
        ck_assert_ptr_null(gw_queue_at(&q, q.count));
        if (i % 3 == 2) {
            gw_msg *x = gw_queue_pop(&q);
            ck_assert_ptr_eq(x, m[next_pop++]);
            gw_msg_unref(x);
        }
    }
    while (q.count) {
        gw_msg *x = gw_queue_pop(&q);
        ck_assert_ptr_eq(x, m[next_pop++]);
        gw_msg_unref(x);
    }
    ck_assert_int_eq(next_pop, 40);
    gw_queue_release(&q);
    for (int i = 0; i < 40; i++) {
        ck_assert_uint_eq(m[i]->refs, 1);
        gw_msg_unref(m[i]);
    }
}
END_TEST

/* Table: a normal event finds the queue at its soft bound. */
typedef struct {
    const char *name;
    pulse_priority prio;
    gw_policy policy;
    int prefill;             /* normal messages already queued */
    gw_queue_result expect;
} policy_case;

static const policy_case CASES[] = {
    {"normal drop below soft", PULSE_PRIO_NORMAL, GW_POLICY_DROP, 3, GW_Q_QUEUED},
    {"normal drop at soft", PULSE_PRIO_NORMAL, GW_POLICY_DROP, 4, GW_Q_DROPPED},
    {"normal latest, no same channel", PULSE_PRIO_NORMAL, GW_POLICY_LATEST, 4, GW_Q_DROPPED},
    {"normal never at soft", PULSE_PRIO_NORMAL, GW_POLICY_NEVER, 4, GW_Q_QUEUED},
    {"critical at soft", PULSE_PRIO_CRITICAL, GW_POLICY_DROP, 4, GW_Q_QUEUED},
    {"critical below hard", PULSE_PRIO_CRITICAL, GW_POLICY_DROP, 7, GW_Q_QUEUED},
    {"critical at hard", PULSE_PRIO_CRITICAL, GW_POLICY_DROP, 8, GW_Q_OVERFLOW},
};

START_TEST(test_policy_table)
{
    const policy_case *tc = &CASES[_i];
    gw_queue q = {0};
    gw_msg *filler = ev("other", PULSE_PRIO_NORMAL, GW_POLICY_NEVER, "0");
    for (int i = 0; i < tc->prefill; i++)
        ck_assert_int_eq(gw_queue_push(&q, filler, &LIM), GW_Q_QUEUED);
    gw_msg *m = ev("x", tc->prio, tc->policy, "1");
    gw_queue_result r = gw_queue_push(&q, m, &LIM);
    ck_assert_msg(r == tc->expect, "%s: got %d, want %d", tc->name, r, tc->expect);
    ck_assert_uint_eq(q.count, (uint32_t)tc->prefill + (r == GW_Q_QUEUED ? 1 : 0));
    gw_queue_release(&q);
    ck_assert_uint_eq(m->refs, 1);
    gw_msg_unref(m);
    gw_msg_unref(filler);
}
END_TEST

START_TEST(test_byte_bounds)
{
    gw_queue_limits l = {.soft_msgs = 100, .hard_msgs = 100, .soft_bytes = 100, .hard_bytes = 150};
    gw_queue q = {0};
    char big[61];
    memset(big, '1', 60);
    big[60] = 0;
    gw_msg *n = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, big); /* ~90 bytes framed */
    gw_msg *c = ev("x", PULSE_PRIO_CRITICAL, GW_POLICY_DROP, big);
    ck_assert_uint_gt(n->len, 80);
    ck_assert_int_eq(gw_queue_push(&q, n, &l), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, n, &l), GW_Q_DROPPED);   /* past soft bytes */
    ck_assert_int_eq(gw_queue_push(&q, c, &l), GW_Q_OVERFLOW);  /* past hard bytes too */
    gw_queue_release(&q);
    gw_msg_unref(n);
    gw_msg_unref(c);
}
END_TEST

START_TEST(test_latest_replaces_in_place)
{
    gw_queue q = {0};
    gw_msg *a1 = ev("price.a", PULSE_PRIO_NORMAL, GW_POLICY_LATEST, "1");
    gw_msg *b1 = ev("price.b", PULSE_PRIO_NORMAL, GW_POLICY_LATEST, "1");
    gw_msg *a2 = ev("price.a", PULSE_PRIO_NORMAL, GW_POLICY_LATEST, "22");
    ck_assert_int_eq(gw_queue_push(&q, a1, &LIM), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, b1, &LIM), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, a2, &LIM), GW_Q_REPLACED);
    ck_assert_uint_eq(q.count, 2);
    ck_assert_uint_eq(a1->refs, 1); /* the old one was released */
    ck_assert_uint_eq(q.bytes, a2->len + b1->len);
    gw_msg *x = gw_queue_pop(&q);
    ck_assert_ptr_eq(x, a2); /* in a1's place, before b1 */
    gw_msg_unref(x);
    x = gw_queue_pop(&q);
    ck_assert_ptr_eq(x, b1);
    gw_msg_unref(x);
    gw_queue_release(&q);
    gw_msg_unref(a1);
    gw_msg_unref(b1);
    gw_msg_unref(a2);
}
END_TEST

START_TEST(test_control_never_dropped_and_not_counted)
{
    gw_queue q = {0};
    gw_msg *filler = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "1");
    for (int i = 0; i < 4; i++)
        gw_queue_push(&q, filler, &LIM);
    gw_msg *ctl = gw_msg_new_control("{\"op\":\"pong\"}", 13);
    ck_assert_int_eq(ctl->kind, GW_MSG_CONTROL);
    ck_assert_int_eq(gw_queue_push(&q, ctl, &LIM), GW_Q_QUEUED);
    ck_assert_uint_eq(gw_queue_clear(&q), 4); /* control messages are not counted as events */
    gw_queue_release(&q);
    gw_msg_unref(ctl);
    gw_msg_unref(filler);
}
END_TEST

/* An idle connection's queue (hello, subscribed) allocates nothing: the first
 * GW_QUEUE_INLINE references live in the struct, a third moves them to a ring. */
START_TEST(test_inline_slots)
{
    gw_queue q = {0};
    gw_queue_limits big = {1000, 1000, 1 << 20, 1 << 20};
    gw_msg *a = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "1");
    gw_msg *b = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "2");
    gw_msg *c = ev("x", PULSE_PRIO_NORMAL, GW_POLICY_DROP, "3");
    for (int round = 0; round < 3; round++) { /* head moves around the two slots */
        ck_assert_int_eq(gw_queue_push(&q, a, &big), GW_Q_QUEUED);
        ck_assert_int_eq(gw_queue_push(&q, b, &big), GW_Q_QUEUED);
        ck_assert_ptr_eq(q.ring, q.inl);
        gw_msg *x = gw_queue_pop(&q);
        ck_assert_ptr_eq(x, a);
        gw_msg_unref(x);
        ck_assert_int_eq(gw_queue_push(&q, c, &big), GW_Q_QUEUED);
        ck_assert_ptr_eq(q.ring, q.inl);
        ck_assert_ptr_eq((x = gw_queue_pop(&q)), b);
        gw_msg_unref(x);
        ck_assert_ptr_eq((x = gw_queue_pop(&q)), c);
        gw_msg_unref(x);
    }
    ck_assert_int_eq(gw_queue_push(&q, a, &big), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, b, &big), GW_Q_QUEUED);
    ck_assert_int_eq(gw_queue_push(&q, c, &big), GW_Q_QUEUED);
    ck_assert_ptr_ne(q.ring, q.inl);
    ck_assert_uint_eq(q.cap, 8);
    gw_msg *want[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        gw_msg *x = gw_queue_pop(&q);
        ck_assert_ptr_eq(x, want[i]);
        gw_msg_unref(x);
    }
    gw_queue_release(&q);
    ck_assert_uint_eq(a->refs, 1);
    gw_msg_unref(a);
    gw_msg_unref(b);
    gw_msg_unref(c);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = ts_tcase(s, "core", 0);
    ts_add_tests(tc, test_frame_format, test_json_quote, test_fifo_and_refs,
                 test_ring_wraps_and_grows, test_inline_slots);
    tcase_add_loop_test(tc, test_policy_table, 0, N_ELEMS(CASES));
    ts_add_tests(tc, test_byte_bounds, test_latest_replaces_in_place,
                 test_control_never_dropped_and_not_counted);
    return s;
}
