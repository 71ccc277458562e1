/*
 * gw_cfconn.c - the connection side of the Centrifugo-compatible endpoint
 * /connection/websocket (docs/CENTRIFUGO.md): the commands of a connected client,
 * subscribe with recovery, the reads, refresh, the ping and the close codes. The
 * frames are gw_cf.c's; the connection, its queue and subscriptions are the worker's
 * (gw_worker_int.h). Runs on the worker's thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_frame.h"
#include "gw_worker_int.h"
#include "pulse_alloc.h"
#include "pulse_clock.h"
#include "pulse_log.h"

/*
 * A connection to /connection/websocket is a gw_conn like any other, with c->cf set:
 * the same queue, subscriptions, channel table and shared event messages; what differs
 * is the frames (gw_cf.h), replies by command id, and the codes. Every Centrifugo
 * subscription has a sub_hist (the subscribe's id, what it asked); one on a channel
 * with history is answered after a read of its position (and, recovering, of the
 * events since), merged with the live events held meanwhile, as pulse.v1's since. */

/* Queues the frame f holds (nothing when it overflowed). */
static void cf_send(gw_worker *w, gw_conn *c, gw_frame_buf *f)
{
    conn_send_text(w, c, f->buf, gw_frame_end(f));
}

static void cf_error(gw_worker *w, gw_conn *c, uint32_t id, int code, const char *message)
{
    char buf[256];
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_reply_error(&f, id, code, message && message[0] ? message : NULL);
    GW_ADD(w->stats->client_errors, 1);
    cf_send(w, c, &f);
}

static void cf_reply_empty(gw_worker *w, gw_conn *c, uint32_t id, gw_cf_method method)
{
    char buf[96];
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_reply_empty(&f, id, method);
    cf_send(w, c, &f);
}

/* Closes with a Centrifugo disconnect code and its reason text. */
void cf_close(gw_worker *w, gw_conn *c, int code)
{
    PLOG_DEBUG("ws", "conn=%llu closed with %d (%s)", (unsigned long long)c->id, code, gw_cf_disconnect_reason(code));
    conn_close(w, c, (uint16_t)code, gw_cf_disconnect_reason(code));
}

/* The server's own unsubscribe with code 2500: the SDK resubscribes at once,
 * recovering from its last offset (pulse.v1's gap notice). Deliveries stop until then. */
void cf_gap(gw_worker *w, gw_conn *c, const char *channel)
{
    int slot = conn_find_sub(c, channel, false);
    sub_hist *h = slot >= 0 ? c->subs[slot].h : NULL;
    if (!h || h->cf_gapped || h->recovering)
        return;
    h->cf_gapped = 1;
    char buf[PULSE_CHANNEL_MAX * 6 + 128];
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_push_unsubscribe(&f, channel, 2500, "insufficient state");
    cf_send(w, c, &f);
}

/* Whether c's subscription to channel was told to resubscribe (no deliveries). */
bool cf_gapped_on(const gw_conn *c, const char *channel)
{
    int slot = conn_find_sub(c, channel, false);
    return slot >= 0 && c->subs[slot].h && c->subs[slot].h->cf_gapped;
}

/* Seconds until the token expires, for the SDK's refresh timer; 0: it does not. */
static uint32_t cf_ttl(const gw_principal *p)
{
    if (!p || !p->exp)
        return 0;
    int64_t left = p->exp - (int64_t)time(NULL);
    return left < 1 ? 1 : left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static void cf_client_id(const gw_worker *w, const gw_conn *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%llu", w->cfg->node_id, (unsigned long long)c->id);
}

/* connect and refresh: the token. 0 with *out set, or the error to answer (109 for an
 * expired token; -1: close 3500). */
static int cf_verify(gw_worker *w, const gw_cf_command *cmd, gw_principal **out)
{
    *out = NULL;
    if (!gw_auth_enabled(w->node->auth))
        return 0;
    int rc = cmd->token ? gw_auth_verify(w->node->auth, cmd->token, cmd->token_len, (int64_t)time(NULL), out)
                        : GW_AUTH_EMISSING;
    if (rc == 0)
        return 0;
    GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_INVALID], 1);
    return rc == GW_AUTH_EEXPIRED ? GW_CF_ERR_TOKEN_EXPIRED : -1;
}

