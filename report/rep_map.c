/*
 * rep_map.c - repcore's hash tables (see rep_map.h): a uint64->uint64 open-addressing
 * map, used for (client, channel) -> last sequence, event ids and client ids, and a
 * string interner for channel and node names. FNV-1a for strings, a 64-bit mix for
 * integer keys.
 */
#include "rep_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rep_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void u64map_grow(rep_u64map *m)
{
    rep_u64map n;
    size_t i;

    n.cap = m->cap ? m->cap * 2 : 64;
    n.len = 0;
    n.keys = pulse_xcalloc(n.cap, sizeof(*n.keys));
    n.vals = pulse_xcalloc(n.cap, sizeof(*n.vals));
    n.used = pulse_xcalloc(n.cap, 1);
    for (i = 0; i < m->cap; i++) {
        if (m->used[i]) {
            bool ins;
            *rep_u64map_upsert(&n, m->keys[i], m->vals[i], &ins) = m->vals[i];
        }
    }
    rep_u64map_free(m);
    *m = n;
}

uint64_t *rep_u64map_upsert(rep_u64map *m, uint64_t key, uint64_t init, bool *inserted)
{
    size_t i;

    if ((m->len + 1) * 10 > m->cap * 7)
        u64map_grow(m);
    for (i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) {
            m->used[i] = 1;
            m->keys[i] = key;
            m->vals[i] = init;
            m->len++;
            *inserted = true;
            return &m->vals[i];
        }
        if (m->keys[i] == key) {
            *inserted = false;
            return &m->vals[i];
        }
    }
}

uint64_t *rep_u64map_get(const rep_u64map *m, uint64_t key)
{
    size_t i;

    if (m->cap == 0)
        return NULL;
    for (i = mix64(key) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return &m->vals[i];
    }
    return NULL;
}

void rep_u64map_free(rep_u64map *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    memset(m, 0, sizeof(*m));
}

long rep_intern_find(const rep_intern *t, const char *name, size_t len)
{
    uint64_t *first = rep_u64map_get(&t->by_hash, rep_hash_bytes(name, len));
    uint32_t i;

    if (first == NULL)
        return -1;
    for (i = (uint32_t)(*first - 1); i != UINT32_MAX; i = t->next[i]) {
        if (strlen(t->names[i]) == len && memcmp(t->names[i], name, len) == 0)
            return (long)i;
    }
    return -1;
}

uint32_t rep_intern_add(rep_intern *t, const char *name, size_t len)
{
    long found = rep_intern_find(t, name, len);
    uint64_t *slot;
    bool ins;
    uint32_t idx;

    if (found >= 0)
        return (uint32_t)found;
    if (t->n == t->names_cap) {
        t->names_cap = t->names_cap ? t->names_cap * 2 : 16;
        t->names = pulse_xrealloc(t->names, t->names_cap * sizeof(*t->names));
        t->next = pulse_xrealloc(t->next, t->names_cap * sizeof(*t->next));
    }
    idx = (uint32_t)t->n++;
    t->names[idx] = pulse_xrealloc(NULL, len + 1);
    memcpy(t->names[idx], name, len);
    t->names[idx][len] = '\0';
    slot = rep_u64map_upsert(&t->by_hash, rep_hash_bytes(name, len), (uint64_t)idx + 1, &ins);
    if (ins) {
        t->next[idx] = UINT32_MAX;
    } else {
        t->next[idx] = (uint32_t)(*slot - 1);
        *slot = (uint64_t)idx + 1;
    }
    return idx;
}

void rep_intern_free(rep_intern *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->next);
    rep_u64map_free(&t->by_hash);
    memset(t, 0, sizeof(*t));
}
