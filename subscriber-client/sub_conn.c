/*
 * sub_conn.c - pulse-subscribe's connections: a plain WebSocket client over
 * non-blocking sockets in one epoll set (connect, upgrade request, 101 check, frames:
 * sub_ws.c), (re)connecting with exponential backoff, reassembling fragmented messages,
 * telling control frames ({"op":...}) from deliveries, and turning each delivery into
 * one delivery-log line.
 *
 * Why not libwebsockets: its client (4.1.6) feeds every received byte through a
 * per-byte state machine and reads 4 KiB at a time, about 5.6 ns of CPU per byte, so
 * 1000 clients of 16 KiB events at 20/s (330 MB/s) needed more than a core and the
 * client, not the gateway, set the latency. Here a read takes up to 256 KiB from one
 * socket, and a whole frame is handed over where it lies in the read buffer.
 *
 * Hot path: a delivery frame is timestamped with pulse_now_us() right after the read
 * that brought its first bytes (one line at a time with ?batch=1, where the gateway
 * puts several envelopes in a frame, separated by '\n'), looked up in the memo of
 * envelopes already scanned (sub_memo.c: the 1000 connections of a benchmark receive
 * the same bytes for an event; only the first is scanned, by pulse_delivery_scan,
 * without allocation) and its line joined straight into the delivery log's buffer
 * from kept pieces: "client,node," per connection, "received_at_us," per read, the
 * event's part from the memo. Control frames are rare and parsed with jansson.
 *
 * History: each client remembers, per exact channel, the last offset and the epoch it
 * was delivered (or the top a `subscribed` reply announced) and reconnects with
 * &since=C:N:E,... so the gateway replays what it missed. Deliveries up to the top of a
 * recovering `subscribed` reply are logged with recovered=1; when the replay has caught
 * up to that top (or the gateway answered recovered:false) one line goes to
 * recoveries.csv.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pulse_alloc.h"
#include "pulse_clock.h"
#include "pulse_event.h"
#include "pulse_log.h"
#include "pulse_record.h"
#include "sub.h"
#include "sub_ws.h"

#define SUB_BACKOFF_MIN_MS 100
#define SUB_BACKOFF_MAX_MS 5000
#define SUB_MSG_MAX (4 * 1024 * 1024)
#define SUB_CONNECT_TIMEOUT_MS 10000 /* TCP connect plus the WebSocket handshake */

static void sub_print_ready(sub_run *r)
{
    if (r->ready_printed || r->ready_count < r->nclients)
        return;
    r->ready_printed = true;
    printf("pulse-subscribe ready clients=%u\n", r->nclients);
    fflush(stdout);
    if (sub_write_clients_csv(r) != 0)
        PLOG_WARN("sub", "cannot write clients.csv yet");
}

