/*
 * gw_slab.c - fixed-size slots in a region of their own; see gw_slab.h.
 */
#include "gw_slab.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

struct gw_slab {
    unsigned char *base;
    size_t slot, len;
    uint32_t nslots;
    pthread_mutex_t lock;
    void *free_list;  /* freed slots, each holding the next one's address */
    uint32_t touched; /* slots [0, touched) have been handed out at least once */
    uint32_t in_use;
    size_t populated; /* bytes [0, populated) are faulted in */
};

/* Fresh slots are faulted in GW_SLAB_POPULATE bytes at a time, in one madvise: a page
 * fault costs this VM about 13 us (a storm of 10,000 handshakes took 3,600 of them, 13%
 * of its worker's CPU), a page populated in a batch far less. At most this much is
 * resident ahead of use. */
#define GW_SLAB_POPULATE (64 * 1024)

gw_slab *gw_slab_new(size_t slot_size, uint32_t nslots)
{
    gw_slab *s = calloc(1, sizeof(*s));
    if (!s || !nslots || !slot_size)
        goto fail;
    s->slot = (slot_size + 15) & ~(size_t)15;
    s->nslots = nslots;
    s->len = s->slot * nslots;
    s->base = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s->base == MAP_FAILED)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    return s;
fail:
    free(s);
    return NULL;
}

void *gw_slab_alloc(gw_slab *s)
{
    void *p = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->free_list) {
        p = s->free_list;
        s->free_list = *(void **)p;
    } else if (s->touched < s->nslots) {
        p = s->base + (size_t)s->touched++ * s->slot;
        size_t end = (size_t)s->touched * s->slot;
        if (end > s->populated) {
            size_t want = (end - s->populated + GW_SLAB_POPULATE - 1) / GW_SLAB_POPULATE * GW_SLAB_POPULATE;
            if (want > s->len - s->populated)
                want = s->len - s->populated;
            /* an older kernel without MADV_POPULATE_WRITE (5.14) faults the pages in one by one */
            (void)madvise(s->base + s->populated, want, MADV_POPULATE_WRITE);
            s->populated += want;
        }
    }
    if (p)
        s->in_use++;
    pthread_mutex_unlock(&s->lock);
    return p;
}

bool gw_slab_owns(const gw_slab *s, const void *p)
{
    return s && (const unsigned char *)p >= s->base && (const unsigned char *)p < s->base + s->len;
}

void gw_slab_free(gw_slab *s, void *p)
{
    pthread_mutex_lock(&s->lock);
    *(void **)p = s->free_list;
    s->free_list = p;
    s->in_use--;
    pthread_mutex_unlock(&s->lock);
}

size_t gw_slab_trim(gw_slab *s)
{
    size_t given = 0;
    pthread_mutex_lock(&s->lock);
    if (s->in_use == 0 && s->touched > 0) {
        given = s->populated;
        madvise(s->base, given, MADV_DONTNEED);
        s->touched = 0;
        s->populated = 0;
        s->free_list = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    return given;
}

uint32_t gw_slab_in_use(gw_slab *s)
{
    pthread_mutex_lock(&s->lock);
    uint32_t n = s->in_use;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t gw_slab_slot_size(const gw_slab *s)
{
    return s->slot;
}

void gw_slab_free_all(gw_slab *s)
{
    if (!s)
        return;
    munmap(s->base, s->len);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
