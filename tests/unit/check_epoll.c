/*
 * check_epoll.c - gw_epoll: lws's poll() answered from an epoll set must answer as
 * the kernel's poll() does. This binary links gateway/fanout/gw_epoll.c, so poll() and
 * close() here are the gateway's; the reference is ppoll(), which gw_epoll does not
 * define. Real sockets (socketpairs) throughout: readable, writable, hung up, events
 * changed, entries removed the way lws removes them (the last moved into the hole),
 * descriptors closed and their numbers reused, even at the same place in the array with
 * the same events, which only close()'s forgetting catches.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_epoll.h"
#include "ts_check.h"

#define MAXN 64

static struct pollfd arr[MAXN]; /* "lws's array": the one the set keeps in step with */
static int peer[MAXN];          /* the other end of arr[i]'s socketpair */
static nfds_t n;
static gw_epoll *ep;

static void setup(void)
{
    n = 0;
    ep = gw_epoll_new();
    ck_assert_msg(ep != NULL, "gw_epoll_new: %s", strerror(errno));
    gw_epoll_attach(ep);
}

static void teardown(void)
{
    gw_epoll_attach(NULL);
    for (nfds_t i = 0; i < n; i++) {
        close(arr[i].fd);
        close(peer[i]);
    }
    gw_epoll_free(ep);
}

/* A new socketpair's first end at the array's end, for events. */
static void add(short events)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    arr[n] = (struct pollfd){.fd = sv[0], .events = events};
    peer[n] = sv[1];
    n++;
}

/* What lws does when a connection goes: the last entry moves into its place. */
static void remove_at(nfds_t i, bool close_it)
{
    if (close_it) {
        close(arr[i].fd);
        close(peer[i]);
    }
    arr[i] = arr[n - 1];
    peer[i] = peer[n - 1];
    n--;
}

static void poke(nfds_t i)
{
    ck_assert_int_eq(write(peer[i], "x", 1), 1);
}

static void drain(nfds_t i)
{
    char b[256];
    while (read(arr[i].fd, b, sizeof b) > 0)
        ;
}

/* poll() (the set's answer) against ppoll() on the same array: every revents and
 * the count. */
static void check_same(const char *what)
{
    struct pollfd ref[MAXN];
    memcpy(ref, arr, sizeof(arr[0]) * n);
    struct timespec zero = {0, 0};
    int want = ppoll(ref, n, &zero, NULL);
    for (nfds_t i = 0; i < n; i++)
        arr[i].revents = (short)0x7abc; /* poll() must write every entry */
    int got = poll(arr, n, 0);
    ck_assert_msg(got == want, "%s: poll() returned %d, ppoll() %d", what, got, want);
    for (nfds_t i = 0; i < n; i++)
        ck_assert_msg(arr[i].revents == ref[i].revents, "%s: entry %zu (fd %d, events %#x): revents %#x, ppoll %#x",
                      what, (size_t)i, arr[i].fd, (unsigned)arr[i].events, (unsigned)(uint16_t)arr[i].revents,
                      (unsigned)(uint16_t)ref[i].revents);
}

START_TEST(test_basic_states)
{
    add(POLLIN);
    add(POLLIN | POLLOUT);
    add(POLLOUT);
    add(0);
    check_same("fresh");
    poke(0);
    poke(3);
    check_same("readable");
    drain(0);
    check_same("drained");
    arr[0].events = POLLIN | POLLOUT;
    arr[1].events = POLLIN;
    check_same("events changed");
    shutdown(peer[2], SHUT_RDWR);
    close(peer[3]);
    peer[3] = -1;
    check_same("peers gone");
    arr[2].fd = -arr[2].fd - 1; /* poll() skips negative descriptors */
    check_same("a negative descriptor");
    arr[2].fd = -arr[2].fd - 1;
    check_same("back");
}
END_TEST

/* The case only close() catches: the last entry's socket closed, a new one with the
 * same number appended at the same place with the same events, readable at once. */
START_TEST(test_reuse_same_place)
{
    add(POLLIN);
    add(POLLIN);
    check_same("two");
    int old = arr[1].fd;
    remove_at(1, true);
    add(POLLIN);
    ck_assert_msg(arr[1].fd == old, "the kernel gave %d, not the freed %d", arr[1].fd, old);
    poke(1);
    check_same("reused at the same place");
    ck_assert(arr[1].revents & POLLIN);
}
END_TEST

/* A descriptor that leaves the array without being closed must not be reported (nor
 * make every later call return at once), and is answered again when it comes back. */
