/*
 * gw_admin.c - the admin HTTP server (libevent evhttp, on the ingest thread):
 *   GET  /metrics  Prometheus text          GET /healthz  200, or 503 with a reason
 *   GET  /stats    JSON                     POST /publish  202 once Redis took it
 *   GET  /history?channel=C&limit=N   the channel's history (same JSON as the history op)
 *   GET  /presence?channel=C          the channel's presence (same JSON as the presence op)
 *   GET  /  (and /ui/app.js, /ui/app.css)  the node's page (gateway/node/web/, compiled in)
 * Bodies are capped at 1 MiB (413 past it). Anything else: 404 or 405.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_admin.h"
#include "gw_auth.h"
#include "gw_history.h"
#include "gw_presence.h"
#include "gw_ingest.h"
#include "gw_metrics.h"
#include "gw_msg.h"
#include "gw_redis.h"
#include "gw_web.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_clock.h"
#include "pulse_event.h"
#include "pulse_log.h"

#define ADMIN_MAX_BODY (1024 * 1024)

/* ---- helpers ---- */

static void reply_json(struct evhttp_request *req, int code, const char *reason, json_t *body)
{
    struct evbuffer *out = evbuffer_new();
    char *text = json_dumps(body, JSON_COMPACT);
    evbuffer_add_printf(out, "%s\n", text ? text : "{}");
    free(text);
    json_decref(body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

/* Errors: {"error":"<short code>","reason":"<one line for humans>"}. */
static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *why)
{
    const char *short_code = code == 400 ? "bad_request"
                             : code == 404 ? "not_found"
                             : code == 405 ? "method_not_allowed"
                             : code == 503 ? "unavailable"
                                           : "error";
    reply_json(req, code, reason, json_pack("{s:s,s:s}", "error", short_code, "reason", why));
}

static bool method_is(struct evhttp_request *req, enum evhttp_cmd_type want)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == want || (want == EVHTTP_REQ_GET && m == EVHTTP_REQ_HEAD))
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                      want == EVHTTP_REQ_POST ? "POST" : "GET, HEAD");
    reply_error(req, 405, "Method Not Allowed", "method not allowed");
    return false;
}

/* 401 with a JSON reason unless the request may go on: the admin key is needed for
 * writes whenever one is configured, and for reads unless admin.protect_reads is
 * false (issue 13.8). */
static bool admin_authorized(struct evhttp_request *req, gw_node *n, bool is_write)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (gw_auth_admin_check(n->auth, h, is_write) == 0)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"pulse-admin\"");
    reply_json(req, 401, "Unauthorized",
               json_pack("{s:s,s:s}", "error", "unauthorized", "reason",
                         h ? "invalid API key" : "missing Authorization: Bearer <admin API key>"));
    return false;
}

/* 403 unless the request may come from where it says: a Host naming this listener
 * (DNS rebinding; not for /healthz, which says only ok or not and which load
 * balancers probe under a service name) and no foreign Origin (a web page the
 * operator visits). */
static bool admin_same_site(struct evhttp_request *req, gw_node *n, bool check_host)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *host = evhttp_find_header(h, "Host");
    const char *why = NULL;
    if (check_host && !gw_auth_admin_host_ok(n->cfg->admin_bind, host))
        why = "Host does not name this admin listener";
    else if (!gw_auth_admin_origin_ok(evhttp_find_header(h, "Origin"), host))
        why = "cross-origin requests are refused";
    if (!why)
        return true;
    static pulse_log_limit lim;
    PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "admin", "refused a request: %s", why);
    reply_json(req, 403, "Forbidden", json_pack("{s:s,s:s}", "error", "forbidden", "reason", why));
    return false;
}

/* POST bodies must say application/json: a browser sends text/plain or a form
 * cross-site without a preflight, never application/json. */
