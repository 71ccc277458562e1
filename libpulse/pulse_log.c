/*
 * pulse_log.c - levelled logging to stderr as text or JSON lines.
 * Each line is formatted completely into a stack buffer (long messages are truncated
 * with a "..." marker) and handed to the kernel with a single write(2), so lines from
 * different threads never interleave and no lock is needed. Level, format and ident are
 * set once before threads start; the PULSE_LOG macros test the level before any
 * argument is formatted.
 */
#include "pulse_log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pulse_err.h"

#define LOG_MSG_MAX 2048  /* message text before escaping */
#define LOG_LINE_MAX 8192 /* a fully escaped message always fits: 6 bytes per char max */

pulse_log_level pulse_log_current_level = PULSE_LOG_INFO;
static pulse_log_format log_format = PULSE_LOG_TEXT;
static char log_ident[64];

static const char *const level_text[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
static const char *const level_json[] = {"error", "warn", "info", "debug"};

void pulse_log_set_level(pulse_log_level level)
{
    if (level < PULSE_LOG_ERROR)
        level = PULSE_LOG_ERROR;
    if (level > PULSE_LOG_DEBUG)
        level = PULSE_LOG_DEBUG;
    pulse_log_current_level = level;
}

void pulse_log_set_format(pulse_log_format fmt)
{
    log_format = fmt == PULSE_LOG_JSON ? PULSE_LOG_JSON : PULSE_LOG_TEXT;
}

void pulse_log_set_ident(const char *ident)
{
    if (ident == NULL) {
        log_ident[0] = '\0';
        return;
    }
    (void)snprintf(log_ident, sizeof log_ident, "%s", ident);
}

int pulse_log_level_parse(const char *s, pulse_log_level *out)
{
    static const struct { const char *name; pulse_log_level level; } names[] = {
        {"error", PULSE_LOG_ERROR}, {"warn", PULSE_LOG_WARN}, {"warning", PULSE_LOG_WARN},
        {"info", PULSE_LOG_INFO},   {"debug", PULSE_LOG_DEBUG},
    };
    if (s == NULL)
        return PULSE_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            if (out != NULL)
                *out = names[i].level;
            return 0;
        }
    }
    return PULSE_EINVAL;
}

int pulse_log_format_parse(const char *s, pulse_log_format *out)
{
    pulse_log_format f;
    if (s == NULL)
        return PULSE_EINVAL;
    if (strcasecmp(s, "text") == 0)
        f = PULSE_LOG_TEXT;
    else if (strcasecmp(s, "json") == 0)
        f = PULSE_LOG_JSON;
    else
        return PULSE_EINVAL;
    if (out != NULL)
        *out = f;
    return 0;
}

/* Appends s to buf at *pos, never past cap - 1; keeps buf NUL-terminated. */
static void put_str(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos >= cap - 1)
        return;
    if (n > cap - 1 - *pos)
        n = cap - 1 - *pos;
    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = '\0';
}

/* Appends s JSON-escaped (without quotes); escapes are never split. */
static void put_json(char *buf, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\'; esc[1] = (char)c; n = 2;
        } else if (c == '\n') {
            esc[0] = '\\'; esc[1] = 'n'; n = 2;
        } else if (c == '\r') {
            esc[0] = '\\'; esc[1] = 'r'; n = 2;
        } else if (c == '\t') {
            esc[0] = '\\'; esc[1] = 't'; n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 0x0f]; n = 6;
        } else {
            esc[0] = (char)c; n = 1;
        }
        if (*pos + n >= cap)
            return;
        memcpy(buf + *pos, esc, n);
        *pos += n;
    }
    buf[*pos] = '\0';
}

/* Appends s with control characters replaced by spaces, so a text line stays one line. */
static void put_text(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (; *s != '\0' && *pos < cap - 1; s++) {
        unsigned char c = (unsigned char)*s;
        buf[(*pos)++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    buf[*pos] = '\0';
}

static void format_ts(char out[32])
{
    struct timespec ts;
    struct tm tm;
    size_t n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0 || n > 32 - 6) {
        memcpy(out, "1970-01-01T00:00:00.000Z", 25);
        return;
    }
    /* The millisecond part is 3 digits by construction (tv_nsec < 10^9). */
    out[n] = '.';
    out[n + 1] = (char)('0' + ts.tv_nsec / 100000000 % 10);
    out[n + 2] = (char)('0' + ts.tv_nsec / 10000000 % 10);
    out[n + 3] = (char)('0' + ts.tv_nsec / 1000000 % 10);
    out[n + 4] = 'Z';
    out[n + 5] = '\0';
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        buf += n;
        len -= (size_t)n;
    }
}

int pulse_log_limit_take(pulse_log_limit *lim, int interval_ms, unsigned long long *held)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long now = (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
    long long next = atomic_load(&lim->next_ms);
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ms, &next, now + interval_ms)) {
        atomic_fetch_add(&lim->held, 1);
        return 0;
    }
    *held = atomic_exchange(&lim->held, 0);
    return 1;
}

void pulse_log_write(pulse_log_level level, const char *tag, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    char line[LOG_LINE_MAX];
    char ts[32];
    size_t pos = 0;
    va_list ap;
    int n;

    if (level < PULSE_LOG_ERROR || level > PULSE_LOG_DEBUG)
        level = PULSE_LOG_ERROR;
    if (tag == NULL)
        tag = "-";
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        (void)snprintf(msg, sizeof msg, "(bad log format)");
    else if ((size_t)n >= sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4); /* marks the truncation */
    format_ts(ts);

    line[0] = '\0';
    if (log_format == PULSE_LOG_JSON) {
        put_str(line, sizeof line, &pos, "{\"ts\":\"");
        put_str(line, sizeof line, &pos, ts);
        put_str(line, sizeof line, &pos, "\",\"level\":\"");
        put_str(line, sizeof line, &pos, level_json[level]);
        if (log_ident[0] != '\0') {
            put_str(line, sizeof line, &pos, "\",\"ident\":\"");
            put_json(line, sizeof line, &pos, log_ident);
        }
        put_str(line, sizeof line, &pos, "\",\"tag\":\"");
        put_json(line, sizeof line, &pos, tag);
        put_str(line, sizeof line, &pos, "\",\"msg\":\"");
        /* Leave room for the closing "}\n so the line is always valid JSON. */
        put_json(line, sizeof line - 3, &pos, msg);
        put_str(line, sizeof line, &pos, "\"}");
    } else {
        put_str(line, sizeof line, &pos, ts);
        put_str(line, sizeof line, &pos, " ");
        put_str(line, sizeof line, &pos, level_text[level]);
        put_str(line, sizeof line, &pos, " ");
        if (log_ident[0] != '\0') {
            put_text(line, sizeof line, &pos, log_ident);
            put_str(line, sizeof line, &pos, " ");
        }
        put_str(line, sizeof line, &pos, "[");
        put_text(line, sizeof line, &pos, tag);
        put_str(line, sizeof line, &pos, "] ");
        put_text(line, sizeof line - 1, &pos, msg);
    }
    line[pos++] = '\n';
    write_all(line, pos);
}
