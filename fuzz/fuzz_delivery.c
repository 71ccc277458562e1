/*
 * fuzz_delivery.c - libFuzzer target for pulse_delivery_scan, the allocation-free
 * envelope scanner on pulse-subscribe's per-delivery path. Every non-empty borrowed
 * slice it returns must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_event.h"

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
    if (pulse_delivery_scan((const char *)copy, size, &d, &err) == 0) {
        inside(copy, size, d.channel, d.channel_len);
        inside(copy, size, d.event_id, d.event_id_len);
        inside(copy, size, d.event_type, d.event_type_len);
    }
    free(copy);
    return 0;
}
