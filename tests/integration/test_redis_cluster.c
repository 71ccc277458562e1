/*
 * test_redis_cluster.c - the Redis Cluster building blocks of gateway/redis/ against
 * a real 3-primary/3-replica Redis 7 cluster on loopback, started by
 * loadtest/redis_cluster.sh (cluster-node-timeout 1500 ms) once for the suite, in
 * this order:
 *  1. the slot hash agrees with the live cluster's CLUSTER KEYSLOT, and CLUSTER SHARDS
 *     and CLUSTER SLOTS give the same map;
 *  2. gw_ssub SSUBSCRIBEs channels on every shard (one connection per primary, a
 *     two-channel batch in one slot), PUBSUB SHARDCHANNELS on each primary lists
 *     exactly that shard's channels, an SPUBLISH to each channel is received once, an
 *     SPUBLISH to the wrong primary answers MOVED to the map's primary;
 *  3. one slot (holding two of the channels) is moved to another primary with
 *     CLUSTER SETSLOT: Redis pushes sunsubscribe for both, the map is learned again,
 *     exactly those two moved, they are subscribed on the new primary, messages flow,
 *     and the old primary's MOVED applied to the old map agrees with the new map;
 *  4. a primary is killed (SIGKILL): its connection goes down, channels on the other
 *     shards keep flowing meanwhile, its replica is promoted, the new map moves
 *     exactly that shard's channels, they are subscribed on the promoted replica, and
 *     every channel receives again;
 *  5. a connection refused and an AUTH refused each come back once as on_down, from the
 *     loop (never inside the gw_ssub_* call); no map is a clear error.
 * The gateway itself is not involved yet (the wiring is the next step of issue 14).
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gw_slotmap.h"
#include "gw_ssub.h"
#include "ts.h"
#include "ts_check.h"

#define NPRIM 3
#define NNODES (NPRIM * 2)
#define PER_SHARD 4
#define MAXCH (NPRIM * PER_SHARD + 2)

/* ---- the cluster, shared by the suite (unchecked fixture: started once) ---- */
static ts_rcluster g_rc;
static bool g_dead[NNODES];

static void cluster_up(void)
{
    ts_rcluster_up(&g_rc);
}

static void cluster_down(void)
{
    ts_rcluster_down(&g_rc);
}

#define CMD TS_REDIS

static int port_index(int port)
{
    for (int i = 0; i < NNODES; i++) {
        if (g_rc.ports[i] == port)
            return i;
    }
    return -1;
}

/* CLUSTER SHARDS from the first live node that answers; NULL when none does. */
static gw_slotmap *fetch_map(void)
{
    for (int i = 0; i < NNODES; i++) {
        if (g_dead[i])
            continue;
        redisReply *r = CMD(g_rc.ports[i], "CLUSTER", "SHARDS");
        if (r == NULL)
            continue;
        gw_slotmap *m = NULL;
        pulse_error err = {0};
        int rc = gw_slotmap_from_shards(&m, r, &err);
        freeReplyObject(r);
        ck_assert_msg(rc == 0, "CLUSTER SHARDS from %d refused: %s", g_rc.ports[i], err.text);
        return m;
    }
    return NULL;
}

/* ---- the harness: one event loop, one gw_ssub, the wanted channels ---- */
typedef struct {
    struct event_base *base;
    struct event *tick;
    gw_ssub *ss;
    const char *names[MAXCH];
    char store[MAXCH][32];
    size_t n;
    int confirmed[MAXCH]; /* ssubscribe confirmations */
    int received[MAXCH];  /* smessages with the expected payload */
    bool dropped[MAXCH];  /* sunsubscribe pushed by Redis for a wanted channel */
    int round;            /* payloads are "<name>/<round>" */
    int wrong_payloads, errors, downs;
    gw_cnode down_node;
} harness;

static harness H;

static int find_name(const char *p, size_t len)
{
    for (size_t i = 0; i < H.n; i++) {
        if (strlen(H.names[i]) == len && memcmp(H.names[i], p, len) == 0)
            return (int)i;
    }
    return -1;
}