static void cf_connect(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    if (c->cf->connected) {
        cf_close(w, c, GW_CF_DISC_BAD_REQUEST);
        return;
    }
    gw_principal *p = NULL;
    int rc = cf_verify(w, cmd, &p);
    if (rc > 0) {
        cf_error(w, c, cmd->id, rc, NULL);
        return;
    }
    if (rc < 0) {
        cf_close(w, c, GW_CF_DISC_INVALID_TOKEN);
        return;
    }
    c->principal = p;
    c->auth_deadline_ms = p && p->exp ? sec_deadline(w, p) + w->cfg->cf_expired_close_delay_s * 1000LL : 0;
    c->cf->connected = 1;
    c->cf->ping_ms = pulse_mono_ms();
    char buf[512], client[96];
    cf_client_id(w, c, client, sizeof client);
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_reply_connect(&f, cmd->id, client, "pulse " PULSE_VERSION, cf_ttl(p), (uint32_t)w->cfg->cf_ping_interval_s);
    cf_send(w, c, &f);
}

static void cf_refresh(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    gw_principal *p = NULL;
    int rc = cf_verify(w, cmd, &p);
    if (rc == 0 && p && !(p->sub == NULL ? c->principal->sub == NULL
                                         : c->principal->sub && strcmp(p->sub, c->principal->sub) == 0))
        rc = -1; /* another user: as a token that does not verify */
    if (rc != 0) {
        gw_auth_principal_free(p);
        if (rc > 0)
            cf_error(w, c, cmd->id, rc, NULL);
        else
            cf_close(w, c, GW_CF_DISC_INVALID_TOKEN);
        return;
    }
    if (p) {
        gw_auth_principal_free(c->principal);
        c->principal = p;
        c->auth_deadline_ms = p->exp ? sec_deadline(w, p) + w->cfg->cf_expired_close_delay_s * 1000LL : 0;
        for (uint32_t i = c->nsubs; i-- > 0;) {
            /* the new token may grant less: those subscriptions end (code 2000, final) */
            const gw_chan *ch = c->subs[i].chan;
            if (gw_auth_may_subscribe(w->node->auth, p, ch->name, false))
                continue;
            char buf[PULSE_CHANNEL_MAX * 6 + 128];
            gw_frame_buf f;
            gw_frame_begin(&f, buf, sizeof buf);
            gw_cf_push_unsubscribe(&f, ch->name, 2000, "permission denied");
            conn_unsubscribe_slot(w, c, i);
            cf_send(w, c, &f);
        }
    }
    char buf[512], client[96];
    cf_client_id(w, c, client, sizeof client);
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_reply_refresh(&f, cmd->id, client, "pulse " PULSE_VERSION, cf_ttl(c->principal));
    cf_send(w, c, &f);
}

/* A subscribe result without position (a channel without history). */
void cf_subscribed_plain(gw_worker *w, gw_conn *c, uint32_t id)
{
    char buf[96];
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_cf_sub_result r = {0};
    gw_cf_reply_subscribe(&f, id, &r);
    cf_send(w, c, &f);
}

/* The token grants cmd's channel (subscribe, and the reads); else error 103. */
static bool cf_granted(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    if (gw_auth_may_subscribe(w->node->auth, c->principal, cmd->channel, false))
        return true;
    GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_FORBIDDEN], 1);
    cf_error(w, c, cmd->id, GW_CF_ERR_PERMISSION_DENIED, NULL);
    return false;
}

/* Starts the Centrifugo subscription in slot (new, or gapped and asked again). */
static void cf_sub_start(gw_worker *w, gw_conn *c, uint32_t slot, const gw_cf_command *cmd)
{
    conn_sub *s = &c->subs[slot];
    sub_hist *h = s->h;
    h->cf_id = cmd->id;
    h->cf_was_recovering = cmd->recover;
    h->cf_strict = (cmd->flag & 2) != 0;
    h->cf_join_leave = cmd->join_leave;
    h->cf_gapped = 0;
    if (gw_config_history_for(w->cfg, cmd->channel)->history_size <= 0) {
        s->acked = s->chan->confirmed;
        if (s->acked)
            cf_subscribed_plain(w, c, cmd->id);
        return;
    }
    /* the position (and, recovering, the events since): read once the live
     * subscription is confirmed; live events are held until then */
    s->acked = 0;
    h->recovering = true;
    h->since = (gw_hpos){0, ""};
    gw_hreq *r = gw_hreq_new(GW_MAIL_RECOVER, w->index, c->id, cmd->channel);
    r->has_since = true;
    if (cmd->recover && (!cmd->epoch[0] || gw_hpos_set_epoch(&h->since, cmd->epoch, strlen(cmd->epoch)) == 0))
        h->since.offset = cmd->offset; /* {N, ""}: it joined before the channel had history */
    else
        r->position_only = true; /* an epoch that is not Pulse's cannot recover */
    h->cf_recover = cmd->recover && !r->position_only;
    r->since = h->since;
    if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
        free(r);
}

