/*
 * wsbench.c - pulse-wsbench, the neutral measuring client of bench/: it shares no code
 * with the gateway (no libwebsockets, no libpulse, no hiredis), so a figure it reports
 * cannot hide a flaw both sides have. One process, one thread, one epoll loop.
 *
 *   pulse-wsbench sub --url ws://127.0.0.1:P/ws?channels=c [--url ...] --clients N
 *                     [--bind 127.0.0.2,...] [--concurrency C] [--subprotocol S]
 *                     [--ready-match STR] [--expect N] [--duration S] [--quiet-ms MS]
 *                     [--hold]
 *   pulse-wsbench pub --redis 127.0.0.1:P --channel C --count N --rate R --bytes B
 *   pulse-wsbench pub --http 127.0.0.1:P --channel C --count N --rate R --bytes B
 *
 * sub opens N WebSocket connections (raw RFC 6455 over non-blocking sockets, spread
 * round-robin over the --url targets and the --bind source addresses), at most C
 * handshakes in flight (0: all at once, the reconnect storm); each sends its upgrade
 * request as soon as its socket is connected, as a real client does. A connection is ready
 * at its 101, or, with --ready-match, at the first text message containing STR (e.g.
 * Pulse's "subscribed"). Once all are ready it prints
 *   wsbench ready clients=N ready= failed= fail_connect= fail_send= fail_eof= fail_status=
 *                 handshake_ms=H ready_ms=R handshakes_per_s=X
 * then counts every text message: a delivery; its latency is now (CLOCK_REALTIME) minus
 * the "published_at_us" number in it. It stops at --expect deliveries, after
 * --quiet-ms without one (once one came), at --duration (always bounded), or on
 * SIGINT/SIGTERM (--hold: only those and --duration), and prints one line
 *   wsbench done clients= ready= failed= closed= deliveries= expected= dropped=
 *   p50_ms= p99_ms= max_ms= cpu_ms= elapsed_s= rss_kib= handshake_ms=
 * (cpu_ms: this process's CPU time since the ready line).
 * Pings are answered; a close or an error ends that connection (counted in closed).
 *
 * pub writes N Redis PUBLISH commands (raw RESP, pipelined) at R per second, each
 * payload exactly B bytes: {"published_at_us":T,"seq":i,"pad":"xxx..."}; it prints
 *   wsbench published count=N receivers=SUM elapsed_s=E
 * where SUM adds PUBLISH's replies. With --http it POSTs each payload instead, on one
 * pipelined keep-alive HTTP/1.1 connection, to /pub?channels=C (nchan's publisher, for
 * the side-by-side of bench.sh --server nchan); SUM then adds the "subscribers: N" of each reply.
 *
 * Everything it allocates is owned by the loop; the process exits when done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 64
#define MAX_BINDS 64
#define HIST_BIN_US 10
#define HIST_BINS 1000000 /* 10 us bins up to 10 s; above goes to the last bin */
#define RBUF (256 * 1024)

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DONE };

typedef struct {
    int fd;
    uint8_t st;
    bool ready;
    bool have_lat;   /* the current message's latency was recorded */
    unsigned char *part; /* bytes of an incomplete response line or frame */
    uint32_t plen, pcap;
} conn;

typedef struct {
    char host[64];
    int port;
    char path[512];
} target;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int64_t now_us(int clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fputs("pulse-wsbench: out of memory\n", stderr);
        exit(3);
    }
    return p;
}

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "pulse-wsbench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        die(what, s);
    return v;
}

static void parse_hostport(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= cap)
        die("want HOST:PORT", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (int)parse_num(colon + 1, "bad port");
}

