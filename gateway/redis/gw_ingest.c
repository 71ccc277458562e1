/*
 * gw_ingest.c - the ingest thread's side of a node: Redis messages in, framed messages
 * out to the workers, and the node-wide subscription bookkeeping.
 *
 * Each channel (or pattern) has one entry here: `refs` counts the workers that have
 * local subscribers (`pinned` marks a static channel), `mask` says which workers, and
 * `state` tracks Redis. Subscription changes are reconciled one step at a time so a
 * quick unsubscribe/subscribe never races in Redis (and hiredis 0.14 never loses the
 * channel's callback): a new SUBSCRIBE for a channel waits for its UNSUBSCRIBE reply.
 *
 * It never calls into a worker: it posts to the worker's inbox (node->inbox[w]) and
 * reads the node's requests and publishes mailboxes (gw_bridge.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_bridge.h"
#include "gw_history.h"
#include "gw_ingest.h"
#include "gw_limits.h"
#include "gw_msg.h"
#include "gw_presence.h"
#include "gw_redis.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_clock.h"
#include "pulse_functions.h"
#include "pulse_log.h"

#define RS_NONE GW_RS_NONE
#define RS_SUBSCRIBING GW_RS_SUBSCRIBING
#define RS_SUBSCRIBED GW_RS_SUBSCRIBED
#define RS_UNSUBSCRIBING GW_RS_UNSUBSCRIBING


static void chan_remove(gw_node *n, gw_chan *c)
{
    gw_history_chan_free(c);
    gw_chantab_remove(n->chans, c);
}

static void reconcile(gw_node *n, gw_chan *c)
{
    if (!gw_redis_sub_up(n->redis)) {
        if (!gw_chan_wanted(c))
            chan_remove(n, c);
        return;
    }
    if (gw_chan_wanted(c) && c->state == RS_NONE) {
        if (gw_redis_subscribe(n->redis, c->name, c->is_pattern) == 0)
            c->state = RS_SUBSCRIBING;
    } else if (!gw_chan_wanted(c) && c->state == RS_SUBSCRIBED) {
        if (gw_redis_unsubscribe(n->redis, c->name, c->is_pattern) == 0)
            c->state = RS_UNSUBSCRIBING;
    } else if (!gw_chan_wanted(c) && c->state == RS_NONE) {
        chan_remove(n, c);
    }
}

void gw_node_post(gw_node *n, int w, gw_mail_kind kind, const char *name, bool is_pattern)
{
    gw_note *note = gw_note_new(kind, name, is_pattern, NULL, 0);
    if (gw_bridge_post(&n->inbox[w], &note->mail, 0) != 0)
        free(note); /* the worker is gone (cleanup) */
}

/* Posts kind for c to every worker in mask. */
static void post_workers(gw_node *n, gw_chan *c, uint64_t mask, gw_mail_kind kind)
{
    for (int i = 0; i < n->nworkers; i++) {
        if (mask & (1ull << i))
            gw_node_post(n, i, kind, c->name, c->is_pattern);
    }
}

/* ---- Redis callbacks ---- */

static pulse_priority event_priority(const char *payload, size_t len, bool *is_json)
{
    json_error_t jerr;
    json_t *root = json_loadb(payload, len, JSON_DECODE_ANY, &jerr);
    *is_json = root != NULL;
    pulse_priority p = PULSE_PRIO_UNSET;
    if (root && json_is_object(root)) {
        json_t *pr = json_object_get(root, "priority");
        if (json_is_string(pr))
            p = pulse_priority_parse(json_string_value(pr), json_string_length(pr));
    }
    json_decref(root);
    return p;
}

const char *gw_ingest_json_data(const char *payload, size_t len, size_t *out_len, char **owned)
{
    *owned = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(payload, len, JSON_DECODE_ANY, &jerr);
    if (root) {
        json_decref(root);
        *out_len = len;
        return payload;
    }
    /* not JSON: deliver it as a JSON string rather than lose it or break the frame */
    json_t *s = json_stringn(payload, len);
    *owned = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(s);
    if (!*owned)
        return NULL;
    *out_len = strlen(*owned);
    return *owned;
}

