/*
 * test_redis_cluster_gw.c - pulse-gateway on a real Redis Cluster (3 primaries, 3
 * replicas on loopback, started once for the suite by loadtest/redis_cluster.sh with
 * cluster-node-timeout 1500 ms), two gateway nodes A and B with
 * --redis redis+cluster://<all six nodes>. In order:
 *  1. channels on every shard, subscribed on both nodes: PUBSUB SHARDCHANNELS on each
 *     primary lists exactly that shard's channels, and a POST /publish on B to each
 *     channel reaches the clients of both nodes once;
 *  2. a pattern subscription is refused with pattern_unsupported (sharded pub/sub has
 *     no patterns), and the connection stays usable;
 *  3. pulse-publish --redis redis+cluster://... lands each event on its shard: every
 *     event reaches a client, with consecutive offsets;
 *  4. history: events published through POST /publish are recovered with ?since= on
 *     the other node (recovered:true, exactly the missed ones);
 *  5. one slot moved to another primary (CLUSTER SETSLOT) while both nodes are
 *     subscribed to a channel in it: both resubscribe on the new primary (Redis pushed
 *     sunsubscribe), none stays on the old one, the clients get a gap notice (no history
 *     on that channel) and then the publishes;
 *  6. a real resharding (redis-cli --cluster reshard) of the slot of a history channel
 *     that holds its history keys, while pulse-publish and POST /publish publish to it:
 *     both nodes resubscribe on the new owner, every accepted publish ran once
 *     (consecutive offsets), ASK was met and followed, every client has every event
 *     once, in order;
 *  7. failover: the primary of one shard is SIGKILLed while events flow to history
 *     channels on every shard (each publish retried until a node accepts it); /healthz
 *     stays 200 and names the shard without a primary; once the replica is promoted
 *     every client has every event exactly once, in order (the gap repaired from
 *     history), and the function library is on the promoted primary. This test runs
 *     on two nodes of its own (started in the test's process, so it can assert their
 *     exit status: 0, no leak report under ASan, after the failover).
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gw_slotmap.h"
#include "ts.h"
#include "ts_check.h"

#define NPRIM 3
#define NNODES (NPRIM * 2)

static ts_rcluster g_rc;
static char g_url[600];
static ts_gateway g_gw[2];
static bool g_gw_up[2];
/* per shard (index in the first map): two plain channels and one with history */
static char g_room[NPRIM][2][32];
static char g_hist[NPRIM][32];
static int g_primary[NPRIM]; /* port of each shard's primary at start */


#define CMD TS_REDIS

static gw_slotmap *fetch_map(int port)
{
    redisReply *r = CMD(port, "CLUSTER", "SHARDS");
    if (!r)
        return NULL;
    gw_slotmap *m = NULL;
    gw_slotmap_from_shards(&m, r, NULL);
    freeReplyObject(r);
    if (m)
        gw_slotmap_fill_host(m, "127.0.0.1");
    return m;
}

/* The index of the shard (in order of g_primary) serving name. */
static int shard_of(const gw_slotmap *m, const char *name)
{
    const gw_cshard *sh = gw_slotmap_shard(m, gw_slot_of(name, strlen(name)));
    for (int i = 0; sh && i < NPRIM; i++)
        if (sh->primary.port == g_primary[i])
            return i;
    return -1;
}

static void suite_up(void)
{
    ts_rcluster_up(&g_rc);
    int n = snprintf(g_url, sizeof g_url, "redis+cluster://");
    for (int i = 0; i < NNODES; i++)
        n += snprintf(g_url + n, sizeof g_url - (size_t)n, "%s127.0.0.1:%d", i ? "," : "", g_rc.ports[i]);
    gw_slotmap *m = fetch_map(g_rc.ports[0]);
    ck_assert_ptr_nonnull(m);
    int k = 0;
    for (size_t i = 0; i < m->nshards; i++)
        if (m->shards[i].nslots > 0 && k < NPRIM)
            g_primary[k++] = m->shards[i].primary.port;
    ck_assert_int_eq(k, NPRIM);
    /* names on every shard: room.<i> (no history) and alerts.cl<i> (history: the
     * built-in rule alerts.*) */
    int rooms[NPRIM] = {0}, hist[NPRIM] = {0};
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "room.%d", i);
        int s = shard_of(m, name);
        if (s >= 0 && rooms[s] < 2)
            snprintf(g_room[s][rooms[s]++], sizeof g_room[0][0], "%s", name);
        snprintf(name, sizeof name, "alerts.cl%d", i);
        s = shard_of(m, name);
        if (s >= 0 && !hist[s]++)
            snprintf(g_hist[s], sizeof g_hist[0], "%s", name);
    }
    for (int s = 0; s < NPRIM; s++)
        ck_assert(rooms[s] == 2 && hist[s] > 0);
    gw_slotmap_free(m);
    const char *extra[] = {"--redis", g_url, NULL};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ts_gateway_start(&g_gw[i], g_rc.tmp, 1, i ? "node-b" : "node-a", (char *const *)extra), 0);
        g_gw_up[i] = true;
        ck_assert_int_eq(ts_http_wait_status(g_gw[i].admin_port, "/healthz", 200, 10000), 0);
    }
}

