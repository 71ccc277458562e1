/*
 * fuzz_position.c - libFuzzer target for pulse_position_hdr_parse, the reader of the
 * "#pulse1 <offset> <epoch>\n" header that the Redis function library puts in front of
 * every message published with history (the gateway reads it on each message from
 * Redis). An accepted header must respect the documented bounds and lie inside the
 * input; the parser must never read past len (ASan checks the copy below).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_functions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pulse_position_hdr h;
    char *copy = malloc(size ? size : 1); /* exact size: a read past the end is caught */
    int rc;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    rc = pulse_position_hdr_parse(copy, size, &h);
    if (rc == 0) {
        size_t el = strlen(h.epoch);
        if (h.offset == 0 || h.offset > (uint64_t)INT64_MAX || el == 0 || el > PULSE_EPOCH_MAX ||
            h.header_len > size || h.header_len < PULSE_HEADER_PREFIX_LEN + 4 ||
            copy[h.header_len - 1] != '\n' || memcmp(copy, PULSE_HEADER_PREFIX, PULSE_HEADER_PREFIX_LEN) != 0)
            abort();
    } else if (rc != PULSE_ENOENT && rc != PULSE_EINVAL) {
        abort();
    } else if (rc == PULSE_ENOENT && size >= PULSE_HEADER_PREFIX_LEN &&
               memcmp(copy, PULSE_HEADER_PREFIX, PULSE_HEADER_PREFIX_LEN) == 0) {
        abort(); /* the prefix is there: it is a header, good or bad */
    }
    free(copy);
    return 0;
}
