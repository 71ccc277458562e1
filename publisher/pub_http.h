/*
 * pub_http.h - a minimal blocking HTTP/1.1 client for pulse-publish --http: one
 * keep-alive TCP connection, one request at a time, Content-Length bodies only (what
 * the gateway's evhttp admin server answers). Not thread-safe; one owner.
 */
#ifndef PUB_HTTP_H
#define PUB_HTTP_H

#include <stddef.h>

typedef struct {
    char host[256];
    int port;
    int fd;            /* -1 when not connected */
    int timeout_ms;    /* per send/receive */
    const char *authorization; /* Authorization header value, or NULL; borrowed */
    char errstr[400];  /* last error, one line */
} pub_http;

/* Prepares (does not connect). host: a name or an IPv4/IPv6 literal. */
void pub_http_init(pub_http *h, const char *host, int port, int timeout_ms);
/* Sends one POST with a JSON body and reads the whole answer. Reconnects when the
 * previous connection was closed by the server. Returns the HTTP status (e.g. 202), or
 * -1 with h->errstr filled. */
int pub_http_post(pub_http *h, const char *path, const char *body, size_t len);
void pub_http_close(pub_http *h);

#endif
