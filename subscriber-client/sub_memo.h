/*
 * sub_memo.h - pulse-subscribe scans an event once, not once per connection.
 *
 * Every connection subscribed to a channel receives the same envelope, byte for byte:
 * 1000 times an event in the benchmarks. Scanning it (pulse_delivery_scan, a full,
 * validating walk of the JSON) and checking and formatting the event's part of the
 * log line took about 350 ns a delivery and capped the client at 800-1200 events/s
 * for 1000 connections on two cores, where the gateway and the kernel's side of the
 * client need the rest. The memo keeps the envelopes scanned last: their exact bytes,
 * what the scan found in them and the event's part of the log line. An envelope equal
 * byte for byte to one kept gets both back for a hash of at most 128 of its bytes, an
 * index lookup and one memcmp; any other is scanned as before. A hit cannot differ
 * from a scan: the scan is a function of the bytes alone.
 *
 * Layout: the entries lie in one ring, in the order they were scanned, each with its
 * bytes beside its results. The connections read the same events in the same order,
 * so a run of hits walks the ring forward (the processor's prefetcher follows, one
 * page holds several entries), where entries scattered by their hash stalled on
 * nearly every lookup. The ring is overwritten oldest first; an index (two-way sets
 * of ring positions and hashes) finds an entry, and a position the ring has passed
 * is simply not found; each entry also names the one kept after it, which is where a
 * reader's next envelope nearly always is. An envelope longer than SUB_MEMO_LINE_MAX is scanned every
 * time and never kept.
 */
#ifndef SUB_MEMO_H
#define SUB_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "pulse_err.h"
#include "pulse_event.h"
#include "pulse_record.h"

#define SUB_MEMO_LINE_MAX (16u << 10)

typedef struct {
    uint64_t pos;  /* the entry's ring position + 1 (0: empty) */
    uint64_t hash;
} sub_memo_way;

typedef struct {
    sub_memo_way *index;      /* sets of two ways */
    size_t set_mask;
    unsigned char *ring;
    size_t ring_size;
    uint64_t head;            /* ring bytes ever written: the next entry's position */
    uint64_t last;            /* the newest entry's position + 1, or 0 */
    pulse_delivery once_d;    /* an envelope too long to keep: valid until the next call */
    pulse_delivery_part once_part;
    uint64_t hits, scans;
} sub_memo;

/* nsets: a power of two (two entries each); ring_size: bytes for the entries, at
 * least 64 KiB. 0, or -1 (bad sizes). */
int sub_memo_init(sub_memo *m, size_t nsets, size_t ring_size);
void sub_memo_free(sub_memo *m);

/* The envelope in line[0..len): 0 with *d (what pulse_delivery_scan found; pointers
 * into the memo's copy, or into line for one too long to keep) and *part (its part of the log line), both valid until the
 * next call; PULSE_ENOENT for a control frame ({"op":...}); PULSE_EINVAL with err
 * filled when it is not a delivery or has a field the delivery log cannot hold.
 * Failures are never kept: the same bytes fail again.
 *
 * next: one per reader (connection), 0 at first; the call tries the entry it names
 * before the index and updates it to the entry kept after the one returned. A reader
 * whose stream follows another's goes from hit to hit along the ring without hashing. */
int sub_memo_get(sub_memo *m, const char *line, size_t len, uint64_t *next,
                 const pulse_delivery **d, const pulse_delivery_part **part, pulse_error *err);

#endif
