/*
 * pulse_url.h - parse the URLs Pulse takes on its command lines:
 *   redis://[[user]:password@]host[:port][/db]   (default port 6379)
 *   ws://host[:port][/path][?query]              (default port 80)
 *   http://host[:port][/path]                    (default port 80)
 * Hosts are names or IPv4 literals, or [IPv6] literals.
 */
#ifndef PULSE_URL_H
#define PULSE_URL_H

#include <stddef.h>

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

/* Copies URL s into out (cap > 0; cut when it does not fit) with any userinfo - the
 * "user:password" before '@' in the authority - replaced by "***", so that a URL can
 * be printed (redis, user and password "secret", host db: the result shows the
 * scheme, then three stars, then "@db:6379/0"). Any text is fine
 * (a string that is not a URL is copied as is). Returns out. */
char *pulse_url_redact(const char *s, char *out, size_t cap);

/* Redis Cluster seeds: redis+cluster://[[user]:password@]host[:port][,host[:port]...][/0]
 * (any nodes of the cluster; the userinfo applies to every node). */
#define PULSE_URL_CLUSTER_SCHEME "redis+cluster://"
#define PULSE_URL_SEEDS_MAX 16

/* Does s start with redis+cluster:// (any case)? */
int pulse_url_is_cluster(const char *s);

/* Parses a redis+cluster URL into seeds[0..*n) (max entries; at most
 * PULSE_URL_SEEDS_MAX are ever used), each a redis URL with the common password and
 * scheme "redis". Returns 0, or PULSE_EINVAL with err filled: not that scheme, no seed,
 * an empty or malformed seed, more than max seeds, a db other than 0 (Redis Cluster
 * has only db 0). */
int pulse_url_parse_cluster(const char *s, pulse_url *seeds, size_t max, size_t *n, pulse_error *err);

#endif