static void on_push(gw_ssub *s, const gw_cnode *node, const gw_spush *p, void *arg)
{
    char buf[300];
    int i = p->channel ? find_name(p->channel, p->channel_len) : -1;
    switch (p->kind) {
    case GW_SPUSH_SSUBSCRIBE:
        if (i >= 0)
            H.confirmed[i]++;
        break;
    case GW_SPUSH_SUNSUBSCRIBE:
        if (i >= 0)
            H.dropped[i] = true; /* we never unsubscribe: Redis dropped it */
        break;
    case GW_SPUSH_SMESSAGE: {
        char want[64];
        if (i < 0) {
            H.wrong_payloads++;
            break;
        }
        int n = snprintf(want, sizeof want, "%s/%d", H.names[i], H.round);
        if ((size_t)n == p->payload_len && memcmp(want, p->payload, p->payload_len) == 0)
            H.received[i]++;
        else
            H.wrong_payloads++;
        break;
    }
    default:
        H.errors++;
        fprintf(stderr, "from %s: %s %.*s\n", gw_cnode_addr(node, buf, sizeof buf),
                gw_spush_kind_name(p->kind), (int)p->text_len, p->text ? p->text : "");
        break;
    }
}

static void on_down(gw_ssub *s, const gw_cnode *node, const char *reason, void *arg)
{
    char buf[300];
    fprintf(stderr, "connection to %s down: %s\n", gw_cnode_addr(node, buf, sizeof buf), reason);
    H.downs++;
    H.down_node = *node;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

static void harness_start(void)
{
    memset(&H, 0, sizeof H);
    H.base = event_base_new();
    ck_assert_ptr_nonnull(H.base);
    H.tick = event_new(H.base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 20 * 1000};
    event_add(H.tick, &tv); /* wakes the loop so run_until can check its deadline */
    gw_ssub_callbacks cbs = {on_push, on_down};
    H.ss = gw_ssub_new(H.base, NULL, &cbs, NULL);
}

static void harness_stop(void)
{
    gw_ssub_free(H.ss);
    event_free(H.tick);
    event_base_free(H.base);
}

static void add_name(const char *name)
{
    ck_assert_uint_lt(H.n, MAXCH);
    snprintf(H.store[H.n], sizeof H.store[H.n], "%s", name);
    H.names[H.n] = H.store[H.n];
    H.n++;
}

typedef bool (*pred_fn)(void *);

/* Runs the loop until pred holds (true) or timeout_ms passes (false). */
static bool run_until(pred_fn pred, void *arg, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (!pred(arg)) {
        if (ts_now_ms() >= deadline)
            return false;
        event_base_loop(H.base, EVLOOP_ONCE);
    }
    return true;
}

/* a list of channel indexes */
typedef struct {
    const size_t *idx;
    size_t n;
} index_list;

static bool dropped_all(void *arg)
{
    index_list *g = arg;
    for (size_t k = 0; k < g->n; k++) {
        if (!H.dropped[g->idx[k]])
            return false;
    }
    return true;
}

static bool downs_seen(void *arg)
{
    return H.downs >= *(int *)arg;
}

/* Subscribes names[idx] (idx NULL: all) and waits for every confirmation. */
static void subscribe_and_wait(const size_t *idx, size_t n, const char *when)
{
    const char *names[MAXCH] = {0};
    size_t cnt = idx ? n : H.n;
    int want[MAXCH] = {0};
    for (size_t k = 0; k < cnt; k++) {
        size_t i = idx ? idx[k] : k;
        names[k] = H.names[i];
        want[k] = H.confirmed[i] + 1;
    }
    pulse_error err = {0};
    ck_assert_msg(gw_ssub_subscribe(H.ss, names, NULL, cnt, &err) == 0, "%s: %s", when, err.text);
    int64_t deadline = ts_now_ms() + 10000;
    for (size_t k = 0; k < cnt; k++) {
        size_t i = idx ? idx[k] : k;
        while (H.confirmed[i] < want[k] && ts_now_ms() < deadline)
            event_base_loop(H.base, EVLOOP_ONCE);
        ck_assert_msg(H.confirmed[i] >= want[k], "%s: no ssubscribe confirmation for %s", when, H.names[i]);
    }
    ck_assert_int_eq(H.errors, 0);
}

/* SPUBLISH <name>/<round> to each channel on the primary the map names (idx NULL:
 * all), asserting one receiver each, and waits until each arrived exactly once. */
static void publish_and_receive(const size_t *idx, size_t n, const char *when)
{
    const gw_slotmap *m = gw_ssub_map(H.ss);
    size_t cnt = idx ? n : H.n;
    int before[MAXCH];
    memcpy(before, H.received, sizeof before);
    for (size_t k = 0; k < cnt; k++) {
        size_t i = idx ? idx[k] : k;
        char payload[64];
        snprintf(payload, sizeof payload, "%s/%d", H.names[i], H.round);
        const gw_cshard *sh = gw_slotmap_shard(m, gw_slot_of(H.names[i], strlen(H.names[i])));
        ck_assert_ptr_nonnull(sh);
        redisReply *r = CMD(sh->primary.port, "SPUBLISH", H.names[i], payload);
        ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
                      "%s: SPUBLISH %s on %d: %s %lld (want 1 receiver)", when, H.names[i], sh->primary.port,
                      r ? (r->type == REDIS_REPLY_ERROR ? r->str : "integer") : "no answer",
                      r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
        freeReplyObject(r);
    }
    int64_t deadline = ts_now_ms() + 5000;
    for (size_t k = 0; k < cnt; k++) {
        size_t i = idx ? idx[k] : k;
        while (H.received[i] < before[i] + 1 && ts_now_ms() < deadline)
            event_base_loop(H.base, EVLOOP_ONCE);
        ck_assert_msg(H.received[i] == before[i] + 1, "%s: %s received %d times (want once)", when,
                      H.names[i], H.received[i] - before[i]);
    }
    ck_assert_int_eq(H.wrong_payloads, 0);
}

/* PUBSUB SHARDCHANNELS on each slot-serving primary lists exactly its channels. */
static void assert_shardchannels(const char *when)
{
    const gw_slotmap *m = gw_ssub_map(H.ss);
    for (size_t s = 0; s < m->nshards; s++) {
        if (m->shards[s].nslots == 0)
            continue;
        redisReply *r = CMD(m->shards[s].primary.port, "PUBSUB", "SHARDCHANNELS");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        size_t want = 0;
        for (size_t i = 0; i < H.n; i++) {
            if (gw_slotmap_shard_index(m, gw_slot_of(H.names[i], strlen(H.names[i]))) != (int)s)
                continue;
            want++;
            bool found = false;
            for (size_t k = 0; k < r->elements; k++)
                found |= strcmp(r->element[k]->str, H.names[i]) == 0;
            ck_assert_msg(found, "%s: PUBSUB SHARDCHANNELS on %d lacks %s", when, m->shards[s].primary.port,
                          H.names[i]);
        }
        ck_assert_msg(r->elements == want, "%s: PUBSUB SHARDCHANNELS on %d lists %zu channels, want %zu", when,
                      m->shards[s].primary.port, r->elements, want);
        freeReplyObject(r);
    }
}

/* Picks PER_SHARD names per shard plus two names sharing one slot (the pair comes first). */
static void pick_channels(const gw_slotmap *m)
{
    static int16_t first_of_slot[GW_SLOTS];
    char a[32], b[32];
    memset(first_of_slot, 0xff, sizeof first_of_slot);
    bool paired = false;
    for (int k = 0; k < 20000 && !paired; k++) {
        snprintf(a, sizeof a, "pair.%d", k);
        unsigned s = gw_slot_of(a, strlen(a));
        if (first_of_slot[s] >= 0) {
            snprintf(b, sizeof b, "pair.%d", first_of_slot[s]);
            add_name(b);
            add_name(a);
            paired = true;
        } else {
            first_of_slot[s] = (int16_t)k;
        }
    }
    ck_assert(paired);
    ck_assert_uint_eq(m->nshards, NPRIM);
    int per[NPRIM] = {0};
    for (int k = 0; k < 1000 && H.n < MAXCH; k++) {
        snprintf(a, sizeof a, "events.shard-%d", k);
        int s = gw_slotmap_shard_index(m, gw_slot_of(a, strlen(a)));
        ck_assert_int_ge(s, 0);
        if (per[s] < PER_SHARD) {
            per[s]++;
            add_name(a);
        }
    }
    ck_assert_uint_eq(H.n, MAXCH);
}

/* ---- 1. the slot hash and the two map replies against the live cluster ---- */
START_TEST(test_keyslot_and_map_agree)
{
    const char *keys[] = {"events.critical", "alerts.cpu", "pulse:{alerts.cpu}:meta", "{user1000}.following",
                          "foo{{bar}}zap", "chat:room-42", ""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        redisReply *r = CMD(g_rc.ports[0], "CLUSTER", "KEYSLOT", keys[i]);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_msg((unsigned)r->integer == gw_slot_of(keys[i], strlen(keys[i])), "KEYSLOT %s: %lld vs %u",
                      keys[i], r->integer, gw_slot_of(keys[i], strlen(keys[i])));
        freeReplyObject(r);
    }
    gw_slotmap *a = fetch_map();
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->nshards, NPRIM);
    ck_assert_uint_eq(a->uncovered, 0);
    redisReply *r = CMD(g_rc.ports[1], "CLUSTER", "SLOTS");
    gw_slotmap *b = NULL;
    pulse_error err = {0};
    ck_assert_msg(gw_slotmap_from_slots(&b, r, &err) == 0, "CLUSTER SLOTS: %s", err.text);
    freeReplyObject(r);
    for (unsigned s = 0; s < GW_SLOTS; s++)
        ck_assert(!gw_slotmap_slot_moved(a, b, s));
    for (size_t i = 0; i < a->nshards; i++) {
        ck_assert_uint_eq(a->shards[i].nreplicas, 1);
        ck_assert(a->shards[i].primary.online);
    }
    gw_slotmap_free(a);
    gw_slotmap_free(b);
}
END_TEST