static void parse_url(const char *u, target *t)
{
    if (strncmp(u, "ws://", 5) != 0)
        die("only ws:// URLs", u);
    const char *hp = u + 5, *slash = strchr(hp, '/');
    char buf[128];
    size_t n = slash ? (size_t)(slash - hp) : strlen(hp);
    if (n >= sizeof buf)
        die("URL host too long", u);
    memcpy(buf, hp, n);
    buf[n] = '\0';
    parse_hostport(buf, t->host, sizeof t->host, &t->port);
    snprintf(t->path, sizeof t->path, "%s", slash ? slash : "/");
}

/* ---- sub ---- */

static struct {
    target targets[MAX_TARGETS];
    int ntargets;
    struct sockaddr_in binds[MAX_BINDS];
    int nbinds;
    long clients, concurrency, expect, duration_s, quiet_ms;
    const char *subprotocol, *ready_match;
    bool hold;
} opt = {.concurrency = 100, .duration_s = 60, .quiet_ms = 3000};

static conn *conns;
static long started, in_flight, nready, nfailed, nclosed;
static long long deliveries;
static uint32_t *hist;
static int64_t lat_max_us;
static int64_t t_first_connect, t_last_101, t_last_ready, t_last_delivery;
static int ep;
/* why connections failed before they were ready: connect() (refused, reset, timed
 * out), the handshake send, EOF or an error while waiting for the 101, not a 101 */
enum { F_CONNECT, F_SEND, F_EOF, F_STATUS, F_N };
static long fail_why[F_N];
static double cpu_at_ready_ms;

/* Milliseconds from the first connect to t; 0 when t never came (no 101 at all). */
static double since_first_ms(int64_t t)
{
    return t > t_first_connect ? (double)(t - t_first_connect) / 1000.0 : 0.0;
}

static double cpu_ms_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void conn_end(conn *c, bool failed)
{
    if (c->st == ST_DONE)
        return;
    if (c->ready)
        nready--;
    else
        in_flight--;
    if (failed && !c->ready)
        nfailed++;
    else
        nclosed++;
    close(c->fd);
    c->st = ST_DONE;
    free(c->part);
    c->part = NULL;
    c->plen = c->pcap = 0;
}

static int send_handshake(conn *c, long i, int why);

static void conn_start(long i)
{
    conn *c = &conns[i];
    const target *t = &opt.targets[i % opt.ntargets];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    c->st = ST_DONE;
    if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
        die("host must be an IPv4 address", t->host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        nfailed++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.nbinds > 0) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&opt.binds[i % opt.nbinds], sizeof opt.binds[0]) < 0) {
            close(fd);
            nfailed++;
            return;
        }
    }
    if (t_first_connect == 0)
        t_first_connect = now_us(CLOCK_MONOTONIC);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (r < 0 && errno != EINPROGRESS) {
        close(fd);
        nfailed++;
        return;
    }
    c->fd = fd;
    in_flight++;
    /* like a real client, the request goes as soon as the socket is connected: at once
     * when connect() finished on the spot (loopback), else at its EPOLLOUT */
    c->st = ST_CONNECTING;
    int sent = send_handshake(c, i, F_CONNECT); /* refused: the send says so */
    if (sent == 0)
        return; /* failed and counted */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (sent < 0 ? EPOLLOUT : 0), .data.u64 = (uint64_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Sends the upgrade request: 1 when sent (the connection now waits for its 101), -1
 * while the socket is still connecting (try again at EPOLLOUT), 0 when it failed (the
 * connection is ended and counted as why). */
static int send_handshake(conn *c, long i, int why)
{
    const target *t = &opt.targets[i % opt.ntargets];
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     t->path, t->host, t->port, opt.subprotocol ? "Sec-WebSocket-Protocol: " : "",
                     opt.subprotocol ? opt.subprotocol : "", opt.subprotocol ? "\r\n" : "");
    ssize_t r = send(c->fd, req, (size_t)n, MSG_NOSIGNAL);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN))
        return -1;
    if (r != n) {
        fail_why[why]++;
        conn_end(c, true);
        return 0;
    }
    c->st = ST_HANDSHAKE;
    return 1;
}