gw_msg *gw_ingest_event(gw_node *n, const char *channel, const char *pattern, const gw_hpos *pos,
                        const char *payload, size_t len, int64_t arrived_ns)
{
    /* parse once per node: the priority, and whether the payload is JSON at all */
    bool is_json = false;
    pulse_priority prio = event_priority(payload, len, &is_json);
    const gw_channel_rule *rule = gw_config_rule_for(n->cfg, channel);
    if (prio == PULSE_PRIO_UNSET)
        prio = rule->priority;
    else if (prio > rule->max_priority)
        prio = rule->max_priority; /* the channel's rule caps what a publisher may claim */
    char *quoted = NULL;
    size_t data_len = len;
    const char *data;
    if (!is_json) {
        data = gw_ingest_json_data(payload, len, &data_len, &quoted);
    } else {
        /* a raw line break in the payload would split a ?batch=1 frame into a forged
         * envelope: re-encode it (rare; a memchr pair otherwise) */
        quoted = gw_json_unbroken(payload, len, &data_len);
        data = quoted ? quoted : data_len ? payload : NULL;
    }
    if (!data) {
        PLOG_WARN("ingest", "dropping a message on %s that is neither JSON nor UTF-8 or could not be re-encoded",
                  channel);
        return NULL;
    }
    gw_msg *m = gw_msg_new_event(channel, pattern, pos, data, data_len, prio, rule->policy, arrived_ns);
    free(quoted);
    return m;
}

void gw_ingest_fanout(gw_node *n, uint64_t mask, gw_msg *m)
{
    /* one copy per worker that has subscribers (lws_write writes into the headroom) */
    int last = -1;
    for (int i = 0; i < n->nworkers; i++)
        if (mask & (1ull << i))
            last = i;
    if (last < 0) {
        gw_msg_unref(m);
        return;
    }
    for (int i = 0; i < n->nworkers; i++) {
        if (!(mask & (1ull << i)))
            continue;
        gw_msg *copy = i == last ? m : gw_msg_clone(m);
        if (gw_bridge_post(&n->inbox[i], &copy->mail, 0) != 0)
            gw_msg_unref(copy);
    }
}

static void on_message(void *ud, const char *channel, const char *pattern, const char *payload, size_t len)
{
    gw_node *n = ud;
    int64_t arrived = pulse_mono_ns();
    if (n->shutdown_signals)
        return;
    if (pulse_channel_validate(channel, strlen(channel)) != 0) {
        /* any publisher can PUBLISH on any name: one that clients could not subscribe
         * to (bytes such as 0xFF make RFC 6455 clients fail the connection) reaches
         * nobody through a pattern */
        static pulse_log_limit lim;
        char shown[64];
        n->events_bad_channel++;
        gw_printable(channel, shown, sizeof(shown));
        PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "ingest",
                          "refused a message from Redis on an invalid channel name \"%s\" (pattern %s)", shown,
                          pattern ? pattern : "none");
        return;
    }
    gw_chan *c = gw_chantab_get(n->chans, pattern ? pattern : channel, pattern != NULL);
    uint64_t mask = c ? c->mask : 0;

    /* "#pulse1 join\n" / "#pulse1 leave\n": a presence event, delivered as it is */
    if (gw_presence_message(n, channel, pattern, mask, payload, len, arrived))
        return;
    /* "#pulse1 <offset> <epoch>\n" before the payload: an event with history */
    gw_hpos pos = {0, ""};
    pulse_position_hdr hdr;
    int hr = pulse_position_hdr_parse(payload, len, &hdr);
    if (hr == 0 && gw_hpos_set_epoch(&pos, hdr.epoch, strlen(hdr.epoch)) == 0) {
        pos.offset = hdr.offset;
        payload += hdr.header_len;
        len -= hdr.header_len;
    } else if (hr == PULSE_EINVAL) {
        PLOG_DEBUG("ingest", "a message on %s starts like a history header but is not one: delivered as is",
                   channel);
    }
    gw_msg *m = gw_ingest_event(n, channel, pattern, &pos, payload, len, arrived);
    if (!m)
        return;
    n->events_received[m->priority]++;
    if (!mask) {
        n->events_unrouted++;
        gw_msg_unref(m);
        return;
    }
    if (!pattern && gw_history_live(n, c, m))
        return; /* held for a repair, or already delivered */
    gw_ingest_fanout(n, mask, m);
}