/* ---- 2..4: each test builds its harness on the map the cluster has now ---- */
static void harness_build(void)
{
    harness_start();
    gw_slotmap *m = fetch_map();
    ck_assert_ptr_nonnull(m);
    pick_channels(m);
    gw_ssub_set_map(H.ss, m);
    subscribe_and_wait(NULL, 0, "first subscribe");
    ck_assert_uint_eq(gw_ssub_connections(H.ss), NPRIM);
    H.round = 1;
}

START_TEST(test_subscribe_every_shard)
{
    harness_build();
    assert_shardchannels("after subscribe");
    publish_and_receive(NULL, 0, "round 1");
    /* the wrong primary answers MOVED to where the map says */
    const gw_slotmap *m = gw_ssub_map(H.ss);
    unsigned slot = gw_slot_of(H.names[0], strlen(H.names[0]));
    int own = gw_slotmap_shard_index(m, slot), other = (own + 1) % NPRIM;
    redisReply *r = CMD(m->shards[other].primary.port, "SPUBLISH", H.names[0], "x");
    ck_assert(r && r->type == REDIS_REPLY_ERROR);
    gw_redirect rd;
    ck_assert_int_eq(gw_redirect_parse(r->str, r->len, &rd, NULL), 0);
    ck_assert_int_eq(rd.kind, GW_REDIRECT_MOVED);
    ck_assert_uint_eq(rd.slot, slot);
    ck_assert_int_eq(rd.port, m->shards[own].primary.port);
    freeReplyObject(r);
    /* PING answers pong on every connection */
    gw_ssub_ping(H.ss);
    harness_stop();
}
END_TEST

