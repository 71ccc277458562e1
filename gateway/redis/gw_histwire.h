/*
 * gw_histwire.h - the replies of the history reads, read without I/O: hiredis
 * redisReply trees of XRANGE / XREVRANGE, FCALL_RO pulse_position and the MULTI/EXEC
 * that pairs them, and the positions they carry.
 *
 * The library `pulse` (libpulse/pulse_functions.h) keeps an event of channel C in the
 * stream pulse:{C}:stream under the entry ID <offset>-0 with one field `d` = payload,
 * and publishes it as "#pulse1 <offset> <epoch>\n<payload>" (that header is read by
 * pulse_position_hdr_parse in libpulse).
 *
 * Pure functions, any thread; nothing here allocates except gw_hentries_push (the
 * caller's growable array). Parsed payloads are borrowed from the reply they came
 * from: they live as long as that redisReply (in hiredis async: until the callback
 * returns).
 */
#ifndef GW_HISTWIRE_H
#define GW_HISTWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_histmerge.h"

struct redisReply;

/* One event read from a stream: offset and payload (borrowed from the reply). */
typedef struct {
    uint64_t offset;
    const char *data;
    size_t len;
} gw_hentry;

/* A growable array of entries owned by the caller (free with gw_hentries_free). */
typedef struct {
    gw_hentry *v;
    size_t n, cap;
} gw_hentries;

void gw_hentries_push(gw_hentries *a, uint64_t offset, const char *data, size_t len); /* aborts on OOM */
void gw_hentries_free(gw_hentries *a);

/* Error text of the parsers: one line, never echoing more than 32 bytes of input. */
#define GW_HIST_ERR_MAX 128

/* The reply of `FCALL_RO pulse_position 1 C`: a two-element array [offset, epoch]
 * (offset an integer or a decimal string; epoch "" when the channel has no history,
 * and then offset must be 0). 0 with *pos filled, or -1 with err filled (an error
 * reply's text is quoted in err). */
int gw_hist_parse_position(const struct redisReply *r, gw_hpos *pos, char *err, size_t errcap);

/* The reply of XRANGE (descending = false) or XREVRANGE (descending = true) on a
 * history stream: an array of [ "<offset>-0", [ "d", payload, ... ] ]. Appends each
 * entry to out (payloads borrowed). Offsets must be strictly ascending (descending)
 * and >= 1; an entry without field `d`, an ID that is not "<offset>-0" or any other
 * shape is an error. 0, or -1 with err filled and out reset to what it held before. */
int gw_hist_parse_range(const struct redisReply *r, bool descending, gw_hentries *out, char *err, size_t errcap);

/* The EXEC reply of `MULTI; FCALL_RO pulse_position 1 C; X(REV)RANGE ...; EXEC`:
 * [position, range]. Both parsed as above; a nil EXEC (aborted) is an error. */
int gw_hist_parse_exec(const struct redisReply *r, bool descending, gw_hpos *pos, gw_hentries *out, char *err,
                       size_t errcap);

#endif
