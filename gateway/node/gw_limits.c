/*
 * gw_limits.c - per-address connection counts and the command rate limiter; see
 * gw_limits.h. The table is a fixed array of hash buckets under one mutex (taken once
 * per handshake and per close, never per message).
 */
#include "gw_limits.h"

#include <pthread.h>
#include <stdlib.h>

#include "pulse_alloc.h"

#define IP_BUCKETS 1024

typedef struct ip_node {
    struct ip_node *next;
    uint64_t key;
    int count;
} ip_node;

struct gw_limits {
    int max_per_ip;
    pthread_mutex_t lock;
    ip_node *ip[IP_BUCKETS];
};

gw_limits *gw_limits_new(int max_per_ip)
{
    gw_limits *l = pulse_xcalloc(1, sizeof(*l));
    l->max_per_ip = max_per_ip;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void gw_limits_free(gw_limits *l)
{
    if (!l)
        return;
    for (size_t b = 0; b < IP_BUCKETS; b++) {
        while (l->ip[b]) {
            ip_node *next = l->ip[b]->next;
            free(l->ip[b]);
            l->ip[b] = next;
        }
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* ---- per-address count ---- */

static uint64_t ip_key(const char *ip)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64: collisions are negligible here */
    for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

static ip_node **ip_find(gw_limits *l, uint64_t key)
{
    ip_node **pp = &l->ip[key % IP_BUCKETS];
    while (*pp && (*pp)->key != key)
        pp = &(*pp)->next;
    return pp;
}

bool gw_limits_ip_full(gw_limits *l, const char *ip)
{
    if (!l || l->max_per_ip <= 0)
        return false;
    pthread_mutex_lock(&l->lock);
    ip_node *n = *ip_find(l, ip_key(ip));
    bool full = n && n->count >= l->max_per_ip;
    pthread_mutex_unlock(&l->lock);
    return full;
}

uint64_t gw_limits_ip_admit(gw_limits *l, const char *ip, int hard)
{
    if (!l || l->max_per_ip <= 0)
        return 0;
    pthread_mutex_lock(&l->lock);
    ip_node *n = *ip_find(l, ip_key(ip));
    bool full = n && n->count >= hard;
    pthread_mutex_unlock(&l->lock);
    return full ? 0 : gw_limits_ip_acquire(l, ip);
}

bool gw_limits_ip_over(gw_limits *l, uint64_t key)
{
    if (!l || l->max_per_ip <= 0 || key == 0)
        return false;
    pthread_mutex_lock(&l->lock);
    ip_node *n = *ip_find(l, key);
    bool over = n && n->count > l->max_per_ip;
    pthread_mutex_unlock(&l->lock);
    return over;
}

uint64_t gw_limits_ip_acquire(gw_limits *l, const char *ip)
{
    if (!l || l->max_per_ip <= 0)
        return 0;
    uint64_t key = ip_key(ip);
    pthread_mutex_lock(&l->lock);
    ip_node **pp = ip_find(l, key);
    if (!*pp) {
        *pp = pulse_xcalloc(1, sizeof(ip_node));
        (*pp)->key = key;
    }
    (*pp)->count++;
    pthread_mutex_unlock(&l->lock);
    return key;
}

void gw_limits_ip_release(gw_limits *l, uint64_t key)
{
    if (!l || key == 0)
        return;
    pthread_mutex_lock(&l->lock);
    ip_node **pp = ip_find(l, key);
    if (*pp && --(*pp)->count <= 0) {
        ip_node *dead = *pp;
        *pp = dead->next;
        free(dead);
    }
    pthread_mutex_unlock(&l->lock);
}

/* ---- command rate ---- */

int gw_ratelimit_take(gw_ratelimit *rl, int rate, int64_t now_ms)
{
    if (rate <= 0)
        return GW_RL_OK;
    float cap = 2.0f * (float)rate;
    if (rl->last_ms == 0) {
        rl->tokens = cap;
        rl->strikes = 0;
    } else if (now_ms > rl->last_ms) {
        float dt = (float)(now_ms - rl->last_ms) / 1000.0f;
        rl->tokens += dt * (float)rate;
        if (rl->tokens > cap)
            rl->tokens = cap;
        rl->strikes -= dt * (float)rate / 2.0f;
        if (rl->strikes < 0)
            rl->strikes = 0;
    }
    rl->last_ms = now_ms > 0 ? now_ms : 1;
    if (rl->tokens >= 1.0f) {
        rl->tokens -= 1.0f;
        return GW_RL_OK;
    }
    rl->strikes += 1.0f;
    return rl->strikes > cap + 10.0f ? GW_RL_ABUSE : GW_RL_LIMITED;
}
