/*
 * gw_proto.h - the pulse.v1 client protocol: parsing client command frames and
 * writing the gateway's small control replies. Pure logic, no sockets.
 *
 * Client -> gateway, one JSON object per text frame:
 *   {"op":"subscribe","channel":"feed:user-42"}
 *   {"op":"unsubscribe","channel":"..."}
 *   {"op":"ping"}
 * Gateway -> client control frames:
 *   {"op":"subscribed","channel":"..."}  {"op":"unsubscribed","channel":"..."}
 *   {"op":"pong"}  {"op":"error","code":"bad_request","reason":"..."}
 */
#ifndef GW_PROTO_H
#define GW_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "pulse_channel.h"

typedef enum {
    GW_OP_SUBSCRIBE = 1,
    GW_OP_UNSUBSCRIBE,
    GW_OP_PING,
    GW_OP_AUTH,    /* {"op":"auth","token":"..."}: first frame when no ?token= */
    GW_OP_REFRESH, /* {"op":"refresh","token":"..."}: a new token, same sub */
    GW_OP_PUBLISH, /* {"op":"publish","channel":"c","data":...}: needs the publish grant */
} gw_op;

typedef struct {
    gw_op op;
    char channel[PULSE_CHANNEL_MAX + 1]; /* subscribe/unsubscribe; may be a pattern */
    bool is_pattern;
    char *arg; /* auth/refresh: the token; publish: data as compact JSON. Owned:
                * gw_command_release frees it (NULL for the other ops). */
    size_t arg_len;
} gw_command;

/* Frees what gw_proto_parse allocated in cmd (cmd->arg); safe on any parsed command. */
void gw_command_release(gw_command *cmd);

/* Parses one client frame (len bytes, not NUL-terminated). Returns 0, or -1 with
 * *code set to a static error code string ("bad_request" for malformed JSON, not an
 * object, missing/unknown op, missing or bad channel) and reason[0..reason_cap) filled
 * with one human-readable line (never echoing more than 64 bytes of the input). */
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

/* Writes a control frame into buf (JSON, no newline). Returns its length, or -1 when
 * cap is too small. Strings are JSON-escaped. */
int gw_proto_reply(char *buf, size_t cap, const char *op, const char *channel);
int gw_proto_error(char *buf, size_t cap, const char *code, const char *reason);

/* The whole HTTP/1.1 answer refusing a WebSocket handshake (lws 4.1.6 wrote HTTP/1.0
 * with an HTML body, which common clients cannot read): status line, JSON content
 * type and length, Connection: close, and the body {"error":code,"reason":reason}.
 * status 400, 401, 403, 404, 429 or 503 (anything else is sent as 400). Returns the
 * length, or -1 when cap is too small. */
int gw_proto_http_refusal(char *buf, size_t cap, unsigned status, const char *code, const char *reason);

#endif
