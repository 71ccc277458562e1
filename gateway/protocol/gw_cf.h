/*
 * gw_cf.h - the Centrifugo-compatible client protocol (JSON, protocol v2) as an
 * I/O-free codec: one incoming WebSocket text frame (one or more newline-separated
 * commands) parsed into gw_cf_command structs, and every reply and push the endpoint
 * sends written into a caller's gw_frame_buf (gw_frame.h). docs/CENTRIFUGO.md is the
 * contract (commands, replies, codes, the mapping onto Pulse's tokens, history and
 * presence); tests/unit/check_cf.c holds the frames byte for byte as the unmodified
 * `centrifuge` SDK 5.8.0 sends and expects them.
 *
 * Pure logic: no sockets, no threads, no global state; any thread may call anything.
 * Parsing allocates only what a command owns (token, publish data), freed by
 * gw_cf_command_release; the writers allocate nothing. The endpoint
 * /connection/websocket (gw_worker.c) calls gw_cf_parse on each frame and answers
 * with the writers below.
 */
#ifndef GW_CF_H
#define GW_CF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"
#include "pulse_channel.h"

#define GW_CF_MAX_COMMANDS 64  /* commands in one frame; more is a bad request (3501) */
#define GW_CF_TOKEN_MAX 8192   /* bytes of a token (GW_AUTH_TOKEN_MAX); longer: 107 */
#define GW_CF_EPOCH_MAX 64     /* bytes of an epoch (Pulse's are 8); longer: 107 */
#define GW_CF_NAME_MAX 64      /* connect "name"/"version" kept (cut, for logs) */

/* Client error codes (reply {"id":N,"error":{"code":C,"message":M}}). */
enum {
    GW_CF_ERR_INTERNAL = 100,          /* temporary: the SDK retries */
    GW_CF_ERR_UNAUTHORIZED = 101,
    GW_CF_ERR_UNKNOWN_CHANNEL = 102,
    GW_CF_ERR_PERMISSION_DENIED = 103,
    GW_CF_ERR_METHOD_NOT_FOUND = 104,
    GW_CF_ERR_ALREADY_SUBSCRIBED = 105,
    GW_CF_ERR_LIMIT_EXCEEDED = 106,
    GW_CF_ERR_BAD_REQUEST = 107,
    GW_CF_ERR_NOT_AVAILABLE = 108,
    GW_CF_ERR_TOKEN_EXPIRED = 109,     /* the SDK fetches a new token and retries */
    GW_CF_ERR_EXPIRED = 110,
    GW_CF_ERR_TOO_MANY_REQUESTS = 111, /* temporary */
    GW_CF_ERR_UNRECOVERABLE_POSITION = 112,
};

/* Disconnect codes (WebSocket close code, or a disconnect push). 3000-3499 and
 * 4000-4499: the SDK reconnects; 3500-3999 and 4500-4999: terminal. */
enum {
    GW_CF_DISC_CONNECTION_CLOSED = 3000,
    GW_CF_DISC_SHUTDOWN = 3001,
    GW_CF_DISC_SERVER_ERROR = 3004,
    GW_CF_DISC_EXPIRED = 3005,
    GW_CF_DISC_SUB_EXPIRED = 3006,
    GW_CF_DISC_SLOW = 3008,
    GW_CF_DISC_WRITE_ERROR = 3009,
    GW_CF_DISC_INSUFFICIENT_STATE = 3010,
    GW_CF_DISC_FORCE_RECONNECT = 3011,
    GW_CF_DISC_NO_PONG = 3012,
    GW_CF_DISC_TOO_MANY_REQUESTS = 3013,
    GW_CF_DISC_INVALID_TOKEN = 3500,
    GW_CF_DISC_BAD_REQUEST = 3501,
    GW_CF_DISC_STALE = 3502,
    GW_CF_DISC_FORCE_NO_RECONNECT = 3503,
    GW_CF_DISC_CONNECTION_LIMIT = 3504,
    GW_CF_DISC_CHANNEL_LIMIT = 3505,
    GW_CF_DISC_INAPPROPRIATE_PROTOCOL = 3506,
    GW_CF_DISC_PERMISSION_DENIED = 3507,
    GW_CF_DISC_NOT_AVAILABLE = 3508,
    GW_CF_DISC_TOO_MANY_ERRORS = 3509,
};

#define GW_CF_PING_INTERVAL_S 25 /* the default of centrifugo.ping_interval_s; the SDK gives up after 25 + 10 s */

