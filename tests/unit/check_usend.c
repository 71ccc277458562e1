/*
 * check_usend.c - the io_uring send batch (gateway/fanout/gw_usend.c) over real
 * sockets (AF_UNIX stream pairs): several sends in one flush, each result reported to
 * its tag, pieces of several buffers leaving as one send, a full socket answering -EAGAIN at once (never waiting), what one send
 * could not take reported as a short count, and a full ring refusing one more send.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw_usend.h"
#include "ts_check.h"

#define MAXTAG 8

typedef struct {
    int res[MAXTAG];
    int calls;
} results;

static void on_done(void *ud, uint32_t tag, int res)
{
    results *r = ud;
    ck_assert_uint_lt(tag, MAXTAG);
    r->res[tag] = res;
    r->calls++;
}

static gw_usend *ring(unsigned depth)
{
    const char *why = NULL;
    gw_usend *u = gw_usend_new(depth, &why);
    ck_assert_msg(u != NULL, "io_uring: %s", why ? why : "?");
    return u;
}

/* A stream pair; the gateway's end is [0], non-blocking, its send buffer small. */
static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static size_t drain(int fd, char *buf, size_t cap)
{
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

START_TEST(test_three_sends_one_flush)
{
    gw_usend *u = ring(8);
    int s[3][2];
    const char *msg[3] = {"alpha", "bravo-bravo", "c"};
    for (int i = 0; i < 3; i++) {
        pair(s[i]);
        ck_assert_int_eq(gw_usend_add(u, s[i][0], msg[i], strlen(msg[i]), (uint32_t)i), 0);
    }
    ck_assert_uint_eq(gw_usend_pending(u), 3);
    results r = {{0}, 0};
    unsigned submitted = 0;
    int enters = gw_usend_flush(u, on_done, &r, &submitted);
    ck_assert_int_eq(enters, 1); /* one system call for the three */
    ck_assert_uint_eq(submitted, 3);
    ck_assert_int_eq(r.calls, 3);
    ck_assert_uint_eq(gw_usend_pending(u), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.res[i], (int)strlen(msg[i]));
        char buf[64] = "";
        ck_assert_uint_eq(drain(s[i][1], buf, sizeof buf - 1), strlen(msg[i]));
        ck_assert_str_eq(buf, msg[i]);
        close(s[i][0]);
        close(s[i][1]);
    }
    ck_assert_int_eq(gw_usend_flush(u, on_done, &r, &submitted), 0); /* nothing queued */
    gw_usend_free(u);
}
END_TEST

/* Pieces from three buffers leave as one send, in order; a second socket's single send
 * shares the flush. */
START_TEST(test_iov_one_send)
{
    gw_usend *u = ring(8);
    int a[2], b[2];
    pair(a);
    pair(b);
    char h1[] = "\x81\x03", p1[] = "one", h2[] = "\x81\x05two!!";
    struct iovec iov[3] = {{h1, 2}, {p1, 3}, {h2, 7}};
    ck_assert_int_eq(gw_usend_add_iov(u, a[0], iov, 3, 1), 0);
    ck_assert_int_eq(gw_usend_add(u, b[0], "solo", 4, 2), 0);
    results r = {{0}, 0};
    unsigned submitted = 0;
    ck_assert_int_eq(gw_usend_flush(u, on_done, &r, &submitted), 1);
    ck_assert_uint_eq(submitted, 2);
    ck_assert_int_eq(r.res[1], 12);
    ck_assert_int_eq(r.res[2], 4);
    char buf[64] = "";
    ck_assert_uint_eq(drain(a[1], buf, sizeof buf), 12);
    ck_assert_int_eq(memcmp(buf, "\x81\x03one\x81\x05two!!", 12), 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    gw_usend_free(u);
}
END_TEST

START_TEST(test_full_socket_eagain_and_short)
{
    gw_usend *u = ring(4);
    int sv[2];
    pair(sv);
    /* fill the socket until the kernel takes nothing more */
    static char block[65536];
    memset(block, 'x', sizeof block);
    size_t filled = 0;
    ssize_t n;
    while ((n = send(sv[0], block, sizeof block, MSG_DONTWAIT)) > 0)
        filled += (size_t)n;
    ck_assert(n < 0 && errno == EAGAIN);
    results r = {{0}, 0};
    unsigned submitted = 0;
    ck_assert_int_eq(gw_usend_add(u, sv[0], "late", 4, 5), 0);
    ck_assert_int_eq(gw_usend_flush(u, on_done, &r, &submitted), 1); /* at once, no waiting */
    ck_assert_int_eq(r.res[5], -EAGAIN);
    /* room for part of a large send: the result is the part taken */
    char *all = malloc(filled + 8);
    ck_assert_uint_eq(drain(sv[1], all, filled + 8), filled);
    static char big[4 << 20];
    ck_assert_int_eq(gw_usend_add(u, sv[0], big, sizeof big, 6), 0);
    ck_assert_int_eq(gw_usend_flush(u, on_done, &r, &submitted), 1);
    ck_assert_int_gt(r.res[6], 0);
    ck_assert_int_lt(r.res[6], (int)sizeof big);
    free(all);
    close(sv[0]);
    close(sv[1]);
    gw_usend_free(u);
}
END_TEST

START_TEST(test_ring_full_refuses)
{
    gw_usend *u = ring(4);
    unsigned room = gw_usend_room(u);
    ck_assert_uint_ge(room, 4);
    int sv[2];
    pair(sv);
    for (unsigned i = 0; i < room; i++)
        ck_assert_int_eq(gw_usend_add(u, sv[0], "z", 1, i % MAXTAG), 0);
    ck_assert_int_eq(gw_usend_add(u, sv[0], "z", 1, 0), -1); /* flush first */
    results r = {{0}, 0};
    unsigned submitted = 0;
    ck_assert_int_ge(gw_usend_flush(u, on_done, &r, &submitted), 1);
    ck_assert_int_eq(r.calls, (int)room);
    ck_assert_uint_eq(submitted, room);
    ck_assert_uint_eq(gw_usend_room(u), room);
    char buf[64];
    ck_assert_uint_eq(drain(sv[1], buf, sizeof buf), room);
    close(sv[0]);
    close(sv[1]);
    gw_usend_free(u);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("usend", "usend", 0, test_three_sends_one_flush, test_iov_one_send,
                       test_full_socket_eagain_and_short, test_ring_full_refuses);
}
