/*
 * test_presence.c - presence end to end: one real redis-server, two real gateways (A
 * and B) with a 1 s refresh interval (entries expire 3 s after their node's last
 * refresh), JWT auth (HS256) so connections carry a user, clients over real
 * WebSockets.
 *
 *   - users join and leave on both nodes (unsubscribe, close, expired token): watchers
 *     on both nodes see the same presence and receive each join and each leave exactly
 *     once;
 *   - a node SIGKILLed: its members vanish from presence within the documented bound
 *     (3 refresh intervals, plus one for the purge) and each counts as one leave;
 *   - presence and presence_stats need the subscribe grant; a channel without presence
 *     answers not_available; GET /presence on the admin port;
 *   - presence_stats counts distinct users; a token's "info" travels with the entry;
 *     presence.list_max caps the list;
 *   - the library's functions from a plain Redis client: add/remove/touch, user counts,
 *     expiry purged by the next call, usage errors that change nothing, no keys left.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ts.h"
#include "ts_check.h"
#include "ts_jwt.h"

static ts_stack stack;
static char conf_path[600], secret_path[700];
static const char secret[] = "presence-secret-presence-secret-0123456789";

static const char conf[] = "presence = { refresh_interval_s = 1; };\n"
                           "auth = { leeway_s = 0; };\n"
                           "channels = { rules = (\n"
                           "  { pattern = \"room.*\"; presence = true; join_leave = true; },\n"
                           "  { pattern = \"secret.*\"; presence = true; join_leave = true; },\n"
                           "  { pattern = \"quiet.*\"; presence = true; }\n"
                           "); };\n";

static ts_gateway *gw_a, *gw_b;
static int slot_b;

/* After the stack's setup (temp dir, Redis): the config, the key, both nodes. */
static void setup(void)
{
    snprintf(conf_path, sizeof conf_path, "%s/presence.conf", stack.tmp);
    ck_assert_int_eq(tsj_write_file(conf_path, conf, strlen(conf)), 0);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *args[] = {"--config", conf_path, "--jwt-secret-file", secret_path, NULL};
    gw_a = ts_fixture_gateway("node-a", (char *const *)args);
    slot_b = ts_stack_start_gateway(&stack, "node-b", (char *const *)args);
    ck_assert_int_ge(slot_b, 0);
    gw_b = &stack.gw[slot_b];
    /* the ready line comes before the function library is loaded; /healthz says 200
     * only after (test_library FCALLs it at once) */
    ck_assert_int_eq(ts_http_wait_status(gw_a->admin_port, "/healthz", 200, 5000), 0);
    ck_assert_int_eq(ts_http_wait_status(gw_b->admin_port, "/healthz", 200, 5000), 0);
}

/* ---- a client that keeps the join/leave frames it sees ---- */

#define MAX_EV 64

typedef struct {
    ts_ws ws;
    char id[96];          /* "<node>:<conn>" from the hello */
    char *ev[MAX_EV];     /* join/leave frames, in arrival order */
    int nev;
} client;

static char *token(const char *sub, long ttl_s, const char *extra)
{
    char payload[512];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld,\"channels\":[\"room.*\",\"quiet.*\",\"plain.*\"]%s}",
             sub, (long)time(NULL) + ttl_s, extra ? extra : "");
    return tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
}

static void connect_as(client *c, int port, const char *sub, long ttl_s, const char *extra)
{
    memset(c, 0, sizeof *c);
    char *tok = token(sub, ttl_s, extra);
    char path[2048];
    snprintf(path, sizeof path, "/ws?token=%s", tok);
    free(tok);
    ck_assert_int_eq(ts_ws_connect(&c->ws, port, path, "pulse.v1"), 0);
    char *m = NULL;
    ck_assert_int_eq(ts_ws_recv(&c->ws, &m, NULL, 5000), 1);
    json_t *o = json_loads(m, 0, NULL);
    ck_assert_msg(o && strcmp(json_string_value(json_object_get(o, "op")), "hello") == 0, "want hello: %s", m);
    snprintf(c->id, sizeof c->id, "%s:%lld", json_string_value(json_object_get(o, "node")),
             (long long)json_integer_value(json_object_get(o, "conn")));
    json_decref(o);
    free(m);
}

static void client_free(client *c)
{
    ts_ws_close(&c->ws);
    for (int i = 0; i < c->nev; i++)
        free(c->ev[i]);
    c->nev = 0;
}