static void reply_ok(redisReply *r, const char *what)
{
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "%s: %s", what, r && r->str ? r->str : "no answer");
    freeReplyObject(r);
}

START_TEST(test_slot_moves_pushes_sunsubscribe)
{
    harness_build();
    gw_slotmap *old = fetch_map();
    /* the pair's slot moves from shard A to shard B */
    char slotstr[16];
    unsigned slot = gw_slot_of(H.names[0], strlen(H.names[0]));
    snprintf(slotstr, sizeof slotstr, "%u", slot);
    int a = gw_slotmap_shard_index(old, slot), b = (a + 1) % NPRIM;
    const gw_cnode *A = &old->shards[a].primary, *B = &old->shards[b].primary;
    reply_ok(CMD(B->port, "CLUSTER", "SETSLOT", slotstr, "IMPORTING", A->id), "SETSLOT IMPORTING");
    reply_ok(CMD(A->port, "CLUSTER", "SETSLOT", slotstr, "MIGRATING", B->id), "SETSLOT MIGRATING");
    reply_ok(CMD(B->port, "CLUSTER", "SETSLOT", slotstr, "NODE", B->id), "SETSLOT NODE on B");
    reply_ok(CMD(A->port, "CLUSTER", "SETSLOT", slotstr, "NODE", B->id), "SETSLOT NODE on A");
    /* Redis drops both shard channels of that slot and tells us */
    size_t pair[2] = {0, 1};
    index_list g = {pair, 2};
    ck_assert_msg(run_until(dropped_all, &g, 5000), "no sunsubscribe pushed for %s and %s", H.names[0],
                  H.names[1]);
    for (size_t i = 2; i < H.n; i++)
        ck_assert_msg(!H.dropped[i], "%s dropped too", H.names[i]);
    /* the old primary now redirects; MOVED applied to the old map matches the new one */
    redisReply *r = CMD(A->port, "SPUBLISH", H.names[0], "x");
    gw_redirect rd;
    ck_assert(r && r->type == REDIS_REPLY_ERROR);
    ck_assert_int_eq(gw_redirect_parse(r->str, r->len, &rd, NULL), 0);
    freeReplyObject(r);
    ck_assert_int_eq(rd.port, B->port);
    ck_assert_int_eq(gw_slotmap_apply_redirect(old, &rd), 0);
    /* learn the map again (B knows at once; ask B) */
    gw_slotmap *cur = NULL;
    int64_t deadline = ts_now_ms() + 10000;
    for (;;) {
        gw_slotmap_free(cur);
        r = CMD(B->port, "CLUSTER", "SHARDS");
        pulse_error err = {0};
        ck_assert_msg(gw_slotmap_from_shards(&cur, r, &err) == 0, "%s", err.text);
        freeReplyObject(r);
        if (gw_slotmap_shard_index(cur, slot) == gw_slotmap_find_primary(cur, B->host, B->port))
            break;
        ck_assert(ts_now_ms() < deadline);
        ts_sleep_ms(50);
    }
    for (unsigned s = 0; s < GW_SLOTS; s++)
        ck_assert(!gw_slotmap_slot_moved(old, cur, s));
    size_t moved[MAXCH];
    size_t nm = gw_slotmap_moved(gw_ssub_map(H.ss), cur, H.names, NULL, H.n, moved);
    ck_assert_uint_eq(nm, 2);
    ck_assert_uint_eq(moved[0], 0);
    ck_assert_uint_eq(moved[1], 1);
    gw_ssub_set_map(H.ss, cur); /* A and B stay primaries: both connections are kept */
    ck_assert_uint_eq(gw_ssub_connections(H.ss), NPRIM);
    subscribe_and_wait(moved, nm, "resubscribe after the slot moved");
    assert_shardchannels("after the slot moved");
    H.round = 2;
    publish_and_receive(NULL, 0, "round 2");
    gw_slotmap_free(old);
    harness_stop();
}
END_TEST