static bool admin_json_body(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = ct ? strcspn(ct, "; \t") : 0;
    if (ct && n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    reply_json(req, 415, "Unsupported Media Type",
               json_pack("{s:s,s:s}", "error", "unsupported_media_type", "reason",
                         "send the body with Content-Type: application/json"));
    return false;
}

void gw_admin_sum_workers(const gw_node *n, gw_totals *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < n->nworkers; i++) {
        const gw_wstats *s = &n->wstats[i];
        t->conns_total += GW_GET(s->connections_total);
        t->conns_active += GW_GET(s->connections_active);
        t->refused += GW_GET(s->connections_refused);
        for (int p = 0; p < 3; p++)
            t->deliveries[p] += GW_GET(s->deliveries[p]);
        for (int r = 0; r < GW_DROP_NREASONS; r++)
            t->dropped[r] += GW_GET(s->dropped[r]);
        t->slow += GW_GET(s->slow_consumers);
        t->bytes += GW_GET(s->bytes_sent);
        t->ring_sends += GW_GET(s->ring_sends);
        t->ring_enters += GW_GET(s->ring_enters);
        t->errors += GW_GET(s->client_errors);
        for (int r = 0; r < GW_AUTH_FAIL_NREASONS; r++)
            t->auth_failures[r] += GW_GET(s->auth_failures[r]);
        for (int b = 0; b <= GW_FANOUT_NB; b++)
            t->buckets[b] += GW_GET(s->fanout_buckets[b]);
        t->sum_ns += GW_GET(s->fanout_sum_ns);
        t->recoveries[0] += GW_GET(s->recoveries[0]);
        t->recoveries[1] += GW_GET(s->recoveries[1]);
        t->replayed += GW_GET(s->events_replayed);
        t->gap_dropped += GW_GET(s->gap_notices_dropped);
    }
}

/* ---- GET /metrics ---- */