/* Node ids land in CSV fields: keep only the channel alphabet. */
static void copy_node(char *dst, size_t cap, const char *src)
{
    size_t i;

    for (i = 0; i + 1 < cap && src[i] != '\0'; i++) {
        char ch = src[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '-';
        dst[i] = ok ? ch : '_';
    }
    dst[i] = '\0';
}

static sub_chan *find_chan(sub_client *c, const char *name, size_t len)
{
    for (unsigned i = 0; i < c->nchannels; i++) {
        sub_chan *ch = &c->chans[i];
        if (ch->exact && strncmp(ch->name, name, len) == 0 && ch->name[len] == '\0')
            return ch;
    }
    return NULL;
}

/* Epochs go back to the gateway in the URL: only what the library makes ([A-Za-z0-9],
 * plus _ and - as pulse_position_hdr_parse accepts), 1..PULSE_EPOCH_MAX bytes. */
static bool epoch_ok(const char *e, size_t len)
{
    if (len == 0 || len > PULSE_EPOCH_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = e[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* recoveries.csv: client,channel,down_at_us,subscribed_at_us,caught_up_at_us,
 * from_offset,top,recovered */
static void log_recovery(sub_run *r, const sub_client *c, sub_chan *ch, int64_t now, int ok)
{
    ch->catching_up = false;
    if (r->recoveries == NULL)
        return;
    fprintf(r->recoveries, "%u,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64 ",%d\n",
            c->id, ch->name, ch->down_at_us, ch->subscribed_at_us, now, ch->recover_from,
            ch->recover_top, ok);
}

/* A `subscribed` reply: with offset and epoch when the channel keeps history, and
 * recovered when this connection asked for it with since. */
static void on_subscribed(sub_run *r, sub_client *c, json_t *root)
{
    const char *name = json_string_value(json_object_get(root, "channel"));
    const char *epoch = json_string_value(json_object_get(root, "epoch"));
    json_t *off = json_object_get(root, "offset");
    int64_t now = pulse_now_us();
    sub_chan *ch;

    if (name == NULL || epoch == NULL || !json_is_integer(off) || json_integer_value(off) < 0 ||
        (epoch[0] != '\0' && !epoch_ok(epoch, strlen(epoch))))
        return; /* no history on this channel (or a gateway without history) */
    ch = find_chan(c, name, strlen(name));
    if (ch == NULL)
        return;
    if (ch->since_sent) {
        ch->since_sent = false;
        ch->recover_from = ch->offset;
        ch->recover_top = (uint64_t)json_integer_value(off);
        ch->down_at_us = c->down_since_us;
        ch->subscribed_at_us = now;
        if (json_is_true(json_object_get(root, "recovered"))) {
            r->recoveries_ok++;
            if (ch->recover_top <= ch->offset)
                log_recovery(r, c, ch, now, 1); /* nothing was missed */
            else
                ch->catching_up = true; /* offset moves with the replayed deliveries */
            return;
        }
        r->recoveries_failed++;
        log_recovery(r, c, ch, now, 0);
    }
    /* A fresh subscription, or history that could not be recovered: start at the top. */
    ch->offset = (uint64_t)json_integer_value(off);
    snprintf(ch->epoch, sizeof(ch->epoch), "%s", epoch);
    ch->recover_top = 0;
}

/* Moves the channel's position with a delivery; returns 1 when it came from a replay. */
static int track_position(sub_run *r, sub_client *c, const pulse_delivery *d, int64_t rx_us)
{
    sub_chan *ch;
    int recovered = 0;

    if (d->offset == 0 || !epoch_ok(d->epoch, d->epoch_len))
        return 0;
    ch = find_chan(c, d->channel, d->channel_len);
    if (ch == NULL)
        return 0;
    if (strlen(ch->epoch) != d->epoch_len || memcmp(ch->epoch, d->epoch, d->epoch_len) != 0) {
        /* a new epoch: the history restarted; so does the position */
        memcpy(ch->epoch, d->epoch, d->epoch_len);
        ch->epoch[d->epoch_len] = '\0';
        ch->offset = d->offset;
        ch->recover_top = 0;
        ch->catching_up = false;
        return 0;
    }
    recovered = d->offset <= ch->recover_top;
    if (recovered)
        r->recovered_deliveries++;
    if (d->offset > ch->offset)
        ch->offset = d->offset;
    if (ch->catching_up && ch->offset >= ch->recover_top)
        log_recovery(r, c, ch, rx_us, 1);
    return recovered;
}

static void on_control(sub_run *r, sub_client *c, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    const char *op;

    if (root == NULL || !json_is_object(root)) {
        r->bad_frames++;
        if (r->bad_frames <= 5)
            PLOG_WARN("sub", "client %u: unparsable frame: %.80s", c->id, text);
        json_decref(root);
        return;
    }
    op = json_string_value(json_object_get(root, "op"));
    if (op == NULL) {
        r->bad_frames++;
    } else if (strcmp(op, "hello") == 0) {
        const char *node = json_string_value(json_object_get(root, "node"));
        copy_node(c->node, sizeof(c->node), node != NULL ? node : "unknown");
        c->line_prefix_len = 0; /* its lines name the new node */
    } else if (strcmp(op, "subscribed") == 0) {
        on_subscribed(r, c, root);
        c->acked++;
        if (c->acked == c->nchannels) {
            int64_t now = pulse_now_us();
            if (!c->ever_ready) {
                c->ever_ready = true;
                c->connected_at_us = now;
                r->ready_count++;
                sub_print_ready(r);
            } else if (c->down_since_us > 0 && r->gaps != NULL) {
                /* A reconnect: log the gap during which this client could miss events. */
                fprintf(r->gaps, "%u,%s,%" PRId64 ",%" PRId64 ",%.3f,%u,%s\n", c->id,
                        c->node[0] ? c->node : "unknown", c->down_since_us, now,
                        (double)(now - c->down_since_us) / 1000.0, c->attempts, c->down_reason);
                fflush(r->gaps); /* rare, and watched by scripts waiting for reconnects */
            }
            c->down_since_us = 0;
            c->attempts = 0;
        }
    } else if (strcmp(op, "error") == 0) {
        const char *code = json_string_value(json_object_get(root, "code"));
        const char *reason = json_string_value(json_object_get(root, "reason"));
        r->server_errors++;
        if (r->server_errors <= 10)
            PLOG_WARN("sub", "client %u: gateway error %s: %s", c->id, code ? code : "?",
                      reason ? reason : "");
    }
    /* pong and unknown ops: nothing to do */
    json_decref(root);
}

static void on_delivery_line(sub_run *r, sub_client *c, const char *line, size_t len, int64_t rx_us)
{
    const pulse_delivery *d;
    const pulse_delivery_part *part;
    pulse_error err;
    size_t room;
    char *tail;
    int n, rc, recovered;

    rc = sub_memo_get(&r->memo, line, len, &c->memo_next, &d, &part, &err);
    if (rc == PULSE_ENOENT) {
        on_control(r, c, line, len);
        return;
    }
    if (rc != 0) {
        r->bad_frames++;
        if (r->bad_frames <= 5)
            PLOG_WARN("sub", "client %u: bad delivery (%s): %.80s", c->id, err.text, line);
        return;
    }
    recovered = track_position(r, c, d, rx_us);
    /* the line's pieces that do not change with every delivery, made when they do */
    if (c->line_prefix_len == 0) {
        n = pulse_delivery_prefix(c->line_prefix, sizeof c->line_prefix, c->id,
                                  c->node[0] ? c->node : "unknown");
        c->line_prefix_len = n > 0 ? (size_t)n : 0;
    }
    if (r->stamp_len == 0 || r->stamp_us != rx_us) {
        n = pulse_delivery_stamp(r->stamp_text, sizeof r->stamp_text, rx_us);
        r->stamp_len = n > 0 ? (size_t)n : 0;
        r->stamp_us = rx_us;
    }
    n = PULSE_EINVAL;
    if (c->line_prefix_len > 0 && r->stamp_len > 0) {
        tail = sub_out_tail(&r->deliveries, &room);
        n = pulse_delivery_join(c->line_prefix, c->line_prefix_len, part, r->stamp_text,
                                r->stamp_len, recovered, tail, room);
        if (n == PULSE_ENOSPC) {
            sub_out_flush(&r->deliveries);
            tail = sub_out_tail(&r->deliveries, &room);
            n = pulse_delivery_join(c->line_prefix, c->line_prefix_len, part, r->stamp_text,
                                    r->stamp_len, recovered, tail, room);
        }
    }
    if (n < 0) {
        r->bad_frames++;
        if (r->bad_frames <= 5)
            PLOG_WARN("sub", "client %u: cannot log delivery: %s", c->id, pulse_strerror(n));
        return;
    }
    sub_out_commit(&r->deliveries, (size_t)n);
    c->deliveries++;
    r->total_deliveries++;
    if (r->expect > 0 && r->total_deliveries >= r->expect && !r->stopping) {
        r->stopping = true;
        r->stop_reason = "expected deliveries reached";
    }
}

/* One whole message: one envelope, or with ?batch=1 several separated by '\n'. */
static void on_message(sub_run *r, sub_client *c, const char *text, size_t len, int64_t rx_us)
{
    r->total_frames++;
    if (!r->batch) { /* each envelope is its own frame: no '\n' to look for */
        if (len > 0)
            on_delivery_line(r, c, text, len, rx_us);
        return;
    }
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t l = nl ? (size_t)(nl - text) : len;
        if (l > 0 && !(l == 1 && text[0] == '\r'))
            on_delivery_line(r, c, text, l, rx_us);
        if (nl == NULL)
            break;
        len -= l + 1;
        text = nl + 1;
    }
}

static void on_down(sub_run *r, sub_client *c, const char *reason);

static void watch(sub_run *r, sub_client *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        PLOG_WARN("sub", "client %u: epoll_ctl: %s", c->id, strerror(errno));
}

/* Sends what the socket takes now and keeps the rest for EPOLLOUT. -1 when the socket
 * failed. */
static int send_bytes(sub_run *r, sub_client *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    if (c->out_len == 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return 0;
        watch(r, c, EPOLLIN | EPOLLOUT);
    }
    c->out = pulse_xrealloc(c->out, c->out_len + len);
    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;
    return 0;
}

static int flush_out(sub_run *r, sub_client *c)
{
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
    if (c->out_len == 0) {
        free(c->out);
        c->out = NULL;
        watch(r, c, EPOLLIN);
    }
    return 0;
}

static int send_control(sub_run *r, sub_client *c, unsigned opcode, const void *payload, size_t len)
{
    unsigned char frame[131], mask[4];

    for (int i = 0; i < 4; i++)
        mask[i] = (unsigned char)rand();
    return send_bytes(r, c, frame, sub_ws_control_frame(frame, opcode, payload, len, mask));
}

static int protocol_error(sub_run *r, sub_client *c, const char *why)
{
    char reason[64];

    r->bad_frames++;
    if (r->bad_frames <= 5)
        PLOG_WARN("sub", "client %u: %s; closing", c->id, why);
    snprintf(reason, sizeof(reason), "protocol error: %s", why);
    on_down(r, c, reason);
    return -1;
}

static int append_msg(sub_run *r, sub_client *c, const unsigned char *p, size_t len)
{
    if (c->msg_len + len > SUB_MSG_MAX)
        return protocol_error(r, c, "message too large");
    if (c->msg_len + len > c->msg_cap) {
        size_t cap = c->msg_cap ? c->msg_cap : 8192;
        while (cap < c->msg_len + len)
            cap *= 2;
        c->msg = pulse_xrealloc(c->msg, cap);
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, p, len);
    c->msg_len += len;
    return 0;
}

/* One frame, payload unmasked. 0, or -1 when the connection went down. */
static int on_frame(sub_run *r, sub_client *c, const sub_ws_frame *f, unsigned char *pl, int64_t rx)
{
    switch (f->opcode) {
    case SUB_WS_TEXT:
    case SUB_WS_BINARY:
        if (c->in_msg)
            return protocol_error(r, c, "a new message inside a fragmented one");
        if (f->fin) { /* the common case: the whole message in place, no copy */
            on_message(r, c, (const char *)pl, f->payload_len, rx);
            return 0;
        }
        c->in_msg = true;
        c->msg_len = 0;
        c->msg_rx_us = rx;
        return append_msg(r, c, pl, f->payload_len);
    case SUB_WS_CONT:
        if (!c->in_msg)
            return protocol_error(r, c, "a continuation without a message");
        if (append_msg(r, c, pl, f->payload_len) != 0)
            return -1;
        if (f->fin) {
            c->in_msg = false;
            on_message(r, c, c->msg, c->msg_len, c->msg_rx_us);
            c->msg_len = 0;
        }
        return 0;
    case SUB_WS_PING:
        if (send_control(r, c, SUB_WS_PONG, pl, f->payload_len) != 0) {
            on_down(r, c, "send failed");
            return -1;
        }
        return 0;
    case SUB_WS_CLOSE:
        /* Keep the gateway's close code (1008 slow consumer, 1001 going away...). */
        if (f->payload_len >= 2)
            snprintf(c->close_note, sizeof(c->close_note), "closed by gateway: %u %.*s",
                     (unsigned)(pl[0] << 8 | pl[1]),
                     (int)(f->payload_len - 2 < 32 ? f->payload_len - 2 : 32), (const char *)pl + 2);
        send_control(r, c, SUB_WS_CLOSE, pl, f->payload_len >= 2 ? 2 : 0);
        on_down(r, c, c->close_note[0] ? c->close_note : "connection closed");
        return -1;
    default: /* pong */
        return 0;
    }
}

/* Handles the whole frames at buf (rx: receive time of the first, later ones arrived at
 * rx_now). Returns the bytes used, or -1 when the connection went down. */
static long on_frames(sub_run *r, sub_client *c, unsigned char *buf, size_t len, int64_t rx,
                      int64_t rx_now)
{
    size_t off = 0;

    while (off < len) {
        sub_ws_frame f;
        const char *why = "";
        unsigned char *pl;
        int rc = sub_ws_frame_parse(buf + off, len - off, SUB_MSG_MAX, &f, &why);

        if (rc == 0)
            break;
        if (rc < 0)
            return protocol_error(r, c, why);
        pl = buf + off + f.head_len;
        if (f.masked) {
            for (size_t i = 0; i < f.payload_len; i++)
                pl[i] ^= f.mask[i & 3];
        }
        off += f.head_len + f.payload_len;
        if (on_frame(r, c, &f, pl, rx) != 0)
            return -1;
        rx = rx_now;
    }
    return (long)off;
}

/* The 101 arrived and checked out. */
static void on_established(sub_run *r, sub_client *c)
{
    c->head_done = true;
    if (r->connecting > 0)
        r->connecting--;
    c->state = SUB_OPEN;
    c->acked = 0;
    r->open_count++;
}

static void grow_in(sub_client *c, size_t need)
{
    size_t cap = c->in_cap ? c->in_cap : 4096;

    if (need <= c->in_cap)
        return;
    while (cap < need)
        cap *= 2;
    c->in = pulse_xrealloc(c->in, cap);
    c->in_cap = cap;
}

/* Bytes at data[0..len) (the read buffer, or c->in with new bytes appended): the
 * response head while connecting, then frames. What is left (a partial frame) stays in
 * c->in. */
static void on_bytes(sub_run *r, sub_client *c, unsigned char *data, size_t len, int64_t now)
{
    bool in_place = data == c->in;
    size_t old = in_place ? c->in_len : 0, used = 0;
    int64_t first = in_place ? c->in_rx_us : now;
    long m;

    if (!c->head_done) {
        const char *why = "";
        long h = sub_ws_head_end((const char *)data, len);
        if (h < 0) {
            on_down(r, c, "handshake: response head too long");
            return;
        }
        if (h == 0)
            goto keep;
        if (sub_ws_head_check((const char *)data, (size_t)h, c->accept, &why) != 0) {
            on_down(r, c, why);
            return;
        }
        on_established(r, c);
        used = (size_t)h;
    }
    m = on_frames(r, c, data + used, len - used, first, now);
    if (m < 0)
        return; /* down: c->in is gone */
    used += (size_t)m;
keep:
    if (in_place) {
        memmove(c->in, c->in + used, len - used);
    } else if (len > used) {
        grow_in(c, len - used);
        memcpy(c->in, data + used, len - used);
    }
    c->in_len = len - used;
    if (c->in_len > 0 && used >= old)
        c->in_rx_us = now; /* the partial frame began in this read */
}

/* The length of the whole frame that begins c->in (a partial one, kept from the last
 * read), or 0 when its header is not all there yet (or is bad: the old path reports it). */
static size_t partial_frame_len(const sub_client *c)
{
    sub_ws_frame f;
    const char *why = "";

    if (!c->head_done)
        return 0;
    memset(&f, 0, sizeof f);
    if (sub_ws_frame_parse(c->in, c->in_len, SUB_MSG_MAX, &f, &why) != 0 || f.head_len == 0)
        return 0;
    return f.head_len + f.payload_len;
}

static void on_read_error(sub_run *r, sub_client *c, ssize_t n)
{
    char why[64];

    if (n == 0) {
        on_down(r, c, c->head_done ? "connection closed" : "connect failed: closed in handshake");
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    snprintf(why, sizeof(why), "%s: %.40s", c->head_done ? "recv" : "connect failed",
             strerror(errno));
    on_down(r, c, why);
}

/* One read. The common case parses in the shared read buffer where the bytes landed.
 * When the last read ended inside a frame, one readv finishes that frame in c->in and
 * puts what follows in the read buffer, so only the frame's rest is ever copied (a
 * backlog's reads end inside a frame nearly every time; copying each whole read after
 * the partial one was a tenth of the client's CPU under the sweep). */
static void on_readable(sub_run *r, sub_client *c)
{
    size_t whole = c->in_len > 0 ? partial_frame_len(c) : 0;
    int64_t now;
    ssize_t n;

    if (c->in_len == 0) {
        n = recv(c->fd, r->rbuf, r->rbuf_cap, 0);
        now = pulse_now_us();
        if (n <= 0)
            on_read_error(r, c, n);
        else
            on_bytes(r, c, r->rbuf, (size_t)n, now);
        return;
    }
    if (whole > c->in_len) {
        size_t rest = whole - c->in_len;
        struct iovec iov[2];

        grow_in(c, whole);
        iov[0].iov_base = c->in + c->in_len;
        iov[0].iov_len = rest;
        iov[1].iov_base = r->rbuf;
        iov[1].iov_len = r->rbuf_cap;
        n = readv(c->fd, iov, 2);
        now = pulse_now_us();
        if (n <= 0) {
            on_read_error(r, c, n);
            return;
        }
        if ((size_t)n <= rest) { /* still in (or just the end of) that frame */
            on_bytes(r, c, c->in, c->in_len + (size_t)n, now);
            return;
        }
        on_bytes(r, c, c->in, whole, now); /* the frame, whole: c->in empties */
        if (c->fd < 0)
            return; /* it closed the connection */
        n -= (ssize_t)rest;
        if (c->in_len == 0) {
            on_bytes(r, c, r->rbuf, (size_t)n, now);
            return;
        }
        /* not reached while a whole frame is always consumed; never drop bytes */
    } else {
        n = recv(c->fd, r->rbuf, r->rbuf_cap, 0);
        now = pulse_now_us();
        if (n <= 0) {
            on_read_error(r, c, n);
            return;
        }
    }
    grow_in(c, c->in_len + (size_t)n);
    memcpy(c->in + c->in_len, r->rbuf, (size_t)n);
    on_bytes(r, c, c->in, c->in_len + (size_t)n, now);
}

/* Closes c's socket (epoll forgets it with the close) and drops its buffers. */
static void drop_socket(sub_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->out_len = 0;
    c->in_len = 0;
    c->head_done = false;
    c->request_sent = false;
}

/* The connection went away (or never came up): schedule the next attempt. */
static void on_down(sub_run *r, sub_client *c, const char *reason)
{
    int64_t delay;

    drop_socket(c);
    if (r->stopping) { /* our own shutdown closing everything: not a disconnect */
        c->state = SUB_IDLE;
        return;
    }
    if (c->state == SUB_CONNECTING && r->connecting > 0)
        r->connecting--;
    if (c->state == SUB_OPEN) {
        if (r->open_count > 0)
            r->open_count--;
        c->disconnects++;
        r->total_disconnects++;
        if (c->down_since_us == 0)
            c->down_since_us = pulse_now_us();
    } else {
        r->failed_connects++;
    }
    if (c->state == SUB_OPEN || !c->ever_ready) {
        /* Keep why the connection went away, not why the retries failed; no commas,
         * the reason ends a CSV line. */
        char *p;
        snprintf(c->down_reason, sizeof(c->down_reason), "%s", reason);
        for (p = c->down_reason; *p; p++) {
            if (*p == ',' || *p == '\n' || *p == '\r')
                *p = ';';
        }
    }
    c->state = SUB_IDLE;
    c->in_msg = false;
    c->msg_len = 0;
    delay = (int64_t)SUB_BACKOFF_MIN_MS << (c->attempts < 6 ? c->attempts : 6);
    if (delay > SUB_BACKOFF_MAX_MS)
        delay = SUB_BACKOFF_MAX_MS;
    delay += rand() % (delay / 5 + 1); /* jitter, so clients do not come back in lockstep */
    c->attempts++;
    c->next_attempt_ms = pulse_mono_ms() + delay;
    if (c->attempts == 1 || c->attempts % 10 == 0)
        PLOG_INFO("sub", "client %u: %s; retrying in %" PRId64 " ms (attempt %u)", c->id, reason,
                  delay, c->attempts);
}

/* c->conn_path: the client's path plus &since=C:N:E,... for every exact channel with a
 * known position, so the gateway replays what was published meanwhile. */
static void build_conn_path(sub_client *c)
{
    size_t cap = strlen(c->path) + 8 + c->nchannels * (PULSE_CHANNEL_MAX + PULSE_EPOCH_MAX + 24);
    char *p = pulse_xmalloc(cap);
    const char *sep = "&since=";
    size_t n;

    n = (size_t)snprintf(p, cap, "%s", c->path);
    for (unsigned i = 0; i < c->nchannels; i++) {
        sub_chan *ch = &c->chans[i];
        ch->since_sent = ch->exact && ch->offset > 0 && ch->epoch[0] != '\0';
        ch->catching_up = false;
        if (!ch->since_sent)
            continue;
        n += (size_t)snprintf(p + n, cap - n, "%s%s:%" PRIu64 ":%s", sep, ch->name, ch->offset,
                              ch->epoch);
        sep = ",";
    }
    free(c->conn_path);
    c->conn_path = p;
}

static int resolve(sub_url *u)
{
    struct addrinfo hints, *res = NULL;
    char port[16];

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", u->port);
    if (getaddrinfo(u->host, port, &hints, &res) != 0 || res == NULL)
        return -1;
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void sub_connect(sub_run *r, sub_client *c)
{
    struct epoll_event ev;
    char why[64];
    int one = 1;

    build_conn_path(c);
    c->state = SUB_CONNECTING;
    c->acked = 0;
    c->close_note[0] = '\0';
    c->head_done = false;
    c->request_sent = false;
    c->deadline_ms = pulse_mono_ms() + SUB_CONNECT_TIMEOUT_MS;
    r->connecting++;
    if (c->url->addrlen == 0 && resolve(c->url) != 0) {
        on_down(r, c, "connect failed: cannot resolve the host");
        return;
    }
    c->fd = socket(c->url->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(why, sizeof(why), "socket: %.40s", strerror(errno));
        on_down(r, c, why);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    if ((connect(c->fd, (struct sockaddr *)&c->url->addr, c->url->addrlen) != 0 && errno != EINPROGRESS) ||
        epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        snprintf(why, sizeof(why), "connect failed: %.40s", strerror(errno));
        on_down(r, c, why);
    }
}

/* The TCP connect finished (or failed): send the upgrade request. */
static void on_connected(sub_run *r, sub_client *c)
{
    const sub_url *u = c->url;
    unsigned char raw[16];
    char key[SUB_WS_KEY_LEN + 1], why[64];
    int err = 0, n;
    socklen_t elen = sizeof(err);
    size_t cap = strlen(c->conn_path) + strlen(u->host) + 256;
    char *req;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err != 0) {
        snprintf(why, sizeof(why), "connect failed: %.40s", strerror(err));
        on_down(r, c, why);
        return;
    }
    for (int i = 0; i < 16; i++)
        raw[i] = (unsigned char)rand();
    sub_ws_key(raw, key, c->accept);
    req = pulse_xmalloc(cap);
    /* No Origin header: this is not a browser, and gateways with an Origin allow-list
     * let Origin-less clients in. */
    n = snprintf(req, cap,
                 "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: pulse.v1\r\n\r\n",
                 c->conn_path, strchr(u->host, ':') ? "[" : "", u->host,
                 strchr(u->host, ':') ? "]" : "", u->port, key);
    c->request_sent = true;
    watch(r, c, EPOLLIN);
    if (send_bytes(r, c, req, (size_t)n) != 0) {
        snprintf(why, sizeof(why), "connect failed: %.40s", strerror(errno));
        on_down(r, c, why);
    }
    free(req);
}

void sub_conn_event(sub_run *r, sub_client *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (!c->request_sent) {
        on_connected(r, c);
        return;
    }
    if ((events & EPOLLOUT) && c->out_len > 0 && flush_out(r, c) != 0) {
        on_down(r, c, "send failed");
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(r, c);
}

void sub_conn_close(sub_client *c)
{
    static const unsigned char bye[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}; /* 1000, mask 0 */

    if (c->fd < 0)
        return;
    if (c->head_done && c->out_len == 0)
        (void)send(c->fd, bye, sizeof(bye), MSG_NOSIGNAL | MSG_DONTWAIT);
    drop_socket(c);
}

void sub_conn_kick(sub_run *r)
{
    int64_t now = pulse_mono_ms();
    unsigned i;

    if (r->stopping)
        return;
    for (i = 0; i < r->nclients && r->connecting > 0; i++) {
        sub_client *c = &r->clients[i];
        if (c->state == SUB_CONNECTING && c->deadline_ms <= now)
            on_down(r, c, c->head_done ? "handshake timed out" : "connect timed out");
    }
    for (i = 0; i < r->nclients && r->connecting < r->connect_concurrency; i++) {
        sub_client *c = &r->clients[i];
        if (c->state == SUB_IDLE && c->next_attempt_ms <= now)
            sub_connect(r, c);
    }
}

int sub_write_clients_csv(const sub_run *r)
{
    char path[1100], tmp[1110];
    FILE *f;
    unsigned i;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/clients.csv", r->out_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    if (fprintf(f, "client,url,node,channels,connected_at_us,disconnects\n") < 0)
        rc = -1;
    for (i = 0; i < r->nclients && rc == 0; i++) {
        const sub_client *c = &r->clients[i];
        if (fprintf(f, "%u,%s,%s,%s,%" PRId64 ",%u\n", c->id, c->url->url,
                    c->node[0] ? c->node : "unknown", c->channels,
                    c->ever_ready ? c->connected_at_us : 0, c->disconnects) < 0)
            rc = -1;
    }
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    return rc;
}
