/*
 * gw_proto.h - the pulse.v1 client protocol: parsing client command frames (what the
 * gateway sends back is gw_frame.h's). Pure logic, no sockets, any thread.
 *
 * Client -> gateway, one JSON object per text frame (the seven ops):
 *   {"op":"subscribe","channel":"feed:user-42"}     (a pattern such as "events.*" too)
 *   {"op":"unsubscribe","channel":"..."}
 *   {"op":"ping"}
 *   {"op":"auth","token":"<JWT>"}                   first frame when no ?token=
 *   {"op":"refresh","token":"<JWT>"}                a new token, same sub
 *   {"op":"publish","channel":"c","data":<JSON>}    needs the token's publish grant
 *   {"op":"subscribe","channel":"c","since":{"offset":40,"epoch":"x7Qp"}}  recovery
 *   {"op":"history","channel":"c","limit":50}       optional "since", "reverse":true
 */
#ifndef GW_PROTO_H
#define GW_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_histmerge.h"
#include "pulse_channel.h"

typedef enum {
    GW_OP_SUBSCRIBE = 1,
    GW_OP_UNSUBSCRIBE,
    GW_OP_PING,
    GW_OP_AUTH,    /* {"op":"auth","token":"..."}: first frame when no ?token= */
    GW_OP_REFRESH, /* {"op":"refresh","token":"..."}: a new token, same sub */
    GW_OP_PUBLISH, /* {"op":"publish","channel":"c","data":...}: needs the publish grant */
    GW_OP_HISTORY, /* {"op":"history","channel":"c","limit":N}: optional since, reverse */
} gw_op;

/* Largest "limit" a history command may carry (the node caps it further with
 * limits.history_read_max). */
#define GW_HISTORY_LIMIT_MAX 1000000

typedef struct {
    gw_op op;
    char channel[PULSE_CHANNEL_MAX + 1]; /* subscribe/unsubscribe; may be a pattern */
    bool is_pattern;
    char *arg; /* auth/refresh: the token; publish: data as compact JSON. Owned:
                * gw_command_release frees it (NULL for the other ops). */
    size_t arg_len;
    /* subscribe / history: "since":{"offset":N,"epoch":"E"} (has_since); history:
     * "limit" (0 when absent: the node's default) and "reverse" (newest first) */
    bool has_since;
    gw_hpos since;
    uint32_t limit;
    bool reverse;
} gw_command;

/* Frees what gw_proto_parse allocated in cmd (cmd->arg); safe on any parsed command. */
void gw_command_release(gw_command *cmd);

/* Parses one client frame (len bytes, not NUL-terminated). Returns 0, or -1 with
 * *code set to a static error code string ("bad_request" for malformed JSON, not an
 * object, missing/unknown op, missing or bad channel) and reason[0..reason_cap) filled
 * with one human-readable line (never echoing more than 32 bytes of the input). */
int gw_proto_parse(const char *frame, size_t len, gw_command *out, const char **code, char *reason,
                   size_t reason_cap);

/* Parses the ?channels=a,b,c query value (already URL-decoded by the caller or not:
 * "%2C" and "," both separate). Calls cb for each valid channel or pattern; returns 0,
 * or -1 with reason filled at the first bad name (nothing after it is reported).
 * Each name is also percent-decoded ("feed%3Auser-42"); empty items ("a,,b") are
 * skipped. A non-zero return from cb stops the walk and is returned as is, with reason
 * set to "channel 'NAME' not accepted". */
int gw_proto_parse_channel_list(const char *list, size_t len,
                                int (*cb)(void *ud, const char *channel, bool is_pattern), void *ud,
                                char *reason, size_t reason_cap);

/* Parses the connect-time ?since= value: items "C:N:E" separated by ',' (or "%2C"),
 * where the last two ':'-separated fields are the offset and the epoch and C, before
 * them, is a channel name (names may contain ':'); each item is percent-decoded first
 * (like ?channels=). Empty items are skipped. Calls cb for each; returns 0, or -1 with
 * reason filled at the first malformed item (bad channel, pattern, offset or epoch;
 * nothing after it is reported); a non-zero cb return stops the walk and is returned
 * as is. */
int gw_proto_parse_since_list(const char *list, size_t len,
                              int (*cb)(void *ud, const char *channel, const gw_hpos *since), void *ud,
                              char *reason, size_t reason_cap);

#endif