static void metric(struct evbuffer *o, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled sample. */
static void metric_u64(struct evbuffer *o, const char *name, const char *type, const char *help, uint64_t v)
{
    metric(o, name, type, help);
    evbuffer_add_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

/* Connections, events in, deliveries out and what was dropped or refused on the way. */
static void metrics_traffic(struct evbuffer *o, gw_node *n, const gw_totals *t)
{
    metric(o, "pulse_connections_active", "gauge", "Open WebSocket connections.");
    evbuffer_add_printf(o, "pulse_connections_active %lld\n", (long long)t->conns_active);
    metric_u64(o, "pulse_connections_total", "counter", "WebSocket connections accepted.", t->conns_total);
    metric_u64(o, "pulse_connections_refused_total", "counter", "Connections refused (limits, draining).",
               t->refused + n->refused);
    metric(o, "pulse_sockets_waiting", "gauge", "Accepted sockets waiting for their first bytes (not yet in a worker).");
    evbuffer_add_printf(o, "pulse_sockets_waiting %lld\n", (long long)n->nwaiting);
    metric_u64(o, "pulse_sockets_silent_closed_total", "counter",
               "Accepted sockets closed for sending nothing within limits.handshake_timeout_s.", n->silent_closed);
    metric(o, "pulse_events_received_total", "counter", "Events received from Redis.");
    evbuffer_add_printf(o, "pulse_events_received_total{priority=\"critical\"} %llu\n",
                        (unsigned long long)n->events_received[PULSE_PRIO_CRITICAL]);
    evbuffer_add_printf(o, "pulse_events_received_total{priority=\"normal\"} %llu\n",
                        (unsigned long long)n->events_received[PULSE_PRIO_NORMAL]);
    metric(o, "pulse_events_refused_total", "counter", "Events from Redis refused, by reason.");
    evbuffer_add_printf(o, "pulse_events_refused_total{reason=\"bad_channel\"} %llu\n",
                        (unsigned long long)n->events_bad_channel);
    metric(o, "pulse_deliveries_total", "counter", "Events written to WebSocket clients.");
    evbuffer_add_printf(o, "pulse_deliveries_total{priority=\"critical\"} %llu\n",
                        (unsigned long long)t->deliveries[PULSE_PRIO_CRITICAL]);
    evbuffer_add_printf(o, "pulse_deliveries_total{priority=\"normal\"} %llu\n",
                        (unsigned long long)t->deliveries[PULSE_PRIO_NORMAL]);
    metric(o, "pulse_dropped_total", "counter", "Events not delivered to a connection, by reason.");
    for (int r = 0; r < GW_DROP_NREASONS; r++)
        evbuffer_add_printf(o, "pulse_dropped_total{reason=\"%s\"} %llu\n", gw_drop_reason_names[r],
                            (unsigned long long)t->dropped[r]);
    metric_u64(o, "pulse_slow_consumers_total", "counter", "Connections closed as slow consumers (1008).", t->slow);
}

/* What clients asked for: bad commands, auth, subscriptions, publishes. */
static void metrics_clients(struct evbuffer *o, gw_node *n, const gw_totals *t)
{
    metric_u64(o, "pulse_client_errors_total", "counter", "Error frames sent for bad client commands.", t->errors);
    metric(o, "pulse_auth_failures_total", "counter", "Authentication and authorization failures, by reason.");
    for (int r = 0; r < GW_AUTH_FAIL_NREASONS; r++)
        evbuffer_add_printf(o, "pulse_auth_failures_total{reason=\"%s\"} %llu\n", gw_auth_fail_names[r],
                            (unsigned long long)t->auth_failures[r]);
    metric(o, "pulse_subscriptions_refused_total", "counter",
           "Subscriptions refused by the node-wide limits (error frame limit), by reason.");
    for (int r = 0; r < GW_SUBREF_NREASONS; r++)
        evbuffer_add_printf(o, "pulse_subscriptions_refused_total{reason=\"%s\"} %llu\n", gw_subref_names[r],
                            (unsigned long long)atomic_load(&n->subs_refused[r]));
    metric(o, "pulse_subscription_names", "gauge", "Distinct names held, summed over the workers, by kind.");
    evbuffer_add_printf(o, "pulse_subscription_names{kind=\"channel\"} %lld\n", (long long)atomic_load(&n->sub_names[0]));
    evbuffer_add_printf(o, "pulse_subscription_names{kind=\"pattern\"} %lld\n", (long long)atomic_load(&n->sub_names[1]));
    metric(o, "pulse_client_publishes_total", "counter",
           "Client {\"op\":\"publish\"} commands, by result (published, failed, refused).");
    evbuffer_add_printf(o, "pulse_client_publishes_total{result=\"published\"} %llu\n",
                        (unsigned long long)atomic_load(&n->ws_published));
    evbuffer_add_printf(o, "pulse_client_publishes_total{result=\"failed\"} %llu\n",
                        (unsigned long long)atomic_load(&n->ws_publish_failed));
    evbuffer_add_printf(o, "pulse_client_publishes_total{result=\"refused\"} %llu\n",
                        (unsigned long long)atomic_load(&n->ws_publish_refused));
}

/* The Redis side: channels held, connection health, history, recoveries and gaps. */
static void metrics_redis(struct evbuffer *o, gw_node *n, const gw_totals *t)
{
    metric(o, "pulse_channels_active", "gauge", "Channels and patterns this node holds in Redis.");
    evbuffer_add_printf(o, "pulse_channels_active %zu\n", gw_chantab_count(n->chans));
    metric(o, "pulse_redis_connected", "gauge", "1 when both Redis connections are up and answering.");
    evbuffer_add_printf(o, "pulse_redis_connected %d\n", gw_redis_healthy(n->redis, NULL) ? 1 : 0);
    metric_u64(o, "pulse_redis_reconnects_total", "counter", "Redis subscriber reconnections.",
               gw_redis_reconnects(n->redis));
    gw_redis_metrics(n->redis, o); /* Redis Cluster only */
    metric(o, "pulse_recoveries_total", "counter", "Subscribes with since, by result.");
    evbuffer_add_printf(o, "pulse_recoveries_total{result=\"recovered\"} %llu\n", (unsigned long long)t->recoveries[1]);
    evbuffer_add_printf(o, "pulse_recoveries_total{result=\"not_recovered\"} %llu\n",
                        (unsigned long long)t->recoveries[0]);
    metric_u64(o, "pulse_recovered_events_total", "counter", "Events replayed from history by recoveries.",
               t->replayed);
    metric_u64(o, "pulse_history_reads_total", "counter", "History reads ({\"op\":\"history\"} and GET /history).",
               n->history_reads);
    metric(o, "pulse_gap_repairs_total", "counter",
           "The node's own gap repairs (offset jump or Redis outage), by result.");
    evbuffer_add_printf(o, "pulse_gap_repairs_total{result=\"filled\"} %llu\n",
                        (unsigned long long)n->gap_repairs_filled);
    evbuffer_add_printf(o, "pulse_gap_repairs_total{result=\"gap\"} %llu\n",
                        (unsigned long long)(n->gap_repairs - n->gap_repairs_filled));
    metric(o, "pulse_gap_notices_total", "counter",
           "{\"op\":\"gap\"} notices: per connection (dropped), per channel (redis_reconnect).");
    evbuffer_add_printf(o, "pulse_gap_notices_total{reason=\"dropped\"} %llu\n", (unsigned long long)t->gap_dropped);
    evbuffer_add_printf(o, "pulse_gap_notices_total{reason=\"redis_reconnect\"} %llu\n",
                        (unsigned long long)n->gap_notices_reconnect);
    metric_u64(o, "pulse_duplicate_events_total", "counter",
               "Live events dropped as already delivered (after a repair).", n->events_duplicate);
}

static void metrics_presence(struct evbuffer *o, gw_node *n)
{
    metric_u64(o, "pulse_presence_entries", "gauge", "Presence entries held by this node (its subscriptions).",
               gw_presence_entries(n));
    metric_u64(o, "pulse_presence_refresh_total", "counter", "Presence refresh round trips to Redis.",
               n->presence_refreshes);
    metric_u64(o, "pulse_presence_reads_total", "counter", "Presence reads (presence, presence_stats, GET /presence).",
               n->presence_reads);
    metric(o, "pulse_presence_events_total", "counter", "Join/leave messages received from Redis.");
    evbuffer_add_printf(o, "pulse_presence_events_total{kind=\"join\"} %llu\n",
                        (unsigned long long)n->presence_events[0]);
    evbuffer_add_printf(o, "pulse_presence_events_total{kind=\"leave\"} %llu\n",
                        (unsigned long long)n->presence_events[1]);
}

/* Bytes written and the fan-out latency histogram. */
static void metrics_writes(struct evbuffer *o, const gw_totals *t)
{
    metric_u64(o, "pulse_bytes_sent_total", "counter", "WebSocket bytes written (frames included).", t->bytes);
    metric_u64(o, "pulse_ring_sends_total", "counter",
               "Sends handed to the kernel through io_uring (ws.io_uring), not as send() calls.", t->ring_sends);
    metric_u64(o, "pulse_ring_enters_total", "counter",
               "io_uring_enter calls made for them (one per fan-out as a rule).", t->ring_enters);
    metric(o, "pulse_fanout_seconds", "histogram", "Redis arrival to socket write, per delivery.");
    uint64_t cum = 0;
    for (int b = 0; b < GW_FANOUT_NB; b++) {
        cum += t->buckets[b];
        evbuffer_add_printf(o, "pulse_fanout_seconds_bucket{le=\"%g\"} %llu\n", gw_fanout_bounds_s[b],
                            (unsigned long long)cum);
    }
    cum += t->buckets[GW_FANOUT_NB];
    evbuffer_add_printf(o, "pulse_fanout_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    evbuffer_add_printf(o, "pulse_fanout_seconds_sum %.9f\n", (double)t->sum_ns / 1e9);
    evbuffer_add_printf(o, "pulse_fanout_seconds_count %llu\n", (unsigned long long)cum);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, true) || !admin_authorized(req, n, false))
        return;
    gw_totals t;
    gw_admin_sum_workers(n, &t);
    struct evbuffer *o = evbuffer_new();
    metrics_traffic(o, n, &t);
    metrics_clients(o, n, &t);
    metrics_redis(o, n, &t);
    metrics_presence(o, n);
    metrics_writes(o, &t);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", o);
    evbuffer_free(o);
}

/* ---- GET /healthz ---- */

static void on_healthz(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, false) ||
        (gw_auth_admin_health_protected(n->auth) && !admin_authorized(req, n, false)))
        return;
    const char *reason = NULL;
    if (atomic_load(&n->draining)) {
        reply_json(req, 503, "Service Unavailable",
                   json_pack("{s:s,s:s,s:s}", "status", "draining", "node", n->cfg->node_id, "reason",
                             "shutting down"));
    } else if (gw_redis_healthy(n->redis, &reason)) {
        json_t *ok = json_pack("{s:s,s:s,s:s}", "status", "ok", "node", n->cfg->node_id, "redis", "connected");
        if (gw_redis_detail(n->redis)) /* Redis Cluster: the shards */
            json_object_set_new(ok, "cluster", json_string(gw_redis_detail(n->redis)));
        reply_json(req, 200, "OK", ok);
    } else {
        reply_json(req, 503, "Service Unavailable",
                   json_pack("{s:s,s:s,s:s}", "status", "unavailable", "node", n->cfg->node_id, "reason",
                             reason ? reason : "redis not connected"));
    }
}

