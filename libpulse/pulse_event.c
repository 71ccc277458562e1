/*
 * pulse_event.c - the event schema: validation with jansson (pulse_event_parse), the
 * canonical writer (pulse_event_format), and the allocation-free envelope scanner that
 * pulse-subscribe runs once per delivery (pulse_delivery_scan).
 *
 * The scanner is a small strict JSON reader over [p, end): every read is bounds-checked
 * against end, nesting is capped (so hostile input cannot exhaust the stack), and values
 * it does not need are validated and skipped rather than trusted. It never allocates
 * and never calls jansson, because it runs up to a million times a second.
 */
#include "pulse_event.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "pulse_uuid.h"

/* ------------------------------------------------------------------ priority */

const char *pulse_priority_name(pulse_priority p)
{
    switch (p) {
    case PULSE_PRIO_CRITICAL: return "critical";
    case PULSE_PRIO_NORMAL: return "normal";
    default: return NULL;
    }
}

pulse_priority pulse_priority_parse(const char *s, size_t len)
{
    if (s == NULL)
        return PULSE_PRIO_UNSET;
    if (len == 8 && memcmp(s, "critical", 8) == 0)
        return PULSE_PRIO_CRITICAL;
    if (len == 6 && memcmp(s, "normal", 6) == 0)
        return PULSE_PRIO_NORMAL;
    return PULSE_PRIO_UNSET;
}

pulse_priority pulse_priority_for_channel(const char *channel)
{
    if (strcmp(channel, "events.critical") == 0 || strncmp(channel, "alerts.", 7) == 0)
        return PULSE_PRIO_CRITICAL;
    return PULSE_PRIO_NORMAL;
}

/* ------------------------------------------------------------------ parse */

/* Copies a JSON string member into dst (cap bytes incl. NUL), checking its length. */
static int get_string(json_t *root, const char *key, size_t min, size_t max, char *dst,
                      size_t cap, pulse_error *err)
{
    json_t *v = json_object_get(root, key);
    size_t n;
    if (v == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: missing", key);
    if (!json_is_string(v))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: must be a string", key);
    n = json_string_length(v);
    if (n < min || n > max) {
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: must be %zu to %zu bytes (got %zu)",
                               key, min, max, n);
    }
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: must not contain NUL", key);
    if (n >= cap) /* cannot happen when max < cap; kept as a guard */
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: too long", key);
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return 0;
}

/* Reads an optional positive integer member; *present says whether it was there. */
static int get_positive(json_t *root, const char *key, int64_t *out, bool *present,
                        pulse_error *err)
{
    json_t *v = json_object_get(root, key);
    *present = false;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: must be a positive integer", key);
    *out = (int64_t)json_integer_value(v);
    *present = true;
    return 0;
}

static int parse_object(json_t *root, pulse_event *ev, pulse_error *err)
{
    json_t *v;
    int64_t us = 0, ms = 0;
    bool has_us, has_ms;
    int rc;

    if (!json_is_object(root))
        return pulse_error_set(err, PULSE_EINVAL, 0, "event: must be a JSON object");

    v = json_object_get(root, "event_id");
    if (v == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "event_id: missing");
    if (!json_is_string(v))
        return pulse_error_set(err, PULSE_EINVAL, 0, "event_id: must be a string");
    if (!pulse_uuid_valid(json_string_value(v), (unsigned long)json_string_length(v)))
        return pulse_error_set(err, PULSE_EINVAL, 0, "event_id: must be a UUID");
    memcpy(ev->event_id, json_string_value(v), PULSE_UUID_LEN);
    ev->event_id[PULSE_UUID_LEN] = '\0';

    rc = get_string(root, "event_type", 1, PULSE_EVENT_TYPE_MAX, ev->event_type,
                    sizeof ev->event_type, err);
    if (rc != 0)
        return rc;
    rc = get_string(root, "source", 0, PULSE_SOURCE_MAX, ev->source, sizeof ev->source, err);
    if (rc != 0)
        return rc;

    v = json_object_get(root, "sequence");
    if (v == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "sequence: missing");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "sequence: must be a non-negative integer");
    ev->sequence = (uint64_t)json_integer_value(v);

    rc = get_positive(root, "published_at_us", &us, &has_us, err);
    if (rc != 0)
        return rc;
    rc = get_positive(root, "published_at_ms", &ms, &has_ms, err);
    if (rc != 0)
        return rc;
    if (has_us) {
        ev->published_at_us = us;
    } else if (has_ms) {
        if (ms > INT64_MAX / 1000)
            return pulse_error_set(err, PULSE_EINVAL, 0, "published_at_ms: out of range");
        ev->published_at_us = ms * 1000;
    } else {
        return pulse_error_set(err, PULSE_EINVAL, 0, "published_at_us: missing "
                               "(neither published_at_us nor published_at_ms given)");
    }

    ev->priority = PULSE_PRIO_UNSET;
    v = json_object_get(root, "priority");
    if (v != NULL) {
        if (json_is_string(v))
            ev->priority = pulse_priority_parse(json_string_value(v), json_string_length(v));
        if (ev->priority == PULSE_PRIO_UNSET) {
            return pulse_error_set(err, PULSE_EINVAL, 0,
                                   "priority: must be \"critical\" or \"normal\"");
        }
    }
    return 0;
}

