/*
 * sub_memo.c - the envelopes pulse-subscribe scanned last, in a ring, found by their
 * bytes (see sub_memo.h for why).
 */
#include "sub_memo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pulse_alloc.h"

#define MEMO_HEAD 96 /* bytes hashed from the start: a Pulse envelope's offset and event id */
#define MEMO_TAIL 32 /* and from the end */
#define MEMO_RING_ALIGN (2u << 20)

/* One entry in the ring: this head, the envelope's bytes, then (8-aligned) its part of
 * the log line; the next entry starts at the next multiple of 64. */
typedef struct {
    size_t len;        /* 0: a copy whose scan failed */
    uint64_t next;     /* the entry kept after this one: its position + 1, or 0 (none yet) */
    pulse_delivery d;  /* pointers into the bytes below */
} entry_head;

static inline size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

static inline size_t part_at(size_t len)
{
    return align_up(sizeof(entry_head) + len, 8);
}

static inline size_t entry_size(size_t len)
{
    return align_up(part_at(len) + sizeof(pulse_delivery_part), 64);
}

/* The part of the entry e that holds an envelope of len bytes. */
static inline pulse_delivery_part *entry_part(entry_head *e, size_t len)
{
    return (pulse_delivery_part *)(void *)((unsigned char *)e + part_at(len));
}

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

/* A hash of the length, the first MEMO_HEAD bytes and the last MEMO_TAIL (two lanes, so
 * the multiplications overlap). Envelopes that differ only elsewhere share a set and
 * evict each other: slower, never wrong (a hit compares every byte). */
static uint64_t memo_hash(const char *p, size_t len)
{
    uint64_t a = len * 0xff51afd7ed558ccdULL, b = ~(uint64_t)len;
    size_t head = len < MEMO_HEAD ? len : MEMO_HEAD, i = 0;

    for (; head - i >= 16; i += 16) {
        a = mix(a, load64(p + i));
        b = mix(b, load64(p + i + 8));
    }
    if (i < head) {
        char last[16] = {0};
        memcpy(last, p + i, head - i);
        a = mix(a, load64(last));
        b = mix(b, load64(last + 8));
    }
    if (len > MEMO_HEAD) {
        const char *t = p + len - MEMO_TAIL; /* may overlap the head: harmless */
        a = mix(a, load64(t) ^ load64(t + 16));
        b = mix(b, load64(t + 8) ^ load64(t + 24));
    }
    a ^= (b << 31) | (b >> 33);
    a *= 0xc4ceb9fe1a85ec53ULL;
    return a ^ (a >> 32);
}

int sub_memo_init(sub_memo *m, size_t nsets, size_t ring_size)
{
    void *ring = NULL;

    memset(m, 0, sizeof *m);
    if (nsets == 0 || (nsets & (nsets - 1)) != 0 || ring_size < (64u << 10) || ring_size % 64 != 0)
        return -1;
    /* Aligned for huge pages where the kernel gives them on request (fewer TLB misses
     * for the ring's walks); plain pages otherwise. */
    if (posix_memalign(&ring, MEMO_RING_ALIGN, ring_size) != 0)
        pulse_oom();
#ifdef MADV_HUGEPAGE
    (void)madvise(ring, ring_size, MADV_HUGEPAGE);
#endif
    /* Fault it in now, before the first events: a huge page's first touch can stall for
     * milliseconds (zeroing, compaction), and a client that falls behind at the start of
     * a run at thousands of events a second does not catch up. */
    memset(ring, 0, ring_size);
    m->ring = ring;
    m->ring_size = ring_size;
    m->index = pulse_xcalloc(2 * nsets, sizeof *m->index);
    m->set_mask = nsets - 1;
    return 0;
}

void sub_memo_free(sub_memo *m)
{
    free(m->ring);
    free(m->index);
    memset(m, 0, sizeof *m);
}

static inline entry_head *entry_at(const sub_memo *m, uint64_t pos)
{
    return (entry_head *)(void *)(m->ring + pos % m->ring_size);
}

