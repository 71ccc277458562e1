/*
 * gw_frame.c - the frames the gateway sends its clients, and the JSON string escaper;
 * see gw_frame.h. Pure: any thread, nothing allocated.
 */
#include "gw_frame.h"

#include <stdio.h>
#include <string.h>

void gw_frame_begin(gw_frame_buf *f, char *buf, size_t cap)
{
    f->buf = buf;
    f->cap = cap;
    f->len = 0;
    f->overflow = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

void gw_frame_raw(gw_frame_buf *f, const char *s, size_t n)
{
    if (f->overflow || f->len + n + 1 > f->cap) {
        f->overflow = true;
        return;
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = '\0';
}

void gw_frame_lit(gw_frame_buf *f, const char *s)
{
    gw_frame_raw(f, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        min = 0x80;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        min = 0x800;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        min = 0x10000;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

void gw_frame_str(gw_frame_buf *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    gw_frame_raw(f, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            gw_frame_raw(f, esc, 2);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': gw_frame_raw(f, "\\n", 2); break;
            case '\r': gw_frame_raw(f, "\\r", 2); break;
            case '\t': gw_frame_raw(f, "\\t", 2); break;
            case '\b': gw_frame_raw(f, "\\b", 2); break;
            case '\f': gw_frame_raw(f, "\\f", 2); break;
            default:
                snprintf(esc, sizeof esc, "\\u%04x", c);
                gw_frame_raw(f, esc, 6);
            }
            i++;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                gw_frame_raw(f, "\\ufffd", 6);
                i++;
            } else {
                gw_frame_raw(f, s + i, k);
                i += k;
            }
        }
    }
    gw_frame_raw(f, "\"", 1);
}

void gw_frame_u64(gw_frame_buf *f, unsigned long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", v);
    gw_frame_raw(f, num, (size_t)n);
}

int gw_frame_end(gw_frame_buf *f)
{
    if (f->overflow) {
        if (f->cap > 0)
            f->buf[0] = '\0';
        return -1;
    }
    return (int)f->len;
}

int gw_json_quote(const char *s, size_t len, char *out, size_t cap)
{
    gw_frame_buf f;
    gw_frame_begin(&f, out, cap);
    gw_frame_str(&f, s, len);
    return gw_frame_end(&f);
}

/* ---- the frames ---- */

static const char env_head[] = "{\"channel\":";
static const char env_mid[] = ",\"data\":";

/* ,"offset":N,"epoch":"E" at most: 10 + 20 digits + 9 + an escaped epoch */
#define POS_MAX (10 + 20 + 9 + GW_EPOCH_MAX * 6 + 2)

size_t gw_frame_envelope_cap(size_t channel_len, size_t data_len)
{
    return sizeof(env_head) - 1 + channel_len * 6 + 2 + POS_MAX + sizeof(env_mid) - 1 + data_len + 1 + 1;
}

static void put_pos(gw_frame_buf *f, const gw_hpos *pos)
{
    gw_frame_lit(f, ",\"offset\":");
    gw_frame_u64(f, (unsigned long long)pos->offset);
    gw_frame_lit(f, ",\"epoch\":");
    gw_frame_str(f, pos->epoch, strlen(pos->epoch));
}

int gw_frame_envelope_pos(char *buf, size_t cap, const char *channel, size_t channel_len, const gw_hpos *pos,
                          const char *data, size_t data_len)
{
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_raw(&f, env_head, sizeof(env_head) - 1);
    gw_frame_str(&f, channel, channel_len);
    if (pos && pos->offset)
        put_pos(&f, pos);
    gw_frame_raw(&f, env_mid, sizeof(env_mid) - 1);
    gw_frame_raw(&f, data, data_len);
    gw_frame_raw(&f, "}", 1);
    return gw_frame_end(&f);
}

int gw_frame_envelope(char *buf, size_t cap, const char *channel, size_t channel_len, const char *data,
                      size_t data_len)
{
    return gw_frame_envelope_pos(buf, cap, channel, channel_len, NULL, data, data_len);
}

int gw_frame_hello(char *buf, size_t cap, const char *node_id, unsigned long long conn_id)
{
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_lit(&f, "{\"op\":\"hello\",\"node\":");
    gw_frame_str(&f, node_id, strlen(node_id));
    gw_frame_lit(&f, ",\"conn\":");
    gw_frame_u64(&f, conn_id);
    gw_frame_lit(&f, ",\"protocol\":\"pulse.v1\"}");
    return gw_frame_end(&f);
}

int gw_frame_pong(char *buf, size_t cap)
{
    return gw_frame_reply(buf, cap, "pong", NULL);
}

/* {"op":op} plus ,"k":"v" for each pair whose value is not NULL (keys as is). */
static int op_frame(char *buf, size_t cap, const char *op, const char *k1, const char *v1, const char *k2,
                    const char *v2)
{
    const char *keys[2] = {k1, k2}, *vals[2] = {v1, v2};
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_lit(&f, "{\"op\":");
    gw_frame_str(&f, op, strlen(op));
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        gw_frame_lit(&f, ",\"");
        gw_frame_lit(&f, keys[i]);
        gw_frame_lit(&f, "\":");
        gw_frame_str(&f, vals[i], strlen(vals[i]));
    }
    gw_frame_lit(&f, "}");
    return gw_frame_end(&f);
}