int pulse_event_parse(const char *json, size_t len, pulse_event *out, pulse_error *err)
{
    json_error_t jerr;
    json_t *root;
    pulse_event ev;
    int rc;

    if (json == NULL || out == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "event: no input");
    if (len > PULSE_EVENT_MAX_BYTES) {
        return pulse_error_set(err, PULSE_EINVAL, 0, "event: too large (%zu bytes, max %d)",
                               len, PULSE_EVENT_MAX_BYTES);
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return pulse_error_set(err, PULSE_EINVAL, 0, "event: invalid JSON: %s (column %d)",
                               jerr.text, jerr.column);
    }
    memset(&ev, 0, sizeof ev);
    rc = parse_object(root, &ev, err);
    json_decref(root);
    if (rc == 0)
        *out = ev;
    return rc;
}

/* ------------------------------------------------------------------ format */

typedef struct {
    char *buf;
    size_t cap;
    size_t pos;
    bool full;
} outbuf;

static void out_raw(outbuf *o, const char *s, size_t n)
{
    if (o->full || n >= o->cap - o->pos) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->pos, s, n);
    o->pos += n;
}

static void out_str(outbuf *o, const char *s)
{
    out_raw(o, s, strlen(s));
}

/* Writes s as a quoted JSON string. */
static void out_json_string(outbuf *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    out_raw(o, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0f]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            out_raw(o, esc, 2);
        } else if (c == '\n') {
            out_raw(o, "\\n", 2);
        } else if (c == '\r') {
            out_raw(o, "\\r", 2);
        } else if (c == '\t') {
            out_raw(o, "\\t", 2);
        } else if (c < 0x20) {
            out_raw(o, esc, 6);
        } else {
            out_raw(o, (const char *)&c, 1);
        }
    }
    out_raw(o, "\"", 1);
}

static void out_fmt_int(outbuf *o, const char *key, int64_t v)
{
    char num[48];
    int n = snprintf(num, sizeof num, ",\"%s\":%" PRId64, key, v);
    if (n > 0 && (size_t)n < sizeof num)
        out_raw(o, num, (size_t)n);
    else
        o->full = true;
}

int pulse_event_format(const pulse_event *ev, const char *data_json, char *buf, size_t cap)
{
    outbuf o = {buf, cap, 0, false};
    size_t type_len, src_len;
    const char *prio;

    if (ev == NULL || buf == NULL)
        return PULSE_EINVAL;
    type_len = strnlen(ev->event_type, sizeof ev->event_type);
    src_len = strnlen(ev->source, sizeof ev->source);
    if (!pulse_uuid_valid(ev->event_id, strnlen(ev->event_id, sizeof ev->event_id)) ||
        type_len == 0 || type_len > PULSE_EVENT_TYPE_MAX || src_len > PULSE_SOURCE_MAX ||
        ev->published_at_us <= 0 || ev->sequence > (uint64_t)INT64_MAX ||
        (data_json != NULL && data_json[0] == '\0'))
        return PULSE_EINVAL;
    if (ev->priority != PULSE_PRIO_UNSET && ev->priority != PULSE_PRIO_NORMAL &&
        ev->priority != PULSE_PRIO_CRITICAL)
        return PULSE_EINVAL;
    if (cap == 0)
        return PULSE_ENOSPC;

    out_str(&o, "{\"event_id\":");
    out_json_string(&o, ev->event_id);
    out_str(&o, ",\"event_type\":");
    out_json_string(&o, ev->event_type);
    out_str(&o, ",\"source\":");
    out_json_string(&o, ev->source);
    out_fmt_int(&o, "sequence", (int64_t)ev->sequence);
    /* published_at_ms must be positive when present; below 1 ms only _us can say it */
    if (ev->published_at_us >= 1000)
        out_fmt_int(&o, "published_at_ms", ev->published_at_us / 1000);
    out_fmt_int(&o, "published_at_us", ev->published_at_us);
    prio = pulse_priority_name(ev->priority);
    if (prio != NULL) {
        out_str(&o, ",\"priority\":\"");
        out_str(&o, prio);
        out_str(&o, "\"");
    }
    out_str(&o, ",\"data\":");
    out_str(&o, data_json != NULL ? data_json : "{}");
    out_str(&o, "}");
    if (o.full || o.pos > (size_t)INT32_MAX)
        return PULSE_ENOSPC;
    buf[o.pos] = '\0';
    return (int)o.pos;
}

