/*
 * ts_ws.c - a raw RFC 6455 WebSocket client for the tests. It does the handshake
 * itself (random key, checks the 101 and Sec-WebSocket-Accept), masks every frame it
 * sends, parses 7/16/64-bit lengths, reassembles fragments, answers pings and echoes a
 * close. It can also send raw bytes, so tests can break the protocol on purpose.
 * Everything waits with poll() against a deadline. SHA-1 and base64 for the
 * Sec-WebSocket-Accept check come from OpenSSL's libcrypto.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ts.h"
#include "ts_internal.h"

#define TS_WS_TIMEOUT_MS 5000
#define TS_WS_MAX_FRAME (64u * 1024 * 1024)
#define TS_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void ts__sha1(const void *data, size_t len, unsigned char out[20])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) != 1 || n != 20)
        abort(); /* libcrypto without SHA-1: no handshake can be checked */
}

void ts__base64(const unsigned char *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len); /* padded, NUL-terminated */
}

void ts__ws_accept(const char *key, char out[32])
{
    char cat[128];
    snprintf(cat, sizeof cat, "%s%s", key, TS_WS_GUID);
    unsigned char digest[20];
    ts__sha1(cat, strlen(cat), digest);
    ts__base64(digest, sizeof digest, out);
}

void ts__random(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    for (; got < len; got++)
        p[got] = (unsigned char)rand();
}