static void on_subscribed(void *ud, const char *name, bool is_pattern)
{
    gw_node *n = ud;
    gw_chan *c = gw_chantab_get(n->chans, name, is_pattern);
    if (!c)
        return;
    if (c->state == RS_SUBSCRIBING) {
        c->state = RS_SUBSCRIBED;
        PLOG_DEBUG("ingest", "%s %s", is_pattern ? "psubscribed" : "subscribed", name);
        post_workers(n, c, c->mask, GW_MAIL_CONFIRM);
        bool outage = c->gap;
        c->gap = false;
        /* after an outage, a channel with history repairs itself; the others (and a
         * channel whose position is not known) tell their clients */
        if (!gw_history_subscribed(n, c, outage) && outage) {
            post_workers(n, c, c->mask, GW_MAIL_GAP);
            n->gap_notices_reconnect++;
        }
    }
    reconcile(n, c);
}

static void on_unsubscribed(void *ud, const char *name, bool is_pattern)
{
    gw_node *n = ud;
    gw_chan *c = gw_chantab_get(n->chans, name, is_pattern);
    if (!c)
        return;
    c->state = RS_NONE;
    PLOG_DEBUG("ingest", "%s %s", is_pattern ? "punsubscribed" : "unsubscribed", name);
    reconcile(n, c);
}

/* Redis Cluster: one shard lost name's subscription (gw_rcluster subscribes it again
 * and confirms with on_subscribed, where the gap is repaired). */
static void on_lost(void *ud, const char *name, bool is_pattern)
{
    gw_node *n = ud;
    gw_chan *c = gw_chantab_get(n->chans, name, is_pattern);
    if (c && c->state == RS_SUBSCRIBED) {
        c->gap = true;
        c->state = RS_SUBSCRIBING;
    }
}

static void reset_state(gw_chan *c, void *ud)
{
    if (c->state == RS_SUBSCRIBED || c->state == RS_UNSUBSCRIBING)
        c->gap = true;
    c->state = RS_NONE;
}

static bool unreferenced(gw_chan *c, void *ud)
{
    if (gw_chan_wanted(c))
        return false;
    gw_history_chan_free(c);
    return true;
}

static void reconcile_one(gw_chan *c, void *ud)
{
    gw_node *n = ud;
    if (gw_chan_wanted(c) && c->state == RS_NONE && gw_redis_subscribe(n->redis, c->name, c->is_pattern) == 0)
        c->state = RS_SUBSCRIBING;
}

static void on_sub_state(void *ud, bool up)
{
    gw_node *n = ud;
    gw_chantab_foreach(n->chans, reset_state, n);
    gw_chantab_remove_if(n->chans, unreferenced, n);
    if (up && !n->shutdown_signals)
        gw_chantab_foreach(n->chans, reconcile_one, n);
}

/* ---- node-wide subscription limits ---- */

const char *const gw_subref_names[GW_SUBREF_NREASONS] = {"channels", "patterns", "pattern_stars", "rate"};

