/*
 * gw_msg.h - one framed message, shared by reference count.
 *
 * The ingest thread parses each Redis message once and frames it once as
 *   {"channel":"<channel>","data":<payload>}   (gw_frame_envelope_pos; with
 *   "offset" and "epoch" before "data" for an event published with history)
 * with GW_FRAME_PRE bytes of headroom before it (lws_write puts the WebSocket header
 * there). Each worker thread gets its own copy (lws_write writes into the headroom, so
 * two threads must never share one buffer); inside a worker the copy is shared by every
 * connection queue that holds it, by a plain (non-atomic) reference count, because only
 * that worker's thread touches it after the hand-off.
 *
 * Control replies (hello, subscribed, pong, error) are gw_msg too, so they travel
 * through the same per-connection queue, in order with the deliveries.
 */
#ifndef GW_MSG_H
#define GW_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_bridge.h"
#include "gw_config.h"
#include "gw_histmerge.h"

/* Headroom before the payload; >= LWS_PRE (checked where lws is included). */
#define GW_FRAME_PRE 16

typedef enum {
    GW_MSG_EVENT = 0,   /* a delivery from Redis */
    GW_MSG_CONTROL = 1, /* a reply to one client: never dropped, not counted as delivery */
} gw_msg_kind;

typedef struct gw_msg {
    gw_mail mail;         /* hand-off link, kind GW_MAIL_MSG (gw_bridge.h); first member */
    uint32_t refs;        /* owned by one thread at a time; not atomic */
    uint8_t kind;         /* gw_msg_kind */
    uint8_t priority;     /* pulse_priority: NORMAL or CRITICAL */
    uint8_t policy;       /* gw_policy, already CRITICAL -> NEVER */
    uint8_t is_pattern;   /* delivered through a pattern subscription */
    uint8_t text;         /* gw_msg_new_text: a presence join/leave object, not an envelope */
    int64_t arrived_ns;   /* pulse_mono_ns() when it came from Redis */
    gw_hpos pos;          /* events with history: offset and epoch; else offset 0 */
    const char *channel;  /* the real channel, NUL-terminated, inside buf */
    const char *route;    /* what subscribers subscribed to: channel, or the pattern */
    size_t len;           /* payload length */
    size_t data_off;      /* events: where the data starts in payload (it ends before the last '}') */
    struct gw_msg *cf;    /* the Centrifugo push of this event (gw_msg_cf), NULL until asked */
    unsigned char *payload; /* = buf + GW_FRAME_PRE */
    unsigned char buf[];  /* headroom, payload, NUL, channel, NUL, pattern, NUL */
} gw_msg;

/* A new event message for channel (and pattern, NULL unless from a pattern
 * subscription) whose payload is the JSON text `data` (inserted as is: the caller
 * guarantees it is one valid JSON value), at position pos (NULL: none). refs = 1.
 * Aborts on out-of-memory. */
gw_msg *gw_msg_new_event(const char *channel, const char *pattern, const gw_hpos *pos, const char *data,
                         size_t data_len, pulse_priority priority, gw_policy policy, int64_t arrived_ns);
/* A new event message for channel (pattern as above) whose frame is text[0..len) as
 * it is (one JSON object the caller checked: a presence join/leave). refs = 1. */
gw_msg *gw_msg_new_text(const char *channel, const char *pattern, const char *text, size_t len, gw_policy policy,
                        int64_t arrived_ns);
/* A new control message holding text[0..len) as payload. refs = 1. */
gw_msg *gw_msg_new_control(const char *text, size_t len);
/* A deep copy (refs = 1), for handing one message to another worker thread. */
gw_msg *gw_msg_clone(const gw_msg *m);

/* History mail (gw_bridge.h kinds). A worker asks (gw_hreq: GW_MAIL_RECOVER for a
 * subscribe with since, GW_MAIL_HISTORY for the history op) and the ingest thread
 * answers one connection (gw_hans: GW_MAIL_RECOVERED with the stream's events after
 * since, GW_MAIL_REPLY with a ready frame) or every subscriber of a channel
 * (GW_MAIL_GAP_RANGE). Connections are named by id: the worker looks the id up and
 * drops the answer when the connection is gone. */
