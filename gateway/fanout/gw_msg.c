/*
 * gw_msg.c - allocation and framing of gw_msg; see gw_msg.h.
 * One malloc per message per worker: headroom, frame and routing names in one block.
 */
#include "gw_msg.h"

#include <stdlib.h>
#include <string.h>

#include "gw_frame.h"
#include "pulse_alloc.h"

gw_msg *gw_msg_new_event(const char *channel, const char *pattern, const char *data, size_t data_len,
                         pulse_priority priority, gw_policy policy, int64_t arrived_ns)
{
    size_t clen = strlen(channel);
    size_t plen = pattern ? strlen(pattern) : 0;
    size_t frame_cap = gw_frame_envelope_cap(clen, data_len); /* always fits */
    gw_msg *m = pulse_xmalloc(sizeof(*m) + GW_FRAME_PRE + frame_cap + clen + 1 + plen + 1);
    unsigned char *p = m->buf + GW_FRAME_PRE;
    size_t o = (size_t)gw_frame_envelope((char *)p, frame_cap, channel, clen, data, data_len);

    char *names = (char *)p + o + 1;
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
    m->priority = (uint8_t)priority;
    m->policy = (uint8_t)(priority == PULSE_PRIO_CRITICAL ? GW_POLICY_NEVER : policy);
    m->is_pattern = pattern != NULL;
    m->arrived_ns = arrived_ns;
    m->channel = names;
    m->route = pattern ? pat : names;
    m->len = o;
    m->payload = p;
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
    m->arrived_ns = 0;
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
    m->payload = m->buf + GW_FRAME_PRE;
    m->channel = (const char *)m->payload + (src->channel - (const char *)src->payload);
    m->route = (const char *)m->payload + (src->route - (const char *)src->payload);
    return m;
}

void gw_msg_unref(gw_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}
