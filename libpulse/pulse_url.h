/*
 * pulse_url.h - parse the URLs Pulse takes on its command lines:
 *   redis://[[user]:password@]host[:port][/db]   (default port 6379)
 *   ws://host[:port][/path][?query]              (default port 80)
 *   http://host[:port][/path]                    (default port 80)
 * Hosts are names or IPv4 literals, or [IPv6] literals.
 */
#ifndef PULSE_URL_H
#define PULSE_URL_H

#include "pulse_err.h"

typedef struct {
    char scheme[8];     /* "redis", "ws", "wss", "http", "https" */
    char host[256];
    int port;
    char password[128]; /* redis only; "" when none */
    int db;             /* redis only; 0 when none */
    char path[512];     /* path plus query, "/" when none (ws/http) */
} pulse_url;

/* Parses s. expect_scheme (e.g. "redis") limits the accepted schemes: "ws" also
 * accepts "wss", "http" also "https"; NULL accepts any of the above. Returns 0 or
 * PULSE_EINVAL with err filled ("unparsable URL 'x': missing host"). */
int pulse_url_parse(const char *s, const char *expect_scheme, pulse_url *out, pulse_error *err);

#endif