/* Reads frames until one with "op" == want (returned, parsed) keeping join/leave
 * frames; NULL on timeout or close. */
static json_t *pump(client *c, const char *want, int timeout_ms)
{
    int64_t end = ts_now_ms() + timeout_ms;
    while (ts_now_ms() < end) {
        char *m = NULL;
        int r = ts_ws_recv(&c->ws, &m, NULL, (int)(end - ts_now_ms()) + 1);
        if (r != 1) {
            free(m);
            return NULL;
        }
        json_t *o = json_loads(m, 0, NULL);
        const char *op = o ? json_string_value(json_object_get(o, "op")) : NULL;
        if (op && (strcmp(op, "join") == 0 || strcmp(op, "leave") == 0)) {
            ck_assert_int_lt(c->nev, MAX_EV);
            c->ev[c->nev++] = strdup(m);
        }
        free(m);
        if (op && want && strcmp(op, want) == 0)
            return o;
        json_decref(o);
    }
    return NULL;
}

static json_t *op(client *c, const char *request, const char *want)
{
    ck_assert_int_eq(ts_ws_send_text(&c->ws, request), 0);
    json_t *o = pump(c, want, 5000);
    ck_assert_msg(o != NULL, "%s: no %s reply to %s", c->id, want, request);
    return o;
}

static void subscribe(client *c, const char *channel)
{
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"subscribe\",\"channel\":\"%s\"}", channel);
    json_decref(op(c, req, "subscribed"));
}

/* How many kind frames for client id c has seen on channel. */
static int count_ev(const client *c, const char *kind, const char *channel, const char *id)
{
    int n = 0;
    for (int i = 0; i < c->nev; i++) {
        json_t *o = json_loads(c->ev[i], 0, NULL);
        ck_assert_ptr_nonnull(o);
        if (strcmp(json_string_value(json_object_get(o, "op")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(o, "channel")), channel) == 0 &&
            strcmp(json_string_value(json_object_get(o, "client")), id) == 0)
            n++;
        json_decref(o);
    }
    return n;
}

/* Pumps until c has seen kind for id (or the timeout); returns the count then. */
static int wait_ev(client *c, const char *kind, const char *channel, const char *id, int timeout_ms)
{
    int64_t end = ts_now_ms() + timeout_ms;
    while (count_ev(c, kind, channel, id) == 0 && ts_now_ms() < end)
        json_decref(pump(c, NULL, 200));
    return count_ev(c, kind, channel, id);
}

static void sorted_ids(char *out, size_t cap, int n, const char *const *ids)
{
    const char *v[16];
    for (int i = 0; i < n; i++)
        v[i] = ids[i];
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
            const char *t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", v[i]);
}

/* The presence op's client ids, sorted, joined by ','. */
static void presence_ids(client *c, const char *channel, char *out, size_t cap)
{
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"presence\",\"channel\":\"%s\"}", channel);
    json_t *o = op(c, req, "presence");
    ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), channel);
    json_t *arr = json_object_get(o, "clients");
    ck_assert(json_is_array(arr));
    const char *ids[16];
    size_t n = json_array_size(arr);
    ck_assert_uint_lt(n, 16);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        ids[i] = json_string_value(json_object_get(e, "client"));
        ck_assert_ptr_nonnull(ids[i]);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "user")));
        ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "node")));
    }
    sorted_ids(out, cap, (int)n, ids);
    json_decref(o);
}

static void stats(client *c, const char *channel, long long *clients, long long *users)
{
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"presence_stats\",\"channel\":\"%s\"}", channel);
    json_t *o = op(c, req, "presence_stats");
    *clients = json_integer_value(json_object_get(o, "clients"));
    *users = json_integer_value(json_object_get(o, "users"));
    json_decref(o);
}

/* stats() again and again, up to 5 s, until the channel counts want_clients clients;
 * the last counts in *clients and *users (the caller asserts them). */
static void wait_stats(client *c, const char *channel, long long want_clients, long long *clients,
                       long long *users)
{
    int64_t end = ts_now_ms() + 5000;
    do {
        stats(c, channel, clients, users);
    } while (*clients != want_clients && ts_now_ms() < end);
}

