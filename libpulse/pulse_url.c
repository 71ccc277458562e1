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

int pulse_url_parse(const char *s, const char *expect_scheme, pulse_url *out, pulse_error *err)
{
    const scheme_info *sch = NULL;
    const char *p, *sep, *auth_end, *host, *host_end, *at, *port_s = NULL;
    const char *expected;
    pulse_url u;
    size_t n;
    long v;

    if (s == NULL || out == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "unparsable URL: none given");
    memset(&u, 0, sizeof u);
    expected = expect_scheme == NULL ? "scheme://host[:port]"
             : strcmp(expect_scheme, "redis") == 0 ? "redis://host:port"
             : strcmp(expect_scheme, "ws") == 0 ? "ws://host:port/path"
             : "http://host:port/path";

    sep = strstr(s, "://");
    if (sep == NULL) {
        char why[96];
        (void)snprintf(why, sizeof why, "expected %s", expected);
        return url_fail(err, s, why);
    }
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        n = strlen(schemes[i].name);
        if ((size_t)(sep - s) == n && strncasecmp(s, schemes[i].name, n) == 0)
            sch = &schemes[i];
    }
    if (sch == NULL)
        return url_fail(err, s, "unknown scheme (expected redis, ws, wss, http or https)");
    if (expect_scheme != NULL && strcmp(expect_scheme, sch->family) != 0) {
        char why[96];
        (void)snprintf(why, sizeof why, "wrong scheme (expected %s)", expected);
        return url_fail(err, s, why);
    }
    (void)snprintf(u.scheme, sizeof u.scheme, "%s", sch->name);
    u.port = sch->default_port;

    p = sep + 3;
    auth_end = p + strcspn(p, "/?#");
    if (*auth_end == '#')
        return url_fail(err, s, "fragments are not supported");

    /* userinfo: redis only, [user]:password@ (a lone "password@" is accepted too). */
    at = memchr(p, '@', (size_t)(auth_end - p));
    if (at != NULL) {
        const char *colon;
        if (strcmp(sch->family, "redis") != 0)
            return url_fail(err, s, "credentials are only supported for redis URLs");
        colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL)
            p = colon + 1;
        n = (size_t)(at - p);
        if (n >= sizeof u.password)
            return url_fail(err, s, "password too long");
        memcpy(u.password, p, n);
        u.password[n] = '\0';
        if (memchr(at + 1, '@', (size_t)(auth_end - at - 1)) != NULL)
            return url_fail(err, s, "more than one '@'");
        p = at + 1;
    }

    /* host */
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
    n = (size_t)(host_end - host);
    if (n >= sizeof u.host)
        return url_fail(err, s, "host too long");
    memcpy(u.host, host, n);
    u.host[n] = '\0';

    /* port */
    if (p < auth_end && *p == ':') {
        port_s = p + 1;
        if (!parse_decimal(port_s, auth_end, 1, 65535, &v))
            return url_fail(err, s, "port must be a number from 1 to 65535");
        u.port = (int)v;
    }

    /* path / db */
    p = auth_end;
    if (strcmp(sch->family, "redis") == 0) {
        if (*p == '?')
            return url_fail(err, s, "query strings are not supported for redis URLs");
        if (*p == '/') {
            p++;
            if (*p != '\0') {
                if (!parse_decimal(p, p + strlen(p), 0, 1000000, &v))
                    return url_fail(err, s, "database must be a non-negative number");
                u.db = (int)v;
            }
        }
        (void)snprintf(u.path, sizeof u.path, "/");
    } else {
        n = strlen(p);
        if (n + 1 >= sizeof u.path)
            return url_fail(err, s, "path too long");
        for (const char *c = p; *c != '\0'; c++) {
            if ((unsigned char)*c <= 0x20 || *c == 0x7f)
                return url_fail(err, s, "bad character in path");
        }
        if (n == 0)
            (void)snprintf(u.path, sizeof u.path, "/");
        else if (*p == '?')
            (void)snprintf(u.path, sizeof u.path, "/%s", p);
        else
            memcpy(u.path, p, n + 1);
        if (strchr(u.path, '#') != NULL)
            return url_fail(err, s, "fragments are not supported");
    }
    *out = u;
    return 0;
}
