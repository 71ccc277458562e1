/*
 * gw_worker_int.h - the worker's private parts, shared by gw_worker.c (connections,
 * subscriptions, fan-out, the pulse.v1 side) and gw_cfconn.c (the Centrifugo
 * endpoint's connection side). Not an API: nothing outside gateway/fanout/gw_worker.c
 * and gw_cfconn.c includes it. Everything here runs on the worker's own thread.
 *
 * The functions one file lends the other keep their short names in the code; the
 * macros below give their symbols a gw_wk_ / gw_cfconn_ prefix, so nothing as
 * generic as conn_close leaves the object files.
 */
#ifndef GW_WORKER_INT_H
#define GW_WORKER_INT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_auth.h"
#include "gw_bridge.h"
#include "gw_cf.h"
#include "gw_epoll.h"
#include "gw_evloop.h"
#include "gw_limits.h"
#include "gw_worker.h"

/* History state of one subscription, only for those made with "since": the live
 * events held while the ingest thread reads the stream, then the last position
 * delivered (a live event at or below it came in the read already). */
typedef struct {
    gw_hpos since;
    gw_hpos last;
    bool recovering;
    gw_msg **held; /* owned references, arrival order */
    uint32_t nheld, heldcap;
    /* Centrifugo subscriptions (every one has a sub_hist): the subscribe command's id,
     * what it asked, and "gapped": told to resubscribe (unsubscribe push 2500), no
     * deliveries until it does */
    uint32_t cf_id;
    uint8_t cf_recover, cf_was_recovering, cf_strict, cf_join_leave, cf_gapped;
} sub_hist;

typedef struct {
    gw_chan *chan;
    uint32_t idx;   /* position in chan->subs */
    uint8_t acked;  /* "subscribed" sent */
    uint8_t presence; /* the channel has presence: the ingest thread holds an entry */
    sub_hist *h;    /* NULL unless subscribed with since */
} conn_sub;

/* Normal events a full queue dropped for one connection, in a row on one channel:
 * told as one {"op":"gap",...,"reason":"dropped"} once the queue has room again. */
typedef struct {
    bool active;
    uint64_t from, to; /* offsets (0: events without a position) */
    gw_hpos last;
    char channel[PULSE_CHANNEL_MAX + 1];
} drop_gap;

typedef struct gw_conn {
    struct lws *wsi;
    struct gw_conn *prev, *next;
    uint64_t id;
    gw_queue q;
    conn_sub *subs;
    uint32_t nsubs, subcap;
    int64_t backlog_since_ms; /* last progress while the queue was non-empty */
    char *rx;                 /* a client message arriving in fragments */
    uint32_t rx_len;
    uint16_t close_code;      /* non-zero: close with this code at the next chance */
    uint8_t established;
    uint8_t draining;
    uint8_t batch;
    uint8_t dirty;            /* on the worker's flush list */
    uint8_t ping_due;         /* heartbeat: send a PING at the next WRITEABLE */
    const char *close_reason;
    gw_principal *principal;  /* auth on: the verified token's grants, NULL before auth */
    int64_t auth_deadline_ms; /* before auth: in-band auth deadline; after: token expiry; 0 none */
    gw_ratelimit rl;          /* client commands */
    drop_gap *dropped;        /* allocated at the first drop */
    int64_t valid_ms;         /* heartbeat: established or last PONG */
    int64_t ping_ms;          /* heartbeat: PING asked for at (0: none outstanding) */
    struct cf_conn *cf;       /* the Centrifugo endpoint (/connection/websocket); NULL: pulse.v1 */
} gw_conn;

/* What a Centrifugo connection adds (docs/CENTRIFUGO.md). */
typedef struct cf_conn {
    uint8_t connected;        /* the connect command succeeded */
    int64_t ping_ms;          /* the last server ping {} (or connect) */
    int64_t pong_due_ms;      /* a ping awaits its {} until then; 0: none */
} cf_conn;

#define CF_PATH "/connection/websocket"

struct gw_worker {
    gw_node *node;
    const gw_config *cfg;
    int index;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    pthread_t thread;
    bool started;

    /* taken from node->inbox[index], not handled yet (the rest of a slice) */
    gw_mail *pending, *pending_tail;

    gw_chantab *chans;
    gw_conn *conns;
    int64_t nconns;
    uint64_t next_id;
    bool draining, drain_requested, stop;
    gw_evloop *evloop;          /* ws.event_loop = libev, else NULL (lws's poll loop) */
    gw_epoll *epoll;            /* ws.event_loop = epoll: what answers lws's poll(), else NULL */
    uint32_t slice_msgs;
    uint64_t slice_bytes;
    int64_t drain_deadline_ms;
    lws_sorted_usec_list_t sweep_sul;
    unsigned char *batch_buf; /* LWS_PRE + GW_BATCH_MAX, for packed frames */
    gw_cf_command *cf_cmds;   /* GW_CF_MAX_COMMANDS, allocated at the first Centrifugo frame */

