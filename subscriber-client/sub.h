/*
 * sub.h - pulse-subscribe's shared state: the run (options, counters, output files) and
 * one sub_client per WebSocket connection. Everything runs on one thread around one
 * epoll set; the only other writer is the signal handler, which sets sub_stop_requested.
 */
#ifndef SUB_H
#define SUB_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "pulse_channel.h"
#include "pulse_functions.h"
#include "sub_memo.h"
#include "sub_out.h"

typedef enum {
    SUB_IDLE = 0,      /* waiting for its (re)connect time */
    SUB_CONNECTING,    /* TCP connect or WebSocket handshake in flight */
    SUB_OPEN,          /* upgraded; subscriptions being acknowledged or done */
} sub_state;

typedef struct {
    char host[256];
    int port;
    char path[512];    /* path without query, "/ws" when the URL had none */
    char query[512];   /* the URL's own query (without '?'), "" when none */
    char url[1024];    /* as given, for clients.csv */
    struct sockaddr_storage addr; /* host:port resolved at the first connect */
    socklen_t addrlen;            /* 0 until resolved */
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
    sub_url *url;
    char *path;               /* path?query with channels=...; owned */
    char *channels;           /* "a;b;c" for clients.csv; owned */
    unsigned nchannels;
    sub_chan *chans;          /* nchannels positions; owned */
    char *conn_path;          /* path plus &since=... of the current attempt; owned */
    int fd;                   /* -1 when idle */
    sub_state state;
    bool request_sent;        /* the TCP connect finished and the upgrade request went out */
    bool head_done;           /* the 101 response was read and checked */
    char accept[32];          /* the Sec-WebSocket-Accept this attempt expects */
    int64_t deadline_ms;      /* monotonic: the connect and handshake must finish by then */
    unsigned char *in;        /* bytes read but not yet parsed (a partial frame); owned */
    size_t in_len, in_cap;
    int64_t in_rx_us;         /* receive time of the first of those bytes */
    unsigned char *out;       /* bytes not yet sent (request, pong, close); owned */
    size_t out_len;
    char node[64];            /* from the hello frame, "" until then */
    uint64_t memo_next;       /* where its next envelope likely is in r->memo (sub_memo_get) */
    char line_prefix[80];     /* "id,node," of its delivery lines; len 0: to be made */
    size_t line_prefix_len;
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
    /* reassembly of a message that arrived in several frames (fragmented) */
    char *msg;
    size_t msg_len, msg_cap;
    bool in_msg;
    int64_t msg_rx_us;        /* receive time of the message's first frame */
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
    int epfd;
    unsigned char *rbuf;      /* one read buffer for every connection */
    size_t rbuf_cap;
    sub_client *clients;
    sub_out deliveries;
    sub_memo memo;            /* the envelopes scanned last (sub_memo.h) */
    int64_t stamp_us;         /* the receive time stamp_text holds ("us,"; len 0: none) */
    char stamp_text[24];
    size_t stamp_len;
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
/* Starts idle clients whose time has come, within the concurrency bound, and gives
 * up on attempts past their deadline. */
void sub_conn_kick(sub_run *r);
/* One epoll event for client c. */
void sub_conn_event(sub_run *r, sub_client *c, uint32_t events);
/* Sends a close frame (best effort) and closes c's socket. */
void sub_conn_close(sub_client *c);
/* Writes clients.csv (via a temp file and rename). 0 or -1. */
int sub_write_clients_csv(const sub_run *r);

#endif