/* ------------------------------------------------------------------ delivery scan */

#define SCAN_MAX_DEPTH 64

typedef struct {
    const char *start;
    const char *p;
    const char *end;
    pulse_error *err;
} scanner;

static int scan_fail(scanner *s, const char *what)
{
    if (s->p >= s->end)
        return pulse_error_set(s->err, PULSE_EINVAL, 0, "envelope: %s: truncated at byte %zu",
                               what, (size_t)(s->end - s->start));
    return pulse_error_set(s->err, PULSE_EINVAL, 0, "envelope: %s at byte %zu", what,
                           (size_t)(s->p - s->start));
}

static void skip_ws(scanner *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether none of the 8 bytes in w is one a string's scan must stop at: '"', '\\' or a
 * control character (< 0x20). Each test is the exact "has a zero byte" / "has a byte
 * below n" word trick; a byte >= 0x80 (UTF-8) never matches. */
static inline bool word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
    return (hit & highs) == 0;
}

#ifdef __SSE2__
/* The length of the run of plain string bytes at p (none of '"', '\\', < 0x20), counted
 * sixteen at a time: at most n rounded down to 16; the caller goes on from there. */
static inline size_t plain_run16(const char *p, size_t n)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);
    size_t i = 0;

    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)); /* v <= 0x1f */
        int m = _mm_movemask_epi8(hit);
        if (m != 0)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
    return i;
}
#else
static inline size_t plain_run16(const char *p, size_t n)
{
    (void)p;
    (void)n;
    return 0;
}
#endif

/* Reads a string at s->p (which must be '"'); str and len get its raw (still escaped)
 * contents. Escapes are validated; raw control characters are rejected. Runs of plain
 * characters are skipped sixteen bytes at a time (SSE2), then eight (a word): a
 * delivery's payload is mostly string bytes, and the measuring client scans millions
 * of them a second. */
static int scan_string(scanner *s, const char **str, size_t *len)
{
    const char *begin;
    if (s->p >= s->end || *s->p != '"')
        return scan_fail(s, "expected a string");
    begin = ++s->p;
    for (;;) {
        s->p += plain_run16(s->p, (size_t)(s->end - s->p));
        while (s->end - s->p >= 8) {
            uint64_t w;
            memcpy(&w, s->p, sizeof w);
            if (!word_plain(w))
                break;
            s->p += 8;
        }
        if (s->p >= s->end)
            break;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *str = begin;
            *len = (size_t)(s->p - begin);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return scan_fail(s, "control character in string");
        if (c == '\\') {
            s->p++;
            if (s->p >= s->end)
                break;
            switch (*s->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->p++;
                break;
            case 'u':
                if (s->end - s->p < 5)
                    return scan_fail(s, "truncated \\u escape");
                for (int i = 1; i <= 4; i++) {
                    if (!is_hex_digit(s->p[i]))
                        return scan_fail(s, "bad \\u escape");
                }
                s->p += 5;
                break;
            default:
                return scan_fail(s, "bad escape in string");
            }
            continue;
        }
        s->p++;
    }
    s->p = s->end;
    return scan_fail(s, "unterminated string");
}

/* Reads a JSON number. *is_int says whether it is a plain integer (no fraction or
 * exponent); then *neg and *mag hold its sign and magnitude (*overflow when > 2^64-1). */