static void suite_down(void)
{
    for (int i = 0; i < 2; i++)
        if (g_gw_up[i]) {
            int st = ts_gateway_shutdown(&g_gw[i], 10000);
            if (st != 0)
                fprintf(stderr, "gateway %d exited with %d\n", i, st);
            g_gw_up[i] = false;
        }
    ts_rcluster_down(&g_rc);
}

/* POST /publish on node i: 200 when accepted (any 2xx), else the HTTP status; *offset
 * gets the offset answered. */
static int publish(int i, const char *channel, int n, long long *offset)
{
    char req[256], body[1024] = "";
    snprintf(req, sizeof req, "{\"channel\":\"%s\",\"data\":{\"n\":%d}}", channel, n);
    int st = ts_http(g_gw[i].admin_port, "POST", "/publish", "Content-Type: application/json\r\n", req, body,
                     sizeof body);
    if (offset) {
        const char *o = strstr(body, "\"offset\":");
        *offset = o ? strtoll(o + 9, NULL, 10) : -1;
    }
    return st / 100 == 2 ? 200 : st;
}

/* The next delivery on w: its channel (into ch), n and offset; false on timeout or a
 * frame that is no delivery (printed). Control frames (gap notices) fail it too. */
static bool next_delivery(ts_ws *w, char *ch, size_t cap, long long *n, long long *offset, int timeout_ms)
{
    char *m = NULL;
    if (ts_ws_recv(w, &m, NULL, timeout_ms) != 1)
        return false;
    json_t *o = json_loads(m, 0, NULL);
    bool ok = o && json_is_string(json_object_get(o, "channel")) && !json_object_get(o, "op");
    if (ok) {
        snprintf(ch, cap, "%s", json_string_value(json_object_get(o, "channel")));
        *n = json_integer_value(json_object_get(json_object_get(o, "data"), "n"));
        *offset = json_integer_value(json_object_get(o, "offset"));
    } else {
        fprintf(stderr, "not a delivery: %s\n", m);
    }
    json_decref(o);
    free(m);
    return ok;
}

/* Connects to node i with ?channels=list and waits for hello and one subscribed per
 * channel, in any order (each shard confirms on its own). 0 or -1 (printed). */
static int open_any_order(ts_ws *w, int i, const char *list, int nchannels)
{
    char path[600];
    snprintf(path, sizeof path, "/ws?channels=%s", list);
    if (ts_ws_connect(w, g_gw[i].port, path, "pulse.v1") != 0)
        return -1;
    char *m = ts_ws_recv_until(w, "\"hello\"", 5000);
    if (!m)
        return -1;
    free(m);
    for (int k = 0; k < nchannels; k++) {
        m = NULL;
        if (ts_ws_recv(w, &m, NULL, 10000) != 1 || !strstr(m, "\"op\":\"subscribed\"")) {
            fprintf(stderr, "open_any_order: want subscribed %d of %d, got %s\n", k + 1, nchannels, m ? m : "nothing");
            free(m);
            ts_ws_close(w);
            return -1;
        }
        free(m);
    }
    return 0;
}

static void join_names(char *out, size_t cap, const char *const *names, int n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", names[i]);
}

