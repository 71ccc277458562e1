/*
 * fuzz_resp.h - what the fuzz targets that feed RESP bytes through hiredis's reader
 * share. hiredis 0.14's reader allocates an aggregate's element array as declared
 * ("*2000000000" is 16 GB) before any element arrives; Redis itself never declares what
 * it does not send, so inputs declaring more than 4096 elements or bytes are skipped:
 * the fuzzers are here for our parsers, not for hiredis's allocator.
 */
#ifndef PULSE_FUZZ_RESP_H
#define PULSE_FUZZ_RESP_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool fuzz_resp_sizes_small(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*' && data[i] != '$')
            continue;
        unsigned long n = 0;
        for (size_t k = i + 1; k < size && data[k] >= '0' && data[k] <= '9'; k++)
            if ((n = n * 10 + (unsigned long)(data[k] - '0')) > 4096)
                return false;
    }
    return true;
}

/* Feeds data to a hiredis reader (when its declared sizes are small) and gives each of
 * at most max replies to check, freeing it after. */
static inline void fuzz_resp_each(const uint8_t *data, size_t size, int max, void (*check)(const redisReply *))
{
    if (!fuzz_resp_sizes_small(data, size))
        return;
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        for (int i = 0; i < max; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            check(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
}

#endif