/* ---- GET /stats ---- */

typedef struct {
    json_t *arr;
    const gw_auth *auth;
} chan_list;

/* Owner channels (feed:user-alice) stay out: their names say who is online. */
static void add_chan(gw_chan *c, void *ud)
{
    chan_list *l = ud;
    if (json_array_size(l->arr) < 1000 && gw_chan_wanted(c) && !gw_auth_owner_channel(l->auth, c->name))
        json_array_append_new(l->arr, json_string(c->name));
}

static void on_stats(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, true) || !admin_authorized(req, n, false))
        return;
    gw_totals t;
    gw_admin_sum_workers(n, &t);
    json_t *chans = json_array();
    chan_list list = {chans, n->auth};
    gw_chantab_foreach(n->chans, add_chan, &list);
    json_t *workers = json_array();
    for (int i = 0; i < n->nworkers; i++) {
        gw_wstats *s = &n->wstats[i];
        json_array_append_new(workers, json_pack("{s:i,s:I,s:I}", "worker", i, "connections",
                                                 (json_int_t)GW_GET(s->connections_active), "channels",
                                                 (json_int_t)GW_GET(s->channels)));
    }
    json_t *dropped = json_object();
    for (int r = 0; r < GW_DROP_NREASONS; r++)
        json_object_set_new(dropped, gw_drop_reason_names[r], json_integer((json_int_t)t.dropped[r]));
    const char *reason = NULL;
    bool healthy = gw_redis_healthy(n->redis, &reason);
    json_t *root = json_pack(
        "{s:s,s:I,s:i,s:I,s:I,s:I,s:o,s:o,s:{s:b,s:I,s:s?},s:{s:I,s:I},s:{s:I,s:I},s:o,s:I,s:I}", "node",
        n->cfg->node_id, "uptime_ms", (json_int_t)(pulse_mono_ms() - n->started_ms), "port", n->ws_port,
        "connections", (json_int_t)t.conns_active, "connections_total", (json_int_t)t.conns_total,
        "channels_active", (json_int_t)gw_chantab_count(n->chans), "channels", chans, "workers", workers,
        "redis", "connected", healthy, "reconnects", (json_int_t)gw_redis_reconnects(n->redis), "reason",
        healthy ? NULL : reason, "events_received", "critical",
        (json_int_t)n->events_received[PULSE_PRIO_CRITICAL], "normal",
        (json_int_t)n->events_received[PULSE_PRIO_NORMAL], "deliveries", "critical",
        (json_int_t)t.deliveries[PULSE_PRIO_CRITICAL], "normal", (json_int_t)t.deliveries[PULSE_PRIO_NORMAL],
        "dropped", dropped, "slow_consumers", (json_int_t)t.slow, "bytes_sent", (json_int_t)t.bytes);
    /* events that reached the node with no local subscriber (static channels, races) */
    json_object_set_new(root, "events_unrouted", json_integer((json_int_t)n->events_unrouted));
    /* the client port's scheme (with "port"): the admin page opens ws[s]://host:port/ws */
    json_object_set_new(root, "tls", json_boolean(n->cfg->tls_cert && n->cfg->tls_key));
    reply_json(req, 200, "OK", root);
}