static void mark_ready(conn *c)
{
    c->ready = true;
    nready++;
    in_flight--;
    t_last_ready = now_us(CLOCK_MONOTONIC);
}

static void on_message_part(conn *c, const unsigned char *p, size_t n, bool fin, int op)
{
    if (op == 1 || op == 0) {
        static const char key[] = "\"published_at_us\":";
        if (!c->have_lat) {
            const unsigned char *k = memmem(p, n, key, sizeof key - 1);
            if (k != NULL) {
                const unsigned char *d = k + sizeof key - 1, *e = p + n;
                int64_t v = 0;
                while (d < e && *d >= '0' && *d <= '9')
                    v = v * 10 + (*d++ - '0');
                if (v > 0) {
                    int64_t lat = now_us(CLOCK_REALTIME) - v;
                    if (lat < 0)
                        lat = 0;
                    if (lat > lat_max_us)
                        lat_max_us = lat;
                    int64_t b = lat / HIST_BIN_US;
                    hist[b < HIST_BINS ? b : HIST_BINS - 1]++;
                    c->have_lat = true;
                }
            }
        }
        if (!c->ready && opt.ready_match != NULL && memmem(p, n, opt.ready_match, strlen(opt.ready_match)))
            mark_ready(c);
        if (fin) {
            if (c->have_lat) {
                deliveries++;
                t_last_delivery = now_us(CLOCK_MONOTONIC);
            }
            c->have_lat = false;
        }
    }
}

/* Parses whole frames from p; returns the bytes consumed, or -1 to end the connection. */
static long parse_frames(conn *c, const unsigned char *p, size_t n)
{
    size_t off = 0;
    while (n - off >= 2) {
        const unsigned char *f = p + off;
        bool fin = f[0] & 0x80, masked = f[1] & 0x80;
        int op = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            h = 10;
        }
        if (masked || len > (64u << 20))
            return -1;
        if (n - off - h < len)
            break;
        const unsigned char *pl = f + h;
        if (op == 9) { /* ping: pong with the same payload, masked with a zero key */
            unsigned char pong[2 + 4 + 125];
            size_t pn = len < 125 ? len : 125;
            pong[0] = 0x8a;
            pong[1] = (unsigned char)(0x80 | pn);
            memset(pong + 2, 0, 4);
            memcpy(pong + 6, pl, pn);
            if (send(c->fd, pong, 6 + pn, MSG_NOSIGNAL) != (ssize_t)(6 + pn))
                return -1;
        } else if (op == 8) {
            return -1;
        } else if (op != 10) {
            on_message_part(c, pl, (size_t)len, fin, op);
        }
        off += h + (size_t)len;
    }
    return (long)off;
}

static void keep_part(conn *c, const unsigned char *p, size_t n)
{
    if (n > c->pcap) {
        c->pcap = (uint32_t)(n < 4096 ? 4096 : n * 2);
        c->part = xrealloc(c->part, c->pcap);
    }
    memmove(c->part, p, n);
    c->plen = (uint32_t)n;
}

static void on_readable(conn *c, unsigned char *rbuf)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t r = recv(c->fd, rbuf, RBUF, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            fail_why[F_EOF] += c->st == ST_HANDSHAKE;
            conn_end(c, true);
            return;
        }
        if (r < 0)
            return;
        const unsigned char *p = rbuf;
        size_t n = (size_t)r;
        if (c->plen > 0) { /* append to the kept bytes and parse there */
            if (c->plen + n > c->pcap) {
                c->pcap = (uint32_t)((c->plen + n) * 2);
                c->part = xrealloc(c->part, c->pcap);
            }
            memcpy(c->part + c->plen, rbuf, n);
            c->plen += (uint32_t)n;
            p = c->part;
            n = c->plen;
        }
        if (c->st == ST_HANDSHAKE) {
            const unsigned char *end = memmem(p, n, "\r\n\r\n", 4);
            if (end == NULL) {
                if (n > 8192) {
                    conn_end(c, true);
                    return;
                }
                if (p == rbuf)
                    keep_part(c, p, n);
                continue;
            }
            if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
                fail_why[F_STATUS]++;
                conn_end(c, true);
                return;
            }
            c->st = ST_OPEN;
            t_last_101 = now_us(CLOCK_MONOTONIC);
            if (opt.ready_match == NULL)
                mark_ready(c);
            size_t used = (size_t)(end + 4 - p);
            p += used;
            n -= used;
        }
        long used = parse_frames(c, p, n);
        if (used < 0) {
            conn_end(c, false);
            return;
        }
        if ((size_t)used == n)
            c->plen = 0;
        else
            keep_part(c, p + used, n - (size_t)used);
        if ((size_t)r < RBUF)
            return;
    }
}