START_TEST(test_every_shard_both_nodes)
{
    const char *names[NPRIM * 2];
    for (int s = 0; s < NPRIM; s++)
        for (int k = 0; k < 2; k++)
            names[s * 2 + k] = g_room[s][k];
    char list[512];
    join_names(list, sizeof list, names, NPRIM * 2);
    ts_ws a, b;
    ck_assert_int_eq(open_any_order(&a, 0, list, NPRIM * 2), 0);
    ck_assert_int_eq(open_any_order(&b, 1, list, NPRIM * 2), 0);
    /* each primary holds exactly its shard's channels (once, whatever the node count) */
    for (int s = 0; s < NPRIM; s++) {
        redisReply *r = CMD(g_primary[s], "PUBSUB", "SHARDCHANNELS", "room.*");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_msg(r->elements == 2, "shard %d (port %d) lists %zu channels", s, g_primary[s], r->elements);
        for (size_t e = 0; e < r->elements; e++)
            ck_assert_msg(strcmp(r->element[e]->str, g_room[s][0]) == 0 || strcmp(r->element[e]->str, g_room[s][1]) == 0,
                          "shard %d lists %s", s, r->element[e]->str);
        freeReplyObject(r);
        r = CMD(g_primary[s], "PUBSUB", "SHARDNUMSUB", g_room[s][0]);
        ck_assert_msg(r && r->elements == 2 && r->element[1]->integer == 2, "two nodes subscribed to %s",
                      g_room[s][0]);
        freeReplyObject(r);
    }
    for (int i = 0; i < NPRIM * 2; i++)
        ck_assert_int_eq(publish(1, names[i], i + 1, NULL), 200);
    ts_ws *both[2] = {&a, &b};
    for (int c = 0; c < 2; c++) {
        bool seen[NPRIM * 2] = {false};
        for (int i = 0; i < NPRIM * 2; i++) {
            char ch[64];
            long long n, off;
            ck_assert_msg(next_delivery(both[c], ch, sizeof ch, &n, &off, 5000), "client %d: delivery %d missing", c, i);
            ck_assert(n >= 1 && n <= NPRIM * 2 && strcmp(ch, names[n - 1]) == 0 && !seen[n - 1]);
            seen[n - 1] = true;
        }
        char *m = NULL;
        ck_assert_msg(ts_ws_recv(both[c], &m, NULL, 300) == 0, "client %d: one more frame %s", c, m ? m : "");
    }
    ts_ws_close(&a);
    ts_ws_close(&b);
}
END_TEST

START_TEST(test_pattern_refused)
{
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, g_gw[0].port, NULL, "node-a", 5000), 0);
    char *reply = NULL;
    ck_assert_int_eq(ts_ws_op(&a, "{\"op\":\"subscribe\",\"channel\":\"room.*\"}", "error", &reply, 5000), 0);
    ck_assert_msg(strstr(reply, "\"pattern_unsupported\"") && strstr(reply, "Redis Cluster"), "%s", reply);
    free(reply);
    ts_assert_pong(&a, "after the refused pattern");
    ts_ws_close(&a);
}
END_TEST

START_TEST(test_pulse_publish)
{
    ts_ws a;
    char list[256];
    const char *names[NPRIM] = {g_room[0][0], g_room[1][0], g_room[2][0]};
    join_names(list, sizeof list, names, NPRIM);
    ck_assert_int_eq(open_any_order(&a, 0, list, NPRIM), 0);
    int total = 0;
    for (int s = 0; s < NPRIM; s++) {
        char *bin = ts_bin("pulse-publish");
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' --redis '%s' --channel %s --count 10 --quiet >/dev/null 2>&1", bin, g_url,
                 names[s]);
        free(bin);
        ck_assert_int_eq(system(cmd), 0);
        total += 10;
    }
    int got[NPRIM] = {0};
    for (int i = 0; i < total; i++) {
        char ch[64];
        long long n, off;
        ck_assert_msg(next_delivery(&a, ch, sizeof ch, &n, &off, 5000), "delivery %d of %d missing", i, total);
        for (int s = 0; s < NPRIM; s++)
            got[s] += strcmp(ch, names[s]) == 0;
    }
    for (int s = 0; s < NPRIM; s++)
        ck_assert_int_eq(got[s], 10);
    ts_ws_close(&a);
}
END_TEST