/* ---- POST /publish ---- */

typedef struct {
    struct evhttp_request *req; /* NULL once the client went away */
    struct evhttp_connection *conn;
    char channel[PULSE_CHANNEL_MAX + 1];
} pub_req;

static void on_client_gone(struct evhttp_connection *conn, void *arg)
{
    pub_req *p = arg;
    p->req = NULL;
}

static void on_published(void *ud, long long offset, const char *err)
{
    pub_req *p = ud;
    if (p->req) {
        evhttp_connection_set_closecb(p->conn, NULL, NULL);
        if (offset >= 0)
            reply_json(p->req, 202, "Accepted",
                       json_pack("{s:s,s:s,s:I}", "status", "accepted", "channel", p->channel, "offset",
                                 (json_int_t)offset));
        else
            reply_error(p->req, 503, "Service Unavailable", err ? err : "publish failed");
    }
    free(p);
}

/* {"channel":"...","data":...}: data is published as it is. false: answered 400. */
static bool envelope_payload(struct evhttp_request *req, json_t *root, json_t *jc, char *channel, size_t cap,
                             char **payload)
{
    json_t *data = json_object_get(root, "data");
    if (!json_is_string(jc) || pulse_channel_validate(json_string_value(jc), json_string_length(jc)) != 0) {
        reply_error(req, 400, "Bad Request", "\"channel\" must be a channel name: 1-128 bytes of [A-Za-z0-9._:@-]");
        return false;
    }
    if (!data) {
        reply_error(req, 400, "Bad Request", "missing \"data\"");
        return false;
    }
    snprintf(channel, cap, "%s", json_string_value(jc));
    *payload = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    return true;
}