static void buf_reserve(ts_ws *w, size_t extra)
{
    if (w->len + extra <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 65536;
    while (cap < w->len + extra)
        cap *= 2;
    w->buf = realloc(w->buf, cap + 1);
    if (w->buf == NULL)
        abort();
    w->cap = cap;
}

/* Reads what is there (up to 256 KiB) into the buffer. 1 read, 0 timeout, -1 EOF/error. */
static int fill(ts_ws *w, int64_t deadline)
{
    if (w->fd < 0)
        return -1;
    for (;;) {
        int r = ts__wait_readable(w->fd, deadline);
        if (r <= 0)
            return r;
        buf_reserve(w, 262144);
        ssize_t n = recv(w->fd, w->buf + w->len, 262144, 0);
        if (n > 0) {
            w->len += (size_t)n;
            return 1;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        return -1; /* EOF, or ECONNRESET when the server killed the connection */
    }
}

static void consume(ts_ws *w, size_t n)
{
    memmove(w->buf, w->buf + n, w->len - n);
    w->len -= n;
}

typedef struct {
    bool fin;
    int opcode;
    size_t header;  /* bytes before the payload */
    size_t payload; /* payload length */
} frame_info;

/* 1 when a whole frame is buffered (payload unmasked in place), 0 when more is needed,
 * -1 on a frame we refuse (too large). */
static int parse_frame(ts_ws *w, frame_info *f)
{
    const unsigned char *b = w->buf;
    if (w->len < 2)
        return 0;
    f->fin = (b[0] & 0x80) != 0;
    f->opcode = b[0] & 0x0f;
    bool masked = (b[1] & 0x80) != 0;
    uint64_t len = b[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (w->len < 4)
            return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        h = 4;
    } else if (len == 127) {
        if (w->len < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | b[2 + i];
        h = 10;
    }
    if (len > TS_WS_MAX_FRAME) {
        fprintf(stderr, "ts_ws: frame of %llu bytes refused\n", (unsigned long long)len);
        return -1;
    }
    size_t mh = masked ? 4 : 0;
    if (w->len < h + mh + len)
        return 0;
    if (masked) {
        unsigned char key[4];
        memcpy(key, w->buf + h, 4);
        unsigned char *p = w->buf + h + 4;
        for (size_t i = 0; i < len; i++)
            p[i] ^= key[i & 3];
    }
    f->header = h + mh;
    f->payload = (size_t)len;
    return 1;
}

int ts_ws_send_raw(ts_ws *w, const void *data, size_t len)
{
    if (w->fd < 0)
        return -1;
    return ts__send_all(w->fd, data, len, ts_now_ms() + TS_WS_TIMEOUT_MS);
}

size_t ts_ws_frame_head(unsigned char *out, unsigned b0, size_t len, bool masked)
{
    size_t h = 0;
    unsigned char m = masked ? 0x80 : 0;
    out[h++] = (unsigned char)b0;
    if (len < 126) {
        out[h++] = (unsigned char)(m | len);
    } else if (len <= 0xffff) {
        out[h++] = m | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    return h;
}

int ts_ws_send_frame(ts_ws *w, int opcode, bool fin, const void *data, size_t len)
{
    unsigned char *f = malloc(len + 14);
    if (f == NULL)
        abort();
    size_t h = ts_ws_frame_head(f, (fin ? 0x80u : 0u) | ((unsigned)opcode & 0x0f), len, true);
    unsigned char key[4];
    ts__random(key, sizeof key);
    memcpy(f + h, key, 4);
    h += 4;
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++)
        f[h + i] = d[i] ^ key[i & 3];
    int rc = ts_ws_send_raw(w, f, h + len);
    free(f);
    return rc;
}

int ts_ws_send_text(ts_ws *w, const char *text)
{
    return ts_ws_send_frame(w, 1, true, text, strlen(text));
}

int ts_ws_connect(ts_ws *w, int port, const char *path, const char *subprotocol)
{
    memset(w, 0, sizeof *w);
    w->fd = ts__connect(port, TS_WS_TIMEOUT_MS);
    if (w->fd < 0)
        return -1;
    int64_t deadline = ts_now_ms() + TS_WS_TIMEOUT_MS;
    unsigned char raw[16];
    ts__random(raw, sizeof raw);
    char key[32];
    ts__base64(raw, sizeof raw, key);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n",
                     path, port, key);
    if (subprotocol != NULL)
        n += snprintf(req + n, sizeof req - (size_t)n, "Sec-WebSocket-Protocol: %s\r\n",
                      subprotocol);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (n >= (int)sizeof req || ts_ws_send_raw(w, req, (size_t)n) != 0) {
        ts_ws_close(w);
        return -1;
    }
    /* Read the response head; anything after it is already frames. */
    char *end = NULL;
    while (end == NULL) {
        if (fill(w, deadline) <= 0) {
            /* A refusal may come with a status and then EOF. */
            break;
        }
        w->buf[w->len] = '\0';
        end = strstr((char *)w->buf, "\r\n\r\n");
        if (w->len > 65536)
            break;
    }
    int status = -1;
    if (w->len >= 12) {
        w->buf[w->len] = '\0';
        if (strncmp((char *)w->buf, "HTTP/1.", 7) == 0 && w->len > 9)
            status = (int)strtol((char *)w->buf + 9, NULL, 10);
    }
    if (end == NULL || status != 101) {
        if (status != 101 && status > 0) {
            ts_ws_close(w);
            return status;
        }
        fprintf(stderr, "ts_ws_connect: no complete handshake response from port %d\n", port);
        ts_ws_close(w);
        return -1;
    }
    size_t head_len = (size_t)(end - (char *)w->buf) + 4;
    /* Check Sec-WebSocket-Accept. */
    char want[32];
    ts__ws_accept(key, want);
    bool accept_ok = false;
    bool upgrade_ok = false;
    char *save = NULL;
    end[2] = '\0'; /* header block only, for strtok */
    for (char *l = strtok_r((char *)w->buf, "\r\n", &save); l != NULL;
         l = strtok_r(NULL, "\r\n", &save)) {
        if (strncasecmp(l, "Sec-WebSocket-Accept:", 21) == 0) {
            const char *v = l + 21;
            while (*v == ' ')
                v++;
            accept_ok = strcmp(v, want) == 0;
        } else if (strncasecmp(l, "Upgrade:", 8) == 0) {
            const char *v = l + 8;
            while (*v == ' ')
                v++;
            upgrade_ok = strncasecmp(v, "websocket", 9) == 0;
        }
    }
    if (!accept_ok || !upgrade_ok) {
        fprintf(stderr, "ts_ws_connect: bad 101 response (accept %s, upgrade %s)\n",
                accept_ok ? "ok" : "wrong", upgrade_ok ? "ok" : "missing");
        ts_ws_close(w);
        return -1;
    }
    consume(w, head_len);
    return 0;
}

int ts_ws_recv(ts_ws *w, char **out, size_t *out_len, int timeout_ms)
{
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    int64_t deadline = ts_now_ms() + timeout_ms;
    char *msg = NULL;
    size_t msg_len = 0;
    int msg_op = 0;
    for (int guard = 0; guard < 10000000; guard++) {
        frame_info f;
        int r = parse_frame(w, &f);
        if (r < 0) {
            free(msg);
            return -1;
        }
        if (r == 0) {
            int fr = fill(w, deadline);
            if (fr <= 0) {
                /* A half-received fragmented message is lost on timeout. */
                free(msg);
                return fr == 0 ? 0 : -1;
            }
            continue;
        }
        const unsigned char *payload = w->buf + f.header;
        if (f.opcode == 9) { /* ping -> pong with the same payload */
            unsigned char copy[128];
            size_t n = f.payload < sizeof copy ? f.payload : sizeof copy;
            memcpy(copy, payload, n);
            consume(w, f.header + f.payload);
            ts_ws_send_frame(w, 10, true, copy, n);
            continue;
        }
        if (f.opcode == 10) {
            consume(w, f.header + f.payload);
            continue;
        }
        if (f.opcode == 8) {
            w->close_code = 1005; /* no status code in the frame */
            w->close_reason[0] = '\0';
            if (f.payload >= 2) {
                w->close_code = payload[0] << 8 | payload[1];
                size_t rl = f.payload - 2;
                if (rl > sizeof w->close_reason - 1)
                    rl = sizeof w->close_reason - 1;
                memcpy(w->close_reason, payload + 2, rl);
                w->close_reason[rl] = '\0';
            }
            unsigned char echo[2] = {(unsigned char)(w->close_code >> 8),
                                     (unsigned char)w->close_code};
            consume(w, f.header + f.payload);
            /* Answer the close as RFC 6455 asks; the server may be gone already. */
            ts_ws_send_frame(w, 8, true, echo, w->close_code == 1005 ? 0 : 2);
            free(msg);
            return 8;
        }
        if (f.opcode != 0) {
            free(msg);
            msg = NULL;
            msg_len = 0;
            msg_op = f.opcode;
        } else if (msg_op == 0) {
            /* A continuation without a start: drop it. */
            consume(w, f.header + f.payload);
            continue;
        }
        msg = realloc(msg, msg_len + f.payload + 1);
        if (msg == NULL)
            abort();
        memcpy(msg + msg_len, payload, f.payload);
        msg_len += f.payload;
        msg[msg_len] = '\0';
        consume(w, f.header + f.payload);
        if (f.fin) {
            if (out != NULL)
                *out = msg;
            else
                free(msg);
            if (out_len != NULL)
                *out_len = msg_len;
            return msg_op;
        }
    }
    free(msg);
    return -1;
}

char *ts_ws_recv_until(ts_ws *w, const char *needle, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        if (left < 0)
            return NULL;
        char *m = NULL;
        int r = ts_ws_recv(w, &m, NULL, (int)left);
        if (r <= 0 || r == 8) {
            free(m);
            return NULL;
        }
        if (r == 1 && strstr(m, needle) != NULL)
            return m;
        free(m);
    }
}

int ts_ws_wait_closed(ts_ws *w, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        if (left < 0)
            return -1;
        int r = ts_ws_recv(w, NULL, NULL, (int)left);
        if (r == 8)
            return w->close_code;
        if (r < 0)
            return w->close_code; /* EOF: 0 unless a close frame came earlier */
        if (r == 0)
            return -1;
    }
}