START_TEST(test_failover)
{
    harness_build();
    const gw_slotmap *m = gw_ssub_map(H.ss);
    /* kill the primary of the shard that serves the most channels after the pair */
    unsigned slot = gw_slot_of(H.names[2], strlen(H.names[2]));
    int victim_shard = gw_slotmap_shard_index(m, slot);
    gw_cnode victim = m->shards[victim_shard].primary;
    int vi = port_index(victim.port);
    ck_assert_int_ge(vi, 0);
    pid_t pid = ts_rcluster_pid(&g_rc, victim.port);
    size_t on_victim[MAXCH], others[MAXCH], nv = 0, no = 0;
    for (size_t i = 0; i < H.n; i++) {
        if (gw_slotmap_shard_index(m, gw_slot_of(H.names[i], strlen(H.names[i]))) == victim_shard)
            on_victim[nv++] = i;
        else
            others[no++] = i;
    }
    ck_assert_uint_gt(nv, 0);
    int64_t t_kill = ts_now_ms();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    g_dead[vi] = true;
    int one = 1;
    ck_assert_msg(run_until(downs_seen, &one, 5000), "the killed primary's connection never went down");
    ck_assert(gw_cnode_same(&H.down_node, &victim));
    /* the other shards keep flowing meanwhile */
    H.round = 3;
    publish_and_receive(others, no, "other shards during the failover");
    /* wait for the promotion: a map whose shard for slot has another primary */
    gw_slotmap *cur = NULL;
    int64_t deadline = ts_now_ms() + 30000;
    for (;;) {
        cur = fetch_map();
        if (cur && cur->uncovered == 0) {
            const gw_cshard *sh = gw_slotmap_shard(cur, slot);
            if (sh && !gw_cnode_same(&sh->primary, &victim))
                break;
        }
        gw_slotmap_free(cur);
        cur = NULL;
        ck_assert_msg(ts_now_ms() < deadline, "no replica promoted within 30 s");
        ts_sleep_ms(100);
    }
    fprintf(stderr, "failover: new map with a promoted replica %lld ms after SIGKILL\n",
            (long long)(ts_now_ms() - t_kill));
    size_t moved[MAXCH];
    size_t nm = gw_slotmap_moved(gw_ssub_map(H.ss), cur, H.names, NULL, H.n, moved);
    ck_assert_uint_eq(nm, nv);
    for (size_t k = 0; k < nm; k++)
        ck_assert_uint_eq(moved[k], on_victim[k]);
    gw_ssub_set_map(H.ss, cur);
    subscribe_and_wait(moved, nm, "resubscribe after the failover");
    fprintf(stderr, "failover: resubscribed %zu channels %lld ms after SIGKILL\n", nm,
            (long long)(ts_now_ms() - t_kill));
    ck_assert_uint_eq(gw_ssub_connections(H.ss), NPRIM);
    assert_shardchannels("after the failover");
    H.round = 4;
    publish_and_receive(NULL, 0, "every channel after the failover");
    ck_assert_int_eq(H.downs, 1);
    harness_stop();
}
END_TEST

