/*
 * pub_cluster.c - see pub_cluster.h.
 */
#include "pub_cluster.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gw_slot.h"
#include "gw_slotmap.h"
#include "pulse_alloc.h"
#include "pulse_clock.h"
#include "pulse_url.h"

#define PC_CONNS_MAX 64

typedef struct {
    char host[GW_CNODE_HOST_MAX + 1];
    int port;
    redisContext *ctx;
} pc_conn;

struct pub_cluster {
    pulse_url seeds[PULSE_URL_SEEDS_MAX];
    size_t nseeds;
    char password[128];
    char *library;
    int retry_ms;
    gw_slotmap *map;
    pc_conn conns[PC_CONNS_MAX];
    size_t nconns;
    unsigned refreshes;
};

static void conn_drop(pc_conn *k)
{
    if (k->ctx)
        redisFree(k->ctx);
    k->ctx = NULL;
}

/* A connection to host:port (opened now if needed), or NULL. */
static redisContext *conn_to(pub_cluster *c, const char *host, int port, pulse_error *err)
{
    pc_conn *k = NULL;
    for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].port == port && strcmp(c->conns[i].host, host) == 0)
            k = &c->conns[i];
    if (!k) {
        if (c->nconns == PC_CONNS_MAX) {
            pulse_error_set(err, PULSE_EINVAL, 0, "more than %d cluster nodes", PC_CONNS_MAX);
            return NULL;
        }
        k = &c->conns[c->nconns++];
        snprintf(k->host, sizeof k->host, "%s", host);
        k->port = port;
    }
    if (k->ctx)
        return k->ctx;
    struct timeval tv = {2, 0};
    k->ctx = redisConnectWithTimeout(host, port, tv);
    if (!k->ctx || k->ctx->err) {
        pulse_error_set(err, PULSE_EIO, 0, "cannot connect to %s:%d: %s", host, port,
                        k->ctx ? k->ctx->errstr : "out of memory");
        conn_drop(k);
        return NULL;
    }
    redisSetTimeout(k->ctx, tv);
    if (c->password[0]) {
        redisReply *r = redisCommand(k->ctx, "AUTH %s", c->password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (!ok)
            pulse_error_set(err, PULSE_EIO, 0, "AUTH on %s:%d failed: %s", host, port,
                            r ? r->str : k->ctx->errstr);
        freeReplyObject(r);
        if (!ok) {
            conn_drop(k);
            return NULL;
        }
    }
    return k->ctx;
}

static void conn_forget(pub_cluster *c, redisContext *ctx)
{
    for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].ctx == ctx)
            conn_drop(&c->conns[i]);
}

/* Learns the map from the first node that answers: the seeds, then the known primaries. */
static int refresh(pub_cluster *c, pulse_error *err)
{
    size_t nknown = c->map ? c->map->nshards : 0;
    for (size_t i = 0; i < c->nseeds + nknown; i++) {
        const char *host = i < c->nseeds ? c->seeds[i].host : c->map->shards[i - c->nseeds].primary.host;
        int port = i < c->nseeds ? c->seeds[i].port : c->map->shards[i - c->nseeds].primary.port;
        redisContext *ctx = conn_to(c, host, port, err);
        if (!ctx)
            continue;
        redisReply *r = redisCommand(ctx, "CLUSTER SHARDS");
        gw_slotmap *m = NULL;
        if (r && r->type == REDIS_REPLY_ERROR && strcasestr(r->str, "unknown subcommand")) {
            freeReplyObject(r);
            r = redisCommand(ctx, "CLUSTER SLOTS");
            if (r)
                gw_slotmap_from_slots(&m, r, err);
        } else if (r) {
            gw_slotmap_from_shards(&m, r, err);
        } else {
            pulse_error_set(err, PULSE_EIO, 0, "%s:%d: %s", host, port, ctx->errstr);
            conn_forget(c, ctx);
        }
        freeReplyObject(r);
        if (m && gw_slotmap_fill_host(m, host) == 0 && m->uncovered == 0) {
            gw_slotmap_free(c->map);
            c->map = m;
            c->refreshes++;
            return 0;
        }
        if (m)
            pulse_error_set(err, PULSE_EIO, 0, "%s:%d: %u slots have no primary", host, port, m->uncovered);
        gw_slotmap_free(m);
    }
    return -1;
}

