/*
 * sub_conn.c - pulse-subscribe's connections: the libwebsockets client callback,
 * (re)connecting with exponential backoff, reassembling messages, telling control frames
 * ({"op":...}) from deliveries, and turning each delivery into one delivery-log line.
 *
 * Hot path: a delivery frame is timestamped with pulse_now_us() as soon as its first
 * bytes reach LWS_CALLBACK_CLIENT_RECEIVE, scanned without allocation by
 * pulse_delivery_scan (one line at a time when the gateway batches several envelopes
 * per frame, separated by '\n') and formatted straight into the delivery log's buffer.
 * Control frames are rare and parsed with jansson.
 *
 * History: each client remembers, per exact channel, the last offset and the epoch it
 * was delivered (or the top a `subscribed` reply announced) and reconnects with
 * &since=C:N:E,... so the gateway replays what it missed. Deliveries up to the top of a
 * recovering `subscribed` reply are logged with recovered=1; when the replay has caught
 * up to that top (or the gateway answered recovered:false) one line goes to
 * recoveries.csv.
 */
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_alloc.h"
#include "pulse_clock.h"
#include "pulse_event.h"
#include "pulse_log.h"
#include "pulse_record.h"
#include "sub.h"

#define SUB_BACKOFF_MIN_MS 100
#define SUB_BACKOFF_MAX_MS 5000
#define SUB_MSG_MAX (4 * 1024 * 1024)

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
    pulse_delivery d;
    pulse_delivery_rec rec;
    pulse_error err;
    size_t room;
    char *tail;
    int n, rc;

    rc = pulse_delivery_scan(line, len, &d, &err);
    if (rc == PULSE_ENOENT) {
        on_control(r, c, line, len);
        return;
    }
    if (rc != 0 || d.channel_len >= sizeof(rec.channel) || d.event_id_len >= sizeof(rec.event_id) ||
        d.event_type_len >= sizeof(rec.event_type)) {
        r->bad_frames++;
        if (r->bad_frames <= 5)
            PLOG_WARN("sub", "client %u: bad delivery (%s): %.80s", c->id,
                      rc != 0 ? err.text : "field too long", line);
        return;
    }
    rec.client = c->id;
    snprintf(rec.node, sizeof(rec.node), "%s", c->node[0] ? c->node : "unknown");
    memcpy(rec.channel, d.channel, d.channel_len);
    rec.channel[d.channel_len] = '\0';
    memcpy(rec.event_id, d.event_id, d.event_id_len);
    rec.event_id[d.event_id_len] = '\0';
    memcpy(rec.event_type, d.event_type, d.event_type_len);
    rec.event_type[d.event_type_len] = '\0';
    rec.sequence = d.sequence;
    rec.published_at_us = d.published_at_us;
    rec.received_at_us = rx_us;
    rec.offset = d.offset;
    rec.recovered = track_position(r, c, &d, rx_us);

    tail = sub_out_tail(&r->deliveries, &room);
    n = pulse_delivery_rec_format(&rec, tail, room);
    if (n == PULSE_ENOSPC) {
        sub_out_flush(&r->deliveries);
        tail = sub_out_tail(&r->deliveries, &room);
        n = pulse_delivery_rec_format(&rec, tail, room);
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

/* One whole message: one envelope, or several separated by '\n' (?batch=1). */
static void on_message(sub_run *r, sub_client *c, const char *text, size_t len, int64_t rx_us)
{
    r->total_frames++;
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

static void on_receive(sub_run *r, sub_client *c, struct lws *wsi, const char *in, size_t len)
{
    int64_t now = pulse_now_us();
    bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

    if (!c->in_msg && final) { /* the common case: the whole message at once, no copy */
        on_message(r, c, in, len, now);
        return;
    }
    if (!c->in_msg) {
        c->in_msg = true;
        c->msg_len = 0;
        c->msg_rx_us = now;
    }
    if (c->msg_len + len > SUB_MSG_MAX) {
        r->bad_frames++;
        c->in_msg = false;
        c->msg_len = 0;
        PLOG_WARN("sub", "client %u: message larger than %d bytes dropped", c->id, SUB_MSG_MAX);
        return;
    }
    if (c->msg_len + len > c->msg_cap) {
        size_t cap = c->msg_cap ? c->msg_cap : 8192;
        char *p;
        while (cap < c->msg_len + len)
            cap *= 2;
        p = realloc(c->msg, cap);
        if (p == NULL) {
            PLOG_ERR("sub", "out of memory");
            abort();
        }
        c->msg = p;
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, in, len);
    c->msg_len += len;
    if (final) {
        c->in_msg = false;
        on_message(r, c, c->msg, c->msg_len, c->msg_rx_us);
        c->msg_len = 0;
    }
}

/* The connection went away (or never came up): schedule the next attempt. */
static void on_down(sub_run *r, sub_client *c, const char *reason)
{
    int64_t delay;

    if (r->stopping) { /* our own shutdown closing everything: not a disconnect */
        c->state = SUB_IDLE;
        c->wsi = NULL;
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
    c->wsi = NULL;
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

static int sub_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    sub_run *r = sub_the_run;
    sub_client *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (c == NULL || c->state != SUB_CONNECTING)
            break;
        c->wsi = wsi;
        if (r->connecting > 0)
            r->connecting--;
        c->state = SUB_OPEN;
        c->acked = 0;
        r->open_count++;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c != NULL && c->state == SUB_OPEN)
            on_receive(r, c, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c != NULL && c->state == SUB_CONNECTING) {
            char why[64];
            snprintf(why, sizeof(why), "connect failed: %.40s", in ? (const char *)in : "?");
            on_down(r, c, why);
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* Keep the gateway's close code (1008 slow consumer, 1001 going away...). */
        if (c != NULL && len >= 2) {
            const unsigned char *b = in;
            snprintf(c->close_note, sizeof(c->close_note), "closed by gateway: %u %.*s",
                     (unsigned)(b[0] << 8 | b[1]), (int)(len - 2 < 32 ? len - 2 : 32),
                     (const char *)in + 2);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c != NULL && c->state == SUB_OPEN && c->wsi == wsi)
            on_down(r, c, c->close_note[0] ? c->close_note : "connection closed");
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        /* Covers paths where neither CLOSED nor CONNECTION_ERROR was delivered. */
        if (c != NULL && c->state != SUB_IDLE && c->wsi == wsi)
            on_down(r, c, "destroyed");
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols sub_protocol_list[] = {
    {"pulse.v1", sub_callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *sub_protocols(void)
{
    return sub_protocol_list;
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

static void sub_connect(sub_run *r, sub_client *c)
{
    struct lws_client_connect_info ci;
    char hosthdr[300];
    struct lws *wsi;

    memset(&ci, 0, sizeof(ci));
    snprintf(hosthdr, sizeof(hosthdr), "%s:%d", c->url->host, c->url->port);
    ci.context = r->ctx;
    ci.address = c->url->host;
    ci.port = c->url->port;
    build_conn_path(c);
    ci.path = c->conn_path;
    ci.host = hosthdr;
    /* No Origin header: this is not a browser, and gateways with an Origin allow-list
     * let Origin-less clients in. */
    ci.origin = NULL;
    ci.protocol = "pulse.v1";
    ci.opaque_user_data = c;
    c->state = SUB_CONNECTING;
    c->acked = 0;
    c->close_note[0] = '\0';
    r->connecting++;
    wsi = lws_client_connect_via_info(&ci);
    if (wsi == NULL) {
        /* lws may already have reported CONNECTION_ERROR for this attempt; if not, do it. */
        if (c->state == SUB_CONNECTING)
            on_down(r, c, "connect refused by lws");
    } else if (c->state == SUB_CONNECTING) {
        c->wsi = wsi;
    }
}

void sub_conn_kick(sub_run *r)
{
    int64_t now = pulse_mono_ms();
    unsigned i;

    if (r->stopping)
        return;
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
