/*
 * gw_slot.h - the Redis Cluster key slot: CRC16 (XMODEM: polynomial 0x1021, initial
 * value 0, no reflection, no final xor) of the key, or of its hash tag, modulo 16384,
 * exactly as Redis Cluster computes it (`CLUSTER KEYSLOT`). Sharded pub/sub places a
 * channel by the same rule, so the slot of a channel name is the slot of that string
 * used as a key.
 *
 * Hash tag: when the key holds a '{' and, somewhere after the first '{', a '}', and
 * at least one byte lies between them, only those bytes are hashed. So the history keys
 * pulse:{C}:meta and pulse:{C}:stream share channel C's slot whenever C holds no '}'
 * (always true for a valid Pulse channel name: [A-Za-z0-9._:@-]).
 *
 * Also here: the batching plan for SSUBSCRIBE/SUNSUBSCRIBE, which take several
 * channels only when they all hash to one slot (else Redis answers CROSSSLOT).
 *
 * Pure functions, no I/O, no allocation, no global state: any thread may call them.
 */
#ifndef GW_SLOT_H
#define GW_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define GW_SLOTS 16384 /* Redis Cluster's slot count */

/* CRC16/XMODEM of buf[0..len). */
uint16_t gw_crc16(const void *buf, size_t len);

/* The slot (0..16383) of key[0..len), hash tags included. */
unsigned gw_slot_of(const char *key, size_t len);

/* One channel of a batching plan: its index in the caller's array, and its slot. */
typedef struct {
    size_t index;
    uint16_t slot;
} gw_slot_ref;

/* One batch: refs[first .. first+count) all hash to slot; one SSUBSCRIBE each. */
typedef struct {
    uint16_t slot;
    size_t first;
    size_t count;
} gw_slot_batch;

/* Plans the batches for names[0..n): fills refs[0..n) with every index sorted by slot
 * (ties keep the caller's order) and batches[] with one run per slot, a run longer than
 * max_per_batch (0: no limit) split into several. lens may be NULL (strlen is used).
 * refs and batches are the caller's, n entries each (n batches is the worst case).
 * Returns the number of batches written. Duplicate names are kept as given. */
size_t gw_slot_plan(const char *const *names, const size_t *lens, size_t n, size_t max_per_batch,
                    gw_slot_ref *refs, gw_slot_batch *batches);

#endif
