/*
 * check_bridge.c - the mailbox between threads (gw_bridge): order, taking the whole
 * list, bounds, close, the notes it carries, and the wake-once rule, also with
 * writers and a reader on real threads.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ts_check.h"
#include "gw_bridge.h"
#include "gw_msg.h"
#include "pulse_err.h"

static _Atomic int wakes;
static sem_t tokens;

static void count_wake(void *ud)
{
    atomic_fetch_add(&wakes, 1);
    if (ud)
        sem_post(&tokens);
}

static gw_note *note(const char *name)
{
    return gw_note_new(GW_MAIL_CONFIRM, name, false, NULL, 0);
}

START_TEST(test_order_take_whole_and_wake_once)
{
    gw_bridge b;
    atomic_store(&wakes, 0);
    gw_bridge_init(&b, 0, 0, count_wake, NULL);
    ck_assert_ptr_null(gw_bridge_take(&b));
    ck_assert_int_eq(gw_bridge_post(&b, &note("a")->mail, 0), 0);
    ck_assert_int_eq(atomic_load(&wakes), 1);
    ck_assert_int_eq(gw_bridge_post(&b, &note("b")->mail, 0), 0);
    ck_assert_int_eq(gw_bridge_post(&b, &note("c")->mail, 0), 0);
    ck_assert_int_eq(atomic_load(&wakes), 1); /* not empty: no second wake */
    gw_mail *all = gw_bridge_take(&b);
    ck_assert_str_eq(((gw_note *)all)->name, "a");
    ck_assert_str_eq(((gw_note *)all->next)->name, "b");
    ck_assert_str_eq(((gw_note *)all->next->next)->name, "c");
    ck_assert_ptr_null(all->next->next->next);
    ck_assert_ptr_null(gw_bridge_take(&b));
    gw_bridge_discard(all);
    ck_assert_int_eq(gw_bridge_post(&b, &note("d")->mail, 0), 0);
    ck_assert_int_eq(atomic_load(&wakes), 2); /* empty again: wakes again */
    gw_bridge_discard(gw_bridge_close(&b));
    gw_bridge_destroy(&b);
}
END_TEST

START_TEST(test_bounds_and_close)
{
    gw_bridge b;
    gw_bridge_init(&b, 3, 10, NULL, NULL);
    gw_note *n[5];
    for (int i = 0; i < 5; i++)
        n[i] = note("x");
    ck_assert_int_eq(gw_bridge_post(&b, &n[0]->mail, 4), 0);
    ck_assert_int_eq(gw_bridge_post(&b, &n[1]->mail, 4), 0);
    ck_assert_int_eq(gw_bridge_post(&b, &n[2]->mail, 3), PULSE_ENOBUFS); /* 11 bytes > 10 */
    ck_assert_int_eq(gw_bridge_post(&b, &n[2]->mail, 2), 0);
    ck_assert_int_eq(gw_bridge_post(&b, &n[3]->mail, 0), PULSE_ENOBUFS); /* 3 items */
    gw_bridge_discard(gw_bridge_take(&b));                      /* the counts start over */
    ck_assert_int_eq(gw_bridge_post(&b, &n[3]->mail, 10), 0);
    gw_mail *left = gw_bridge_close(&b);
    ck_assert_ptr_eq(left, &n[3]->mail);
    ck_assert_int_eq(gw_bridge_post(&b, &n[4]->mail, 0), PULSE_ESHUTDOWN); /* closed: refused, still ours */
    gw_bridge_discard(left);
    free(n[4]);
    gw_bridge_destroy(&b);
}
END_TEST

START_TEST(test_notes_and_discard)
{
    gw_note *p = gw_note_new(GW_MAIL_PUBLISH, "chat.room", false, "{\"a\":1}xyz", 7);
    ck_assert_str_eq(p->name, "chat.room");
    ck_assert_uint_eq(p->len, 7);
    ck_assert_str_eq(p->payload, "{\"a\":1}");
    ck_assert_int_eq(p->fd, -1);
    gw_note *none = gw_note_new(GW_MAIL_DRAIN, NULL, false, NULL, 0);
    ck_assert_str_eq(none->name, "");
    ck_assert_ptr_null(none->payload);

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    gw_note *adopt = gw_note_new(GW_MAIL_ADOPT, NULL, false, NULL, 0);
    adopt->fd = fds[0];
    gw_msg *m = gw_msg_new_control("{}", 2);
    ck_assert_int_eq(m->mail.kind, GW_MAIL_MSG);
    gw_bridge b;
    gw_bridge_init(&b, 0, 0, NULL, NULL);
    gw_bridge_post(&b, &p->mail, p->len);
    gw_bridge_post(&b, &none->mail, 0);
    gw_bridge_post(&b, &adopt->mail, 0);
    gw_bridge_post(&b, &m->mail, m->len);
    gw_bridge_discard(gw_bridge_take(&b)); /* frees all four, closes the socket */
    errno = 0;
    ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    close(fds[1]);
    gw_bridge_destroy(&b);
}
END_TEST