int gw_node_sub_admit(gw_node *n, const char *name, bool is_pattern)
{
    const gw_config *cfg = n->cfg;
    int why = -1;
    if (is_pattern) {
        int stars = 0;
        for (const char *p = name; *p; p++)
            stars += *p == '*';
        if (stars > cfg->max_pattern_stars)
            why = GW_SUBREF_STARS;
    }
    int64_t max = is_pattern ? cfg->max_patterns : cfg->max_channels;
    if (why < 0 && atomic_fetch_add(&n->sub_names[is_pattern], 1) >= max) {
        atomic_fetch_sub(&n->sub_names[is_pattern], 1);
        why = is_pattern ? GW_SUBREF_PATTERNS : GW_SUBREF_CHANNELS;
    }
    if (why < 0 && cfg->new_subscriptions_per_second > 0) {
        pthread_mutex_lock(&n->sub_lock);
        int rl = gw_ratelimit_take(&n->sub_rl, cfg->new_subscriptions_per_second, pulse_mono_ms());
        pthread_mutex_unlock(&n->sub_lock);
        if (rl != GW_RL_OK) {
            atomic_fetch_sub(&n->sub_names[is_pattern], 1);
            why = GW_SUBREF_RATE;
        }
    }
    if (why < 0)
        return 0;
    atomic_fetch_add(&n->subs_refused[why], 1);
    return why + 1;
}

void gw_node_sub_release(gw_node *n, bool is_pattern)
{
    atomic_fetch_sub(&n->sub_names[is_pattern], 1);
}

/* ---- requests and publishes from workers ---- */

static void on_published(void *ud, long long receivers, const char *err)
{
    gw_node *n = ud;
    if (receivers >= 0) {
        atomic_fetch_add(&n->ws_published, 1);
    } else {
        atomic_fetch_add(&n->ws_publish_failed, 1);
        PLOG_DEBUG("ingest", "client publish failed: %s", err ? err : "?");
    }
}

static void publish_all(gw_node *n, gw_mail *m)
{
    while (m) {
        gw_mail *next = m->next;
        gw_note *p = (gw_note *)m;
        if (gw_redis_publish(n->redis, p->name, p->payload, p->len, on_published, n) != 0) {
            atomic_fetch_add(&n->ws_publish_failed, 1);
            PLOG_DEBUG("ingest", "client publish to %s dropped: %s", p->name, gw_redis_errstr(n->redis));
        }
        free(p);
        m = next;
    }
}

static void request(gw_node *n, const gw_note *r)
{
    uint64_t bit = 1ull << r->worker;
    if (r->mail.kind == GW_MAIL_SUBSCRIBE) {
        gw_chan *c = gw_chantab_add(n->chans, r->name, r->is_pattern, NULL);
        if (!(c->mask & bit)) {
            c->mask |= bit;
            c->refs++;
        }
        if (c->state == RS_SUBSCRIBED)
            post_workers(n, c, bit, GW_MAIL_CONFIRM);
        reconcile(n, c);
    } else {
        gw_chan *c = gw_chantab_get(n->chans, r->name, r->is_pattern);
        if (c && (c->mask & bit)) {
            c->mask &= ~bit;
            c->refs--;
            reconcile(n, c);
        }
    }
}