/* ?channel= when the request has one (channel untouched otherwise). false: answered 400. */
static bool query_channel(struct evhttp_request *req, char *channel, size_t cap)
{
    struct evkeyvalq q;
    const char *uri = evhttp_request_get_uri(req);
    struct evhttp_uri *u = evhttp_uri_parse(uri);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    bool ok = true;
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *c = evhttp_find_header(&q, "channel");
        if (c && pulse_channel_validate(c, strlen(c)) != 0) {
            reply_error(req, 400, "Bad Request", "?channel= must be a channel name");
            ok = false;
        } else if (c) {
            snprintf(channel, cap, "%s", c);
        }
        evhttp_clear_headers(&q);
    }
    if (u)
        evhttp_uri_free(u);
    return ok;
}

/* A bare event: validated, published to ?channel= or events.critical. false: answered 400. */
static bool bare_event_payload(struct evhttp_request *req, const char *body, size_t len, char *channel, size_t cap,
                               char **payload)
{
    pulse_event ev;
    pulse_error perr;
    if (pulse_event_parse(body, len, &ev, &perr) != 0) {
        char why[200];
        snprintf(why, sizeof(why), "not an event: %s", perr.text);
        reply_error(req, 400, "Bad Request", why);
        return false;
    }
    snprintf(channel, cap, "events.critical");
    if (!query_channel(req, channel, cap))
        return false;
    /* the body as sent, unless a raw line break in it could forge a second
     * envelope on ?batch=1 connections: then compact */
    size_t plen;
    *payload = gw_json_unbroken(body, len, &plen);
    if (!*payload && plen == len)
        *payload = pulse_xstrndup(body, len);
    return true;
}

static void on_publish(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_POST) || !admin_same_site(req, n, true) || !admin_json_body(req) ||
        !admin_authorized(req, n, true))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len == 0) {
        reply_error(req, 400, "Bad Request", "empty body: expected a JSON event or {\"channel\":...,\"data\":...}");
        return;
    }
    const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        char why[256];
        if (root)
            snprintf(why, sizeof(why), "body must be a JSON object");
        else
            snprintf(why, sizeof(why), "malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        json_decref(root);
        reply_error(req, 400, "Bad Request", why);
        return;
    }

    char channel[PULSE_CHANNEL_MAX + 1];
    char *payload = NULL;
    json_t *jc = json_object_get(root, "channel");
    bool ok = jc ? envelope_payload(req, root, jc, channel, sizeof(channel), &payload)
                 : bare_event_payload(req, body, len, channel, sizeof(channel), &payload);
    json_decref(root);
    if (!ok)
        return;
    if (!payload) {
        reply_error(req, 400, "Bad Request", "cannot encode data");
        return;
    }

    pub_req *p = pulse_xcalloc(1, sizeof(*p));
    p->req = req;
    p->conn = evhttp_request_get_connection(req);
    snprintf(p->channel, sizeof(p->channel), "%s", channel);
    if (gw_redis_publish(n->redis, channel, payload, strlen(payload), on_published, p) != 0) {
        const char *reason = "redis not connected";
        gw_redis_healthy(n->redis, &reason);
        free(p);
        reply_error(req, 503, "Service Unavailable", reason);
    } else {
        evhttp_connection_set_closecb(p->conn, on_client_gone, p);
    }
    free(payload);
}

