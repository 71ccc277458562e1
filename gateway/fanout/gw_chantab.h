/*
 * gw_chantab.h - the channel table: channel (or pattern) name -> entry.
 *
 * Used twice. Each worker thread keeps one mapping its channels to the local
 * connections subscribed to them (the fan-out index); the ingest thread keeps one
 * mapping each channel to how many workers want it and its Redis subscription state.
 * Exact channels and patterns live in separate namespaces ("a*" the pattern and a
 * hypothetical channel "a*" never collide).
 *
 * Subscriber removal is O(1): each subscriber slot stores an opaque `back` index the
 * owner uses to find its own record of the subscription; gw_chan_remove_sub reports
 * which subscriber moved into the freed slot so the owner can update its back pointer.
 *
 * Pure data structure, not thread-safe: one table per thread.
 */
#ifndef GW_CHANTAB_H
#define GW_CHANTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *sub;      /* the subscriber (a connection) */
    uint32_t back;  /* the subscriber's own index for this subscription */
} gw_sub;

typedef struct gw_chan {
    struct gw_chan *next_in_bucket;
    uint32_t hash;
    uint32_t nsubs, cap;
    gw_sub *subs;         /* worker tables: the local subscribers */
    /* free for the owner's use */
    int refs;             /* ingest: workers with local subscribers */
    int state;            /* ingest: Redis subscription state */
    uint64_t mask;        /* ingest: which workers want it */
    bool confirmed;       /* worker: Redis confirmed the subscription */
    bool gap;             /* ingest: was live when Redis went away; tell clients once back */
    bool pinned;          /* ingest: a static channel, wanted whatever refs says */
    void *hist;           /* ingest: history state of an exact channel (gw_history.c), or NULL */
    bool is_pattern;
    char name[];
} gw_chan;

typedef struct gw_chantab gw_chantab;

/* Ingest: the node wants this channel in Redis (a worker's subscriber, or static). */
static inline bool gw_chan_wanted(const gw_chan *c) { return c->refs > 0 || c->pinned; }

gw_chantab *gw_chantab_new(void); /* aborts on out-of-memory */
/* Frees the table and every entry (not the subscribers). NULL is fine. */
void gw_chantab_free(gw_chantab *t);

/* The entry for name, or NULL. */
gw_chan *gw_chantab_get(const gw_chantab *t, const char *name, bool is_pattern);
/* The entry for name, created (zeroed) when absent; *created says which. */
gw_chan *gw_chantab_add(gw_chantab *t, const char *name, bool is_pattern, bool *created);
/* Unlinks and frees one entry. */
void gw_chantab_remove(gw_chantab *t, gw_chan *c);
size_t gw_chantab_count(const gw_chantab *t);

/* Calls fn for every entry; fn may not add or remove entries. */
void gw_chantab_foreach(gw_chantab *t, void (*fn)(gw_chan *c, void *ud), void *ud);
/* Removes every entry for which pred returns true. */
void gw_chantab_remove_if(gw_chantab *t, bool (*pred)(gw_chan *c, void *ud), void *ud);

/* Appends a subscriber; returns its index in c->subs. */
uint32_t gw_chan_add_sub(gw_chan *c, void *sub, uint32_t back);
/* Removes the subscriber at index i by moving the last one into its place. When a
 * subscriber moved, returns 1 and sets *moved to it (now at index i); else 0. */
int gw_chan_remove_sub(gw_chan *c, uint32_t i, gw_sub *moved);

#endif
