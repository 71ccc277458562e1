/*
 * fuzz_delivery.c - libFuzzer target for pulse_delivery_scan, the allocation-free
 * envelope scanner on pulse-subscribe's per-delivery path. Every non-empty borrowed
 * slice it returns must lie inside the input. The same bytes then go through
 * pulse-subscribe's memo (subscriber-client/sub_memo.c: one memo for the whole run, a
 * small ring that wraps, two readers), which must answer exactly what the scan did,
 * both the first time and the second.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_event.h"
#include "pulse_record.h"
#include "sub_memo.h"

static void inside(const uint8_t *base, size_t size, const char *p, size_t len)
{
    if (len == 0)
        return; /* an absent field may point at a static "" */
    if (p == NULL)
        abort();
    const uint8_t *q = (const uint8_t *)p;
    if (q < base || q + len > base + size)
        abort();
}

static void same(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
        abort();
}

/* The memo's answer for the bytes must be the scan's (rc, fields, the log line's part). */
static void memo_agrees(const uint8_t *in, size_t size, int want_rc, const pulse_delivery *want)
{
    static sub_memo m;
    static int ready;
    static uint64_t next[2];
    pulse_delivery_part want_part;
    const pulse_delivery *d;
    const pulse_delivery_part *part;
    pulse_error err;

    if (!ready) {
        if (sub_memo_init(&m, 4, 64u << 10) != 0)
            abort();
        ready = 1;
    }
    if (want_rc == 0 &&
        pulse_delivery_part_make(&want_part, want->channel, want->channel_len, want->event_id,
                                 want->event_id_len, want->sequence, want->event_type,
                                 want->event_type_len, want->published_at_us, want->offset) != 0)
        want_rc = PULSE_EINVAL;
    for (int r = 0; r < 2; r++) {
        int rc = sub_memo_get(&m, (const char *)in, size, &next[r], &d, &part, &err);
        if (rc != want_rc)
            abort();
        if (rc != 0)
            continue;
        same(d->channel, d->channel_len, want->channel, want->channel_len);
        same(d->event_id, d->event_id_len, want->event_id, want->event_id_len);
        same(d->event_type, d->event_type_len, want->event_type, want->event_type_len);
        same(d->epoch, d->epoch_len, want->epoch, want->epoch_len);
        if (d->sequence != want->sequence || d->published_at_us != want->published_at_us ||
            d->offset != want->offset || d->priority != want->priority)
            abort();
        same(part->text, part->len, want_part.text, want_part.len);
        same(part->offset_text, part->offset_len, want_part.offset_text, want_part.offset_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a heap copy of exactly size bytes, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    pulse_delivery d;
    pulse_error err;
    memset(&d, 0, sizeof d);
    int rc = pulse_delivery_scan((const char *)copy, size, &d, &err);
    if (rc == 0) {
        inside(copy, size, d.channel, d.channel_len);
        inside(copy, size, d.event_id, d.event_id_len);
        inside(copy, size, d.event_type, d.event_type_len);
    }
    memo_agrees(copy, size, rc, &d);
    free(copy);
    return 0;
}
