/*
 * rep_map.h - the hash tables repcore needs: uint64 keys to uint64 values (open
 * addressing, linear probing, power-of-two capacity, never shrinks) and string interning
 * (a name gets a dense index). Internal to repcore; single owner.
 */
#ifndef REP_MAP_H
#define REP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulse_alloc.h" /* pulse_xrealloc: the programs' out-of-memory policy */

typedef struct {
    uint64_t *keys;
    uint64_t *vals;
    uint8_t *used;
    size_t cap, len;
} rep_u64map;

/* Returns a pointer to the value slot of key, inserting it with value init when absent
 * (*inserted says which). Never NULL: aborts on out-of-memory. */
uint64_t *rep_u64map_upsert(rep_u64map *m, uint64_t key, uint64_t init, bool *inserted);
/* Pointer to the value, or NULL when absent. */
uint64_t *rep_u64map_get(const rep_u64map *m, uint64_t key);
void rep_u64map_free(rep_u64map *m);

typedef struct {
    char **names;          /* index -> name (owned) */
    size_t n, names_cap;
    rep_u64map by_hash;    /* hash -> index+1 of the first name with that hash */
    uint32_t *next;        /* chain of indices sharing a hash (UINT32_MAX ends) */
} rep_intern;

/* Index of name[0..len), adding it when absent. */
uint32_t rep_intern_add(rep_intern *t, const char *name, size_t len);
/* Index of name, or -1 when absent. */
long rep_intern_find(const rep_intern *t, const char *name, size_t len);
void rep_intern_free(rep_intern *t);

uint64_t rep_hash_bytes(const char *s, size_t len);


#endif
