/*
 * gw_bridge.h - the one hand-off between threads: a mailbox (gw_bridge) of notes.
 *
 * A mailbox is a mutex-guarded list with one reader. A writer links an item at the
 * tail and, only when the list goes from empty to non-empty, calls the reader's wake
 * function (event_active() on the ingest thread, lws_cancel_service() on a worker);
 * the reader takes the whole list at once (gw_bridge_take) and walks it without the
 * lock. Three mailboxes use it:
 *   worker -> ingest requests  (node->requests: subscribe, unsubscribe, worker done)
 *   worker -> ingest PUBLISH   (node->publishes: bounded, refuses past its bound)
 *   ingest -> worker inbox     (node->inbox[w]: gw_msg deliveries and commands)
 * Each item starts with a gw_mail (link + kind); a gw_msg embeds one, everything else
 * is a gw_note. The mailbox owns what is linked in it; whoever takes owns the items.
 * Any thread may post; only the reader takes.
 */
#ifndef GW_BRIDGE_H
#define GW_BRIDGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an item is: the reader switches on it. */
typedef enum {
    /* ingest -> worker */
    GW_MAIL_MSG = 1,     /* a gw_msg delivery (its reference passes to the worker) */
    GW_MAIL_CONFIRM,     /* Redis confirmed a subscription: ack waiting clients */
    GW_MAIL_DRAIN,       /* graceful shutdown: stop accepting, flush, close 1001 */
    GW_MAIL_GAP,         /* resubscribed after a Redis outage: events may have been missed */
    GW_MAIL_ADOPT,       /* an accepted socket (note->fd) to serve */
    /* worker -> ingest */
    GW_MAIL_SUBSCRIBE,   /* worker note->worker has a first local subscriber of name */
    GW_MAIL_UNSUBSCRIBE, /* ... has no local subscriber of name left */
    GW_MAIL_WORKER_DONE, /* the worker thread stopped */
    GW_MAIL_PUBLISH,     /* a client's {"op":"publish"}: PUBLISH name payload */
    /* history (gw_msg.h: gw_hreq worker -> ingest, gw_hans ingest -> worker) */
    GW_MAIL_RECOVER,     /* a subscribe with since: read the stream after it */
    GW_MAIL_HISTORY,     /* a {"op":"history"}: read and answer the connection */
    GW_MAIL_RECOVERED,   /* the recovery read: position and the events after since */
    GW_MAIL_REPLY,       /* one frame for one connection (the history answer) */
    GW_MAIL_GAP_RANGE,   /* events [from, to] of a channel are lost for good */
    /* presence (gw_msg.h: gw_preq worker -> ingest; answers are GW_MAIL_REPLY) */
    GW_MAIL_PRES_ADD,    /* a connection subscribed to a presence channel */
    GW_MAIL_PRES_REMOVE, /* ... left it (unsubscribe, close, token expiry) */
    GW_MAIL_PRES_LIST,   /* a {"op":"presence"} */
    GW_MAIL_PRES_STATS,  /* a {"op":"presence_stats"} */
} gw_mail_kind;

typedef struct gw_mail {
    struct gw_mail *next;
    int kind; /* gw_mail_kind */
} gw_mail;

/* Everything but a delivery: one allocation holding the channel (and payload). */
typedef struct gw_note {
    gw_mail mail;
    int worker;      /* requests: the asking worker */
    int fd;          /* GW_MAIL_ADOPT: the socket; -1 otherwise */
    uint64_t ip_key; /* GW_MAIL_ADOPT: its address's count (gw_limits_ip_admit), 0: none;
                      * the node's socket count goes with it (released at WSI_DESTROY) */
    bool is_pattern;
    bool readable;   /* GW_MAIL_ADOPT: its first bytes have arrived (served at adoption) */
    size_t len;      /* GW_MAIL_PUBLISH: payload length */
    char *payload;   /* GW_MAIL_PUBLISH: inside this allocation, NUL-terminated; else NULL */
    char name[];     /* channel or pattern, NUL-terminated ("" for none) */
} gw_note;

/* A new note; name (NULL: "") and payload[0..len) (NULL: none) are copied. Aborts on
 * out-of-memory. Free with free(). */
gw_note *gw_note_new(gw_mail_kind kind, const char *name, bool is_pattern, const char *payload, size_t len);

typedef struct gw_bridge {
    pthread_mutex_t lock;
    gw_mail *head, *tail;
    size_t items, bytes;
    size_t max_items, max_bytes; /* 0: unbounded */
    bool closed;                 /* after gw_bridge_close: every post is refused */
    void (*wake)(void *ud);
    void *wake_ud;
} gw_bridge;

/* wake(ud) runs on the posting thread, outside the lock, once per empty -> non-empty
 * transition; it must be thread-safe and must not post to b. max_items/max_bytes 0:
 * no bound. */
void gw_bridge_init(gw_bridge *b, size_t max_items, size_t max_bytes, void (*wake)(void *ud), void *ud);

/* Links m at the tail; bytes counts against max_bytes. 0, or (m not linked, still the
 * caller's) PULSE_ESHUTDOWN when closed, PULSE_ENOBUFS when past a bound. The codes are
 * the whole story (pulse_strerror names them): no errstr, so any thread may read them. */
int gw_bridge_post(gw_bridge *b, gw_mail *m, size_t bytes);

/* The reader: the whole list, oldest first (NULL when empty); the box is empty after. */
gw_mail *gw_bridge_take(gw_bridge *b);

/* Refuses every later post and returns what is still linked (the caller frees it). */
gw_mail *gw_bridge_close(gw_bridge *b);

/* Frees a taken list: unrefs each gw_msg, closes each GW_MAIL_ADOPT socket, frees the
 * notes. */
void gw_bridge_discard(gw_mail *list);

/* After close, once no thread posts any more. */
void gw_bridge_destroy(gw_bridge *b);

#endif