/* Both watchers list exactly want (sorted ids), polling up to timeout_ms. */
static void expect_presence(client *wa, client *wb, const char *channel, const char *want, int timeout_ms)
{
    char a[1024] = "", b[1024] = "";
    int64_t end = ts_now_ms() + timeout_ms;
    do {
        presence_ids(wa, channel, a, sizeof a);
        presence_ids(wb, channel, b, sizeof b);
        if (strcmp(a, want) == 0 && strcmp(b, want) == 0)
            return;
        ts_sleep_ms(100);
    } while (ts_now_ms() < end);
    ck_abort_msg("presence of %s: want [%s], node A says [%s], node B says [%s]", channel, want, a, b);
}

START_TEST(test_join_leave_two_nodes)
{
    client wa, wb, u1, u2, u3;
    connect_as(&wa, gw_a->port, "watcher-a", 600, NULL);
    connect_as(&wb, gw_b->port, "watcher-b", 600, NULL);
    subscribe(&wa, "room.1");
    subscribe(&wb, "room.1");
    ck_assert_int_eq(wait_ev(&wa, "join", "room.1", wb.id, 5000), 1);

    /* u1 on A, u2 on B (the same user twice would be one user: see test_stats) */
    connect_as(&u1, gw_a->port, "u1", 600, NULL);
    connect_as(&u2, gw_b->port, "u2", 600, NULL);
    subscribe(&u1, "room.1");
    subscribe(&u2, "room.1");
    for (int i = 0; i < 2; i++) {
        client *w = i ? &wb : &wa;
        ck_assert_int_eq(wait_ev(w, "join", "room.1", u1.id, 5000), 1);
        ck_assert_int_eq(wait_ev(w, "join", "room.1", u2.id, 5000), 1);
    }
    const char *four[] = {wa.id, wb.id, u1.id, u2.id};
    char want[1024];
    sorted_ids(want, sizeof want, 4, four);
    expect_presence(&wa, &wb, "room.1", want, 5000);
    long long nc = 0, nu = 0;
    stats(&wb, "room.1", &nc, &nu);
    ck_assert_int_eq(nc, 4);
    ck_assert_int_eq(nu, 4);

    /* u1 unsubscribes; u2 goes away without a close frame */
    json_decref(op(&u1, "{\"op\":\"unsubscribe\",\"channel\":\"room.1\"}", "unsubscribed"));
    ts_ws_close(&u2.ws);
    for (int i = 0; i < 2; i++) {
        client *w = i ? &wb : &wa;
        ck_assert_int_eq(wait_ev(w, "leave", "room.1", u1.id, 5000), 1);
        ck_assert_int_eq(wait_ev(w, "leave", "room.1", u2.id, 5000), 1);
    }
    const char *two[] = {wa.id, wb.id};
    sorted_ids(want, sizeof want, 2, two);
    expect_presence(&wa, &wb, "room.1", want, 5000);

    /* u3's token expires 2 s from now: the node closes it (4401) and it leaves */
    connect_as(&u3, gw_b->port, "u3", 2, NULL);
    subscribe(&u3, "room.1");
    ck_assert_int_eq(wait_ev(&wa, "join", "room.1", u3.id, 5000), 1);
    ck_assert_int_eq(ts_ws_wait_closed(&u3.ws, 6000), 4401);
    for (int i = 0; i < 2; i++) {
        client *w = i ? &wb : &wa;
        ck_assert_int_eq(wait_ev(w, "leave", "room.1", u3.id, 5000), 1);
    }
    expect_presence(&wa, &wb, "room.1", want, 5000);

    /* nothing twice: a few refresh rounds later every event is still there once */
    int64_t end = ts_now_ms() + 2500;
    while (ts_now_ms() < end) {
        json_decref(pump(&wa, NULL, 100));
        json_decref(pump(&wb, NULL, 100));
    }
    const char *ids[] = {u1.id, u2.id, u3.id};
    for (int i = 0; i < 2; i++) {
        client *w = i ? &wb : &wa;
        for (int k = 0; k < 3; k++) {
            ck_assert_msg(count_ev(w, "join", "room.1", ids[k]) == 1, "watcher %d: joins of %s: %d", i, ids[k],
                          count_ev(w, "join", "room.1", ids[k]));
            ck_assert_msg(count_ev(w, "leave", "room.1", ids[k]) == 1, "watcher %d: leaves of %s: %d", i, ids[k],
                          count_ev(w, "leave", "room.1", ids[k]));
        }
    }
    ck_assert_int_eq(count_ev(&wa, "join", "room.1", wb.id), 1);
    ck_assert(ts_metric(gw_a->admin_port, "pulse_presence_entries") == 1);
    ck_assert(ts_metric(gw_b->admin_port, "pulse_presence_entries") == 1);
    ck_assert(ts_metric(gw_a->admin_port, "pulse_presence_events_total{kind=\"join\"}") >= 4);
    ck_assert(ts_metric(gw_a->admin_port, "pulse_presence_refresh_total") >= 2);
    client_free(&wa);
    client_free(&wb);
    client_free(&u1);
    client_free(&u2);
    client_free(&u3);
}
END_TEST