static void finish_if_done(gw_node *n)
{
    if (n->shutdown_signals && n->workers_done == n->nworkers) {
        PLOG_INFO("main", "all connections closed; stopping");
        gw_redis_stop(n->redis);
        event_base_loopexit(n->base, NULL);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    gw_node *n = arg;
    publish_all(n, gw_bridge_take(&n->publishes));
    gw_mail *m = gw_bridge_take(&n->requests);
    while (m) {
        gw_mail *next = m->next;
        if (m->kind == GW_MAIL_WORKER_DONE) {
            n->workers_done++;
        } else if (m->kind == GW_MAIL_RECOVER || m->kind == GW_MAIL_HISTORY) {
            gw_history_request(n, (gw_hreq *)m); /* takes it */
            m = next;
            continue;
        } else if (m->kind >= GW_MAIL_PRES_ADD && m->kind <= GW_MAIL_PRES_STATS) {
            gw_presence_request(n, (gw_preq *)m); /* takes it */
            m = next;
            continue;
        } else {
            request(n, (gw_note *)m);
        }
        free(m);
        m = next;
    }
    finish_if_done(n);
}

/* Wakes the ingest loop: a worker posted to requests or publishes. */
static void wake_ingest(void *arg)
{
    gw_node *n = arg;
    event_active(n->wake_ev, EV_READ, 0);
}

/* ---- sockets waiting for their first bytes ---- */

/* An accepted socket stays on the ingest thread until its first bytes (the upgrade
 * request, or a TLS ClientHello) arrive, and only then goes to a worker. lws 4.1.6
 * gives every adopted socket a header table and a timeout at once, keeps both in
 * lists that each insert or release walks, so 10,000 clients that connect together
 * and send their requests later cost the worker 10,000^2 list steps; here a worker
 * only ever holds sockets it can serve at once. A socket that sends nothing within
 * limits.handshake_timeout_s is closed here.
 *
 * The waiting sockets are in an epoll set of their own (EPOLLONESHOT: a socket fires
 * once, and its registration goes with its descriptor), read through one libevent
 * event, rather than one libevent event each: libevent keeps a small allocation per
 * descriptor number for good, which a storm would leave between the idle
 * connections' memory. Oldest at the tail; a 250 ms tick closes the expired. */
struct gw_waiting {
    int fd;
    uint64_t ip_key;
    int64_t deadline_ms;
    gw_waiting *prev, *next;
};

#define GW_WAIT_TICK_MS 250

static void waiting_unlink(gw_node *n, gw_waiting *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        n->waiting = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        n->waiting_tail = s->prev;
    n->nwaiting--;
    free(s);
}

/* Gives up a waiting socket: closed, its limits released. */
static void waiting_close(gw_node *n, gw_waiting *s)
{
    evutil_closesocket(s->fd);
    gw_limits_ip_release(n->limits, s->ip_key);
    atomic_fetch_sub(&n->sockets, 1);
    waiting_unlink(n, s);
}

/* To the least-loaded worker (ties go round-robin), which adopts it. */
static void post_adopt(gw_node *n, int fd, uint64_t ip_key, bool readable)
{
    int best = (int)(n->accepted % (uint64_t)n->nworkers);
    int64_t best_load = GW_GET(n->wstats[best].connections_active);
    for (int i = 0; i < n->nworkers; i++) {
        int64_t load = GW_GET(n->wstats[i].connections_active);
        if (load < best_load) {
            best = i;
            best_load = load;
        }
    }
    n->accepted++;
    gw_note *note = gw_note_new(GW_MAIL_ADOPT, NULL, false, NULL, 0);
    note->fd = fd;
    note->ip_key = ip_key;
    note->readable = readable;
    if (gw_bridge_post(&n->inbox[best], &note->mail, 0) != 0) {
        gw_bridge_discard(&note->mail);
        gw_limits_ip_release(n->limits, ip_key);
        atomic_fetch_sub(&n->sockets, 1);
    }
}

/* Sockets that spoke (or hung up: the worker finds out) go to a worker. */
static void on_waiting_ready(evutil_socket_t ep, short what, void *arg)
{
    gw_node *n = arg;
    struct epoll_event evs[256];
    int k = epoll_wait(ep, evs, 256, 0);
    for (int i = 0; i < k; i++) {
        gw_waiting *s = evs[i].data.ptr;
        post_adopt(n, s->fd, s->ip_key, true);
        waiting_unlink(n, s);
    }
}

static void on_waiting_tick(evutil_socket_t fd, short what, void *arg)
{
    gw_node *n = arg;
    int64_t now = pulse_mono_ms();
    while (n->waiting_tail && n->waiting_tail->deadline_ms <= now) {
        n->silent_closed++;
        PLOG_DEBUG("ws", "closed a socket that sent nothing for %d s", n->cfg->handshake_timeout_s);
        waiting_close(n, n->waiting_tail);
    }
    if (!n->waiting)
        evtimer_del(n->wait_tick);
}

static void wait_first_bytes(gw_node *n, int fd, uint64_t ip_key)
{
    gw_waiting *s = pulse_xmalloc(sizeof(*s));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = s};
    if (n->wait_ep < 0 || epoll_ctl(n->wait_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(s);
        post_adopt(n, fd, ip_key, false); /* the worker's own timeout covers it */
        return;
    }
    s->fd = fd;
    s->ip_key = ip_key;
    s->deadline_ms = pulse_mono_ms() + n->cfg->handshake_timeout_s * 1000LL;
    s->prev = NULL;
    s->next = n->waiting;
    if (n->waiting)
        n->waiting->prev = s;
    else
        n->waiting_tail = s;
    n->waiting = s;
    if (n->nwaiting++ == 0) {
        struct timeval tv = {0, GW_WAIT_TICK_MS * 1000};
        evtimer_add(n->wait_tick, &tv);
    }
}

/* Draining or stopping: no waiting socket will be adopted. */
static void waiting_close_all(gw_node *n)
{
    while (n->waiting)
        waiting_close(n, n->waiting);
}

/* The waiting sockets' epoll set and its two libevent events (gw_node_init). */
static int waiting_init(gw_node *n)
{
    n->wait_ep = epoll_create1(EPOLL_CLOEXEC);
    if (n->wait_ep < 0)
        return -1;
    n->wait_ev = event_new(n->base, n->wait_ep, EV_READ | EV_PERSIST, on_waiting_ready, n);
    n->wait_tick = event_new(n->base, -1, EV_PERSIST, on_waiting_tick, n);
    if (!n->wait_ev || !n->wait_tick || event_add(n->wait_ev, NULL) != 0)
        return -1;
    return 0;
}

static void waiting_free(gw_node *n)
{
    waiting_close_all(n);
    if (n->wait_ev)
        event_free(n->wait_ev);
    if (n->wait_tick)
        event_free(n->wait_tick);
    if (n->wait_ep >= 0)
        close(n->wait_ep);
    n->wait_ev = n->wait_tick = NULL;
    n->wait_ep = -1;
}

/* ---- signals and shutdown ---- */

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    gw_node *n = arg;
    PLOG_WARN("main", "workers did not finish within the drain timeout + 5 s; exiting");
    event_base_loopexit(n->base, NULL);
}

