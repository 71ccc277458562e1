/*
 * gw_frame.h - every frame the gateway sends a client (gateway -> client text), and
 * the one JSON string escaper. Pure logic, any thread, no allocation: each writer
 * fills a caller's buffer and returns the length, or -1 when cap is too small (the
 * buffer then holds ""). Buffers always end with a NUL (not counted).
 *
 * pulse.v1 frames:
 *   {"channel":"<channel>","data":<event>}             the envelope of a delivery
 *   {"channel":"<c>","offset":N,"epoch":"E","data":<event>}   ... of an event with history
 *   {"op":"subscribed","channel":"<c>","offset":N,"epoch":"E","recovered":true|false}
 *   {"op":"gap","channel":"<c>","from":A,"to":B,"reason":"dropped"}   (from/to when known)
 *   {"op":"history","channel":"<c>","offset":N,"epoch":"E","events":[{"offset":N,"data":<event>},...]}
 *   {"op":"hello","node":"<id>","conn":N,"protocol":"pulse.v1"}
 *   {"op":"pong"}
 *   {"op":"gap","channel":"<c>","reason":"redis_reconnect"}
 *   {"op":"<op>"} / {"op":"<op>","channel":"<c>"}     subscribed, unsubscribed,
 *                                                      authenticated, refreshed, published
 *   {"op":"error","code":"<code>","reason":"<one line>"}
 * and the HTTP/1.1 refusal of a handshake (gw_frame_http_refusal).
 *
 * Adding a frame: write it with a gw_frame_buf (gw_frame_begin, gw_frame_raw,
 * gw_frame_str, ..., gw_frame_end) beside the others in gw_frame.c, and test it in
 * tests/unit/check_frame.c.
 */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_histwire.h"

/* A bounded writer: once something does not fit, everything after is ignored and
 * gw_frame_end returns -1. */
typedef struct {
    char *buf;
    size_t cap, len;
    bool overflow;
} gw_frame_buf;

void gw_frame_begin(gw_frame_buf *f, char *buf, size_t cap);
void gw_frame_raw(gw_frame_buf *f, const char *s, size_t n); /* as is */
void gw_frame_lit(gw_frame_buf *f, const char *s);           /* as is, NUL-terminated */
/* s[0..n) as a JSON string literal, quotes included: '"' '\' and control characters
 * escaped (\n \r \t \b \f, else \u00XX), invalid UTF-8 replaced by \ufffd so the frame
 * stays valid text. At most 6 * n + 2 bytes. */
void gw_frame_str(gw_frame_buf *f, const char *s, size_t n);
void gw_frame_u64(gw_frame_buf *f, unsigned long long v);
int gw_frame_end(gw_frame_buf *f);

/* The JSON string literal for s[0..len) into out (the escaper above, NUL-terminated). */
int gw_json_quote(const char *s, size_t len, char *out, size_t cap);

/* The envelope around data[0..data_len) (one JSON value, inserted as is). A buffer of
 * gw_frame_envelope_cap(clen, data_len) bytes always fits, with or without a position. */
size_t gw_frame_envelope_cap(size_t channel_len, size_t data_len);
int gw_frame_envelope(char *buf, size_t cap, const char *channel, size_t channel_len, const char *data,
                      size_t data_len);
/* The same with the event's position (pos NULL or offset 0: none, as above). */
int gw_frame_envelope_pos(char *buf, size_t cap, const char *channel, size_t channel_len, const gw_hpos *pos,
                          const char *data, size_t data_len);

int gw_frame_hello(char *buf, size_t cap, const char *node_id, unsigned long long conn_id);
int gw_frame_pong(char *buf, size_t cap);
int gw_frame_gap(char *buf, size_t cap, const char *channel, const char *reason);
/* The gap with the offsets it covers: from/to 0 leave that field out. */
int gw_frame_gap_range(char *buf, size_t cap, const char *channel, unsigned long long from, unsigned long long to,
                       const char *reason);
/* The answer to a subscribe with "since" (top: the channel's position when read). */
int gw_frame_subscribed_pos(char *buf, size_t cap, const char *channel, const gw_hpos *top, bool recovered);
/* The answer to a history read: entries[0..n) in the order given, each entry's data one
 * JSON value (inserted as is). A buffer of gw_frame_history_cap(...) bytes always fits. */
size_t gw_frame_history_cap(size_t channel_len, const gw_hentry *entries, size_t n);
int gw_frame_history(char *buf, size_t cap, const char *channel, const gw_hpos *top, const gw_hentry *entries,
                     size_t n);
/* {"op":op} or, with a channel, {"op":op,"channel":channel}. */
int gw_frame_reply(char *buf, size_t cap, const char *op, const char *channel);
int gw_frame_error(char *buf, size_t cap, const char *code, const char *reason);

/* Not a WebSocket frame but the HTTP answer refusing a handshake (lws 4.1.6 wrote
 * HTTP/1.0 with an HTML body, which common clients cannot read): an HTTP/1.1 status
 * line, JSON content type and length, Connection: close, and the body
 * {"error":code,"reason":reason}. status 400, 401, 403, 404, 429 or 503 (anything else
 * is sent as 400). */
int gw_frame_http_refusal(char *buf, size_t cap, unsigned status, const char *code, const char *reason);

#endif