/* ---- GET /history ---- */

static void on_history(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, true) || !admin_authorized(req, n, false))
        return;
    gw_history_http(n, req);
}

/* ---- GET /presence ---- */

static void on_presence(struct evhttp_request *req, void *arg)
{
    gw_node *n = arg;
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, true) || !admin_authorized(req, n, false))
        return;
    gw_presence_http(n, req);
}

/* ---- GET / : the node's page ---- */

/* The page may load only its own files and talk only to this admin port and the
 * node's client port, on the host name it was loaded from (any host, "*", when that
 * name is not plain letters, digits, dots and dashes: an IPv6 literal, say). */
static void page_csp(const gw_node *n, const char *host, char *out, size_t cap)
{
    char h[256];
    gw_auth_csp_host(host, h, sizeof h);
    bool tls = n->cfg->tls_cert && n->cfg->tls_key;
    snprintf(out, cap,
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self' %s://%s:%d; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             tls ? "wss" : "ws", h, n->ws_port);
}

/* The page holds no data (its script reads /stats, /metrics, /history, /presence, with
 * the admin key when one is set), so it needs no key; Host and Origin are checked. */
static void on_page(struct evhttp_request *req, gw_node *n, const gw_web_asset *a)
{
    if (!method_is(req, EVHTTP_REQ_GET) || !admin_same_site(req, n, true))
        return;
    char csp[512];
    page_csp(n, evhttp_find_header(evhttp_request_get_input_headers(req), "Host"), csp, sizeof csp);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", a->type);
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    struct evbuffer *o = evbuffer_new();
    evbuffer_add_reference(o, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", o);
    evbuffer_free(o);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    for (size_t i = 0; path && i < gw_web_nassets; i++)
        if (strcmp(path, gw_web_assets[i].path) == 0) {
            on_page(req, arg, &gw_web_assets[i]);
            return;
        }
    reply_error(req, 404, "Not Found", "no such endpoint: try / /metrics /healthz /stats /publish /history /presence");
}

int gw_admin_start(gw_node *n, pulse_error *err)
{
    n->http = evhttp_new(n->base);
    if (!n->http)
        return pulse_error_set(err, PULSE_ENOMEM, 0, "admin: cannot create the HTTP server");
    evhttp_set_max_body_size(n->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(n->http, 16384);
    evhttp_set_timeout(n->http, 30);
    evhttp_set_allowed_methods(n->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_cb(n->http, "/metrics", on_metrics, n);
    evhttp_set_cb(n->http, "/healthz", on_healthz, n);
    evhttp_set_cb(n->http, "/stats", on_stats, n);
    evhttp_set_cb(n->http, "/publish", on_publish, n);
    evhttp_set_cb(n->http, "/history", on_history, n);
    evhttp_set_cb(n->http, "/presence", on_presence, n);
    evhttp_set_gencb(n->http, on_other, n);
    struct evhttp_bound_socket *h =
        evhttp_bind_socket_with_handle(n->http, n->cfg->admin_bind, (ev_uint16_t)n->cfg->admin_port);
    if (!h)
        return pulse_error_set(err, PULSE_EIO, 0, "admin: cannot listen on %s:%d", n->cfg->admin_bind,
                               n->cfg->admin_port);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(h), gw_node_accept_error);
    n->admin_port = gw_bound_port(evhttp_bound_socket_get_fd(h), n->cfg->admin_port);
    return 0;
}

void gw_admin_stop(gw_node *n)
{
    if (n->http) {
        evhttp_free(n->http);
        n->http = NULL;
    }
}