void gw_node_shutdown(gw_node *n)
{
    if (n->shutdown_signals++ > 0) {
        PLOG_WARN("main", "second signal: exiting now");
        _exit(1);
    }
    PLOG_INFO("main", "shutting down: draining %lld connections (timeout %d ms)",
              (long long)atomic_load(&n->connections), n->cfg->drain_timeout_ms);
    atomic_store(&n->draining, true);
    if (n->listener)
        evconnlistener_disable(n->listener);
    waiting_close_all(n);
    /* stop taking new events: what is queued now is what gets flushed */
    gw_redis_stop(n->redis);
    for (int i = 0; i < n->nworkers; i++)
        gw_node_post(n, i, GW_MAIL_DRAIN, NULL, false);
    int ms = n->cfg->drain_timeout_ms + 5000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    n->drain_ev = evtimer_new(n->base, on_drain_deadline, n);
    evtimer_add(n->drain_ev, &tv);
    finish_if_done(n);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    gw_node_shutdown(arg);
}

/* ---- multi-worker listener ---- */

/* The client address as text, IPv4-mapped IPv6 as plain IPv4. */
static void peer_text(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, a6, out, (socklen_t)cap);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    gw_node *n = arg;
    static pulse_log_limit lim;
    /* counted from accept: a half-open handshake holds a descriptor as surely as a
     * connection does */
    if (atomic_load(&n->draining) || atomic_load(&n->sockets) >= n->max_sockets) {
        n->refused++;
        evutil_closesocket(fd);
        PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "ws", "closed a socket at accept: %s",
                          atomic_load(&n->draining) ? "draining" : "node full (connections + handshakes)");
        return;
    }
    uint64_t ip_key = 0;
    if (n->cfg->max_connections_per_ip > 0) {
        char ip[INET6_ADDRSTRLEN];
        peer_text(sa, ip, sizeof(ip));
        ip_key = gw_limits_ip_admit(n->limits, ip, n->cfg->max_connections_per_ip + GW_ANSWER_SLOTS);
        if (!ip_key) {
            n->refused++;
            evutil_closesocket(fd);
            PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "ws", "closed a socket from %s at accept: too many", ip);
            return;
        }
    }
    atomic_fetch_add(&n->sockets, 1);
    wait_first_bytes(n, fd, ip_key);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

