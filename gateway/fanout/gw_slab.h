/*
 * gw_slab.h - fixed-size slots in a region of their own, for the short-lived, large
 * allocations of a handshake (lws's 4 KiB header tables, gw_worker.c). Served from
 * glibc's heap, each storm of handshakes left its header tables' holes between the
 * long-lived connection structures: about 100 bytes of RSS per idle connection that
 * no trim could give back. Here they live apart, and once none is in use every page
 * they touched is given back (gw_slab_trim). The connection's own lws structures
 * have a slab each too (gw_worker.c), for the next point:
 *
 * Fresh slots are faulted in 64 KiB at a time (one MADV_POPULATE_WRITE) rather than a
 * page fault at each first touch, which costs this VM about 13 us.
 *
 * Thread-safe (one mutex). Slots are handed out last-freed first, so a steady trickle
 * of handshakes keeps reusing the same few pages.
 */
#ifndef GW_SLAB_H
#define GW_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_slab gw_slab;

/* nslots slots of slot_size bytes (rounded up to 16) in address space reserved at
 * once; memory is used only as slots are touched. NULL if the region cannot be
 * mapped. */
gw_slab *gw_slab_new(size_t slot_size, uint32_t nslots);
/* A slot (contents undefined), or NULL when every slot is in use. */
void *gw_slab_alloc(gw_slab *s);
/* true when p is a slot of s (s may be NULL). */
bool gw_slab_owns(const gw_slab *s, const void *p);
/* Gives back a slot from gw_slab_alloc. */
void gw_slab_free(gw_slab *s, void *p);
/* When no slot is in use: every touched page goes back to the kernel and the next
 * slots come from the start again. Returns the bytes given back (0: some slot in use,
 * or nothing touched). */
size_t gw_slab_trim(gw_slab *s);
uint32_t gw_slab_in_use(gw_slab *s);
size_t gw_slab_slot_size(const gw_slab *s);
void gw_slab_free_all(gw_slab *s); /* unmaps the region; NULL-safe */

#endif
