/*
 * ts_http.c - a tiny HTTP/1.1 client for the admin port (Connection: close), enough to
 * read a status line and a body sent with Content-Length, chunked, or up to EOF; plus
 * Prometheus text lookups for metric assertions.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts.h"
#include "ts_internal.h"

#define TS_HTTP_TIMEOUT_MS 5000
#define TS_HTTP_MAX (8 * 1024 * 1024)

/* Finds header name (case-insensitive) in the header block; returns its value's start
 * (leading spaces skipped) or NULL. */
static const char *find_header(const char *head, size_t head_len, const char *name)
{
    size_t n = strlen(name);
    const char *p = head;
    const char *end = head + head_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Decodes a chunked body in place; returns its decoded length or -1 when incomplete. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        char *eol = memchr(body + in, '\n', len - in);
        if (eol == NULL)
            return -1;
        unsigned long sz = strtoul(body + in, NULL, 16);
        in = (size_t)(eol - body) + 1;
        if (sz == 0)
            return (long)out;
        if (in + sz > len)
            return -1;
        memmove(body + out, body + in, sz);
        out += sz;
        in += sz;
        /* CRLF after the chunk */
        if (in < len && body[in] == '\r')
            in++;
        if (in < len && body[in] == '\n')
            in++;
    }
    return -1;
}

int ts_http(int port, const char *method, const char *path, const char *extra_headers,
            const char *req_body, char *body, size_t cap)
{
    if (body != NULL && cap > 0)
        body[0] = '\0';
    int64_t deadline = ts_now_ms() + TS_HTTP_TIMEOUT_MS;
    int fd = ts__connect(port, TS_HTTP_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    size_t blen = req_body != NULL ? strlen(req_body) : 0;
    size_t hcap = 1024 + strlen(path) + (extra_headers != NULL ? strlen(extra_headers) : 0);
    char *req = malloc(hcap + blen);
    if (req == NULL)
        abort();
    int hl = snprintf(req, hcap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "User-Agent: pulse-tests\r\n",
                      method, path, port);
    if (req_body != NULL)
        hl += snprintf(req + hl, hcap - (size_t)hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        hl += snprintf(req + hl, hcap - (size_t)hl, "Content-Length: 0\r\n");
    if (extra_headers != NULL)
        hl += snprintf(req + hl, hcap - (size_t)hl, "%s", extra_headers);
    hl += snprintf(req + hl, hcap - (size_t)hl, "\r\n");
    if (blen > 0)
        memcpy(req + hl, req_body, blen);
    int rc = ts__send_all(fd, req, (size_t)hl + blen, deadline);
    free(req);
    if (rc != 0) {
        close(fd);
        return -1;
    }

    size_t rcap = 65536, rlen = 0;
    char *resp = malloc(rcap + 1);
    if (resp == NULL)
        abort();
    long content_length = -1;
    size_t head_len = 0;
    bool chunked = false;
    int status = -1;
    for (;;) {
        if (head_len > 0 && content_length >= 0 && rlen >= head_len + (size_t)content_length)
            break;
        if (head_len > 0 && chunked) {
            resp[rlen] = '\0';
            /* The terminating zero-size chunk ends the body. */
            if (rlen >= head_len + 5 && strstr(resp + head_len, "\r\n0\r\n") != NULL &&
                memcmp(resp + rlen - 4, "\r\n\r\n", 4) == 0)
                break;
            if (rlen - head_len >= 5 && memcmp(resp + head_len, "0\r\n\r\n", 5) == 0)
                break;
        }
        if (ts__wait_readable(fd, deadline) <= 0)
            break;
        if (rlen == rcap) {
            if (rcap >= TS_HTTP_MAX)
                break;
            rcap *= 2;
            resp = realloc(resp, rcap + 1);
            if (resp == NULL)
                abort();
        }
        ssize_t n = recv(fd, resp + rlen, rcap - rlen, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        rlen += (size_t)n;
        resp[rlen] = '\0';
        if (head_len == 0) {
            char *e = strstr(resp, "\r\n\r\n");
            if (e != NULL) {
                head_len = (size_t)(e - resp) + 4;
                const char *cl = find_header(resp, head_len, "Content-Length");
                if (cl != NULL)
                    content_length = strtol(cl, NULL, 10);
                const char *te = find_header(resp, head_len, "Transfer-Encoding");
                if (te != NULL && strncasecmp(te, "chunked", 7) == 0)
                    chunked = true;
            }
        }
    }
    close(fd);
    resp[rlen] = '\0';
    if (rlen >= 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        status = (int)strtol(resp + 9, NULL, 10);
    if (status > 0 && head_len > 0 && body != NULL && cap > 0) {
        char *b = resp + head_len;
        size_t bl = rlen - head_len;
        if (chunked) {
            long d = dechunk(b, bl);
            bl = d >= 0 ? (size_t)d : 0;
        } else if (content_length >= 0 && (size_t)content_length < bl) {
            bl = (size_t)content_length;
        }
        if (bl > cap - 1)
            bl = cap - 1;
        memcpy(body, b, bl);
        body[bl] = '\0';
    }
    free(resp);
    return status;
}

int ts_http_wait_status(int port, const char *path, int want_status, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    char body[4096];
    for (;;) {
        if (ts_http(port, "GET", path, NULL, NULL, body, sizeof body) == want_status)
            return 0;
        if (ts_now_ms() >= deadline)
            return -1;
        ts_sleep_ms(50);
    }
}

/* Calls back for every sample line of the exposition whose series name (before '{' or
 * ' ') equals family, or whose full "name{labels}" equals name when exact. */
static double metric_scan(int admin_port, const char *name, bool sum_family)
{
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    if (text == NULL)
        abort();
    double result = -1;
    if (ts_http(admin_port, "GET", "/metrics", NULL, NULL, text, cap) != 200) {
        free(text);
        return -1;
    }
    size_t n = strlen(name);
    bool found = false;
    double sum = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#' || strncmp(l, name, n) != 0)
            continue;
        char next = l[n];
        const char *val = NULL;
        if (next == ' ') {
            val = l + n + 1;
        } else if (sum_family && next == '{') {
            const char *close = strchr(l + n, '}');
            if (close != NULL && close[1] == ' ')
                val = close + 2;
        }
        if (val == NULL)
            continue;
        char *end;
        double v = strtod(val, &end);
        if (end == val)
            continue;
        found = true;
        if (!sum_family) {
            result = v;
            break;
        }
        sum += v;
    }
    if (sum_family && found)
        result = sum;
    free(text);
    return found ? result : -1;
}

double ts_metric(int admin_port, const char *name)
{
    return metric_scan(admin_port, name, false);
}

double ts_metric_sum(int admin_port, const char *family)
{
    return metric_scan(admin_port, family, true);
}