START_TEST(test_node_killed)
{
    client wa, b1, b2;
    connect_as(&wa, gw_a->port, "watcher-a", 600, NULL);
    subscribe(&wa, "room.k");
    connect_as(&b1, gw_b->port, "u1", 600, NULL);
    connect_as(&b2, gw_b->port, "u2", 600, NULL);
    subscribe(&b1, "room.k");
    subscribe(&b2, "room.k");
    ck_assert_int_eq(wait_ev(&wa, "join", "room.k", b2.id, 5000), 1);
    long long nc = 0, nu = 0;
    stats(&wa, "room.k", &nc, &nu);
    ck_assert_int_eq(nc, 3);
    ck_assert_int_eq(ts_proc_signal(&gw_b->proc, SIGKILL), 0);
    ts_proc_wait(&gw_b->proc, 5000);
    int64_t t0 = ts_now_ms();
    /* the bound: 3 refresh intervals after the last refresh, purged by the next call
     * on the channel (node A's own refresh, every interval): under 5 s */
    do {
        stats(&wa, "room.k", &nc, &nu);
        if (nc == 1)
            break;
        ts_sleep_ms(100);
    } while (ts_now_ms() - t0 < 6000);
    int64_t gone_ms = ts_now_ms() - t0;
    fprintf(stderr, "presence: node-b's members gone %lld ms after its SIGKILL\n", (long long)gone_ms);
    ck_assert_msg(nc == 1 && nu == 1, "after SIGKILL: %lld clients, %lld users (want 1, 1)", nc, nu);
    ck_assert_msg(gone_ms <= 5000, "members of the killed node lived %lld ms (bound 5000)", (long long)gone_ms);
    ck_assert_int_eq(wait_ev(&wa, "leave", "room.k", b1.id, 3000), 1);
    ck_assert_int_eq(wait_ev(&wa, "leave", "room.k", b2.id, 3000), 1);
    char ids[256];
    client *only[] = {&wa};
    presence_ids(only[0], "room.k", ids, sizeof ids);
    ck_assert_str_eq(ids, wa.id);
    ts_ws_close(&b1.ws);
    ts_ws_close(&b2.ws);
    ts_gateway_stop(gw_b);
    stack.gw_started[slot_b] = false; /* killed on purpose: no exit status to check */
    client_free(&wa);
    client_free(&b1);
    client_free(&b2);
}
END_TEST

START_TEST(test_authorization)
{
    client c;
    connect_as(&c, gw_a->port, "u1", 600, NULL);
    /* secret.* has presence but the token does not grant it */
    json_t *o = op(&c, "{\"op\":\"presence\",\"channel\":\"secret.1\"}", "error");
    ck_assert_str_eq(json_string_value(json_object_get(o, "code")), "forbidden");
    json_decref(o);
    o = op(&c, "{\"op\":\"presence_stats\",\"channel\":\"secret.1\"}", "error");
    ck_assert_str_eq(json_string_value(json_object_get(o, "code")), "forbidden");
    json_decref(o);
    /* plain.* is granted but has no presence */
    o = op(&c, "{\"op\":\"presence\",\"channel\":\"plain.1\"}", "error");
    ck_assert_str_eq(json_string_value(json_object_get(o, "code")), "not_available");
    json_decref(o);
    /* a pattern is not a channel */
    o = op(&c, "{\"op\":\"presence\",\"channel\":\"room.*\"}", "error");
    ck_assert_str_eq(json_string_value(json_object_get(o, "code")), "bad_request");
    json_decref(o);
    client_free(&c);
    /* without a token */
    ts_ws anon;
    ck_assert_int_eq(ts_ws_connect(&anon, gw_a->port, "/ws", "pulse.v1"), 0);
    char *reply = NULL;
    ck_assert_int_eq(ts_ws_recv(&anon, &reply, NULL, 5000), 1); /* the hello */
    free(reply);
    reply = NULL;
    ck_assert_int_eq(ts_ws_op(&anon, "{\"op\":\"presence\",\"channel\":\"room.1\"}", "error", &reply, 5000), 0);
    ck_assert_msg(strstr(reply, "\"code\":\"unauthorized\""), "%s", reply);
    free(reply);
    ts_ws_close(&anon);
    /* the admin port: same JSON as the op; 404 for a channel without presence */
    char body[4096];
    ck_assert_int_eq(ts_http(gw_a->admin_port, "GET", "/presence?channel=room.9", NULL, NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "{\"op\":\"presence\",\"channel\":\"room.9\",\"clients\":[]}"), "%s", body);
    ck_assert_int_eq(ts_http(gw_a->admin_port, "GET", "/presence?channel=plain.1", NULL, NULL, body, sizeof body), 404);
    ck_assert_int_eq(ts_http(gw_a->admin_port, "GET", "/presence?channel=bad%20name", NULL, NULL, body, sizeof body), 400);
}
END_TEST