static double percentile_ms(long long total, double q)
{
    if (total == 0)
        return 0;
    long long want = (long long)(q * (double)total + 0.999999), seen = 0;
    if (want < 1)
        want = 1;
    for (long b = 0; b < HIST_BINS; b++) {
        seen += hist[b];
        if (seen >= want && b < HIST_BINS - 1)
            return (double)(b * HIST_BIN_US + HIST_BIN_US / 2) / 1000.0;
        if (seen >= want) /* past the last bin (10 s): the largest seen */
            return (double)lat_max_us / 1000.0;
    }
    return (double)lat_max_us / 1000.0;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return v;
}

static int run_sub(void)
{
    if (opt.ntargets == 0 || opt.clients <= 0)
        die("sub needs --url and --clients", NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    conns = calloc((size_t)opt.clients, sizeof *conns);
    hist = calloc(HIST_BINS, sizeof *hist);
    unsigned char *rbuf = malloc(RBUF);
    if (conns == NULL || hist == NULL || rbuf == NULL)
        die("out of memory", NULL);
    ep = epoll_create1(EPOLL_CLOEXEC);
    int64_t t0 = now_us(CLOCK_MONOTONIC), deadline = t0 + opt.duration_s * 1000000;
    bool announced = false;
    struct epoll_event evs[512];
    while (!g_stop) {
        long cap = opt.concurrency > 0 ? opt.concurrency : opt.clients;
        while (started < opt.clients && in_flight < cap)
            conn_start(started++);
        int64_t now = now_us(CLOCK_MONOTONIC);
        if (!announced && started == opt.clients && nready + nfailed + nclosed >= opt.clients) {
            announced = true;
            cpu_at_ready_ms = cpu_ms_now();
            printf("wsbench ready clients=%ld ready=%ld failed=%ld fail_connect=%ld fail_send=%ld fail_eof=%ld "
                   "fail_status=%ld handshake_ms=%.1f ready_ms=%.1f handshakes_per_s=%.0f\n",
                   opt.clients, nready, nfailed, fail_why[F_CONNECT], fail_why[F_SEND], fail_why[F_EOF],
                   fail_why[F_STATUS], since_first_ms(t_last_101), since_first_ms(t_last_ready),
                   t_last_101 > t_first_connect ? (double)nready * 1e6 / (double)(t_last_101 - t_first_connect) : 0);
            fflush(stdout);
        }
        if (now >= deadline)
            break;
        if (!opt.hold && opt.expect > 0 && deliveries >= opt.expect)
            break;
        if (!opt.hold && t_last_delivery > 0 && now - t_last_delivery > opt.quiet_ms * 1000)
            break;
        if (announced && nready == 0 && !opt.hold)
            break; /* every connection is gone */
        int n = epoll_wait(ep, evs, 512, 50);
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            conn *c = &conns[i];
            if (c->st == ST_DONE)
                continue;
            if (c->st == ST_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0 || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
                    fail_why[F_CONNECT]++;
                    conn_end(c, true);
                    continue;
                }
                if ((evs[k].events & EPOLLOUT) && send_handshake(c, i, F_SEND) > 0) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                on_readable(c, rbuf);
        }
    }
    int64_t t_end = now_us(CLOCK_MONOTONIC);
    double cpu_ms = cpu_ms_now() - cpu_at_ready_ms;
    long long dropped = opt.expect > deliveries ? opt.expect - deliveries : 0;
    printf("wsbench done clients=%ld ready=%ld failed=%ld closed=%ld deliveries=%lld expected=%ld dropped=%lld "
           "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f cpu_ms=%.0f elapsed_s=%.2f rss_kib=%ld handshake_ms=%.1f\n",
           opt.clients, nready, nfailed, nclosed, deliveries, opt.expect, dropped, percentile_ms(deliveries, 0.50),
           percentile_ms(deliveries, 0.99), (double)lat_max_us / 1000.0, cpu_ms, (double)(t_end - t0) / 1e6,
           rss_kib(), since_first_ms(t_last_101));
    fflush(stdout);
    for (long i = 0; i < started; i++)
        if (conns[i].st != ST_DONE)
            close(conns[i].fd);
    free(rbuf);
    return 0;
}