static int scan_number(scanner *s, bool *is_int, bool *neg, uint64_t *mag, bool *overflow)
{
    *is_int = true;
    *neg = false;
    *mag = 0;
    *overflow = false;
    if (s->p < s->end && *s->p == '-') {
        *neg = true;
        s->p++;
    }
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return scan_fail(s, "bad number");
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            unsigned d = (unsigned)(*s->p - '0');
            if (*mag > (UINT64_MAX - d) / 10)
                *overflow = true;
            else
                *mag = *mag * 10 + d;
            s->p++;
        }
    }
    if (s->p < s->end && *s->p == '.') {
        *is_int = false;
        s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return scan_fail(s, "bad number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        *is_int = false;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return scan_fail(s, "bad number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    return 0;
}

static int scan_literal(scanner *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return scan_fail(s, "bad literal");
    s->p += n;
    return 0;
}

static int skip_value(scanner *s, int depth);

/* An object member's key and its ':'; s->p ends just after the ':'. */
static int scan_key(scanner *s, const char **k, size_t *klen)
{
    int rc = scan_string(s, k, klen);
    if (rc != 0)
        return rc;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return scan_fail(s, "expected ':'");
    s->p++;
    return 0;
}


/* Skips an object or array body; s->p is on the opening bracket. */
static int skip_container(scanner *s, int depth)
{
    char close = *s->p == '{' ? '}' : ']';
    bool is_obj = close == '}';
    int rc;

    if (depth >= SCAN_MAX_DEPTH)
        return scan_fail(s, "nesting too deep");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (is_obj) {
            const char *k;
            size_t klen;
            rc = scan_key(s, &k, &klen);
            if (rc != 0)
                return rc;
        }
        rc = skip_value(s, depth + 1);
        if (rc != 0)
            return rc;
        skip_ws(s);
        if (s->p >= s->end)
            return scan_fail(s, "unterminated container");
        if (*s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        return scan_fail(s, "expected ',' or closing bracket");
    }
}

/* Skips any JSON value (leading whitespace allowed). */
static int skip_value(scanner *s, int depth)
{
    const char *str;
    size_t len;
    bool is_int, neg, overflow;
    uint64_t mag;

    skip_ws(s);
    if (s->p >= s->end)
        return scan_fail(s, "expected a value");
    switch (*s->p) {
    case '{':
    case '[':
        return skip_container(s, depth);
    case '"':
        return scan_string(s, &str, &len);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s, &is_int, &neg, &mag, &overflow);
        return scan_fail(s, "unexpected character");
    }
}

static bool key_is(const char *k, size_t klen, const char *name, size_t nlen)
{
    return klen == nlen && memcmp(k, name, nlen) == 0;
}

/* Reads an integer field value; fails with the field named when it is not an integer
 * in [min_value, limit]. */
static int scan_uint_field(scanner *s, const char *field, uint64_t min_value,
                           uint64_t limit, uint64_t *out)
{
    bool is_int, neg, overflow;
    uint64_t mag;
    int rc;

    if (s->p >= s->end || (*s->p != '-' && (*s->p < '0' || *s->p > '9')))
        return pulse_error_set(s->err, PULSE_EINVAL, 0, "%s: must be an integer", field);
    rc = scan_number(s, &is_int, &neg, &mag, &overflow);
    if (rc != 0)
        return rc;
    if (!is_int || overflow || (neg && mag != 0) || mag < min_value || mag > limit) {
        return pulse_error_set(s->err, PULSE_EINVAL, 0, "%s: must be an integer in [%" PRIu64
                               ", %" PRIu64 "]", field, min_value, limit);
    }
    *out = mag;
    return 0;
}

typedef struct {
    bool has_id, has_seq, has_us, has_ms, has_type;
    uint64_t ms;
} data_seen;

/* One member of an object: the value starts at s->p (after ':' and white space). */
typedef int (*member_fn)(scanner *s, const char *k, size_t klen, void *ud);

/* Walks the object at s->p ('{') member by member; unterminated names it in the
 * error when the input ends inside it. */
static int scan_object(scanner *s, const char *unterminated, member_fn member, void *ud)
{
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        size_t klen;
        int rc = scan_key(s, &k, &klen);
        if (rc != 0)
            return rc;
        skip_ws(s);
        rc = member(s, k, klen, ud);
        if (rc != 0)
            return rc;
        skip_ws(s);
        if (s->p >= s->end)
            return scan_fail(s, unterminated);
        if (*s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        return scan_fail(s, "expected ',' or '}'");
    }
}

typedef struct {
    pulse_delivery *out;
    data_seen *seen;
} data_ctx;