static void cf_subscribe(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    const char *name = cmd->channel;
    if (!cf_granted(w, c, cmd))
        return;
    int have = conn_find_sub(c, name, false);
    if (have >= 0) {
        if (c->subs[have].h->cf_gapped)
            cf_sub_start(w, c, (uint32_t)have, cmd);
        else
            cf_error(w, c, cmd->id, GW_CF_ERR_ALREADY_SUBSCRIBED, NULL);
        return;
    }
    if (c->nsubs >= (uint32_t)w->cfg->max_subscriptions ||
        (!gw_chantab_get(w->chans, name, false) && gw_node_sub_admit(w->node, name, false))) {
        cf_error(w, c, cmd->id, GW_CF_ERR_LIMIT_EXCEEDED, NULL);
        return;
    }
    uint32_t slot = sub_add(w, c, name, false);
    c->subs[slot].h = pulse_xcalloc(1, sizeof(sub_hist));
    cf_sub_start(w, c, slot, cmd);
}

/* The position read of a Centrifugo subscription is back (a->ok false: Redis did not
 * answer): the subscribe result with the position and, when it recovered, every
 * missed publication; then the live events held meanwhile that came after. */
void cf_recovered(gw_worker *w, gw_conn *c, uint32_t slot, gw_hans *a)
{
    conn_sub *s = &c->subs[slot];
    sub_hist *h = s->h;
    uint32_t id = h->cf_id;
    size_t nr = a->n, nh = h->nheld;
    gw_hpos top = a->ok ? a->top : (gw_hpos){0, ""};
    gw_hitem *items = pulse_xcalloc(nr + nh + 1, sizeof(*items));
    gw_hout *out = pulse_xcalloc(GW_HMERGE_OUT_MAX(nr, nh), sizeof(*out));
    gw_hmerge_res res = {0};
    bool merged = false;
    if (a->ok && h->cf_recover && !top.epoch[0]) {
        res.recovered = true; /* still no history: nothing was missed */
    } else if (a->ok && h->cf_recover) {
        if (!h->since.epoch[0]) /* {N, ""}: its offsets are of the epoch in force */
            memcpy(h->since.epoch, top.epoch, sizeof(top.epoch));
        for (size_t i = 0; i < nr; i++)
            items[i] = (gw_hitem){a->events[i]->pos.offset, NULL, a->events[i]};
        for (size_t j = 0; j < nh; j++)
            items[nr + j] = (gw_hitem){h->held[j]->pos.offset, h->held[j]->pos.epoch, h->held[j]};
        gw_hmerge_in in = {.since = h->since, .top = top, .range = items, .nrange = nr, .held = items + nr,
                           .nheld = nh, .cap = (uint64_t)w->cfg->history_recover_max, .partial = false};
        gw_hist_merge(&in, out, &res);
        merged = true;
        GW_ADD(w->stats->recoveries[res.recovered ? 1 : 0], 1);
        GW_ADD(w->stats->events_replayed, res.recovered ? res.replayed : 0);
    }
    if (!a->ok || (h->cf_strict && h->cf_was_recovering && !res.recovered)) {
        /* no position, or a recovery the client wants all or nothing: it retries */
        free(items);
        free(out);
        cf_error(w, c, id, a->ok ? GW_CF_ERR_UNRECOVERABLE_POSITION : GW_CF_ERR_INTERNAL, NULL);
        conn_unsubscribe_slot(w, c, slot);
        return;
    }
    if (!merged || !res.recovered) { /* the held events alone, those after the position */
        res.n = 0;
        for (size_t j = 0; j < nh; j++)
            out[res.n++] = (gw_hout){GW_HOUT_HELD, h->held[j]->pos.offset, 0, h->held[j]};
    }
    /* publications up to the position go in the result, later ones are pushed */
    gw_cf_pub *pubs = pulse_xcalloc(res.n + 1, sizeof(*pubs));
    size_t np = 0, bytes = 512 + PULSE_CHANNEL_MAX * 6;
    for (size_t i = 0; res.recovered && i < res.n; i++) {
        const gw_msg *m = out[i].item;
        if (out[i].src == GW_HOUT_GAP || !m->pos.offset || m->pos.offset > top.offset || m->text)
            continue;
        pubs[np++] = (gw_cf_pub){(const char *)m->payload + m->data_off, m->len - 1 - m->data_off, m->pos.offset};
        bytes += m->len + 48;
    }
    char *buf = pulse_xmalloc(bytes);
    gw_frame_buf f;
    gw_frame_begin(&f, buf, bytes);
    gw_cf_sub_result r = {.recoverable = true, .positioned = true, .epoch = top.epoch, .offset = top.offset,
                          .was_recovering = h->cf_was_recovering, .recovered = res.recovered, .pubs = pubs, .n_pubs = np};
    gw_cf_reply_subscribe(&f, id, &r);
    cf_send(w, c, &f);
    free(buf);
    free(pubs);
    int64_t now_ms = pulse_mono_ms();
    h->last = top;
    for (size_t i = 0; i < res.n; i++) {
        gw_msg *m = out[i].item;
        if (out[i].src == GW_HOUT_GAP)
            continue;
        bool after = !m->pos.offset || strcmp(m->pos.epoch, top.epoch) != 0 || m->pos.offset > top.offset;
        if (!after || (m->text && !h->cf_join_leave))
            continue;
        gw_msg *cm = gw_msg_cf(m);
        if (cm)
            conn_push(w, c, cm, now_ms);
        if (m->pos.offset)
            h->last = m->pos;
    }
    sub_hist_settled(h);
    s->acked = 1;
    free(items);
    free(out);
}