void gw_node_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    static pulse_log_limit lim;
    bool out_of_fds = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
    PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "ws", "accept failed: %s%s", evutil_socket_error_to_string(err),
                      out_of_fds ? "; pausing accepts for 100 ms" : "");
    if (out_of_fds) {
        /* the pending connection stays readable: retrying now would spin */
        struct timeval tv = {0, 100 * 1000};
        evconnlistener_disable(l);
        event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, on_accept_resume, l, &tv);
    }
}

int gw_node_listen(gw_node *n, pulse_error *err)
{
    const char *host = n->cfg->bind;
    if (!host || !host[0] || strcmp(host, "*") == 0)
        host = "0.0.0.0";
    char port[16];
    snprintf(port, sizeof(port), "%d", n->cfg->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res)
        return pulse_error_set(err, PULSE_EINVAL, 0, "bind: cannot resolve '%s': %s", host, gai_strerror(rc));
    /* a name (--bind localhost) listens on its first IPv4 address, else its first */
    struct addrinfo *pick = res;
    for (struct addrinfo *r = res; r; r = r->ai_next)
        if (r->ai_family == AF_INET) {
            pick = r;
            break;
        }
    /* The accept queue as long as the kernel allows (it caps the backlog at
     * net.core.somaxconn, 4096 on Debian bookworm): when a node dies its clients
     * connect here together, and a SYN that finds the queue full is dropped and
     * retried by the client only after 1 s, then 3 s. */
    n->listener = evconnlistener_new_bind(n->base, on_accept, n,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 65535,
                                          pick->ai_addr, (int)pick->ai_addrlen);
    freeaddrinfo(res);
    if (!n->listener)
        return pulse_error_set(err, PULSE_EIO, 0, "cannot listen on %s:%d (WebSocket): %s", host, n->cfg->port,
                               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_set_error_cb(n->listener, gw_node_accept_error);
    int lfd = evconnlistener_get_fd(n->listener);
    n->ws_port = gw_bound_port(lfd, n->cfg->port);
    /* TCP_NODELAY, inherited by every accepted socket (Linux copies it at accept; a
     * system call per connection saved): small frames leave at once (lws sets it on
     * its own listener). The 101 and the first frames need no TCP_CORK to leave in
     * one segment: they are one send (gw_worker.c, conn_first_frames). */
    int one = 1;
    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (waiting_init(n) != 0)
        return pulse_error_set(err, PULSE_EIO, 0, "cannot create the epoll set of sockets waiting to speak: %s",
                               strerror(errno));
    return 0;
}

int gw_bound_port(int fd, int fallback)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return fallback;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return fallback;
}

/* ---- setup ---- */