/* One member of the event object inside "data". */
static int data_member(scanner *s, const char *k, size_t klen, void *ud)
{
    data_ctx *x = ud;
    pulse_delivery *out = x->out;
    data_seen *seen = x->seen;
    uint64_t v;
    int rc;
    if (key_is(k, klen, "event_id", 8)) {
        if (s->p >= s->end || *s->p != '"')
            return pulse_error_set(s->err, PULSE_EINVAL, 0, "data.event_id: must be a string");
        rc = scan_string(s, &out->event_id, &out->event_id_len);
        seen->has_id = true;
    } else if (key_is(k, klen, "event_type", 10)) {
        if (s->p >= s->end || *s->p != '"')
            return pulse_error_set(s->err, PULSE_EINVAL, 0, "data.event_type: must be a string");
        rc = scan_string(s, &out->event_type, &out->event_type_len);
        seen->has_type = true;
    } else if (key_is(k, klen, "sequence", 8)) {
        rc = scan_uint_field(s, "data.sequence", 0, UINT64_MAX, &out->sequence);
        seen->has_seq = true;
    } else if (key_is(k, klen, "published_at_us", 15)) {
        rc = scan_uint_field(s, "data.published_at_us", 1, INT64_MAX, &v);
        out->published_at_us = (int64_t)v;
        seen->has_us = true;
    } else if (key_is(k, klen, "published_at_ms", 15)) {
        rc = scan_uint_field(s, "data.published_at_ms", 1, INT64_MAX / 1000, &seen->ms);
        seen->has_ms = true;
    } else if (key_is(k, klen, "priority", 8) && s->p < s->end && *s->p == '"') {
        const char *pv;
        size_t plen;
        rc = scan_string(s, &pv, &plen);
        if (rc == 0)
            out->priority = pulse_priority_parse(pv, plen);
    } else {
        rc = skip_value(s, 2);
    }
    return rc;
}

typedef struct {
    pulse_delivery d;
    data_seen seen;
    bool has_channel, has_data, has_op, bad_channel;
} envelope_ctx;

/* One member of the envelope {"channel":...,"data":{...},"offset":N,"epoch":"..."}. */
static int envelope_member(scanner *s, const char *k, size_t klen, void *ud)
{
    envelope_ctx *x = ud;
    if (key_is(k, klen, "channel", 7) && s->p < s->end && *s->p == '"') {
        x->has_channel = true;
        return scan_string(s, &x->d.channel, &x->d.channel_len);
    }
    if (key_is(k, klen, "data", 4) && s->p < s->end && *s->p == '{') {
        data_ctx dx = {&x->d, &x->seen};
        x->has_data = true;
        return scan_object(s, "unterminated data object", data_member, &dx);
    }
    if (key_is(k, klen, "offset", 6) && s->p < s->end && *s->p != '"')
        return scan_uint_field(s, "offset", 0, INT64_MAX, &x->d.offset);
    if (key_is(k, klen, "epoch", 5) && s->p < s->end && *s->p == '"')
        return scan_string(s, &x->d.epoch, &x->d.epoch_len);
    if (key_is(k, klen, "op", 2))
        x->has_op = true;
    else if (key_is(k, klen, "channel", 7))
        x->bad_channel = true;
    else if (key_is(k, klen, "data", 4))
        return pulse_error_set(s->err, PULSE_EINVAL, 0, "data: must be an object");
    return skip_value(s, 1);
}

/* What a delivery must have, once the envelope is read. */
static int delivery_complete(envelope_ctx *x, pulse_error *err)
{
    if (x->has_op && !x->has_data)
        return pulse_error_set(err, PULSE_ENOENT, 0, "envelope: control frame");
    if (!x->has_data)
        return pulse_error_set(err, PULSE_EINVAL, 0, "data: missing");
    if (x->bad_channel)
        return pulse_error_set(err, PULSE_EINVAL, 0, "channel: must be a string");
    if (!x->has_channel)
        return pulse_error_set(err, PULSE_EINVAL, 0, "channel: missing");
    if (!x->seen.has_id)
        return pulse_error_set(err, PULSE_EINVAL, 0, "data.event_id: missing");
    if (!x->seen.has_seq)
        return pulse_error_set(err, PULSE_EINVAL, 0, "data.sequence: missing");
    if (!x->seen.has_us) {
        if (!x->seen.has_ms)
            return pulse_error_set(err, PULSE_EINVAL, 0, "data.published_at_us: missing");
        x->d.published_at_us = (int64_t)x->seen.ms * 1000;
    }
    return 0;
}

int pulse_delivery_scan(const char *json, size_t len, pulse_delivery *out, pulse_error *err)
{
    scanner s = {json, json, json + len, err};
    envelope_ctx x;
    int rc;

    if (json == NULL || out == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "envelope: no input");
    memset(&x, 0, sizeof x);
    x.d.event_type = "";
    x.d.epoch = "";
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return scan_fail(&s, "expected '{'");
    rc = scan_object(&s, "unterminated envelope", envelope_member, &x);
    if (rc != 0)
        return rc;
    skip_ws(&s);
    if (s.p != s.end)
        return scan_fail(&s, "trailing characters after envelope");
    rc = delivery_complete(&x, err);
    if (rc != 0)
        return rc;
    *out = x.d;
    return 0;
}