/* A command that reads Redis: answered later by the ingest thread (GW_MAIL_REPLY). */
static void cf_read(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    const char *ch = cmd->channel;
    if (!cf_granted(w, c, cmd))
        return;
    if (cmd->method == GW_CF_HISTORY) {
        gw_hreq *r = gw_hreq_new(GW_MAIL_HISTORY, w->index, c->id, ch);
        if (gw_config_history_for(w->cfg, ch)->history_size <= 0) {
            free(r);
            cf_error(w, c, cmd->id, GW_CF_ERR_NOT_AVAILABLE, "history is not enabled for this channel");
            return;
        }
        if (cmd->has_since && gw_hpos_set_epoch(&r->since, cmd->epoch, strlen(cmd->epoch)) != 0) {
            free(r);
            cf_error(w, c, cmd->id, GW_CF_ERR_UNRECOVERABLE_POSITION, NULL);
            return;
        }
        r->cf_id = cmd->id;
        r->has_since = cmd->has_since;
        r->since.offset = cmd->offset;
        r->position_only = cmd->limit == 0;
        r->limit = cmd->limit > 0 && cmd->limit < UINT32_MAX ? (uint32_t)cmd->limit : 0;
        r->reverse = cmd->reverse;
        if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
            free(r);
        return;
    }
    if (gw_config_presence_for(w->cfg, ch)->presence <= 0) {
        cf_error(w, c, cmd->id, GW_CF_ERR_NOT_AVAILABLE, "presence is not enabled for this channel");
        return;
    }
    const gw_principal *p = c->principal;
    gw_preq *r = gw_preq_new(cmd->method == GW_CF_PRESENCE ? GW_MAIL_PRES_LIST : GW_MAIL_PRES_STATS, w->index, c->id,
                             ch, p && p->sub ? p->sub : "", NULL);
    r->cf_id = cmd->id;
    if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
        free(r);
}