    /* Connections whose queue went from empty to non-empty during the current inbox
     * drain: flushed directly at its end instead of waiting a poll round for WRITEABLE. */
    bool in_drain;
    gw_conn **dirty;
    uint32_t ndirty, dirtycap;

    /* ws.io_uring: the flush's sends, queued in one ring and submitted together
     * (gw_usend.h); created by the worker thread at its first flush. */
    struct gw_usend *usend;
    struct gw_usent *usent; /* one per queued send, in the order queued */
    uint32_t nusent;
    struct iovec *uiov;     /* the frames they carry, in order: where each one's bytes are */
    uint32_t nuframes;
    bool usend_tried;

    gw_wstats *stats; /* &node->wstats[index] */
    lws_retry_bo_t retry;
    struct lws_protocols protocols[2];
};

/* ---- gw_worker.c, lent to gw_cfconn.c ---- */
#define conn_send_text gw_wk_conn_send_text
#define conn_close gw_wk_conn_close
#define conn_push gw_wk_conn_push
#define conn_find_sub gw_wk_conn_find_sub
#define sub_add gw_wk_sub_add
#define conn_unsubscribe_slot gw_wk_conn_unsubscribe_slot
#define sub_hist_settled gw_wk_sub_hist_settled
#define sec_deadline gw_wk_sec_deadline
#define publish_data gw_wk_publish_data

/* Queues text (len bytes) as a control frame to c (copied). */
void conn_send_text(gw_worker *w, gw_conn *c, const char *text, int len);
/* Closes c with code and reason (a static string) at its next WRITEABLE; what is
 * queued is dropped. A Centrifugo connection gets pulse.v1's codes translated. */
void conn_close(gw_worker *w, gw_conn *c, uint16_t code, const char *reason);
/* Queues m (one more reference taken) to c under the drop policy and the bounds. */
void conn_push(gw_worker *w, gw_conn *c, gw_msg *m, int64_t now_ms);
/* The slot of c's subscription to name, or -1. */
int conn_find_sub(const gw_conn *c, const char *name, bool is_pattern);
/* Adds the subscription (admitted already); returns its slot. */
uint32_t sub_add(gw_worker *w, gw_conn *c, const char *name, bool is_pattern);
void conn_unsubscribe_slot(gw_worker *w, gw_conn *c, uint32_t slot);
/* The end of a recovery: the held events released. */
void sub_hist_settled(sub_hist *h);
/* The monotonic ms at which p's token expires (exp + leeway); 0: never. */
int64_t sec_deadline(const gw_worker *w, const gw_principal *p);
/* Hands a client publish to the ingest thread; false when its queue is full. */
bool publish_data(gw_worker *w, const char *channel, const char *data, size_t len);

/* ---- gw_cfconn.c: the Centrifugo endpoint (docs/CENTRIFUGO.md) ---- */
#define cf_close gw_cfconn_close
#define cf_gap gw_cfconn_gap
#define cf_gapped_on gw_cfconn_gapped_on
#define cf_subscribed_plain gw_cfconn_subscribed_plain
#define cf_recovered gw_cfconn_recovered
#define cf_frame gw_cfconn_frame
#define cf_established gw_cfconn_established
#define cf_sweep gw_cfconn_sweep

/* Closes with a Centrifugo disconnect code and its reason text. */
void cf_close(gw_worker *w, gw_conn *c, int code);
/* The unsubscribe push 2500 for c's subscription to channel (pulse.v1's gap notice);
 * no deliveries on it until the client subscribes again. */
void cf_gap(gw_worker *w, gw_conn *c, const char *channel);
/* Whether c's subscription to channel was told to resubscribe. */
bool cf_gapped_on(const gw_conn *c, const char *channel);
/* The subscribe result without a position (a channel without history). */
void cf_subscribed_plain(gw_worker *w, gw_conn *c, uint32_t id);
/* The position read of the subscription in slot is back: its subscribe result. */
void cf_recovered(gw_worker *w, gw_conn *c, uint32_t slot, gw_hans *a);
/* One text frame from the client: its commands in order. */
void cf_frame(gw_worker *w, gw_conn *c, const char *text, size_t len);
/* ESTABLISHED on /connection/websocket: c becomes a Centrifugo connection. */
void cf_established(gw_worker *w, gw_conn *c, struct lws *wsi);
/* The worker's once-a-second sweep for a Centrifugo connection (ping, deadlines). */
void cf_sweep(gw_worker *w, gw_conn *c, int64_t now_ms);

#endif
