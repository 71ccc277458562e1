/*
 * pulse_url.c - parser for the few URL shapes Pulse takes on command lines:
 * redis://[[user]:password@]host[:port][/db], ws(s)://host[:port][/path][?query] and
 * http(s)://host[:port][/path]. It is deliberately small and strict: anything it does
 * not understand is rejected with a message that quotes the input and says what was
 * expected, because these strings come from people typing flags.
 */
#include "pulse_url.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    int default_port;
    const char *family; /* the expect_scheme value that admits it */
} scheme_info;

static const scheme_info schemes[] = {
    {"redis", 6379, "redis"}, {"ws", 80, "ws"},     {"wss", 443, "ws"},
    {"http", 80, "http"},     {"https", 443, "http"},
};

char *pulse_url_redact(const char *s, char *out, size_t cap)
{
    const char *auth = strstr(s, "://");
    auth = auth ? auth + 3 : s;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p; /* the last one: a password may hold '@' */
    if (!at)
        snprintf(out, cap, "%s", s);
    else
        snprintf(out, cap, "%.*s***%s", (int)(auth - s), s, at);
    return out;
}

/* Fails with the input quoted (shortened when very long, its userinfo redacted) and
 * a reason. */
static int url_fail(pulse_error *err, const char *s, const char *why)
{
    char shown[64];
    pulse_url_redact(s, shown, sizeof shown);
    return pulse_error_set(err, PULSE_EINVAL, 0, "unparsable URL '%s%s': %s", shown,
                           strlen(shown) >= sizeof shown - 1 ? "..." : "", why);
}

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static bool ipv6_char_ok(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           c == ':' || c == '.' || c == '%' || (c >= 'g' && c <= 'z') ||
           (c >= 'G' && c <= 'Z'); /* letters allowed for a zone id after '%' */
}

/* Parses a decimal number in [lo, hi] from exactly [p, end). */
static bool parse_decimal(const char *p, const char *end, long lo, long hi, long *out)
{
    long v = 0;
    if (p >= end || end - p > 10)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* scheme://: sets *sch (checked against expect_scheme), u->scheme and the default
 * port; *rest points after "://". */
static int parse_scheme(const char *s, const char *expect_scheme, const scheme_info **sch_out, pulse_url *u,
                        const char **rest, pulse_error *err)
{
    const scheme_info *sch = NULL;
    const char *expected = expect_scheme == NULL ? "scheme://host[:port]"
                         : strcmp(expect_scheme, "redis") == 0 ? "redis://host:port"
                         : strcmp(expect_scheme, "ws") == 0 ? "ws://host:port/path"
                         : "http://host:port/path";
    const char *sep = strstr(s, "://");
    char why[96];
    if (sep == NULL) {
        (void)snprintf(why, sizeof why, "expected %s", expected);
        return url_fail(err, s, why);
    }
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].name);
        if ((size_t)(sep - s) == n && strncasecmp(s, schemes[i].name, n) == 0)
            sch = &schemes[i];
    }
    if (sch == NULL)
        return url_fail(err, s, "unknown scheme (expected redis, ws, wss, http or https)");
    if (expect_scheme != NULL && strcmp(expect_scheme, sch->family) != 0) {
        (void)snprintf(why, sizeof why, "wrong scheme (expected %s)", expected);
        return url_fail(err, s, why);
    }
    (void)snprintf(u->scheme, sizeof u->scheme, "%s", sch->name);
    u->port = sch->default_port;
    *sch_out = sch;
    *rest = sep + 3;
    return 0;
}

/* userinfo: redis only, [user]:password@ (a lone "password@" is accepted too). */
static int parse_userinfo(const char *s, const scheme_info *sch, const char **pp, const char *auth_end,
                          pulse_url *u, pulse_error *err)
{
    const char *p = *pp;
    const char *at = memchr(p, '@', (size_t)(auth_end - p));
    if (at == NULL)
        return 0;
    if (strcmp(sch->family, "redis") != 0)
        return url_fail(err, s, "credentials are only supported for redis URLs");
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon != NULL)
        p = colon + 1;
    size_t n = (size_t)(at - p);
    if (n >= sizeof u->password)
        return url_fail(err, s, "password too long");
    memcpy(u->password, p, n);
    u->password[n] = '\0';
    if (memchr(at + 1, '@', (size_t)(auth_end - at - 1)) != NULL)
        return url_fail(err, s, "more than one '@'");
    *pp = at + 1;
    return 0;
}

/* host (a name, an IPv4 address or a bracketed IPv6 one), then :port. */
static int parse_host_port(const char *s, const char *p, const char *auth_end, pulse_url *u, pulse_error *err)
{
    const char *host, *host_end;
    long v;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return url_fail(err, s, "missing ']' after IPv6 address");
        if (host_end == host)
            return url_fail(err, s, "missing host");
        for (const char *c = host; c < host_end; c++) {
            if (!ipv6_char_ok(*c))
                return url_fail(err, s, "bad character in IPv6 address");
        }
        if (memchr(host, ':', (size_t)(host_end - host)) == NULL)
            return url_fail(err, s, "bad IPv6 address");
        p = host_end + 1;
        if (p < auth_end && *p != ':')
            return url_fail(err, s, "unexpected text after ']'");
    } else {
        host = p;
        host_end = p;
        while (host_end < auth_end && *host_end != ':')
            host_end++;
        if (host_end == host)
            return url_fail(err, s, "missing host");
        for (const char *c = host; c < host_end; c++) {
            if (!host_char_ok(*c))
                return url_fail(err, s, "bad character in host");
        }
        p = host_end;
    }
    size_t n = (size_t)(host_end - host);
    if (n >= sizeof u->host)
        return url_fail(err, s, "host too long");
    memcpy(u->host, host, n);
    u->host[n] = '\0';

    if (p < auth_end && *p == ':') {
        if (!parse_decimal(p + 1, auth_end, 1, 65535, &v))
            return url_fail(err, s, "port must be a number from 1 to 65535");
        u->port = (int)v;
    }
    return 0;
}