/* The text of an error code ("permission denied", ...; "error" for unknown codes). */
const char *gw_cf_error_message(int code);
/* Temporary errors (100, 111) make the SDK retry. */
bool gw_cf_error_temporary(int code);
/* The reason of a disconnect code ("shutdown", ...; "disconnect" for unknown codes). */
const char *gw_cf_disconnect_reason(int code);
/* true when the SDK reconnects after this disconnect code (the ranges above). */
bool gw_cf_disconnect_reconnects(int code);

typedef enum {
    GW_CF_PONG = 1,        /* {} : the client's answer to the server ping; no id */
    GW_CF_CONNECT,
    GW_CF_SUBSCRIBE,
    GW_CF_UNSUBSCRIBE,
    GW_CF_PUBLISH,
    GW_CF_PRESENCE,
    GW_CF_PRESENCE_STATS,
    GW_CF_HISTORY,
    GW_CF_REFRESH,
    GW_CF_SUB_REFRESH,     /* refused by Pulse: 108 (no subscription tokens) */
    GW_CF_RPC,             /* refused by Pulse: 108 */
    GW_CF_SEND,            /* refused by Pulse: disconnect 3508 (no reply possible) */
    GW_CF_UNKNOWN,         /* an id but no method Pulse knows: reply 104 */
} gw_cf_method;

/* One parsed command. Strings are NUL-terminated copies; token and data are owned
 * (gw_cf_command_release frees them). */
typedef struct {
    gw_cf_method method;
    uint32_t id;                           /* 0 only for PONG and SEND */
    char channel[PULSE_CHANNEL_MAX + 1];   /* subscribe .. history, sub_refresh */
    char *token;                           /* connect, refresh, sub_refresh; subscribe
                                            * (a subscription token); NULL when absent */
    size_t token_len;
    char *data;                            /* publish: the data as compact JSON */
    size_t data_len;
    /* subscribe: recover from (offset, epoch); history: since (offset, epoch) */
    bool recover;                          /* subscribe "recover":true */
    bool has_since;                        /* history "since":{...} */
    uint64_t offset;
    char epoch[GW_CF_EPOCH_MAX + 1];
    bool positioned, recoverable, join_leave; /* subscribe: what the client asked for */
    uint32_t flag;                         /* subscribe "flag" bits (1 = compaction, ignored) */
    /* history */
    int64_t limit;                         /* absent: 0 (position only); negative: -1 (all kept) */
    bool reverse;
    /* connect */
    char name[GW_CF_NAME_MAX + 1], version[GW_CF_NAME_MAX + 1];
    bool has_subs;                         /* connect "subs" (server-side subs): ignored */
    /* A command Pulse refuses while the connection goes on: reply
     * {"id":id,"error":{"code":error,...}} instead of running it. 0 when none. */
    int error;
    char error_text[96];
} gw_cf_command;

/* What stopped a frame: the connection must be closed with disconnect (3501 bad
 * request, 3508 send) and reason. */
typedef struct {
    int disconnect;
    char reason[128];
    int line;                               /* 1-based command index in the frame */
} gw_cf_error;

/* Parses frame[0..len) (not NUL-terminated): commands separated by '\n', empty lines
 * skipped. Fills out[0..*n) (cap entries; at most GW_CF_MAX_COMMANDS are parsed).
 * Returns 0, or -1 with err filled when a command cannot be understood (not JSON, not
 * an object, a bad "id", two methods, a method that is not an object, no id where a
 * reply is due, too many commands, a SEND): the commands before it are in out[0..*n)
 * (the endpoint runs them, then disconnects). A command with a bad field (missing or
 * invalid channel, token too long, ...) is not fatal: it is returned with ->error set.
 * Every returned command must be released with gw_cf_command_release. */
int gw_cf_parse(const char *frame, size_t len, gw_cf_command *out, size_t cap, size_t *n, gw_cf_error *err);
void gw_cf_command_release(gw_cf_command *cmd);
void gw_cf_commands_release(gw_cf_command *cmds, size_t n);

/* ---- writers: each appends one reply or push to f (gw_frame.h); several replies
 * go in one frame separated by gw_cf_sep. Strings are JSON-escaped; data and
 * conn_info are inserted as is (one JSON value each, validated by the caller). ---- */

void gw_cf_sep(gw_frame_buf *f); /* "\n" */

/* A publication in a subscribe result, a history result, or a push. offset 0: none. */
typedef struct {
    const char *data;
    size_t data_len;
    uint64_t offset;
} gw_cf_pub;