START_TEST(test_history_since)
{
    const char *ch = g_hist[1];
    long long first = -1, off = -1;
    for (int i = 1; i <= 5; i++) {
        ck_assert_int_eq(publish(0, ch, i, &off), 200);
        if (first < 0)
            first = off;
    }
    ck_assert_int_eq(off, first + 4);
    char body[2048], path[128];
    snprintf(path, sizeof path, "/history?channel=%s", ch);
    ck_assert_int_eq(ts_http(g_gw[1].admin_port, "GET", path, NULL, NULL, body, sizeof body), 200);
    json_t *h = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(h);
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", json_string_value(json_object_get(h, "epoch")));
    ck_assert_int_eq(json_integer_value(json_object_get(h, "offset")), off);
    json_decref(h);
    ts_ws b;
    char url[256];
    snprintf(url, sizeof url, "/ws?channels=%s&since=%s:%lld:%s", ch, ch, first + 1, epoch);
    ck_assert_int_eq(ts_ws_connect(&b, g_gw[1].port, url, "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&b, "\"subscribed\"", 5000);
    ck_assert_msg(m && strstr(m, "\"recovered\":true"), "%s", m ? m : "(nothing)");
    free(m);
    for (long long want = first + 2; want <= off; want++) {
        char c2[64];
        long long n, o;
        ck_assert(next_delivery(&b, c2, sizeof c2, &n, &o, 5000));
        ck_assert_int_eq(o, want);
        ck_assert_int_eq(n, want - first + 1);
    }
    ts_ws_close(&b);
}
END_TEST

static void reply_ok(redisReply *r, const char *what)
{
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "%s: %s", what, r && r->str ? r->str : "no reply");
    freeReplyObject(r);
}

static void node_id(int port, char *out, size_t cap)
{
    redisReply *r = CMD(port, "CLUSTER", "MYID");
    ck_assert_msg(r && r->type == REDIS_REPLY_STRING, "CLUSTER MYID on %d", port);
    snprintf(out, cap, "%s", r->str);
    freeReplyObject(r);
}

/* One slot (a channel without keys) moved to another primary while both nodes are
 * subscribed: Redis pushes sunsubscribe, each node learns the map again, subscribes on
 * the new primary, and a publish (to the new primary, or MOVED followed) reaches both. */
START_TEST(test_slot_moved)
{
    const char *ch = g_room[0][1];
    ts_ws a, b;
    ck_assert_int_eq(open_any_order(&a, 0, ch, 1), 0);
    ck_assert_int_eq(open_any_order(&b, 1, ch, 1), 0);
    int src = g_primary[0], dst = g_primary[1];
    char src_id[64], dst_id[64], slot[16];
    node_id(src, src_id, sizeof src_id);
    node_id(dst, dst_id, sizeof dst_id);
    snprintf(slot, sizeof slot, "%u", gw_slot_of(ch, strlen(ch)));
    redisReply *r = CMD(src, "CLUSTER", "COUNTKEYSINSLOT", slot);
    ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0, "slot %s holds keys", slot);
    freeReplyObject(r);
    int64_t t0 = ts_now_ms();
    reply_ok(CMD(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id), "SETSLOT IMPORTING");
    reply_ok(CMD(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id), "SETSLOT MIGRATING");
    for (int i = 0; i < NPRIM; i++) /* as redis-cli --cluster does: every primary */
        reply_ok(CMD(g_primary[i == 0 ? 1 : i == 1 ? 0 : 2], "CLUSTER", "SETSLOT", slot, "NODE", dst_id),
                 "SETSLOT NODE");
    /* both nodes subscribed on the new primary */
    long long n = 0;
    while (ts_now_ms() - t0 < 10000) {
        r = CMD(dst, "PUBSUB", "SHARDNUMSUB", ch);
        n = r && r->elements == 2 ? r->element[1]->integer : -1;
        freeReplyObject(r);
        if (n == 2)
            break;
        ts_sleep_ms(20);
    }
    ck_assert_msg(n == 2, "%s: %lld nodes subscribed on the new primary %d", ch, n, dst);
    fprintf(stderr, "slot moved: both nodes subscribed on the new primary %lld ms after SETSLOT\n",
            (long long)(ts_now_ms() - t0));
    r = CMD(src, "PUBSUB", "SHARDNUMSUB", ch);
    ck_assert_msg(r && r->elements == 2 && r->element[1]->integer == 0, "still subscribed on the old primary");
    freeReplyObject(r);
    ck_assert_int_eq(publish(0, ch, 7, NULL), 200);
    ck_assert_int_eq(publish(1, ch, 8, NULL), 200);
    /* a channel without history: its clients are told that the resubscription may
     * have missed events (a gap notice), then the deliveries come */
    ts_ws *both[2] = {&a, &b};
    for (int c = 0; c < 2; c++) {
        char *m = ts_ws_recv_until(both[c], "\"op\":\"gap\"", 5000);
        ck_assert_msg(m && strstr(m, ch), "client %d: no gap notice for %s", c, ch);
        free(m);
        for (int want = 7; want <= 8; want++) {
            char got[64];
            long long v, off;
            ck_assert_msg(next_delivery(both[c], got, sizeof got, &v, &off, 5000), "client %d: n=%d missing", c, want);
            ck_assert_str_eq(got, ch);
            ck_assert_int_eq(v, want);
        }
    }
    ts_ws_close(&a);
    ts_ws_close(&b);
}
END_TEST