/* Whether the entry at pos is still whole: the ring has not written over it. */
static inline bool entry_live(const sub_memo *m, uint64_t pos)
{
    return m->head - pos <= m->ring_size;
}

/* Scans text (len bytes) into d and part. */
static int fill(sub_memo *m, const char *text, size_t len, pulse_delivery *d,
                pulse_delivery_part *part, pulse_error *err)
{
    int rc;

    m->scans++;
    rc = pulse_delivery_scan(text, len, d, err);
    if (rc != 0)
        return rc;
    rc = pulse_delivery_part_make(part, d->channel, d->channel_len, d->event_id, d->event_id_len,
                                  d->sequence, d->event_type, d->event_type_len,
                                  d->published_at_us, d->offset);
    if (rc != 0)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "channel, event_id or event_type: too long for the delivery log, "
                               "or holds a comma, quote or control character");
    return 0;
}

/* A hit on e: the results, and where the reader's next envelope most likely is. */
static int hit(sub_memo *m, entry_head *e, uint64_t *next, const pulse_delivery **d,
               const pulse_delivery_part **part)
{
    m->hits++;
    *next = e->next;
    *d = &e->d;
    *part = entry_part(e, e->len);
    return 0;
}

int sub_memo_get(sub_memo *m, const char *line, size_t len, uint64_t *next,
                 const pulse_delivery **d, const pulse_delivery_part **part, pulse_error *err)
{
    sub_memo_way *w;
    entry_head *e;
    uint64_t h, pos;
    size_t n, off, victim;
    int rc;

    *d = NULL;
    *part = NULL;
    if (len == 0 || len > SUB_MEMO_LINE_MAX) {
        *next = 0;
        rc = fill(m, line, len, &m->once_d, &m->once_part, err);
        if (rc == 0) {
            *d = &m->once_d;
            *part = &m->once_part;
        }
        return rc;
    }
    /* Most likely: the entry kept after the one this reader hit last. */
    if (*next != 0 && entry_live(m, *next - 1)) {
        e = entry_at(m, *next - 1);
        if (e->len == len && memcmp(e + 1, line, len) == 0)
            return hit(m, e, next, d, part);
    }
    h = memo_hash(line, len);
    w = &m->index[2 * ((size_t)(h >> 20) & m->set_mask)];
    for (int i = 0; i < 2; i++) {
        if (w[i].pos == 0 || w[i].hash != h || !entry_live(m, w[i].pos - 1))
            continue;
        e = entry_at(m, w[i].pos - 1);
        if (e->len == len && memcmp(e + 1, line, len) == 0)
            return hit(m, e, next, d, part);
    }

    /* Not kept: scan a copy at the ring's head. The head moves past it even when the
     * scan fails (the copy has already written over the oldest entries there); only a
     * delivery becomes an entry: indexed, and linked from the entry kept before it. */
    *next = 0;
    n = entry_size(len);
    off = (size_t)(m->head % m->ring_size);
    pos = off + n > m->ring_size ? m->head + (m->ring_size - off) : m->head; /* never straddle the end */
    e = entry_at(m, pos);
    e->len = 0;
    e->next = 0;
    memcpy(e + 1, line, len);
    m->head = pos + n;
    {
        pulse_delivery_part *p = entry_part(e, len);
        rc = fill(m, (const char *)(e + 1), len, &e->d, p, err);
        if (rc != 0)
            return rc;
        *d = &e->d;
        *part = p;
    }
    e->len = len;
    if (m->last != 0 && entry_live(m, m->last - 1))
        entry_at(m, m->last - 1)->next = pos + 1;
    m->last = pos + 1;
    /* the way to reuse: an empty or overwritten one, else the older */
    if (w[0].pos == 0 || !entry_live(m, w[0].pos - 1))
        victim = 0;
    else if (w[1].pos == 0 || !entry_live(m, w[1].pos - 1))
        victim = 1;
    else
        victim = w[0].pos < w[1].pos ? 0 : 1;
    w[victim].pos = pos + 1;
    w[victim].hash = h;
    return 0;
}
