/*
 * gw_bridge.c - the mailbox between threads; see gw_bridge.h.
 *
 * The lock guards only the list and its counts; the wake call happens after the
 * unlock, so a reader woken between the unlock and the call may find the box already
 * empty (it took the item on an earlier wake-up): harmless, the wake-up is one extra
 * empty walk, never a lost item.
 */
#include "gw_bridge.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_msg.h"
#include "pulse_alloc.h"
#include "pulse_err.h"

gw_note *gw_note_new(gw_mail_kind kind, const char *name, bool is_pattern, const char *payload, size_t len)
{
    size_t nl = name ? strlen(name) : 0;
    gw_note *n = pulse_xmalloc(sizeof(*n) + nl + 1 + (payload ? len + 1 : 0));
    n->mail.next = NULL;
    n->mail.kind = (int)kind;
    n->worker = -1;
    n->fd = -1;
    n->is_pattern = is_pattern;
    n->readable = false;
    memcpy(n->name, name ? name : "", nl + 1);
    n->len = payload ? len : 0;
    n->payload = NULL;
    if (payload) {
        n->payload = n->name + nl + 1;
        memcpy(n->payload, payload, len);
        n->payload[len] = '\0';
    }
    return n;
}

void gw_bridge_init(gw_bridge *b, size_t max_items, size_t max_bytes, void (*wake)(void *ud), void *ud)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->max_items = max_items;
    b->max_bytes = max_bytes;
    b->wake = wake;
    b->wake_ud = ud;
}

int gw_bridge_post(gw_bridge *b, gw_mail *m, size_t bytes)
{
    m->next = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->closed) {
        pthread_mutex_unlock(&b->lock);
        return PULSE_ESHUTDOWN;
    }
    if ((b->max_items && b->items >= b->max_items) || (b->max_bytes && b->bytes + bytes > b->max_bytes)) {
        pthread_mutex_unlock(&b->lock);
        return PULSE_ENOBUFS;
    }
    bool was_empty = b->head == NULL;
    if (b->tail)
        b->tail->next = m;
    else
        b->head = m;
    b->tail = m;
    b->items++;
    b->bytes += bytes;
    pthread_mutex_unlock(&b->lock);
    if (was_empty && b->wake)
        b->wake(b->wake_ud);
    return 0;
}

gw_mail *gw_bridge_take(gw_bridge *b)
{
    pthread_mutex_lock(&b->lock);
    gw_mail *all = b->head;
    b->head = b->tail = NULL;
    b->items = b->bytes = 0;
    pthread_mutex_unlock(&b->lock);
    return all;
}

gw_mail *gw_bridge_close(gw_bridge *b)
{
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_mutex_unlock(&b->lock);
    return gw_bridge_take(b);
}

void gw_bridge_discard(gw_mail *list)
{
    while (list) {
        gw_mail *next = list->next;
        if (list->kind == GW_MAIL_MSG) {
            gw_msg_unref((gw_msg *)list);
        } else if (list->kind == GW_MAIL_RECOVERED || list->kind == GW_MAIL_REPLY ||
                   list->kind == GW_MAIL_GAP_RANGE) {
            gw_hans_free((gw_hans *)list);
        } else {
            gw_note *n = (gw_note *)list;
            if (n->mail.kind == GW_MAIL_ADOPT && n->fd >= 0)
                close(n->fd);
            free(n);
        }
        list = next;
    }
}

void gw_bridge_destroy(gw_bridge *b)
{
    pthread_mutex_destroy(&b->lock);
}