/* ---- a real resharding (redis-cli --cluster reshard) of a history channel's slot
 * while events are published to it ---- */

#define RS_PADS 3000       /* keys that keep the slot migrating for a while */
#define RS_PP_COUNT 600    /* pulse-publish events (at RS_PP_RATE/s) */
#define RS_PP_RATE 150

/* The lowest slot port serves (redis-cli --cluster reshard --cluster-slots 1 moves a
 * source's lowest slot). */
static int lowest_slot_of(int port)
{
    gw_slotmap *m = fetch_map(port);
    ck_assert_ptr_nonnull(m);
    int slot = -1;
    for (unsigned s = 0; s < 16384 && slot < 0; s++) {
        const gw_cshard *sh = gw_slotmap_shard(m, s);
        if (sh && sh->primary.port == port)
            slot = (int)s;
    }
    gw_slotmap_free(m);
    return slot;
}

/* The offsets of the events a pulse-publish manifest lists (6th field), appended to
 * offs; how many. */
static int manifest_offsets(const char *path, long long *offs, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        const char *p = line;
        for (int k = 0; k < 5 && p; k++) {
            p = strchr(p, ',');
            if (p)
                p++;
        }
        if (p)
            offs[n++] = strtoll(p, NULL, 10);
    }
    fclose(f);
    return n;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long info_field(int port, const char *section, const char *field)
{
    redisReply *r = CMD(port, "INFO", section);
    long long v = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
    if (p && (p = strstr(p, field)))
        v = strtoll(p + strlen(field), NULL, 10);
    freeReplyObject(r);
    return v;
}

static long long shardnumsub(int port, const char *ch)
{
    redisReply *r = CMD(port, "PUBSUB", "SHARDNUMSUB", ch);
    long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : -1;
    freeReplyObject(r);
    return n;
}

