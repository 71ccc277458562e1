/*
 * gw_chantab.c - chained hash table of channels, growing by doubling; see gw_chantab.h.
 */
#include "gw_chantab.h"
#include "pulse_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw_chantab {
    gw_chan **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
};

/* FNV-1a, with the namespace folded in */
static uint32_t hash_name(const char *name, bool is_pattern)
{
    uint32_t h = is_pattern ? 0x9e3779b9u : 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

gw_chantab *gw_chantab_new(void)
{
    gw_chantab *t = pulse_xcalloc(1, sizeof(*t));
    t->nbuckets = 64;
    t->buckets = pulse_xcalloc(t->nbuckets, sizeof(*t->buckets));
    return t;
}

void gw_chantab_free(gw_chantab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        gw_chan *c = t->buckets[i];
        while (c) {
            gw_chan *next = c->next_in_bucket;
            free(c->subs);
            free(c);
            c = next;
        }
    }
    free(t->buckets);
    free(t);
}

gw_chan *gw_chantab_get(const gw_chantab *t, const char *name, bool is_pattern)
{
    uint32_t h = hash_name(name, is_pattern);
    for (gw_chan *c = t->buckets[h & (t->nbuckets - 1)]; c; c = c->next_in_bucket) {
        if (c->hash == h && c->is_pattern == is_pattern && strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

static void grow(gw_chantab *t)
{
    size_t n = t->nbuckets * 2;
    gw_chan **b = pulse_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < t->nbuckets; i++) {
        gw_chan *c = t->buckets[i];
        while (c) {
            gw_chan *next = c->next_in_bucket;
            c->next_in_bucket = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

gw_chan *gw_chantab_add(gw_chantab *t, const char *name, bool is_pattern, bool *created)
{
    gw_chan *c = gw_chantab_get(t, name, is_pattern);
    if (created)
        *created = c == NULL;
    if (c)
        return c;
    if (t->count + 1 > t->nbuckets)
        grow(t);
    size_t len = strlen(name);
    c = pulse_xcalloc(1, sizeof(*c) + len + 1);
    memcpy(c->name, name, len + 1);
    c->hash = hash_name(name, is_pattern);
    c->is_pattern = is_pattern;
    size_t b = c->hash & (t->nbuckets - 1);
    c->next_in_bucket = t->buckets[b];
    t->buckets[b] = c;
    t->count++;
    return c;
}

void gw_chantab_remove(gw_chantab *t, gw_chan *c)
{
    gw_chan **pp = &t->buckets[c->hash & (t->nbuckets - 1)];
    while (*pp && *pp != c)
        pp = &(*pp)->next_in_bucket;
    if (!*pp)
        return;
    *pp = c->next_in_bucket;
    t->count--;
    free(c->subs);
    free(c);
}

size_t gw_chantab_count(const gw_chantab *t)
{
    return t->count;
}

void gw_chantab_foreach(gw_chantab *t, void (*fn)(gw_chan *c, void *ud), void *ud)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (gw_chan *c = t->buckets[i]; c; c = c->next_in_bucket)
            fn(c, ud);
    }
}

void gw_chantab_remove_if(gw_chantab *t, bool (*pred)(gw_chan *c, void *ud), void *ud)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        gw_chan **pp = &t->buckets[i];
        while (*pp) {
            gw_chan *c = *pp;
            if (pred(c, ud)) {
                *pp = c->next_in_bucket;
                t->count--;
                free(c->subs);
                free(c);
            } else {
                pp = &c->next_in_bucket;
            }
        }
    }
}

uint32_t gw_chan_add_sub(gw_chan *c, void *sub, uint32_t back)
{
    if (c->nsubs == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 4;
        c->subs = pulse_xrealloc(c->subs, (size_t)ncap * sizeof(*c->subs));
        c->cap = ncap;
    }
    c->subs[c->nsubs].sub = sub;
    c->subs[c->nsubs].back = back;
    return c->nsubs++;
}

int gw_chan_remove_sub(gw_chan *c, uint32_t i, gw_sub *moved)
{
    if (i >= c->nsubs)
        return 0;
    uint32_t last = --c->nsubs;
    if (i == last)
        return 0;
    c->subs[i] = c->subs[last];
    if (moved)
        *moved = c->subs[i];
    return 1;
}