START_TEST(test_gone_without_close)
{
    add(POLLIN);
    add(POLLIN);
    poke(1);
    check_same("both");
    struct pollfd kept = arr[1];
    int kept_peer = peer[1];
    n = 1;
    check_same("one left the array, still open and readable");
    /* and a wait waits: the set no longer holds it (else every call returns at once,
     * having nothing to say, and the loop spins) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(poll(arr, n, 150), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_msg(ms >= 140, "poll() with nothing to report and a 150 ms timeout returned after %ld ms", ms);
    arr[1] = kept;
    peer[1] = kept_peer;
    n = 2;
    check_same("back in the array");
    ck_assert(arr[1].revents & POLLIN);
}
END_TEST

/* A descriptor that is not open: POLLNVAL, as poll() says. */
START_TEST(test_not_open)
{
    add(POLLIN);
    int fd = dup(arr[0].fd);
    ck_assert_int_ge(fd, 0);
    close(fd);
    arr[n] = (struct pollfd){.fd = fd, .events = POLLIN};
    peer[n] = -1;
    n++;
    check_same("a closed descriptor");
    ck_assert(arr[1].revents & POLLNVAL);
    n--;
}
END_TEST

/* Random operations, each followed by the comparison: adds, removals (closing or not),
 * reuse, events changes, pokes, drains, hang-ups. */
START_TEST(test_random_walk)
{
    unsigned seed = 20261203u + (unsigned)_i;
    struct pollfd away[MAXN];
    int away_peer[MAXN];
    int naway = 0;
    static const short evs[] = {0, POLLIN, POLLOUT, POLLIN | POLLOUT};
    char what[64];
    for (int step = 0; step < 3000; step++) {
        unsigned r = (unsigned)rand_r(&seed);
        nfds_t i = n ? (nfds_t)(r >> 8) % n : 0;
        switch (r % 9) {
        case 0:
        case 1:
            if (n < MAXN - 2)
                add(evs[(r >> 4) % 4]);
            break;
        case 2:
            if (n)
                remove_at(i, true);
            break;
        case 3:
            if (n && naway < MAXN) { /* out of the array, still open */
                away[naway] = arr[i];
                away_peer[naway++] = peer[i];
                remove_at(i, false);
            }
            break;
        case 4:
            if (naway && n < MAXN - 2) {
                naway--;
                arr[n] = away[naway];
                peer[n++] = away_peer[naway];
            }
            break;
        case 5:
            if (n)
                arr[i].events = evs[(r >> 4) % 4];
            break;
        case 6:
            if (n && peer[i] >= 0)
                poke(i);
            break;
        case 7:
            if (n)
                drain(i);
            break;
        case 8:
            if (n && peer[i] >= 0 && (r >> 20) % 4 == 0) {
                close(peer[i]);
                peer[i] = -1;
            }
            break;
        }
        snprintf(what, sizeof what, "seed %d step %d op %u", _i, step, r % 9);
        check_same(what);
    }
    for (int k = 0; k < naway; k++) {
        close(away[k].fd);
        if (away_peer[k] >= 0)
            close(away_peer[k]);
    }
}
END_TEST

static void *poke_later(void *arg)
{
    usleep(50 * 1000);
    ck_assert_int_eq(write(*(int *)arg, "x", 1), 1);
    return NULL;
}

/* A poll() that waits returns when another thread makes a socket readable. */
START_TEST(test_wait_wakes)
{
    add(POLLIN);
    add(POLLIN);
    check_same("idle");
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, poke_later, &peer[1]), 0);
    int got = poll(arr, n, 10000);
    pthread_join(t, NULL);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(arr[0].revents, 0);
    ck_assert_int_eq(arr[1].revents, POLLIN);
}
END_TEST

/* Another array on the same thread, and any array on a thread without a set: the C
 * library's answer (the set is not disturbed by either). */
START_TEST(test_other_arrays)
{
    add(POLLIN);
    check_same("the set's array");
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    struct pollfd other = {.fd = sv[0], .events = POLLIN};
    ck_assert_int_eq(poll(&other, 1, 0), 1);
    ck_assert_int_eq(other.revents, POLLIN);
    gw_epoll_attach(NULL);
    ck_assert_int_eq(poll(&other, 1, 0), 1);
    gw_epoll_attach(ep);
    poke(0);
    check_same("the set's array again");
    close(sv[0]);
    close(sv[1]);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("epoll");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_basic_states);
    tcase_add_test(tc, test_reuse_same_place);
    tcase_add_test(tc, test_gone_without_close);
    tcase_add_test(tc, test_not_open);
    tcase_add_loop_test(tc, test_random_walk, 0, 4);
    tcase_add_test(tc, test_wait_wakes);
    tcase_add_test(tc, test_other_arrays);
    suite_add_tcase(s, tc);
    return s;
}