START_TEST(test_reshard_history_under_load)
{
    int src = g_primary[0], dst = g_primary[1];
    char src_id[64], dst_id[64];
    node_id(src, src_id, sizeof src_id);
    node_id(dst, dst_id, sizeof dst_id);
    /* a history channel (alerts.*) in the slot the reshard will move */
    int slot = lowest_slot_of(src);
    ck_assert_int_ge(slot, 0);
    char ch[32] = "";
    for (int i = 0; i < 1000000 && !ch[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "alerts.rs%d", i);
        if ((int)gw_slot_of(name, strlen(name)) == slot)
            snprintf(ch, sizeof ch, "%s", name);
    }
    ck_assert_msg(ch[0], "no alerts.rs<i> in slot %d", slot);
    /* padding keys in the slot first: redis-cli migrates the newest keys first, so the
     * history keys (made below) move at once and the slot then stays MIGRATING while the
     * padding follows one key per MIGRATE: publishes meanwhile are answered ASK */
    redisContext *rc = redisConnect("127.0.0.1", src);
    ck_assert(rc && !rc->err);
    for (int i = 0; i < RS_PADS; i++)
        redisAppendCommand(rc, "SET pulse:{%s}:pad:%d x", ch, i);
    for (int i = 0; i < RS_PADS; i++) {
        redisReply *r = NULL;
        ck_assert_int_eq(redisGetReply(rc, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    redisFree(rc);
    ts_ws a, b;
    ck_assert_int_eq(open_any_order(&a, 0, ch, 1), 0);
    ck_assert_int_eq(open_any_order(&b, 1, ch, 1), 0);
    static long long offs[RS_PP_COUNT + 20000];
    int noffs = 0;
    ck_assert_int_eq(publish(0, ch, 0, &offs[noffs]), 200); /* creates the history keys */
    noffs++;
    redisReply *r;
    char slotstr[16];
    snprintf(slotstr, sizeof slotstr, "%d", slot);
    r = CMD(src, "CLUSTER", "COUNTKEYSINSLOT", slotstr);
    ck_assert_msg(r && r->integer == RS_PADS + 2, "slot %d holds %lld keys", slot, r ? r->integer : -1);
    freeReplyObject(r);
    reply_ok(CMD(dst, "CONFIG", "RESETSTAT"), "CONFIG RESETSTAT");
    /* pulse-publish at a fixed rate, the reshard, and POST /publish from here */
    char manifest[700], pplog[700], rslog[700], countstr[16], ratestr[16];
    snprintf(manifest, sizeof manifest, "%s/reshard.manifest", g_rc.tmp);
    snprintf(pplog, sizeof pplog, "%s/reshard-publish.log", g_rc.tmp);
    snprintf(rslog, sizeof rslog, "%s/reshard-redis-cli.log", g_rc.tmp);
    snprintf(countstr, sizeof countstr, "%d", RS_PP_COUNT);
    snprintf(ratestr, sizeof ratestr, "%d", RS_PP_RATE);
    char *pp_bin = ts_bin("pulse-publish");
    char *pp_argv[] = {pp_bin, (char *)"--redis", g_url, (char *)"--channel", ch, (char *)"--count", countstr, (char *)"--rate", ratestr,
                       (char *)"--first-sequence", (char *)"1000", (char *)"--manifest", manifest, NULL};
    ts_proc pp, rs;
    ck_assert_int_eq(ts_proc_start(&pp, pp_argv, NULL, pplog), 0);
    free(pp_bin);
    char srcaddr[32];
    snprintf(srcaddr, sizeof srcaddr, "127.0.0.1:%d", src);
    char *rs_argv[] = {(char *)"/usr/bin/redis-cli", (char *)"--cluster", (char *)"reshard", srcaddr, (char *)"--cluster-from", src_id, (char *)"--cluster-to", dst_id,
                       (char *)"--cluster-slots", (char *)"1", (char *)"--cluster-yes", (char *)"--cluster-pipeline", (char *)"1", NULL};
    int64_t t0 = ts_now_ms();
    bool rs_started = false, rs_done = false, pp_done = false;
    int http_fail = 0, n = 1;
    int64_t t_rs = 0, t_rs_end = 0;
    while (!(rs_done && pp_done)) {
        ck_assert_msg(ts_now_ms() - t0 < 60000, "reshard %s, pulse-publish %s after 60 s", rs_done ? "done" : "running",
                      pp_done ? "done" : "running");
        if (!rs_started && ts_now_ms() - t0 > 500) {
            ck_assert_int_eq(ts_proc_start(&rs, rs_argv, NULL, rslog), 0);
            rs_started = true;
            t_rs = ts_now_ms();
        }
        int st;
        if (rs_started && !rs_done && (st = ts_proc_wait(&rs, 0)) >= 0) {
            rs_done = true;
            t_rs_end = ts_now_ms();
            if (st != 0)
                ts_proc_dump_log(&rs, "redis-cli --cluster reshard");
            ck_assert_msg(st == 0, "redis-cli --cluster reshard exited %d", st);
        }
        if (!pp_done && (st = ts_proc_wait(&pp, 0)) >= 0) {
            pp_done = true;
            if (st != 0)
                ts_proc_dump_log(&pp, "pulse-publish");
            ck_assert_msg(st == 0, "pulse-publish exited %d", st);
        }
        long long off = -1;
        st = publish(n % 2, ch, n, &off);
        if (st == 200) {
            ck_assert(noffs < (int)(sizeof offs / sizeof offs[0]) - RS_PP_COUNT);
            offs[noffs++] = off;
            n++;
        } else {
            http_fail++; /* e.g. TRYAGAIN while the two history keys are split: not run */
        }
        ts_sleep_ms(10);
    }
    ts_proc_stop(&rs, 0); /* both reaped: forgets them (no log dump at the end) */
    ts_proc_stop(&pp, 0);
    int http_ok = noffs;
    fprintf(stderr, "reshard of slot %d (%s, %d keys): %lld ms; %d POST /publish accepted, %d refused meanwhile\n",
            slot, ch, RS_PADS + 2, (long long)(t_rs_end - t_rs), http_ok, http_fail);
    /* the slot and its keys are on dst, both nodes subscribed there and not on src */
    r = CMD(dst, "CLUSTER", "COUNTKEYSINSLOT", slotstr);
    ck_assert_msg(r && r->integer == RS_PADS + 2, "dst holds %lld keys of slot %d", r ? r->integer : -1, slot);
    freeReplyObject(r);
    long long subs = 0;
    for (int64_t t1 = ts_now_ms(); ts_now_ms() - t1 < 10000 && (subs = shardnumsub(dst, ch)) != 2;)
        ts_sleep_ms(20);
    ck_assert_msg(subs == 2, "%lld nodes subscribed to %s on the new owner", subs, ch);
    ck_assert_int_eq(shardnumsub(src, ch), 0);
    /* every accepted publish ran exactly once: the offsets answered are base..base+N-1 */
    int npp = manifest_offsets(manifest, offs + noffs, RS_PP_COUNT);
    ck_assert_int_eq(npp, RS_PP_COUNT);
    noffs += npp;
    qsort(offs, (size_t)noffs, sizeof offs[0], cmp_ll);
    for (int i = 1; i < noffs; i++)
        ck_assert_msg(offs[i] == offs[0] + i, "accepted offsets: %lld after %lld", offs[i], offs[i - 1]);
    /* the redirects: ASKING reached the new owner, from the gateways and pulse-publish */
    long long asking = info_field(dst, "commandstats", "cmdstat_asking:calls=");
    long long gw_ask = 0;
    for (int i = 0; i < 2; i++)
        gw_ask += (long long)ts_metric(g_gw[i].admin_port, "pulse_redis_cluster_redirects_total{kind=\"ask\"}");
    fprintf(stderr, "reshard: ASKING on the new owner %lld (POST /publish %lld, pulse-publish %lld)\n", asking,
            gw_ask, asking - gw_ask);
    ck_assert_msg(gw_ask > 0, "no POST /publish met ASK: the migration window was not exercised");
    ck_assert_msg(asking > gw_ask, "pulse-publish never met ASK");
    /* both clients: every event once, in offset order */
    ts_ws *both[2] = {&a, &b};
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < noffs; i++) {
            char *m = NULL;
            json_t *o = NULL;
            for (;;) {
                ck_assert_msg(ts_ws_recv(both[c], &m, NULL, 10000) == 1, "client %d: offset %lld missing (%d of %d)",
                              c, offs[0] + i, i, noffs);
                o = json_loads(m, 0, NULL);
                ck_assert_ptr_nonnull(o);
                if (!json_object_get(o, "op"))
                    break;
                fprintf(stderr, "client %d: %s\n", c, m); /* a control frame: printed, skipped */
                json_decref(o);
                free(m);
            }
            ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), ch);
            long long off = json_integer_value(json_object_get(o, "offset"));
            ck_assert_msg(off == offs[0] + i, "client %d: offset %lld, want %lld", c, off, offs[0] + i);
            json_decref(o);
            free(m);
        }
        char *m = NULL;
        ck_assert_msg(ts_ws_recv(both[c], &m, NULL, 300) == 0, "client %d: one more frame %s", c, m ? m : "");
    }
    ts_ws_close(&a);
    ts_ws_close(&b);
}
END_TEST

