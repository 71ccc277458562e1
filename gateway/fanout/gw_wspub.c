/*
 * gw_wspub.c - the worker -> ingest PUBLISH queue; see gw_wspub.h.
 *
 * Same hand-off as the subscription requests: a mutex-protected list, the ingest side
 * woken by event_active() only when the list goes from empty to non-empty, and
 * drained whole.
 */
#include "gw_wspub.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gw_redis.h"
#include "pulse_log.h"

typedef struct item {
    struct item *next;
    size_t len;
    char *payload;
    char channel[];
} item;

static struct {
    gw_node *node;
    struct event *ev;
    pthread_mutex_t lock;
    item *head, *tail;
    size_t items, bytes;
    _Atomic uint64_t published, failed, refused;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_published(void *ud, long long receivers, const char *err)
{
    if (receivers >= 0) {
        atomic_fetch_add(&q.published, 1);
    } else {
        atomic_fetch_add(&q.failed, 1);
        PLOG_DEBUG("wspub", "client publish failed: %s", err ? err : "?");
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    pthread_mutex_lock(&q.lock);
    item *it = q.head;
    q.head = q.tail = NULL;
    q.items = q.bytes = 0;
    pthread_mutex_unlock(&q.lock);
    while (it) {
        item *next = it->next;
        if (gw_redis_publish(q.node->redis, it->channel, it->payload, it->len, on_published, NULL) != 0) {
            atomic_fetch_add(&q.failed, 1);
            PLOG_DEBUG("wspub", "client publish to %s dropped: redis not connected", it->channel);
        }
        free(it);
        it = next;
    }
}

void gw_wspub_init(gw_node *n)
{
    q.node = n;
    q.ev = event_new(n->base, -1, 0, on_wake, NULL);
    if (!q.ev)
        abort();
}

void gw_wspub_cleanup(void)
{
    pthread_mutex_lock(&q.lock);
    item *it = q.head;
    q.head = q.tail = NULL;
    q.items = q.bytes = 0;
    struct event *ev = q.ev;
    q.ev = NULL;
    q.node = NULL;
    pthread_mutex_unlock(&q.lock);
    while (it) {
        item *next = it->next;
        free(it);
        it = next;
    }
    if (ev)
        event_free(ev);
}

int gw_wspub_post(const char *channel, const char *payload, size_t len)
{
    size_t cl = strlen(channel);
    item *it = malloc(sizeof(*it) + cl + 1 + len + 1);
    if (!it)
        abort();
    it->next = NULL;
    it->len = len;
    memcpy(it->channel, channel, cl + 1);
    it->payload = it->channel + cl + 1;
    memcpy(it->payload, payload, len);
    it->payload[len] = '\0';

    pthread_mutex_lock(&q.lock);
    if (!q.ev || q.items >= GW_WSPUB_MAX_ITEMS || q.bytes + len > GW_WSPUB_MAX_BYTES) {
        pthread_mutex_unlock(&q.lock);
        free(it);
        atomic_fetch_add(&q.refused, 1);
        return -1;
    }
    bool was_empty = q.head == NULL;
    if (q.tail)
        q.tail->next = it;
    else
        q.head = it;
    q.tail = it;
    q.items++;
    q.bytes += len;
    if (was_empty)
        event_active(q.ev, EV_READ, 0);
    pthread_mutex_unlock(&q.lock);
    return 0;
}

void gw_wspub_counts(uint64_t *published, uint64_t *failed, uint64_t *refused)
{
    *published = atomic_load(&q.published);
    *failed = atomic_load(&q.failed);
    *refused = atomic_load(&q.refused);
}