/* ---- 5. connections that fail are reported once, from the loop ---- */
static gw_slotmap *map_of_one_node(int port)
{
    char resp[200];
    int n = snprintf(resp, sizeof resp, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", port);
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    ck_assert_int_eq(redisReaderFeed(rd, resp, (size_t)n), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    redisReaderFree(rd);
    gw_slotmap *m = NULL;
    ck_assert_int_eq(gw_slotmap_from_slots(&m, reply, NULL), 0);
    freeReplyObject(reply);
    return m;
}

static char g_down_reason[200];

static void on_down_reason(gw_ssub *s, const gw_cnode *node, const char *reason, void *arg)
{
    snprintf(g_down_reason, sizeof g_down_reason, "%s", reason);
    H.downs++;
}

START_TEST(test_connection_failures)
{
    gw_ssub_callbacks cbs = {on_push, on_down_reason};
    int one = 1;
    const char *names[] = {"events.critical"};
    /* nobody listens: refused */
    harness_start();
    gw_ssub_free(H.ss);
    H.ss = gw_ssub_new(H.base, NULL, &cbs, NULL);
    gw_ssub_set_map(H.ss, map_of_one_node(ts_free_port()));
    ck_assert_int_eq(gw_ssub_subscribe(H.ss, names, NULL, 1, NULL), 0);
    ck_assert_int_eq(H.downs, 0); /* never from inside the call */
    ck_assert(run_until(downs_seen, &one, 5000));
    ck_assert_msg(strstr(g_down_reason, "Connection refused") != NULL, "reason: %s", g_down_reason);
    ck_assert_uint_eq(gw_ssub_connections(H.ss), 0);
    harness_stop();
    /* a live primary that refuses the password */
    harness_start();
    gw_ssub_free(H.ss);
    gw_ssub_options opts = {.password = "not-the-password"};
    H.ss = gw_ssub_new(H.base, &opts, &cbs, NULL);
    gw_slotmap *m = fetch_map();
    ck_assert_ptr_nonnull(m);
    gw_ssub_set_map(H.ss, m);
    ck_assert_int_eq(gw_ssub_subscribe(H.ss, names, NULL, 1, NULL), 0);
    ck_assert(run_until(downs_seen, &one, 5000));
    ck_assert_msg(strstr(g_down_reason, "AUTH refused") != NULL, "reason: %s", g_down_reason);
    ck_assert_int_eq(H.errors, 0);
    harness_stop();
    /* no map: nothing sent, a clear error */
    harness_start();
    pulse_error err = {0};
    ck_assert_int_eq(gw_ssub_subscribe(H.ss, names, NULL, 1, &err), PULSE_ENOENT);
    ck_assert_str_eq(err.text, "SSUBSCRIBE: no slot map yet; 1 channels not sent");
    harness_stop();
}
END_TEST

Suite *ts_suite(void)
{
    /* in this order: each test runs in its own child, on the cluster as the previous
     * one left it (a slot moved, then a primary dead) */
    return ts_suite_fixed("redis_cluster", "redis_cluster", 240, cluster_up, cluster_down, NULL, NULL,
                          test_keyslot_and_map_agree, test_subscribe_every_shard,
                          test_slot_moves_pushes_sunsubscribe, test_failover, test_connection_failures);
}