void ts_ws_close(ts_ws *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* ---- pulse.v1 helpers ---- */

static bool json_str_eq(json_t *o, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL && strcmp(v, want) == 0;
}

/* The next message (before deadline) must be a JSON object with "op" op and, when val
 * is not NULL, key equal to val. Otherwise prints "ts_ws_open: expected <want>, got
 * (<r>) <message>", closes w and returns -1. */
static int expect_op(ts_ws *w, int64_t deadline, const char *op, const char *key, const char *val,
                     const char *want)
{
    char *m = NULL;
    int64_t left = deadline - ts_now_ms();
    int r = ts_ws_recv(w, &m, NULL, left > 0 ? (int)left : 0);
    json_t *o = r == 1 ? json_loads(m, 0, NULL) : NULL;
    bool ok = o != NULL && json_str_eq(o, "op", op) && (val == NULL || json_str_eq(o, key, val));
    if (!ok) {
        fprintf(stderr, "ts_ws_open: expected %s, got (%d) %s\n", want, r, m != NULL ? m : "(nothing)");
        ts_ws_close(w);
    }
    json_decref(o);
    free(m);
    return ok ? 0 : -1;
}

int ts_ws_open(ts_ws *w, int port, const char *channels, const char *node_id, int timeout_ms)
{
    char path[4096];
    if (channels != NULL && channels[0] != '\0')
        snprintf(path, sizeof path, "/ws?channels=%s", channels);
    else
        snprintf(path, sizeof path, "/ws");
    int rc = ts_ws_connect(w, port, path, "pulse.v1");
    if (rc != 0) {
        fprintf(stderr, "ts_ws_open: connect %s on port %d: %d\n", path, port, rc);
        return -1;
    }
    int64_t deadline = ts_now_ms() + timeout_ms;
    char want[320];
    snprintf(want, sizeof want, "hello from node %s first", node_id != NULL ? node_id : "?");
    if (expect_op(w, deadline, "hello", "node", node_id, want) != 0)
        return -1;
    /* One "subscribed" per channel, in order. */
    const char *p = channels != NULL ? channels : "";
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char ch[256];
        snprintf(ch, sizeof ch, "%.*s", (int)n, p);
        p += n;
        if (*p == ',')
            p++;
        if (n == 0)
            continue;
        snprintf(want, sizeof want, "subscribed to %s", ch);
        if (expect_op(w, deadline, "subscribed", "channel", ch, want) != 0)
            return -1;
    }
    return 0;
}

