/*
 * gw_msg.c - allocation and framing of gw_msg; see gw_msg.h.
 * One malloc per message per worker: headroom, frame and routing names in one block.
 */
#include "gw_msg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cf.h"
#include "gw_frame.h"
#include "pulse_alloc.h"

char *gw_json_unbroken(const char *json, size_t len, size_t *out_len)
{
    *out_len = len;
    if (!memchr(json, '\n', len) && !memchr(json, '\r', len))
        return NULL;
    *out_len = 0;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    if (text)
        *out_len = strlen(text);
    return text;
}

char *gw_json_drop_key(const char *json, size_t len, const char *key, size_t *out_len)
{
    char quoted[64];
    int qn = snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    if (qn <= 0 || (size_t)qn >= sizeof(quoted) || !memmem(json, len, quoted, (size_t)qn))
        return NULL; /* jansson writes a key as is, so it would show literally */
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    char *text = NULL;
    if (json_is_object(root) && json_object_del(root, key) == 0)
        text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (text)
        *out_len = strlen(text);
    return text;
}

void gw_printable(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (o + 4 + 4 > cap) {
            memcpy(out + o, "...", 4);
            return;
        }
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* What the two routed constructors share: the channel and pattern names stored after
 * the body (p + len + 1), the header of a normal event message on them, and the body's
 * place and length. The caller sets priority and policy where they differ. */
static void msg_route(gw_msg *m, unsigned char *p, size_t len, const char *channel, size_t clen,
                      const char *pattern, size_t plen, int64_t arrived_ns)
{
    char *names = (char *)p + len + 1;
    memcpy(names, channel, clen + 1);
    char *pat = names + clen + 1;
    if (pattern)
        memcpy(pat, pattern, plen + 1);
    else
        pat[0] = '\0';
    m->mail.next = NULL;
    m->mail.kind = GW_MAIL_MSG;
    m->refs = 1;
    m->kind = GW_MSG_EVENT;
    m->is_pattern = pattern != NULL;
    m->text = 0;
    m->data_off = 0;
    m->cf = NULL;
    m->arrived_ns = arrived_ns;
    m->pos = (gw_hpos){0, ""};
    m->channel = names;
    m->route = pattern ? pat : names;
    m->len = len;
    m->payload = p;
}

gw_msg *gw_msg_new_event(const char *channel, const char *pattern, const gw_hpos *pos, const char *data,
                         size_t data_len, pulse_priority priority, gw_policy policy, int64_t arrived_ns)
{
    size_t clen = strlen(channel);
    size_t plen = pattern ? strlen(pattern) : 0;
    size_t frame_cap = gw_frame_envelope_cap(clen, data_len); /* always fits */
    gw_msg *m = pulse_xmalloc(sizeof(*m) + GW_FRAME_PRE + frame_cap + clen + 1 + plen + 1);
    unsigned char *p = m->buf + GW_FRAME_PRE;
    size_t o = (size_t)gw_frame_envelope_pos((char *)p, frame_cap, channel, clen, pos, data, data_len);
    msg_route(m, p, o, channel, clen, pattern, plen, arrived_ns);
    m->data_off = o - 1 - data_len; /* the envelope ends with "data":<data>} */
    m->priority = (uint8_t)priority;
    m->policy = (uint8_t)(priority == PULSE_PRIO_CRITICAL ? GW_POLICY_NEVER : policy);
    if (pos)
        m->pos = *pos;
    return m;
}

gw_msg *gw_msg_new_text(const char *channel, const char *pattern, const char *text, size_t len, gw_policy policy,
                        int64_t arrived_ns)
{
    size_t clen = strlen(channel);
    size_t plen = pattern ? strlen(pattern) : 0;
    gw_msg *m = pulse_xmalloc(sizeof(*m) + GW_FRAME_PRE + len + 1 + clen + 1 + plen + 1);
    unsigned char *p = m->buf + GW_FRAME_PRE;
    memcpy(p, text, len);
    p[len] = '\0';
    msg_route(m, p, len, channel, clen, pattern, plen, arrived_ns);
    m->text = 1;
    m->priority = PULSE_PRIO_NORMAL;
    m->policy = (uint8_t)policy;
    return m;
}

gw_msg *gw_msg_new_control(const char *text, size_t len)
{
    gw_msg *m = pulse_xmalloc(sizeof(*m) + GW_FRAME_PRE + len + 2);
    unsigned char *p = m->buf + GW_FRAME_PRE;
    memcpy(p, text, len);
    p[len] = '\0';
    p[len + 1] = '\0';
    m->mail.next = NULL;
    m->mail.kind = GW_MAIL_MSG;
    m->refs = 1;
    m->kind = GW_MSG_CONTROL;
    m->priority = PULSE_PRIO_CRITICAL;
    m->policy = GW_POLICY_NEVER;
    m->is_pattern = 0;
    m->text = 0;
    m->data_off = 0;
    m->cf = NULL;
    m->arrived_ns = 0;
    m->pos = (gw_hpos){0, ""};
    m->channel = (const char *)p + len + 1;
    m->route = m->channel;
    m->len = len;
    m->payload = p;
    return m;
}

gw_msg *gw_msg_clone(const gw_msg *src)
{
    /* the block layout is position-independent except for the three pointers */
    size_t clen = strlen(src->channel);
    size_t tail = src->len + 1 + clen + 1;
    if (src->kind == GW_MSG_EVENT)
        tail += (src->is_pattern ? strlen(src->route) : 0) + 1;
    size_t total = sizeof(*src) + GW_FRAME_PRE + tail;
    gw_msg *m = pulse_xmalloc(total);
    memcpy(m, src, total);
    m->mail.next = NULL;
    m->mail.kind = GW_MAIL_MSG;
    m->refs = 1;
    m->cf = NULL;
    m->payload = m->buf + GW_FRAME_PRE;
    m->channel = (const char *)m->payload + (src->channel - (const char *)src->payload);
    m->route = (const char *)m->payload + (src->route - (const char *)src->payload);
    return m;
}

void gw_msg_unref(gw_msg *m)
{
    if (m && --m->refs == 0) {
        gw_msg_unref(m->cf);
        free(m);
    }
}

gw_msg *gw_msg_cf(gw_msg *m)
{
    if (m->cf || m->kind != GW_MSG_EVENT)
        return m->cf;
    size_t clen = strlen(m->channel);
    const char *json = (const char *)m->payload;
    size_t cap = m->text ? gw_cf_push_pub_cap(clen, 0) + m->len * 6 + 64 : gw_cf_push_pub_cap(clen, m->len);
    char *buf = pulse_xmalloc(cap);
    gw_frame_buf f;
    gw_frame_begin(&f, buf, cap);
    if (m->text) {
        /* {"op":"join"|"leave","channel":C,<entry fields>} (gw_preswire.h) */
        if (gw_cf_push_join_entry(&f, m->channel, json, m->len, false) != 0) {
            free(buf);
            return NULL;
        }
    } else {
        gw_cf_pub pub = {json + m->data_off, m->len - 1 - m->data_off, m->pos.offset};
        gw_cf_push_pub(&f, m->channel, clen, &pub);
    }
    int n = gw_frame_end(&f);
    if (n > 0) {
        /* a delivery like m (counted, dropped and superseded the same way) */
        gw_msg *c = gw_msg_new_text(m->channel, NULL, buf, (size_t)n, (gw_policy)m->policy, m->arrived_ns);
        c->priority = m->priority;
        c->pos = m->pos;
        m->cf = c;
    }
    free(buf);
    return m->cf;
}

gw_hreq *gw_hreq_new(gw_mail_kind kind, int worker, uint64_t conn_id, const char *channel)
{
    size_t len = strlen(channel);
    gw_hreq *r = pulse_xcalloc(1, sizeof(*r) + len + 1);
    r->mail.kind = kind;
    r->worker = worker;
    r->conn_id = conn_id;
    memcpy(r->channel, channel, len + 1);
    return r;
}

gw_preq *gw_preq_new(gw_mail_kind kind, int worker, uint64_t conn_id, const char *channel, const char *user,
                     const char *info)
{
    size_t cl = strlen(channel), ul = user ? strlen(user) : 0, il = info ? strlen(info) : 0;
    gw_preq *r = pulse_xcalloc(1, sizeof(*r) + cl + 1 + ul + 1 + il + 1);
    r->mail.kind = kind;
    r->worker = worker;
    r->conn_id = conn_id;
    memcpy(r->channel, channel, cl + 1);
    char *u = r->channel + cl + 1;
    memcpy(u, user ? user : "", ul + 1);
    r->user = u;
    if (info) {
        char *i = u + ul + 1;
        memcpy(i, info, il + 1);
        r->info = i;
    }
    return r;
}

gw_hans *gw_hans_new(gw_mail_kind kind, uint64_t conn_id, const char *channel)
{
    size_t len = strlen(channel);
    gw_hans *a = pulse_xcalloc(1, sizeof(*a) + len + 1);
    a->mail.kind = kind;
    a->conn_id = conn_id;
    memcpy(a->channel, channel, len + 1);
    return a;
}

void gw_hans_free(gw_hans *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        gw_msg_unref(a->events[i]);
    free(a->events);
    gw_msg_unref(a->frame);
    free(a);
}