typedef struct gw_hreq {
    gw_mail mail;
    int worker;
    uint64_t conn_id;
    bool has_since;
    gw_hpos since;
    uint32_t limit;       /* HISTORY: most events */
    bool reverse;         /* HISTORY: newest first */
    bool position_only;   /* no events: RECOVER answers the position alone; HISTORY too */
    uint32_t cf_id;       /* HISTORY from the Centrifugo endpoint: its command id (0: pulse.v1) */
    char channel[];
} gw_hreq;

typedef struct gw_hans {
    gw_mail mail;
    uint64_t conn_id;     /* RECOVERED, REPLY */
    bool ok;              /* RECOVERED: the read succeeded */
    gw_hpos top;          /* RECOVERED: the channel's position when read */
    gw_msg **events;      /* RECOVERED: framed events after since, ascending; owned */
    size_t n;
    gw_msg *frame;        /* REPLY: owned */
    uint64_t from, to;    /* GAP_RANGE: offsets (0: unknown) */
    char channel[];
} gw_hans;

/* Presence mail, worker -> ingest (GW_MAIL_PRES_*): the connection, the channel and,
 * for an add, the token's sub ("" none) and info (compact JSON, NULL none). One
 * allocation: free() it. */
typedef struct gw_preq {
    gw_mail mail;
    int worker;
    uint64_t conn_id;
    const char *user;     /* inside this allocation */
    const char *info;     /* inside this allocation, or NULL */
    uint32_t cf_id;       /* LIST/STATS from the Centrifugo endpoint: its command id (0: pulse.v1) */
    char channel[];
} gw_preq;

gw_preq *gw_preq_new(gw_mail_kind kind, int worker, uint64_t conn_id, const char *channel, const char *user,
                     const char *info);

/* New mail; channel copied. Aborts on out-of-memory. Free a gw_hreq with free(). */
gw_hreq *gw_hreq_new(gw_mail_kind kind, int worker, uint64_t conn_id, const char *channel);
gw_hans *gw_hans_new(gw_mail_kind kind, uint64_t conn_id, const char *channel);
/* Unrefs what it holds, then frees it. NULL is fine. */
void gw_hans_free(gw_hans *a);

/* The same event framed for the Centrifugo endpoint (docs/CENTRIFUGO.md): a
 * publication push {"push":{"channel":C,"pub":{"data":D[,"offset":N]}}}, or the
 * join/leave push of a presence message. Built on first use and kept on m (one per
 * message per worker, shared by every Centrifugo subscriber like m itself); NULL when
 * m has no such form (a control message, a malformed join). Owner thread only. */
gw_msg *gw_msg_cf(gw_msg *m);

static inline gw_msg *gw_msg_ref(gw_msg *m) { m->refs++; return m; }
/* Drops one reference; frees at zero. NULL is fine. */
void gw_msg_unref(gw_msg *m);

/* Delivered lines never break (?batch=1 joins envelopes with '\n', so a payload's
 * own line break would let a publisher forge a second envelope). JSON text
 * json[0..len), already known to be valid JSON, is returned as NULL when it holds no
 * raw CR or LF: use it as it is (the common case: one memchr pair, no copy). Otherwise
 * the same value re-encoded compactly (malloc'd, the caller frees; length in
 * *out_len); in valid JSON a raw CR/LF can only be whitespace between tokens, so the
 * value is unchanged. Also NULL (and *out_len = 0) if it cannot be re-encoded: the
 * caller must then refuse the text. Any thread. */
char *gw_json_unbroken(const char *json, size_t len, size_t *out_len);

/* json[0..len), compact JSON as jansson writes it (keys unescaped): NULL when it is
 * not an object with top-level member `key` (use it as it is); else the object
 * without that member, compact (malloc'd, the caller frees; length in *out_len).
 * Any thread. */
char *gw_json_drop_key(const char *json, size_t len, const char *key, size_t *out_len);

/* Copies s into out (cap >= 8) for a log line: printable ASCII as is, other bytes as
 * \xHH, cut with "..." when it does not fit. Any thread. */
void gw_printable(const char *s, char *out, size_t cap);

#endif
