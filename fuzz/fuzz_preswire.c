/*
 * fuzz_preswire.c - libFuzzer target for the presence wire
 * (gateway/redis/gw_preswire.c): the replies of the presence functions (list, stats,
 * touch's missing clients), which come as RESP bytes from Redis and are turned into
 * reply trees by hiredis's own reader, and the join/leave messages read off a channel
 * (the input as it is).
 *
 * Invariants: every entry handed on is valid and lies inside the reply; stats and
 * missing leave their outputs alone on failure; a parsed join/leave points inside the
 * message, after its header, at a JSON object naming the channel.
 */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_resp.h"
#include "gw_preswire.h"
#include "pulse_err.h"

static void on_entry(void *ud, const char *e, size_t len)
{
    if (!gw_pres_entry_valid(e, len))
        abort();
    ++*(size_t *)ud;
}

static void on_missing(void *ud, const char *c, size_t len)
{
    if (len == 0 || len > GW_PRES_CLIENT_MAX)
        abort();
    volatile unsigned char sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += (unsigned char)c[i];
    (void)sum;
    ++*(size_t *)ud;
}

static void check_reply(const redisReply *r)
{
    char err[GW_PRES_ERR_MAX];
    size_t n = 0, skipped = 0;
    if (gw_pres_parse_list(r, on_entry, &n, &skipped, err, sizeof err) == 0) {
        if (r->type != REDIS_REPLY_ARRAY || n + skipped != r->elements)
            abort();
    } else if (n != 0 || !memchr(err, '\0', sizeof err)) {
        abort();
    }
    uint64_t c = 7, u = 7;
    if (gw_pres_parse_stats(r, &c, &u, err, sizeof err) != 0 && (c != 7 || u != 7))
        abort();
    n = 0;
    if (gw_pres_parse_missing(r, on_missing, &n, err, sizeof err) != 0 && n != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the input as a message received on channel "room" */
    gw_pres_kind kind;
    const char *json = NULL;
    size_t jl = 0;
    int rc = gw_pres_event_parse((const char *)data, size, "room", &kind, &json, &jl);
    if (rc == 0) {
        const char *end = (const char *)data + size;
        if (json < (const char *)data || json + jl != end || jl < 2 || json[0] != '{' ||
            (kind != GW_PRES_JOIN && kind != GW_PRES_LEAVE))
            abort();
    } else if (rc != PULSE_ENOENT && rc != PULSE_EINVAL) {
        abort();
    }
    gw_pres_entry_valid((const char *)data, size);

    /* the input as RESP from Redis (hiredis's reader; huge declarations skipped) */
    fuzz_resp_each(data, size, 64, check_reply);
    return 0;
}