/* ---- threads ---- */

#define WRITERS 4
#define PER_WRITER 20000

typedef struct {
    gw_bridge *b;
    int id;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *a = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        gw_note *n = gw_note_new(GW_MAIL_SUBSCRIBE, NULL, false, NULL, 0);
        n->worker = a->id;
        n->fd = i; /* sequence number */
        ck_assert_int_eq(gw_bridge_post(a->b, &n->mail, 0), 0);
    }
    return NULL;
}

/* Concurrent writers while nobody takes: exactly one wake-up for the whole burst. */
START_TEST(test_concurrent_writers_wake_once)
{
    gw_bridge b;
    atomic_store(&wakes, 0);
    gw_bridge_init(&b, 0, 0, count_wake, NULL);
    pthread_t t[WRITERS];
    writer_arg a[WRITERS];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < WRITERS; i++) {
            a[i] = (writer_arg){&b, i};
            ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &a[i]), 0);
        }
        for (int i = 0; i < WRITERS; i++)
            pthread_join(t[i], NULL);
        ck_assert_int_eq(atomic_load(&wakes), round + 1);
        size_t n = 0;
        gw_mail *all = gw_bridge_take(&b);
        for (gw_mail *m = all; m; m = m->next)
            n++;
        ck_assert_uint_eq(n, (size_t)WRITERS * PER_WRITER);
        gw_bridge_discard(all);
    }
    gw_bridge_destroy(&b);
}
END_TEST

/* A reader thread that sleeps until woken and takes everything, against writers that
 * never stop: nothing lost, each writer's items in its order, and never a wake-up
 * without a transition (at most one per taken batch plus the stale ones). */
static _Atomic bool writers_done;
static long taken_total, nonempty_takes, token_count;
static int next_seq[WRITERS];

static void *reader(void *arg)
{
    gw_bridge *b = arg;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (sem_timedwait(&tokens, &ts) != 0) {
            if (atomic_load(&writers_done))
                return NULL; /* no wake-up pending and nobody writes: done */
            continue;
        }
        token_count++;
        gw_mail *all = gw_bridge_take(b);
        if (all)
            nonempty_takes++;
        for (gw_mail *m = all; m; m = m->next) {
            gw_note *n = (gw_note *)m;
            ck_assert_int_eq(n->fd, next_seq[n->worker]);
            next_seq[n->worker]++;
            taken_total++;
        }
        gw_bridge_discard(all);
    }
}

START_TEST(test_reader_and_writers)
{
    gw_bridge b;
    atomic_store(&wakes, 0);
    atomic_store(&writers_done, false);
    ck_assert_int_eq(sem_init(&tokens, 0, 0), 0);
    gw_bridge_init(&b, 0, 0, count_wake, &b);
    pthread_t r, t[WRITERS];
    writer_arg a[WRITERS];
    ck_assert_int_eq(pthread_create(&r, NULL, reader, &b), 0);
    for (int i = 0; i < WRITERS; i++) {
        a[i] = (writer_arg){&b, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &a[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&writers_done, true);
    pthread_join(r, NULL);
    ck_assert_int_eq(taken_total, (long)WRITERS * PER_WRITER);
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(next_seq[i], PER_WRITER);
    ck_assert_int_eq(token_count, atomic_load(&wakes));
    ck_assert_int_ge(token_count, nonempty_takes);
    ck_assert_int_ge(nonempty_takes, 1);
    ck_assert_int_le(atomic_load(&wakes), (long)WRITERS * PER_WRITER);
    ck_assert_ptr_null(gw_bridge_take(&b));
    gw_bridge_destroy(&b);
    sem_destroy(&tokens);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("bridge", "core", 60, test_order_take_whole_and_wake_once,
                       test_bounds_and_close, test_notes_and_discard,
                       test_concurrent_writers_wake_once, test_reader_and_writers);
}