pub_cluster *pub_cluster_open(const char *url, const char *library, int retry_ms, pulse_error *err)
{
    pub_cluster *c = pulse_xcalloc(1, sizeof(*c));
    if (pulse_url_parse_cluster(url, c->seeds, PULSE_URL_SEEDS_MAX, &c->nseeds, err) != 0) {
        free(c);
        return NULL;
    }
    snprintf(c->password, sizeof c->password, "%s", c->seeds[0].password);
    c->library = library ? pulse_xstrdup(library) : NULL;
    c->retry_ms = retry_ms;
    if (refresh(c, err) != 0) {
        pub_cluster_close(c);
        return NULL;
    }
    return c;
}

void pub_cluster_close(pub_cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nconns; i++)
        conn_drop(&c->conns[i]);
    gw_slotmap_free(c->map);
    free(c->library);
    free(c);
}

unsigned pub_cluster_refreshes(const pub_cluster *c)
{
    return c->refreshes;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

redisReply *pub_cluster_command(pub_cluster *c, int key_index, int argc, const char **argv, const size_t *lens,
                                pulse_error *err)
{
    const char *key = argv[key_index];
    size_t klen = lens ? lens[key_index] : strlen(key);
    unsigned slot = gw_slot_of(key, klen);
    int64_t deadline = pulse_mono_ms() + c->retry_ms;
    char host[GW_CNODE_HOST_MAX + 1] = "";
    int port = 0;
    bool asking = false, loaded = false;
    for (int attempt = 0;; attempt++) {
        if (attempt > 0 && pulse_mono_ms() > deadline)
            return NULL; /* err holds the last reason */
        if (!port) {
            const gw_cshard *sh = c->map ? gw_slotmap_shard(c->map, slot) : NULL;
            if (!sh) {
                if (refresh(c, err) != 0)
                    nap_ms(100);
                continue;
            }
            snprintf(host, sizeof host, "%s", sh->primary.host);
            port = sh->primary.port;
        }
        redisContext *ctx = conn_to(c, host, port, err);
        if (!ctx) {
            /* a primary away (a failover takes node timeout + election): look again */
            port = 0;
            nap_ms(100);
            refresh(c, err);
            continue;
        }
        if (asking) {
            redisReply *a = redisCommand(ctx, "ASKING");
            freeReplyObject(a);
            asking = false;
        }
        redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
        if (!r) {
            pulse_error_set(err, PULSE_EIO, 0, "%s:%d: %s", host, port, ctx->errstr);
            conn_forget(c, ctx);
            port = 0;
            nap_ms(100);
            refresh(c, err);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            gw_redirect rd;
            if (gw_redirect_parse(r->str, r->len, &rd, NULL) == 0) {
                if (rd.host[0])
                    snprintf(host, sizeof host, "%s", rd.host);
                port = rd.port;
                asking = rd.kind == GW_REDIRECT_ASK;
                if (rd.kind == GW_REDIRECT_MOVED && gw_slotmap_apply_redirect(c->map, &rd) != 0)
                    refresh(c, err);
                freeReplyObject(r);
                continue;
            }
            if (strncmp(r->str, "CLUSTERDOWN", 11) == 0 || strncmp(r->str, "TRYAGAIN", 8) == 0) {
                pulse_error_set(err, PULSE_EIO, 0, "%s:%d: %s", host, port, r->str);
                freeReplyObject(r);
                port = 0;
                nap_ms(100);
                refresh(c, err);
                continue;
            }
            if (c->library && !loaded && strstr(r->str, "Function not found")) {
                freeReplyObject(r);
                loaded = true;
                redisReply *l = redisCommand(ctx, "FUNCTION LOAD %s", c->library);
                freeReplyObject(l);
                continue;
            }
        }
        return r;
    }
}