static void cf_command(gw_worker *w, gw_conn *c, const gw_cf_command *cmd)
{
    if (cmd->method == GW_CF_PONG) {
        c->cf->pong_due_ms = 0;
        return;
    }
    if (!c->cf->connected && cmd->method != GW_CF_CONNECT) {
        cf_close(w, c, GW_CF_DISC_BAD_REQUEST); /* the first command must be connect */
        return;
    }
    int rl = gw_ratelimit_take(&c->rl, w->cfg->commands_per_second, pulse_mono_ms());
    if (rl == GW_RL_LIMITED) {
        cf_error(w, c, cmd->id, GW_CF_ERR_TOO_MANY_REQUESTS, NULL);
        return;
    }
    if (rl != GW_RL_OK) {
        cf_close(w, c, GW_CF_DISC_TOO_MANY_REQUESTS);
        return;
    }
    if (cmd->error) { /* refused by the codec: RPC, sub_refresh, a bad field, ... */
        cf_error(w, c, cmd->id, cmd->error, cmd->error_text);
        return;
    }
    switch (cmd->method) {
    case GW_CF_CONNECT:
        cf_connect(w, c, cmd);
        break;
    case GW_CF_SUBSCRIBE:
        cf_subscribe(w, c, cmd);
        break;
    case GW_CF_UNSUBSCRIBE: {
        int slot = conn_find_sub(c, cmd->channel, false);
        if (slot >= 0)
            conn_unsubscribe_slot(w, c, (uint32_t)slot);
        cf_reply_empty(w, c, cmd->id, GW_CF_UNSUBSCRIBE);
        break;
    }
    case GW_CF_PUBLISH:
        if (!gw_auth_may_publish(w->node->auth, c->principal, cmd->channel)) {
            GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_FORBIDDEN], 1);
            cf_error(w, c, cmd->id, GW_CF_ERR_PERMISSION_DENIED, NULL);
        } else if (!publish_data(w, cmd->channel, cmd->data, cmd->data_len)) {
            cf_error(w, c, cmd->id, GW_CF_ERR_INTERNAL, "publish queue full; try again later");
        } else {
            cf_reply_empty(w, c, cmd->id, GW_CF_PUBLISH);
        }
        break;
    case GW_CF_PRESENCE:
    case GW_CF_PRESENCE_STATS:
    case GW_CF_HISTORY:
        cf_read(w, c, cmd);
        break;
    case GW_CF_REFRESH:
        cf_refresh(w, c, cmd);
        break;
    default: /* the codec refuses the rest (sub_refresh, rpc: 108; unknown: 104) */
        cf_error(w, c, cmd->id, GW_CF_ERR_METHOD_NOT_FOUND, NULL);
        break;
    }
}

/* One text frame from a Centrifugo client: its commands in order; a frame that
 * cannot be understood closes after the commands before the bad one ran. */
void cf_frame(gw_worker *w, gw_conn *c, const char *text, size_t len)
{
    if (!w->cf_cmds)
        w->cf_cmds = pulse_xcalloc(GW_CF_MAX_COMMANDS, sizeof(*w->cf_cmds));
    size_t n = 0;
    gw_cf_error err;
    int rc = gw_cf_parse(text, len, w->cf_cmds, GW_CF_MAX_COMMANDS, &n, &err);
    for (size_t i = 0; i < n && !c->close_code; i++)
        cf_command(w, c, &w->cf_cmds[i]);
    gw_cf_commands_release(w->cf_cmds, n);
    if (rc < 0) {
        PLOG_DEBUG("ws", "conn=%llu command %d: %s", (unsigned long long)c->id, err.line, err.reason);
        cf_close(w, c, err.disconnect);
    }
}

/* ESTABLISHED on /connection/websocket: no hello, the client speaks first (connect
 * within auth_handshake_timeout_ms, else 3502). */
void cf_established(gw_worker *w, gw_conn *c, struct lws *wsi)
{
    c->cf = pulse_xcalloc(1, sizeof(*c->cf));
    c->auth_deadline_ms = pulse_mono_ms() + w->cfg->auth_handshake_timeout_ms;
    char arg[64];
    for (int i = 0; i < 32; i++) {
        int len = lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0 && lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
            break;
        if (len > 0 && strcmp(arg, "format=protobuf") == 0)
            cf_close(w, c, GW_CF_DISC_BAD_REQUEST); /* the Protobuf format is not served */
    }
    if (w->draining)
        cf_close(w, c, GW_CF_DISC_SHUTDOWN);
}

/* The sweep's part for a Centrifugo connection: the ping {} every
 * centrifugo.ping_interval_s, 3012 when its {} does not come within
 * centrifugo.pong_timeout_s, 3502 without connect, 3005 past the token's exp +
 * centrifugo.expired_close_delay_s. */
void cf_sweep(gw_worker *w, gw_conn *c, int64_t now_ms)
{
    cf_conn *cf = c->cf;
    if (c->close_code)
        return;
    if (c->auth_deadline_ms && now_ms >= c->auth_deadline_ms) {
        GW_ADD(w->stats->auth_failures[cf->connected ? GW_AUTH_FAIL_EXPIRED : GW_AUTH_FAIL_TIMEOUT], 1);
        cf_close(w, c, cf->connected ? GW_CF_DISC_EXPIRED : GW_CF_DISC_STALE);
    } else if (cf->pong_due_ms && now_ms >= cf->pong_due_ms) {
        cf_close(w, c, GW_CF_DISC_NO_PONG);
    } else if (cf->connected && now_ms - cf->ping_ms >= w->cfg->cf_ping_interval_s * 1000LL) {
        cf->ping_ms = now_ms;
        if (!cf->pong_due_ms)
            cf->pong_due_ms = now_ms + w->cfg->cf_pong_timeout_s * 1000LL;
        conn_send_text(w, c, "{}", 2);
    }
}
