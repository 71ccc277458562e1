/*
 * check_slab.c - the slab of fixed-size slots (gateway/fanout/gw_slab.c) that holds
 * lws's header tables and each connection's lws structures: ownership, exhaustion,
 * last-freed-first reuse, fresh slots faulted in a batch at a time, and the trim that
 * gives every touched page back once no slot is in use.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gw_slab.h"
#include "ts_check.h"

/* Resident pages of [p, p + len) (mincore). */
static size_t resident(void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, r = 0;
    unsigned char *v = calloc(n, 1);
    ck_assert_int_eq(mincore(p, len, v), 0);
    for (size_t i = 0; i < n; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

START_TEST(test_alloc_owns_exhausts)
{
    gw_slab *s = gw_slab_new(4000, 3);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(gw_slab_slot_size(s), 4000);
    void *a = gw_slab_alloc(s), *b = gw_slab_alloc(s), *c = gw_slab_alloc(s);
    ck_assert(a && b && c && a != b && b != c && a != c);
    ck_assert_ptr_null(gw_slab_alloc(s)); /* full: the caller falls back to malloc */
    ck_assert_uint_eq(gw_slab_in_use(s), 3);
    ck_assert(gw_slab_owns(s, a) && gw_slab_owns(s, (char *)c + 3999));
    int on_stack;
    void *heap = malloc(16);
    ck_assert(!gw_slab_owns(s, heap) && !gw_slab_owns(s, &on_stack) && !gw_slab_owns(NULL, a));
    free(heap);
    memset(a, 0xab, 4000); /* whole slots are usable */
    memset(c, 0xcd, 4000);
    ck_assert_uint_eq(((unsigned char *)a)[3999], 0xab);
    gw_slab_free(s, b);
    ck_assert_ptr_eq(gw_slab_alloc(s), b); /* the freed slot comes back */
    gw_slab_free(s, a);
    gw_slab_free(s, b);
    ck_assert_ptr_eq(gw_slab_alloc(s), b); /* last freed first */
    ck_assert_ptr_eq(gw_slab_alloc(s), a);
    gw_slab_free(s, a);
    gw_slab_free(s, b);
    gw_slab_free(s, c);
    ck_assert_uint_eq(gw_slab_in_use(s), 0);
    gw_slab_free_all(s);
    gw_slab_free_all(NULL);
}
END_TEST

START_TEST(test_trim_gives_pages_back)
{
    enum { N = 64 };
    gw_slab *s = gw_slab_new(4096, N);
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = gw_slab_alloc(s);
        memset(p[i], i + 1, 4096);
    }
    void *base = p[0];
    ck_assert_uint_ge(resident(base, (size_t)N * 4096), N);
    ck_assert_uint_eq(gw_slab_trim(s), 0); /* slots in use: nothing given back */
    for (int i = 0; i < N - 1; i++)
        gw_slab_free(s, p[i]);
    ck_assert_uint_eq(gw_slab_trim(s), 0); /* one still in use */
    ck_assert_uint_eq(((unsigned char *)p[N - 1])[100], N);
    gw_slab_free(s, p[N - 1]);
    ck_assert_uint_eq(gw_slab_trim(s), (size_t)N * 4096);
    ck_assert_uint_eq(resident(base, (size_t)N * 4096), 0);
    ck_assert_uint_eq(gw_slab_trim(s), 0); /* nothing touched since */
    void *again = gw_slab_alloc(s);
    ck_assert_ptr_eq(again, base); /* from the start again, zeroed by the kernel */
    ck_assert_uint_eq(((unsigned char *)again)[0], 0);
    gw_slab_free(s, again);
    gw_slab_free_all(s);
}
END_TEST

START_TEST(test_populates_ahead)
{
    enum { N = 64, BATCH = 64 * 1024 };
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    gw_slab *s = gw_slab_new(4096, N);
    unsigned char *first = gw_slab_alloc(s); /* not written to: only the slab touched it */
    ck_assert_uint_eq(resident(first, BATCH), BATCH / page); /* the whole first batch */
    ck_assert_uint_eq(resident(first + BATCH, BATCH), 0);    /* nothing past it */
    for (int i = 1; i < BATCH / 4096; i++)
        gw_slab_alloc(s);
    ck_assert_uint_eq(resident(first + BATCH, BATCH), 0); /* still inside the first batch */
    gw_slab_alloc(s);                                      /* the first slot of the second */
    ck_assert_uint_eq(resident(first + BATCH, BATCH), BATCH / page);
    ck_assert_uint_eq(resident(first + 2 * BATCH, (size_t)N * 4096 - 2 * BATCH), 0);
    gw_slab_free_all(s);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("slab", "slab", 0, test_alloc_owns_exhausts, test_trim_gives_pages_back,
                       test_populates_ahead);
}