int gw_node_init(gw_node *n, const gw_config *cfg, const gw_auth *auth, struct event_base *base)
{
    memset(n, 0, sizeof(*n));
    n->wait_ep = -1;
    n->cfg = cfg;
    n->auth = auth;
    n->limits = gw_limits_new(cfg->max_connections_per_ip);
    n->base = base;
    n->started_ms = pulse_mono_ms();
    gw_queue_limits_from_config(&n->qlimits, cfg);
    /* connections + handshakes stay below the fd limit, with headroom */
    n->max_conns = cfg->max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        int64_t budget = (int64_t)rl.rlim_cur - GW_FD_RESERVE - 4 * cfg->workers - GW_ANSWER_SLOTS;
        if (budget < 1)
            budget = 1;
        if (n->max_conns > budget) {
            PLOG_INFO("main", "limits.max_connections %d lowered to %lld to fit the file descriptor limit (%llu)",
                      cfg->max_connections, (long long)budget, (unsigned long long)rl.rlim_cur);
            n->max_conns = budget;
        }
    }
    n->max_sockets = n->max_conns + GW_ANSWER_SLOTS;
    pthread_mutex_init(&n->sub_lock, NULL);
    n->nworkers = cfg->workers;
    n->workers = pulse_xcalloc((size_t)n->nworkers, sizeof(*n->workers));
    n->wstats = pulse_xcalloc((size_t)n->nworkers, sizeof(*n->wstats));
    n->inbox = pulse_xcalloc((size_t)n->nworkers, sizeof(*n->inbox));
    for (int i = 0; i < n->nworkers; i++)
        gw_bridge_init(&n->inbox[i], 0, 0, NULL, NULL); /* the worker sets its wake-up */
    n->chans = gw_chantab_new();
    n->wake_ev = event_new(base, -1, 0, on_wake, n);
    if (!n->wake_ev)
        pulse_oom();
    gw_bridge_init(&n->requests, 0, 0, wake_ingest, n);
    gw_bridge_init(&n->publishes, GW_PUBLISH_MAX_ITEMS, GW_PUBLISH_MAX_BYTES, wake_ingest, n);
    static const gw_redis_cbs cbs = {on_message, on_subscribed, on_unsubscribed, on_sub_state, on_lost};
    n->redis = gw_redis_new(base, cfg, &cbs, n);
    gw_presence_init(n);
    n->sigterm_ev = evsignal_new(base, SIGTERM, on_signal, n);
    n->sigint_ev = evsignal_new(base, SIGINT, on_signal, n);
    event_add(n->sigterm_ev, NULL);
    event_add(n->sigint_ev, NULL);
    return 0;
}

void gw_node_start(gw_node *n)
{
    for (size_t i = 0; i < n->cfg->n_static_channels; i++) {
        const char *name = n->cfg->static_channels[i];
        bool is_pattern = strchr(name, '*') != NULL;
        gw_chan *c = gw_chantab_add(n->chans, name, is_pattern, NULL);
        c->pinned = true;
    }
    gw_redis_start(n->redis);
}

static void free_history(gw_chan *c, void *ud)
{
    gw_history_chan_free(c);
}

void gw_node_cleanup(gw_node *n)
{
    if (n->listener)
        evconnlistener_free(n->listener);
    n->listener = NULL;
    waiting_free(n);
    gw_presence_cleanup(n); /* before the Redis side: no more callbacks into it */
    gw_redis_free(n->redis);
    n->redis = NULL;
    gw_bridge_discard(gw_bridge_close(&n->requests));
    gw_bridge_discard(gw_bridge_close(&n->publishes));
    gw_bridge_destroy(&n->requests);
    gw_bridge_destroy(&n->publishes);
    for (int i = 0; i < n->nworkers; i++) {
        gw_bridge_discard(gw_bridge_close(&n->inbox[i]));
        gw_bridge_destroy(&n->inbox[i]);
    }
    gw_limits_free(n->limits);
    n->limits = NULL;
    free(n->inbox);
    free(n->wstats);
    free(n->workers);
    n->inbox = NULL;
    n->wstats = NULL;
    n->workers = NULL;
    gw_chantab_foreach(n->chans, free_history, NULL);
    gw_chantab_free(n->chans);
    if (n->wake_ev)
        event_free(n->wake_ev);
    if (n->sigterm_ev)
        event_free(n->sigterm_ev);
    if (n->sigint_ev)
        event_free(n->sigint_ev);
    if (n->drain_ev)
        event_free(n->drain_ev);
    pthread_mutex_destroy(&n->sub_lock);
}