START_TEST(test_stats)
{
    client a1, a2, b1;
    connect_as(&a1, gw_a->port, "ann", 600, ",\"info\":{\"name\":\"Ann\"}");
    connect_as(&a2, gw_b->port, "ann", 600, NULL);
    connect_as(&b1, gw_b->port, "bob", 600, NULL);
    subscribe(&a1, "quiet.1");
    subscribe(&a2, "quiet.1");
    subscribe(&b1, "quiet.1");
    /* "subscribed" is Redis's SUBSCRIBE answer; the entry goes over the other
     * connection: visible one round trip later */
    long long nc = 0, nu = 0;
    wait_stats(&a1, "quiet.1", 3, &nc, &nu);
    ck_assert_int_eq(nc, 3);
    ck_assert_int_eq(nu, 2);
    /* the token's info travels with the entry; quiet.* has no join/leave */
    json_t *o = op(&b1, "{\"op\":\"presence\",\"channel\":\"quiet.1\"}", "presence");
    json_t *arr = json_object_get(o, "clients");
    ck_assert_uint_eq(json_array_size(arr), 3);
    int with_info = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *info = json_object_get(e, "info");
        if (info) {
            ck_assert_str_eq(json_string_value(json_object_get(e, "client")), a1.id);
            ck_assert_str_eq(json_string_value(json_object_get(info, "name")), "Ann");
            with_info++;
        }
    }
    ck_assert_int_eq(with_info, 1);
    json_decref(o);
    ck_assert_int_eq(a1.nev + a2.nev + b1.nev, 0);
    /* ann leaves once of twice: still 2 users; then bob: 1 */
    ts_ws_close(&a2.ws);
    wait_stats(&a1, "quiet.1", 2, &nc, &nu);
    ck_assert_int_eq(nc, 2);
    ck_assert_int_eq(nu, 2);
    json_decref(op(&b1, "{\"op\":\"unsubscribe\",\"channel\":\"quiet.1\"}", "unsubscribed"));
    wait_stats(&a1, "quiet.1", 1, &nc, &nu);
    ck_assert_int_eq(nc, 1);
    ck_assert_int_eq(nu, 1);
    char body[4096];
    ck_assert_int_eq(ts_http(gw_b->admin_port, "GET", "/presence?channel=quiet.1&stats=1", NULL, NULL, body, sizeof body),
                     200);
    ck_assert_msg(strstr(body, "{\"op\":\"presence_stats\",\"channel\":\"quiet.1\",\"clients\":1,\"users\":1}"), "%s",
                  body);
    client_free(&a1);
    client_free(&a2);
    client_free(&b1);
}
END_TEST

START_TEST(test_list_max)
{
    /* node B again with presence.list_max 2 */
    ck_assert_int_eq(ts_stack_stop_gateway(&stack, slot_b, 8000), 0);
    const char *args[] = {"--config", conf_path, "--jwt-secret-file", secret_path, "--presence.list-max", "2", NULL};
    slot_b = ts_stack_start_gateway(&stack, "node-b", (char *const *)args);
    ck_assert_int_ge(slot_b, 0);
    gw_b = &stack.gw[slot_b];
    client c[4];
    for (int i = 0; i < 4; i++) {
        connect_as(&c[i], gw_a->port, "u", 600, NULL);
        subscribe(&c[i], "quiet.max");
    }
    client b;
    connect_as(&b, gw_b->port, "v", 600, NULL);
    long long nc = 0, nu = 0;
    wait_stats(&b, "quiet.max", 4, &nc, &nu);
    json_t *o = op(&b, "{\"op\":\"presence\",\"channel\":\"quiet.max\"}", "presence");
    ck_assert_uint_eq(json_array_size(json_object_get(o, "clients")), 2);
    json_decref(o);
    ck_assert_int_eq(nc, 4);
    ck_assert_int_eq(nu, 1);
    for (int i = 0; i < 4; i++)
        client_free(&c[i]);
    client_free(&b);
}
END_TEST