/* A presence entry / join / leave client info. conn_info NULL: absent. */
typedef struct {
    const char *client, *user;
    const char *conn_info;
    size_t conn_info_len;
} gw_cf_client_info;

/* {"id":N,"connect":{"client":C,"version":V[,"expires":true,"ttl":T],"ping":P,"pong":true}}
 * ttl_s > 0 adds expires/ttl (seconds until the SDK refreshes); ping_s 0 leaves
 * out ping/pong. */
void gw_cf_reply_connect(gw_frame_buf *f, uint32_t id, const char *client, const char *version, uint32_t ttl_s,
                         uint32_t ping_s);
/* {"id":N,"refresh":{"client":C,"version":V,"expires":true,"ttl":T}} (expires false and no ttl when ttl_s 0) */
void gw_cf_reply_refresh(gw_frame_buf *f, uint32_t id, const char *client, const char *version, uint32_t ttl_s);

typedef struct {
    bool recoverable;     /* the channel keeps history: epoch and offset follow */
    bool positioned;
    const char *epoch;    /* NULL: "" */
    uint64_t offset;      /* the stream top */
    bool was_recovering;  /* the client asked to recover */
    bool recovered;       /* and every missed publication is in pubs */
    const gw_cf_pub *pubs;
    size_t n_pubs;
} gw_cf_sub_result;
/* {"id":N,"subscribe":{...}}: keys present only when true/non-empty */
void gw_cf_reply_subscribe(gw_frame_buf *f, uint32_t id, const gw_cf_sub_result *r);
/* {"id":N,"<method>":{}} for unsubscribe and publish */
void gw_cf_reply_empty(gw_frame_buf *f, uint32_t id, gw_cf_method method);
/* {"id":N,"presence":{"presence":{"<client>":{"client":..,"user":..[,"conn_info":..]},...}}} */
void gw_cf_reply_presence(gw_frame_buf *f, uint32_t id, const gw_cf_client_info *clients, size_t n);
/* {"id":N,"presence_stats":{"num_clients":C,"num_users":U}} */
void gw_cf_reply_presence_stats(gw_frame_buf *f, uint32_t id, uint64_t clients, uint64_t users);
/* {"id":N,"history":{"publications":[...],"epoch":E,"offset":TOP}} */
void gw_cf_reply_history(gw_frame_buf *f, uint32_t id, const gw_cf_pub *pubs, size_t n, const char *epoch,
                         uint64_t top);
/* {"id":N,"error":{"code":C,"message":M[,"temporary":true]}}; message NULL: the code's text */
void gw_cf_reply_error(gw_frame_buf *f, uint32_t id, int code, const char *message);

/* {"push":{"channel":C,"pub":{"data":D[,"offset":N]}}}: the same bytes for every
 * subscriber of C, so it is framed once per channel and shared. */
void gw_cf_push_pub(gw_frame_buf *f, const char *channel, size_t channel_len, const gw_cf_pub *pub);
size_t gw_cf_push_pub_cap(size_t channel_len, size_t data_len); /* always enough for the above */
/* {"push":{"channel":C,"join":{"info":{...}}}} and "leave" */
void gw_cf_push_join(gw_frame_buf *f, const char *channel, const gw_cf_client_info *info, bool leave);
/* {"push":{"channel":C,"unsubscribe":{"code":K,"reason":R}}}: K >= 2500 resubscribes */
void gw_cf_push_unsubscribe(gw_frame_buf *f, const char *channel, int code, const char *reason);
/* {"push":{"disconnect":{"code":K,"reason":R,"reconnect":true|false}}}; reason NULL: the code's */
void gw_cf_push_disconnect(gw_frame_buf *f, int code, const char *reason);
/* {} : the server ping */
void gw_cf_ping(gw_frame_buf *f);

/* Pulse's own presence entries ({"client":C,"user":U[,"info":I],...}, as the presence
 * library stores them and join/leave messages carry them, read back from Redis) as
 * Centrifugo client info, "info" becoming "conn_info" (an "op":"leave" member makes
 * the push a leave whatever `leave` says):
 * the join/leave push (-1, nothing written, when json is not such an entry), and the
 * presence reply (entries that are not are skipped). */
int gw_cf_push_join_entry(gw_frame_buf *f, const char *channel, const char *json, size_t len, bool leave);
void gw_cf_reply_presence_entries(gw_frame_buf *f, uint32_t id, const char *const *entries, const size_t *lens,
                                  size_t n);

#endif