int gw_frame_gap(char *buf, size_t cap, const char *channel, const char *reason)
{
    return op_frame(buf, cap, "gap", "channel", channel, "reason", reason);
}

int gw_frame_reply(char *buf, size_t cap, const char *op, const char *channel)
{
    return op_frame(buf, cap, op ? op : "", "channel", channel, NULL, NULL);
}

int gw_frame_error(char *buf, size_t cap, const char *code, const char *reason)
{
    return op_frame(buf, cap, "error", "code", code ? code : "error", "reason", reason ? reason : "");
}

int gw_frame_http_refusal(char *buf, size_t cap, unsigned status, const char *code, const char *reason)
{
    const char *text;
    switch (status) {
    case 401: text = "Unauthorized"; break;
    case 403: text = "Forbidden"; break;
    case 404: text = "Not Found"; break;
    case 429: text = "Too Many Requests"; break;
    case 503: text = "Service Unavailable"; break;
    default: status = 400; text = "Bad Request"; break;
    }
    char body[400];
    gw_frame_buf b;
    gw_frame_begin(&b, body, sizeof(body));
    gw_frame_lit(&b, "{\"error\":");
    code = code ? code : "refused";
    reason = reason ? reason : "";
    gw_frame_str(&b, code, strlen(code));
    gw_frame_lit(&b, ",\"reason\":");
    gw_frame_str(&b, reason, strlen(reason));
    gw_frame_lit(&b, "}\n");
    int blen = gw_frame_end(&b);
    if (blen < 0)
        return -1;
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %u %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     "cache-control: no-store\r\n%sconnection: close\r\n\r\n%s",
                     status, text, blen, status == 401 ? "www-authenticate: Bearer\r\n" : "", body);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int gw_frame_gap_range(char *buf, size_t cap, const char *channel, unsigned long long from, unsigned long long to,
                       const char *reason)
{
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_lit(&f, "{\"op\":\"gap\",\"channel\":");
    gw_frame_str(&f, channel, strlen(channel));
    if (from) {
        gw_frame_lit(&f, ",\"from\":");
        gw_frame_u64(&f, from);
    }
    if (to) {
        gw_frame_lit(&f, ",\"to\":");
        gw_frame_u64(&f, to);
    }
    gw_frame_lit(&f, ",\"reason\":");
    gw_frame_str(&f, reason, strlen(reason));
    gw_frame_lit(&f, "}");
    return gw_frame_end(&f);
}

int gw_frame_subscribed_pos(char *buf, size_t cap, const char *channel, const gw_hpos *top, bool recovered)
{
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_lit(&f, "{\"op\":\"subscribed\",\"channel\":");
    gw_frame_str(&f, channel, strlen(channel));
    put_pos(&f, top);
    gw_frame_lit(&f, recovered ? ",\"recovered\":true}" : ",\"recovered\":false}");
    return gw_frame_end(&f);
}

size_t gw_frame_history_cap(size_t channel_len, const gw_hentry *entries, size_t n)
{
    size_t cap = 64 + channel_len * 6 + POS_MAX;
    for (size_t i = 0; i < n; i++)
        cap += 11 + 20 + 9 + entries[i].len + 2;
    return cap;
}

int gw_frame_history(char *buf, size_t cap, const char *channel, const gw_hpos *top, const gw_hentry *entries,
                     size_t n)
{
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    gw_frame_lit(&f, "{\"op\":\"history\",\"channel\":");
    gw_frame_str(&f, channel, strlen(channel));
    put_pos(&f, top);
    gw_frame_lit(&f, ",\"events\":[");
    for (size_t i = 0; i < n; i++) {
        gw_frame_lit(&f, i ? ",{\"offset\":" : "{\"offset\":");
        gw_frame_u64(&f, (unsigned long long)entries[i].offset);
        gw_frame_lit(&f, ",\"data\":");
        gw_frame_raw(&f, entries[i].data, entries[i].len);
        gw_frame_lit(&f, "}");
    }
    gw_frame_lit(&f, "]}");
    return gw_frame_end(&f);
}
