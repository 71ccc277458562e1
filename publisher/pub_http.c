/*
 * pub_http.c - the blocking keep-alive HTTP/1.1 client behind pulse-publish --http.
 * It sends "POST <path>" with Content-Length, reads the status line and headers, then
 * exactly Content-Length bytes of body (or until EOF when the server closes). A request
 * that finds the kept-alive connection already closed by the server (EOF before any
 * byte of the answer) is sent once more on a fresh connection. Timeouts come from
 * poll(2), so nothing here waits forever.
 */
#include "pub_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUB_HTTP_HDR_MAX 8192

void pub_http_init(pub_http *h, const char *host, int port, int timeout_ms)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->host, sizeof(h->host), "%s", host);
    h->port = port;
    h->fd = -1;
    h->timeout_ms = timeout_ms;
}

void pub_http_close(pub_http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

static int http_connect(pub_http *h)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int fd = -1, rc, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", h->port);
    rc = getaddrinfo(h->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(h->errstr, sizeof(h->errstr), "cannot resolve %s: %s", h->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        snprintf(h->errstr, sizeof(h->errstr), "cannot connect to %s:%d: %s", h->host, h->port,
                 strerror(errno));
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    /* Small requests one after the other: do not let Nagle hold them back. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        /* Not fatal: only slower. */
    }
    h->fd = fd;
    return 0;
}

/* Waits for fd to be ready for events; 1 ready, 0 timeout, -1 error. */
static int http_wait(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;

    do {
        rc = poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

static int http_send_all(pub_http *h, const char *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n;
        if (http_wait(h->fd, POLLOUT, h->timeout_ms) <= 0) {
            snprintf(h->errstr, sizeof(h->errstr), "send timed out");
            return -1;
        }
        n = send(h->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(h->errstr, sizeof(h->errstr), "send failed: %s", strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Receives some bytes; returns the count, 0 on EOF, -1 on error or timeout. */
static ssize_t http_recv(pub_http *h, char *buf, size_t cap)
{
    for (;;) {
        ssize_t n;
        int rc = http_wait(h->fd, POLLIN, h->timeout_ms);
        if (rc == 0) {
            snprintf(h->errstr, sizeof(h->errstr), "no answer within %d ms", h->timeout_ms);
            return -1;
        }
        if (rc < 0) {
            snprintf(h->errstr, sizeof(h->errstr), "poll failed: %s", strerror(errno));
            return -1;
        }
        n = recv(h->fd, buf, cap, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            snprintf(h->errstr, sizeof(h->errstr), "recv failed: %s", strerror(errno));
        return n;
    }
}

/* Finds header `name` (case-insensitive) in the header block; returns its value or NULL. */
static const char *http_header(const char *hdrs, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = strstr(hdrs, "\r\n");

    while (p != NULL && p[2] != '\0') {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
        p = strstr(line, "\r\n");
    }
    return NULL;
}

/* The request line, headers and body. 0, or -1 with h->errstr set. */
static int send_request(pub_http *h, const char *path, const char *body, size_t len)
{
    char hdr[PUB_HTTP_HDR_MAX + 1];
    int n = snprintf(hdr, sizeof(hdr),
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "%s%s%sContent-Length: %zu\r\n\r\n",
                     path, h->host, h->port, h->authorization ? "Authorization: " : "",
                     h->authorization ? h->authorization : "", h->authorization ? "\r\n" : "", len);
    if (n < 0 || (size_t)n >= sizeof(hdr)) {
        snprintf(h->errstr, sizeof(h->errstr), "request header too long");
        return -1;
    }
    if (http_send_all(h, hdr, (size_t)n) != 0 || http_send_all(h, body, len) != 0)
        return -1;
    return 0;
}

/* Reads into hdr (PUB_HTTP_HDR_MAX + 1 bytes) until the blank line; *got is what was
 * read (possibly past the headers), the return value the blank line's "\r\n\r\n", or
 * NULL with h->errstr set. */
static char *read_headers(pub_http *h, char *hdr, size_t *got, int *fresh_eof)
{
    char *end = NULL;
    while (end == NULL) {
        ssize_t r;
        if (*got >= PUB_HTTP_HDR_MAX) {
            snprintf(h->errstr, sizeof(h->errstr), "answer headers larger than %d bytes",
                     PUB_HTTP_HDR_MAX);
            return NULL;
        }
        r = http_recv(h, hdr + *got, PUB_HTTP_HDR_MAX - *got);
        if (r < 0)
            return NULL;
        if (r == 0) {
            *fresh_eof = (*got == 0);
            snprintf(h->errstr, sizeof(h->errstr), "connection closed by the server");
            return NULL;
        }
        *got += (size_t)r;
        hdr[*got] = '\0';
        end = strstr(hdr, "\r\n\r\n");
    }
    return end;
}

/* Discards the body: have bytes were already read past the headers, clen < 0 means
 * it runs to EOF. 0, or -1 with h->errstr set. */
static int discard_body(pub_http *h, long clen, size_t have)
{
    char sink[4096];
    if (clen < 0) {
        for (;;) {
            ssize_t r = http_recv(h, sink, sizeof(sink));
            if (r <= 0)
                break;
        }
        return 0;
    }
    long left = clen - (long)have;
    while (left > 0) {
        ssize_t r = http_recv(h, sink, sizeof(sink));
        if (r <= 0) {
            snprintf(h->errstr, sizeof(h->errstr), "answer body cut short");
            return -1;
        }
        left -= (long)r;
    }
    return 0;
}

/* One attempt. *fresh_eof is set when the connection was closed before any byte of the
 * answer arrived (the server dropped an idle keep-alive connection). */
static int http_post_once(pub_http *h, const char *path, const char *body, size_t len,
                          int *fresh_eof)
{
    char hdr[PUB_HTTP_HDR_MAX + 1];
    size_t got = 0;
    char *end;
    int status;
    const char *v;
    long clen = -1;
    int close_after = 0;

    *fresh_eof = 0;
    if (send_request(h, path, body, len) != 0)
        return -1;
    end = read_headers(h, hdr, &got, fresh_eof);
    if (end == NULL)
        return -1;
    if (sscanf(hdr, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599) {
        snprintf(h->errstr, sizeof(h->errstr), "not an HTTP answer");
        return -1;
    }
    end[2] = '\0'; /* headers end with the last "\r\n" */
    v = http_header(hdr, "Content-Length");
    if (v != NULL) {
        char *e;
        errno = 0;
        clen = strtol(v, &e, 10);
        if (errno != 0 || e == v || clen < 0) {
            snprintf(h->errstr, sizeof(h->errstr), "bad Content-Length");
            return -1;
        }
    }
    v = http_header(hdr, "Connection");
    if (v != NULL && strncasecmp(v, "close", 5) == 0)
        close_after = 1;
    if (strncmp(hdr, "HTTP/1.0", 8) == 0 && (v == NULL || strncasecmp(v, "keep-alive", 10) != 0))
        close_after = 1;
    if (clen < 0)
        close_after = 1; /* body runs to EOF */
    if (discard_body(h, clen, got - (size_t)((end + 4) - hdr)) != 0)
        return -1;
    if (close_after)
        pub_http_close(h);
    return status;
}

int pub_http_post(pub_http *h, const char *path, const char *body, size_t len)
{
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        int reused = (h->fd >= 0), fresh_eof = 0, status;
        if (h->fd < 0 && http_connect(h) != 0)
            return -1;
        status = http_post_once(h, path, body, len, &fresh_eof);
        if (status >= 0)
            return status;
        pub_http_close(h);
        if (!(reused && fresh_eof))
            return -1;
    }
    return -1;
}