#define FO_EVENTS 60
#define FO_KILL_AT 20

START_TEST(test_failover_nothing_lost)
{
    /* nodes of this test (the fork's copy of g_gw; the suite's nodes keep running) */
    const char *extra[] = {"--redis", g_url, NULL};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ts_gateway_start(&g_gw[i], g_rc.tmp, 1, i ? "node-d" : "node-c", (char *const *)extra), 0);
        ck_assert_int_eq(ts_http_wait_status(g_gw[i].admin_port, "/healthz", 200, 10000), 0);
    }
    const char *names[NPRIM] = {g_hist[0], g_hist[1], g_hist[2]};
    char list[256];
    join_names(list, sizeof list, names, NPRIM);
    ts_ws a, b;
    ck_assert_int_eq(open_any_order(&a, 0, list, NPRIM), 0);
    ck_assert_int_eq(open_any_order(&b, 1, list, NPRIM), 0);
    const int victim = 2; /* the shard of g_hist[2] */
    pid_t pid = ts_rcluster_pid(&g_rc, g_primary[victim]);
    long long base[NPRIM];
    bool saw_down = false;
    int retries = 0;
    int64_t t_kill = 0, t_back = 0;
    for (int i = 1; i <= FO_EVENTS; i++) {
        if (i == FO_KILL_AT) {
            /* let the replicas take the last acknowledged writes first: replication is
             * asynchronous, and what a primary acknowledged but never replicated dies
             * with it (docs/CLUSTER.md) */
            ts_sleep_ms(300);
            t_kill = ts_now_ms();
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
        }
        for (int s = 0; s < NPRIM; s++) {
            long long off = -1;
            int64_t t0 = ts_now_ms();
            int st;
            while ((st = publish(1, names[s], i, &off)) != 200) {
                ck_assert_msg(ts_now_ms() - t0 < 20000, "%s: event %d not accepted within 20 s (last %d)", names[s],
                              i, st);
                retries++;
                char hz[1024] = "";
                ck_assert_int_eq(ts_http(g_gw[0].admin_port, "GET", "/healthz", NULL, NULL, hz, sizeof hz), 200);
                saw_down |= strstr(hz, "without a reachable primary") != NULL;
                ts_sleep_ms(50);
            }
            if (t_kill && s == victim && !t_back)
                t_back = ts_now_ms();
            if (i == 1)
                base[s] = off;
        }
    }
    fprintf(stderr, "failover: publishes accepted again %lld ms after the kill (%d retries)\n",
            (long long)(t_back - t_kill), retries);
    ck_assert_msg(retries > 0, "the kill never made a publish fail: the test did not test the failover");
    ck_assert_msg(saw_down, "/healthz never named the shard without a primary");
    /* every client: every event of every channel, once, in order per channel */
    ts_ws *both[2] = {&a, &b};
    for (int c = 0; c < 2; c++) {
        int next[NPRIM] = {1, 1, 1};
        for (int i = 0; i < FO_EVENTS * NPRIM; i++) {
            char ch[64];
            long long n, off;
            ck_assert_msg(next_delivery(both[c], ch, sizeof ch, &n, &off, 10000),
                          "client %d: delivery %d of %d missing (next %d/%d/%d)", c, i, FO_EVENTS * NPRIM, next[0],
                          next[1], next[2]);
            int s = 0;
            while (s < NPRIM && strcmp(ch, names[s]) != 0)
                s++;
            ck_assert(s < NPRIM);
            ck_assert_msg(n == next[s], "client %d, %s: got n=%lld, want %d", c, ch, n, next[s]);
            ck_assert_msg(off == base[s] + n - 1, "client %d, %s: n=%lld at offset %lld", c, ch, n, off);
            next[s]++;
        }
    }
    /* the promoted replica has the library (replicated, or loaded by the node) */
    gw_slotmap *m = NULL;
    for (int i = 0; i < NNODES && !m; i++)
        if (g_rc.ports[i] != g_primary[victim])
            m = fetch_map(g_rc.ports[i]);
    ck_assert_ptr_nonnull(m);
    const gw_cshard *sh = gw_slotmap_shard(m, gw_slot_of(names[victim], strlen(names[victim])));
    ck_assert(sh && sh->primary.port != g_primary[victim]);
    redisReply *r = CMD(sh->primary.port, "FCALL_RO", "pulse_version", "0");
    ck_assert_msg(r && r->type == REDIS_REPLY_STRING, "pulse_version on the promoted primary");
    freeReplyObject(r);
    gw_slotmap_free(m);
    char hz[1024] = "";
    ck_assert_int_eq(ts_http(g_gw[1].admin_port, "GET", "/healthz", NULL, NULL, hz, sizeof hz), 200);
    ck_assert_msg(strstr(hz, "all up"), "%s", hz);
    /* the metrics tell the same story */
    for (int i = 0; i < 2; i++) {
        int ap = g_gw[i].admin_port;
        ck_assert(ts_metric(ap, "pulse_redis_cluster_primaries") == NPRIM);
        ck_assert(ts_metric(ap, "pulse_redis_cluster_shards_down") == 0);
        ck_assert(ts_metric(ap, "pulse_redis_cluster_map_refreshes_total{reason=\"down\"}") >= 1);
        ck_assert(ts_metric(ap, "pulse_redis_cluster_resubscribed_total") >= 1);
    }
    ts_ws_close(&a);
    ts_ws_close(&b);
    for (int i = 0; i < 2; i++) {
        int st = ts_gateway_shutdown(&g_gw[i], 10000);
        ck_assert_msg(st == 0, "node %d exited with %d after the failover", i, st);
    }
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_fixed("redis_cluster_gw", "redis_cluster_gw", 240, suite_up, suite_down, NULL, NULL,
                          test_every_shard_both_nodes, test_pattern_refused, test_pulse_publish,
                          test_history_since, test_slot_moved, test_reshard_history_under_load,
                          test_failover_nothing_lost);
}
