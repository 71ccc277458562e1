/*
 * sub.h - pulse-subscribe's shared state: the run (options, counters, output files) and
 * one sub_client per WebSocket connection. Everything runs on the single lws service
 * thread; the only other writer is the signal handler, which sets sub_stop_requested.
 */
#ifndef SUB_H
#define SUB_H

#include <libwebsockets.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pulse_channel.h"
#include "pulse_functions.h"
#include "sub_out.h"

typedef enum {
    SUB_IDLE = 0,      /* waiting for its (re)connect time */
    SUB_CONNECTING,    /* handshake in flight */
    SUB_OPEN,          /* upgraded; subscriptions being acknowledged or done */
} sub_state;

typedef struct {
    char host[256];
    int port;
    char path[512];    /* path without query, "/ws" when the URL had none */
    char query[512];   /* the URL's own query (without '?'), "" when none */
    char url[1024];    /* as given, for clients.csv */
} sub_url;

/* Where a client is in one channel's history (exact channels only: a pattern's
 * deliveries come from many channels and are not tracked). */
typedef struct {
    char name[PULSE_CHANNEL_MAX + 1];
    bool exact;
    uint64_t offset;          /* last position delivered (or the top when subscribed), 0 none */
    char epoch[PULSE_EPOCH_MAX + 1];
    bool since_sent;          /* this connection asked to recover from `offset` */
    uint64_t recover_top;     /* deliveries up to here came from the recovery replay */
    bool catching_up;         /* a recovery is replaying; recoveries.csv line when done */
    uint64_t recover_from;    /* offset sent in `since` */
    int64_t down_at_us;       /* when the connection that recovers had dropped */
    int64_t subscribed_at_us; /* when the recovering subscription was acknowledged */
} sub_chan;

typedef struct sub_client {
    unsigned id;
    const sub_url *url;
    char *path;               /* path?query with channels=...; owned */
    char *channels;           /* "a;b;c" for clients.csv; owned */
    unsigned nchannels;
    sub_chan *chans;          /* nchannels positions; owned */
    char *conn_path;          /* path plus &since=... of the current attempt; owned */
    struct lws *wsi;
    sub_state state;
    char node[64];            /* from the hello frame, "" until then */
    unsigned acked;           /* "subscribed" replies since this connect */
    bool ever_ready;
    int64_t connected_at_us;  /* first time every subscription was acknowledged */
    int64_t down_since_us;    /* wall time of the last disconnect, 0 when up */
    char down_reason[64];
    char close_note[64];      /* "closed by gateway: 1008 ..." from the peer's close frame */
    unsigned disconnects;
    unsigned attempts;        /* failed attempts since the last success (backoff) */
    int64_t next_attempt_ms;  /* monotonic */
    uint64_t deliveries;
    /* reassembly of a message that arrived in several RECEIVE callbacks */
    char *msg;
    size_t msg_len, msg_cap;
    bool in_msg;
    int64_t msg_rx_us;        /* receive time of the message's first bytes */
} sub_client;

typedef struct {
    /* options */
    sub_url *urls;
    unsigned nurls;
    unsigned nclients;
    const char *channels;     /* comma-separated, for every client (unless users > 0) */
    unsigned users;           /* simulator: client i follows user (i % users) + 1 */
    const char *out_dir;
    double duration_s;
    uint64_t expect;          /* stop after this many deliveries (0: no limit) */
    bool batch;
    const char *token;        /* JWT sent as &token= (every client the same), or NULL */
    unsigned connect_concurrency;
    /* state */
    struct lws_context *ctx;
    sub_client *clients;
    lws_sorted_usec_list_t tick;
    sub_out deliveries;
    FILE *gaps;
    FILE *recoveries;
    unsigned connecting, open_count, ready_count, failed_connects;
    bool ready_printed;
    bool stopping;
    const char *stop_reason;
    uint64_t total_deliveries, total_frames, bad_frames, server_errors, total_disconnects;
    uint64_t recovered_deliveries, recoveries_ok, recoveries_failed;
    int64_t start_ms, last_progress_ms;
    uint64_t last_progress_deliveries;
    bool progress;
} sub_run;

extern volatile sig_atomic_t sub_stop_requested;
extern sub_run *sub_the_run;

/* sub_conn.c */
const struct lws_protocols *sub_protocols(void);
/* Starts idle clients whose time has come, within the concurrency bound. */
void sub_conn_kick(sub_run *r);
/* Writes clients.csv (via a temp file and rename). 0 or -1. */
int sub_write_clients_csv(const sub_run *r);

#endif