int ts_ws_op(ts_ws *w, const char *request, const char *want_op, char **reply, int timeout_ms)
{
    if (reply != NULL)
        *reply = NULL;
    if (ts_ws_send_text(w, request) != 0)
        return -1;
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        if (left < 0)
            return -1;
        char *m = NULL;
        int r = ts_ws_recv(w, &m, NULL, (int)left);
        if (r != 1) {
            free(m);
            return -1;
        }
        json_t *o = json_loads(m, 0, NULL);
        bool hit = o != NULL && json_object_get(o, "op") != NULL;
        /* {"op":"gap",...} is an unsolicited notice (events may have been missed during
         * a Redis reconnect), not a reply: skipped like deliveries. */
        if (hit && json_str_eq(o, "op", "gap") && strcmp(want_op, "gap") != 0)
            hit = false;
        bool match = hit && json_str_eq(o, "op", want_op);
        json_decref(o);
        if (hit) {
            /* Control replies come in order: the first one is the answer. */
            if (reply != NULL)
                *reply = m;
            else
                free(m);
            return match ? 0 : -1;
        }
        free(m); /* a delivery that crossed the request */
    }
}

char *ts_envelope(const char *channel, const char *data)
{
    size_t n = strlen(channel) + strlen(data) + 32;
    char *e = malloc(n);
    if (e == NULL)
        abort();
    snprintf(e, n, "{\"channel\":\"%s\",\"data\":%s}", channel, data);
    return e;
}

bool ts_ws_usable(ts_ws *w)
{
    if (ts_ws_send_text(w, "{\"op\":\"ping\"}") != 0)
        return false;
    char *m = ts_ws_recv_until(w, "{\"op\":\"pong\"}", 5000);
    bool ok = m != NULL;
    free(m);
    return ok;
}

void ts_assert_pong(ts_ws *w, const char *who)
{
    char *reply = NULL;
    int rc = ts_ws_op(w, "{\"op\":\"ping\"}", "pong", &reply, 5000);
    if (rc != 0) {
        char got[256];
        snprintf(got, sizeof got, "%s", reply ? reply : "(nothing)");
        free(reply);
        ck_assert_msg(rc == 0, "%s: ping got %s instead of a pong", who, got);
    }
    free(reply);
}

void ts_assert_delivery(ts_ws *w, const char *channel, const char *data, const char *who)
{
    char *want = ts_envelope(channel, data);
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, 5000);
    ck_assert_msg(r == 1 && m != NULL && strcmp(m, want) == 0, "%s: want %s\n got (%d) %s", who,
                  want, r, m ? m : "(nothing)");
    free(m);
    free(want);
}