/* ---- the library's functions straight from a Redis client ---- */

static const char *rcmd(int argc, const char *const *argv)
{
    static char out[4096];
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, argc, argv), 0);
    return out;
}
#define RCMD(...) rcmd(N_ELEMS(((const char *const[]){__VA_ARGS__})), (const char *const[]){__VA_ARGS__})

START_TEST(test_library)
{
    /* node A loaded the library; these are what any client of Redis would send */
    const char e1[] = "{\"client\":\"x:1\",\"user\":\"u\",\"node\":\"x\"}";
    const char e2[] = "{\"client\":\"x:2\",\"user\":\"u\",\"node\":\"x\"}";
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_add", "1", "lib.a", "x:1", "u", e1, "60000", "0"), "1");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_add", "1", "lib.a", "x:1", "u", e1, "60000", "0"), "0");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_add", "1", "lib.a", "x:2", "u", e2, "60000", "0"), "1");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_stats", "1", "lib.a"), "2\n1");
    ck_assert_str_eq(RCMD("HGET", "pulse:{lib.a}:pusers", "u"), "2");
    long ttl = atol(RCMD("PTTL", "pulse:{lib.a}:pres"));
    ck_assert_msg(ttl > 59000 && ttl <= 61000, "PTTL %ld", ttl);
    /* touch answers the clients it does not hold */
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_touch", "1", "lib.a", "60000", "0", "x:1", "x:9"), "x:9");
    /* usage errors change nothing */
    static const char *const bad[][9] = {
        {"FCALL", "pulse_presence_add", "1", "lib.a", "x:3", "u", "not json", "60000", "0"},
        {"FCALL", "pulse_presence_add", "1", "lib.a", "x:3", "u", "{\"a\":1}", "-5", "0"},
        {"FCALL", "pulse_presence_add", "1", "lib.a", "x:3", "u", "{\"a\":1}", "60000", "2"},
        {"FCALL", "pulse_presence_remove", "1", "lib.a", "x:1", "maybe"},
        {"FCALL", "pulse_presence", "1", "lib.a", "0"},
    };
    static const int nbad[] = {9, 9, 9, 6, 5};
    for (int i = 0; i < N_ELEMS(nbad); i++)
        ck_assert_msg(strncmp(rcmd(nbad[i], bad[i]), "ERR usage", 9) == 0, "case %d: %s", i, rcmd(nbad[i], bad[i]));
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_stats", "1", "lib.a"), "2\n1");
    /* remove: the user count follows; an unknown client is 0 */
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_remove", "1", "lib.a", "x:1", "0"), "1");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_remove", "1", "lib.a", "x:1", "0"), "0");
    ck_assert_str_eq(RCMD("HGET", "pulse:{lib.a}:pusers", "u"), "1");
    /* expiry: an entry not refreshed is purged by the next call, and counts as a leave */
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_add", "1", "lib.a", "x:3", "v", "{\"client\":\"x:3\",\"user\":\"v\",\"node\":\"x\"}",
                          "100", "0"), "1");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_stats", "1", "lib.a"), "2\n2");
    ts_sleep_ms(300);
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_stats", "1", "lib.a"), "1\n1");
    ck_assert_str_eq(RCMD("HEXISTS", "pulse:{lib.a}:pusers", "v"), "0");
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence", "1", "lib.a", "10"), e2);
    /* the last one out: nothing left behind */
    ck_assert_str_eq(RCMD("FCALL", "pulse_presence_remove", "1", "lib.a", "x:2", "0"), "1");
    ck_assert_str_eq(RCMD("EXISTS", "pulse:{lib.a}:pres", "pulse:{lib.a}:pexp", "pulse:{lib.a}:pusers"), "0");
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("presence", "presence", 120, &stack, TS_FIX_REDIS, 8000, setup, NULL,
                          test_join_leave_two_nodes, test_node_killed, test_authorization,
                          test_stats, test_list_max, test_library);
}