/* path / db: a redis URL's /db, or an ws/http path (with its query). */
static int parse_path(const char *s, const scheme_info *sch, const char *p, pulse_url *u, pulse_error *err)
{
    long v;
    if (strcmp(sch->family, "redis") == 0) {
        if (*p == '?')
            return url_fail(err, s, "query strings are not supported for redis URLs");
        if (*p == '/') {
            p++;
            if (*p != '\0') {
                if (!parse_decimal(p, p + strlen(p), 0, 1000000, &v))
                    return url_fail(err, s, "database must be a non-negative number");
                u->db = (int)v;
            }
        }
        (void)snprintf(u->path, sizeof u->path, "/");
        return 0;
    }
    size_t n = strlen(p);
    if (n + 1 >= sizeof u->path)
        return url_fail(err, s, "path too long");
    for (const char *c = p; *c != '\0'; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return url_fail(err, s, "bad character in path");
    }
    if (n == 0)
        (void)snprintf(u->path, sizeof u->path, "/");
    else if (*p == '?')
        (void)snprintf(u->path, sizeof u->path, "/%s", p);
    else
        memcpy(u->path, p, n + 1);
    if (strchr(u->path, '#') != NULL)
        return url_fail(err, s, "fragments are not supported");
    return 0;
}

int pulse_url_parse(const char *s, const char *expect_scheme, pulse_url *out, pulse_error *err)
{
    const scheme_info *sch = NULL;
    const char *p = NULL, *auth_end;
    pulse_url u;
    int rc;

    if (s == NULL || out == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "unparsable URL: none given");
    memset(&u, 0, sizeof u);
    if ((rc = parse_scheme(s, expect_scheme, &sch, &u, &p, err)) != 0)
        return rc;
    auth_end = p + strcspn(p, "/?#");
    if (*auth_end == '#')
        return url_fail(err, s, "fragments are not supported");
    if ((rc = parse_userinfo(s, sch, &p, auth_end, &u, err)) != 0 ||
        (rc = parse_host_port(s, p, auth_end, &u, err)) != 0 || (rc = parse_path(s, sch, auth_end, &u, err)) != 0)
        return rc;
    *out = u;
    return 0;
}

int pulse_url_is_cluster(const char *s)
{
    return s != NULL && strncasecmp(s, PULSE_URL_CLUSTER_SCHEME, strlen(PULSE_URL_CLUSTER_SCHEME)) == 0;
}

int pulse_url_parse_cluster(const char *s, pulse_url *seeds, size_t max, size_t *n, pulse_error *err)
{
    if (s == NULL || seeds == NULL || n == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "unparsable URL: none given");
    *n = 0;
    if (!pulse_url_is_cluster(s))
        return url_fail(err, s, "expected redis+cluster://host:port[,host:port...]");
    const char *auth = s + strlen(PULSE_URL_CLUSTER_SCHEME);
    size_t alen = strcspn(auth, "/?#");
    const char *hosts = auth;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            hosts = p + 1; /* the last one: a password may hold '@' */
    size_t ulen = (size_t)(hosts - auth); /* userinfo with its '@', or 0 */
    const char *tail = auth + alen;        /* "/0", "" or something parse refuses */
    if (hosts == auth + alen)
        return url_fail(err, s, "no seed node (expected host:port[,host:port...])");
    if (max > PULSE_URL_SEEDS_MAX)
        max = PULSE_URL_SEEDS_MAX;
    const char *p = hosts;
    while (p <= auth + alen) {
        size_t hlen = strcspn(p, ",/?#");
        if (p + hlen > auth + alen)
            hlen = (size_t)(auth + alen - p);
        if (hlen == 0)
            return url_fail(err, s, "an empty seed between commas");
        if (*n == max)
            return url_fail(err, s, "too many seed nodes");
        char one[1024];
        int len = snprintf(one, sizeof one, "redis://%.*s%.*s%s", (int)ulen, auth, (int)hlen, p, tail);
        if (len < 0 || (size_t)len >= sizeof one)
            return url_fail(err, s, "too long");
        pulse_error e1 = {0};
        if (pulse_url_parse(one, "redis", &seeds[*n], &e1) != 0) {
            char why[sizeof e1.text + 16];
            const char *colon = strstr(e1.text, "': ");
            snprintf(why, sizeof why, "seed %zu: %s", *n + 1, colon ? colon + 3 : e1.text);
            return url_fail(err, s, why);
        }
        if (seeds[*n].db != 0)
            return url_fail(err, s, "Redis Cluster has only db 0");
        (*n)++;
        p += hlen;
        if (p >= auth + alen)
            break;
        p++; /* the comma */
        if (p == auth + alen)
            return url_fail(err, s, "an empty seed after the last comma");
    }
    return 0;
}