/* ---- pub ---- */

static bool g_http; /* pub --http: POST to nchan's publisher instead of PUBLISH */

/* Counts the replies in buf: RESP integers (":N"), or with --http the HTTP responses
 * ("HTTP/1.1 "), adding each one's "subscribers: N". A reply split
 * across two reads may be missed (the count then ends short: it is a benchmark). */
static void count_replies(char *buf, ssize_t n, long long *receivers, long *replies)
{
    buf[n] = '\0';
    if (g_http) {
        for (char *p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p += 9)
            (*replies)++;
        for (char *p = buf; (p = strstr(p, "subscribers: ")) != NULL; p += 13)
            *receivers += strtol(p + 13, NULL, 10);
        return;
    }
    for (char *p = buf; (p = strchr(p, ':')) != NULL; p++) {
        *receivers += strtol(p + 1, NULL, 10);
        (*replies)++;
    }
}

static int run_pub(const char *addr, const char *channel, long count, long rate, long bytes)
{
    char host[64];
    int port;
    parse_hostport(addr, host, sizeof host, &port);
    if (channel == NULL || count <= 0)
        die("pub needs --channel and --count", NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die(g_http ? "cannot connect to the HTTP publisher" : "cannot connect to Redis", addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t cap = (size_t)bytes + 256;
    char *payload = malloc(cap), *cmd = malloc(cap + 256), rbuf[65536];
    if (payload == NULL || cmd == NULL)
        die("out of memory", NULL);
    long long receivers = 0;
    long replies = 0;
    int64_t t0 = now_us(CLOCK_MONOTONIC);
    for (long i = 0; i < count && !g_stop; i++) {
        if (rate > 0) {
            int64_t due = t0 + (int64_t)((double)i * 1e6 / (double)rate), now;
            while ((now = now_us(CLOCK_MONOTONIC)) < due) {
                struct timespec ts = {0, (long)((due - now) * 1000)};
                nanosleep(&ts, NULL);
            }
        }
        int n = snprintf(payload, cap, "{\"published_at_us\":%lld,\"seq\":%ld,\"pad\":\"",
                         (long long)now_us(CLOCK_REALTIME), i);
        while (n < bytes - 2)
            payload[n++] = 'x';
        payload[n++] = '"';
        payload[n++] = '}';
        int m = g_http ? snprintf(cmd, cap + 256,
                                  "POST /pub?channels=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n",
                                  channel, host, n)
                       : snprintf(cmd, cap + 256, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n",
                                  strlen(channel), channel, n);
        memcpy(cmd + m, payload, (size_t)n);
        memcpy(cmd + m + n, "\r\n", 2);
        size_t len = (size_t)m + (size_t)n + (g_http ? 0 : 2), off = 0;
        while (off < len) {
            ssize_t w = send(fd, cmd + off, len - off, MSG_NOSIGNAL);
            if (w <= 0)
                die("publisher write failed", NULL);
            off += (size_t)w;
        }
        /* take the replies that are there, without waiting */
        for (;;) {
            ssize_t r = recv(fd, rbuf, sizeof rbuf - 1, MSG_DONTWAIT);
            if (r <= 0)
                break;
            count_replies(rbuf, r, &receivers, &replies);
        }
    }
    int64_t t_sent = now_us(CLOCK_MONOTONIC);
    while (replies < count) { /* the rest, bounded by a 10 s receive timeout */
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t r = recv(fd, rbuf, sizeof rbuf - 1, 0);
        if (r <= 0)
            break;
        count_replies(rbuf, r, &receivers, &replies);
    }
    printf("wsbench published count=%ld receivers=%lld elapsed_s=%.3f\n", replies, receivers,
           (double)(t_sent - t0) / 1e6);
    close(fd);
    free(payload);
    free(cmd);
    return replies == count ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "sub") != 0 && strcmp(argv[1], "pub") != 0)) {
        fprintf(stderr, "usage: pulse-wsbench sub|pub [options] (see the comment at the top of bench/wsbench.c)\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    bool pub = strcmp(argv[1], "pub") == 0;
    const char *addr = NULL, *channel = NULL; /* pub: --redis or --http HOST:PORT */
    long count = 0, rate = 0, bytes = 256;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hold") == 0) {
            opt.hold = true;
            continue;
        }
        if (v == NULL)
            die("missing value for", a);
        i++;
        if (strcmp(a, "--url") == 0) {
            if (opt.ntargets == MAX_TARGETS)
                die("too many --url", NULL);
            parse_url(v, &opt.targets[opt.ntargets++]);
        } else if (strcmp(a, "--bind") == 0) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *s = strtok(buf, ","); s != NULL; s = strtok(NULL, ",")) {
                if (opt.nbinds == MAX_BINDS)
                    die("too many --bind addresses", NULL);
                struct sockaddr_in *b = &opt.binds[opt.nbinds++];
                b->sin_family = AF_INET;
                if (inet_pton(AF_INET, s, &b->sin_addr) != 1)
                    die("bad --bind address", s);
            }
        } else if (strcmp(a, "--clients") == 0) {
            opt.clients = parse_num(v, "--clients");
        } else if (strcmp(a, "--concurrency") == 0) {
            opt.concurrency = parse_num(v, "--concurrency");
        } else if (strcmp(a, "--expect") == 0) {
            opt.expect = parse_num(v, "--expect");
        } else if (strcmp(a, "--duration") == 0) {
            opt.duration_s = parse_num(v, "--duration");
        } else if (strcmp(a, "--quiet-ms") == 0) {
            opt.quiet_ms = parse_num(v, "--quiet-ms");
        } else if (strcmp(a, "--subprotocol") == 0) {
            opt.subprotocol = v;
        } else if (strcmp(a, "--ready-match") == 0) {
            opt.ready_match = v;
        } else if (strcmp(a, "--redis") == 0 || strcmp(a, "--http") == 0) {
            addr = v;
            g_http = strcmp(a, "--http") == 0;
        } else if (strcmp(a, "--channel") == 0) {
            channel = v;
        } else if (strcmp(a, "--count") == 0) {
            count = parse_num(v, "--count");
        } else if (strcmp(a, "--rate") == 0) {
            rate = parse_num(v, "--rate");
        } else if (strcmp(a, "--bytes") == 0) {
            bytes = parse_num(v, "--bytes");
            if (bytes < 64 || bytes > 1 << 20)
                die("--bytes: 64..1048576", v);
        } else {
            die("unknown option", a);
        }
    }
    if (pub)
        return run_pub(addr ? addr : "127.0.0.1:6379", channel, count, rate, bytes);
    return run_sub();
}
