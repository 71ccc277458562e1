/*
 * pulse_record.c - the CSV line formats written by pulse-subscribe (delivery log) and
 * pulse-publish (manifest) and read back by pulse-report. Fields never contain commas
 * or quotes, so there is no CSV quoting: the writer refuses fields that would need it,
 * and the reader splits on ',' and checks every field's count, size and syntax,
 * naming the offending field in its error text.
 */
#include "pulse_record.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether the n bytes at s may be a field of our CSV: no comma, quote or control
 * character. */
static bool bytes_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ',' || c == '"' || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* A field is safe in our CSV when it has no comma, quote or control character. */
static bool field_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        return false; /* not NUL-terminated within its array */
    return bytes_ok(s, n);
}

static int finish_format(int n, size_t cap)
{
    if (n < 0)
        return PULSE_EINVAL;
    if ((size_t)n >= cap)
        return PULSE_ENOSPC;
    return n;
}

/* A line built by hand: pulse-subscribe writes one per delivery, millions a second
 * under the sweep, where snprintf's format interpretation was a tenth of its CPU. */
typedef struct {
    char *p, *end; /* end: one before the buffer's end, kept for the NUL */
    bool full;
} line_out;

static void put_mem(line_out *o, const char *s, size_t n)
{
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

/* "00" "01" ... "99": two digits per division. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static void put_u64(line_out *o, uint64_t v, char after)
{
    char tmp[22];
    size_t i = sizeof tmp;

    tmp[--i] = after;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100);
        v /= 100;
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * d, 2);
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    put_mem(o, tmp + i, sizeof tmp - i);
}

static void put_i64(line_out *o, int64_t v, char after)
{
    if (v < 0) {
        put_mem(o, "-", 1);
        put_u64(o, (uint64_t)0 - (uint64_t)v, after);
    } else {
        put_u64(o, (uint64_t)v, after);
    }
}

int pulse_delivery_part_make(pulse_delivery_part *p, const char *channel, size_t channel_len,
                             const char *event_id, size_t event_id_len, uint64_t sequence,
                             const char *event_type, size_t event_type_len,
                             int64_t published_at_us, uint64_t offset)
{
    line_out o;

    if (p == NULL || channel == NULL || event_id == NULL || (event_type == NULL && event_type_len > 0))
        return PULSE_EINVAL;
    if (channel_len == 0 || channel_len > PULSE_CHANNEL_MAX || !bytes_ok(channel, channel_len) ||
        event_id_len == 0 || event_id_len > 36 || !bytes_ok(event_id, event_id_len) ||
        event_type_len > 64 || !bytes_ok(event_type, event_type_len))
        return PULSE_EINVAL; /* (bytes_ok refuses NUL with the other control characters) */
    o.p = p->text;
    o.end = p->text + sizeof p->text;
    o.full = false;
    put_mem(&o, channel, channel_len);
    put_mem(&o, ",", 1);
    put_mem(&o, event_id, event_id_len);
    put_mem(&o, ",", 1);
    put_u64(&o, sequence, ',');
    if (event_type_len > 0)
        put_mem(&o, event_type, event_type_len);
    put_mem(&o, ",", 1);
    put_i64(&o, published_at_us, ',');
    if (o.full)
        return PULSE_EINVAL; /* cannot happen within the limits above */
    p->len = (size_t)(o.p - p->text);
    o.p = p->offset_text;
    o.end = p->offset_text + sizeof p->offset_text;
    put_u64(&o, offset, ',');
    p->offset_len = (size_t)(o.p - p->offset_text);
    return 0;
}

/* A NUL-terminated piece into buf[0..cap): o is ready for the puts, or PULSE_ENOSPC. */
static int piece_begin(line_out *o, char *buf, size_t cap)
{
    if (cap == 0)
        return PULSE_ENOSPC;
    o->p = buf;
    o->end = buf + cap - 1;
    o->full = false;
    return 0;
}

static int piece_end(line_out *o, char *buf)
{
    if (o->full)
        return PULSE_ENOSPC;
    *o->p = '\0';
    return (int)(o->p - buf);
}

int pulse_delivery_prefix(char *buf, size_t cap, uint32_t client, const char *node)
{
    line_out o;

    if (buf == NULL || node == NULL || !field_ok(node, 64))
        return PULSE_EINVAL;
    if (piece_begin(&o, buf, cap) != 0)
        return PULSE_ENOSPC;
    put_u64(&o, client, ',');
    put_mem(&o, node, strlen(node));
    put_mem(&o, ",", 1);
    return piece_end(&o, buf);
}

int pulse_delivery_stamp(char *buf, size_t cap, int64_t received_at_us)
{
    line_out o;

    if (buf == NULL)
        return PULSE_EINVAL;
    if (piece_begin(&o, buf, cap) != 0)
        return PULSE_ENOSPC;
    put_i64(&o, received_at_us, ',');
    return piece_end(&o, buf);
}

int pulse_delivery_join(const char *prefix, size_t prefix_len, const pulse_delivery_part *p,
                        const char *stamp, size_t stamp_len, int recovered, char *buf, size_t cap)
{
    size_t n;
    char *q;

    if (prefix == NULL || p == NULL || stamp == NULL || buf == NULL || (recovered != 0 && recovered != 1))
        return PULSE_EINVAL;
    n = prefix_len + p->len + stamp_len + p->offset_len + 2;
    if (n >= cap)
        return PULSE_ENOSPC;
    q = buf;
    memcpy(q, prefix, prefix_len);
    q += prefix_len;
    memcpy(q, p->text, p->len);
    q += p->len;
    memcpy(q, stamp, stamp_len);
    q += stamp_len;
    memcpy(q, p->offset_text, p->offset_len);
    q += p->offset_len;
    q[0] = recovered ? '1' : '0';
    q[1] = '\n';
    q[2] = '\0';
    return (int)n;
}

int pulse_delivery_line(const pulse_delivery_part *p, uint32_t client, const char *node,
                        int64_t received_at_us, int recovered, char *buf, size_t cap)
{
    char prefix[96], stamp[24];
    int pl, sl;

    if (p == NULL || buf == NULL)
        return PULSE_EINVAL;
    pl = pulse_delivery_prefix(prefix, sizeof prefix, client, node);
    if (pl < 0)
        return pl;
    sl = pulse_delivery_stamp(stamp, sizeof stamp, received_at_us);
    if (sl < 0)
        return sl;
    return pulse_delivery_join(prefix, (size_t)pl, p, stamp, (size_t)sl, recovered, buf, cap);
}

int pulse_delivery_rec_format(const pulse_delivery_rec *r, char *buf, size_t cap)
{
    pulse_delivery_part part;
    size_t cl, il, tl;
    int rc;

    if (r == NULL || buf == NULL)
        return PULSE_EINVAL;
    cl = strnlen(r->channel, sizeof r->channel);
    il = strnlen(r->event_id, sizeof r->event_id);
    tl = strnlen(r->event_type, sizeof r->event_type);
    if (cl == sizeof r->channel || il == sizeof r->event_id || tl == sizeof r->event_type)
        return PULSE_EINVAL; /* not NUL-terminated within its array */
    rc = pulse_delivery_part_make(&part, r->channel, cl, r->event_id, il, r->sequence,
                                  r->event_type, tl, r->published_at_us, r->offset);
    if (rc != 0)
        return rc;
    return pulse_delivery_line(&part, r->client, r->node, r->received_at_us, r->recovered, buf, cap);
}

int pulse_manifest_rec_format(const pulse_manifest_rec *r, char *buf, size_t cap)
{
    const char *prio;
    if (r == NULL || buf == NULL)
        return PULSE_EINVAL;
    if (!field_ok(r->event_id, sizeof r->event_id) || r->event_id[0] == '\0' ||
        !field_ok(r->channel, sizeof r->channel) || r->channel[0] == '\0')
        return PULSE_EINVAL;
    prio = pulse_priority_name(r->priority);
    if (prio == NULL) {
        if (r->priority != PULSE_PRIO_UNSET)
            return PULSE_EINVAL;
        prio = ""; /* unset: the channel decided; written as an empty field */
    }
    return finish_format(snprintf(buf, cap, "%s,%" PRIu64 ",%s,%s,%" PRId64 ",%" PRIu64 "\n",
                                  r->event_id, r->sequence, r->channel, prio,
                                  r->published_at_us, r->offset), cap);
}

typedef struct {
    const char *p;
    size_t len;
} field;

/* Splits line into `want` comma-separated fields, or `alt` (the older, shorter line
 * format); returns the count found, or a negative code. */
static int split(const char *line, size_t len, field *f, int want, int alt, const char *what,
                 pulse_error *err)
{
    int nf = 0;
    size_t start = 0;

    if (line == NULL)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: no input", what);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (nf < want) {
                f[nf].p = line + start;
                f[nf].len = i - start;
            }
            nf++;
            start = i + 1;
        } else if (line[i] == '\0' || line[i] == '\n') {
            return pulse_error_set(err, PULSE_EINVAL, 0, "%s: unexpected %s in line", what,
                                   line[i] == '\0' ? "NUL" : "newline");
        }
    }
    if (nf != want && nf != alt) {
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: expected %d (or %d) fields, got %d",
                               what, want, alt, nf);
    }
    return nf;
}

/* Copies a text field into dst (cap bytes incl. NUL); empty allowed when min_len is 0. */
static int get_text(const field *f, int idx, const char *name, size_t min_len, char *dst,
                    size_t cap, pulse_error *err)
{
    if (f->len < min_len)
        return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): empty", idx, name);
    if (f->len >= cap) {
        return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): too long (%zu bytes, max %zu)",
                               idx, name, f->len, cap - 1);
    }
    for (size_t i = 0; i < f->len; i++) {
        unsigned char c = (unsigned char)f->p[i];
        if (c == '"' || c < 0x20 || c == 0x7f)
            return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): bad character", idx, name);
    }
    memcpy(dst, f->p, f->len);
    dst[f->len] = '\0';
    return 0;
}

/* Parses an unsigned decimal field with at most `max` as value. */
static int get_uint(const field *f, int idx, const char *name, uint64_t max, uint64_t *out,
                    pulse_error *err)
{
    uint64_t v = 0;
    if (f->len == 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): empty", idx, name);
    for (size_t i = 0; i < f->len; i++) {
        unsigned d;
        if (f->p[i] < '0' || f->p[i] > '9')
            return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): not a number", idx, name);
        d = (unsigned)(f->p[i] - '0');
        if (d > max || v > (max - d) / 10)
            return pulse_error_set(err, PULSE_EINVAL, 0, "field %d (%s): out of range", idx, name);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int get_i64(const field *f, int idx, const char *name, int64_t *out, pulse_error *err)
{
    uint64_t v = 0;
    field g = *f;
    bool neg = g.len > 0 && g.p[0] == '-';
    int rc;
    if (neg) {
        g.p++;
        g.len--;
    }
    rc = get_uint(&g, idx, name, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v, err);
    if (rc != 0)
        return rc;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int pulse_delivery_rec_parse(const char *line, size_t len, pulse_delivery_rec *out, pulse_error *err)
{
    field f[10];
    pulse_delivery_rec r;
    uint64_t client, recovered = 0;
    int rc, nf;

    memset(&r, 0, sizeof r);
    nf = split(line, len, f, 10, 8, "delivery record", err);
    if (nf < 0)
        return nf;
    rc = get_uint(&f[0], 1, "client", UINT32_MAX, &client, err);
    if (rc == 0)
        rc = get_uint(&f[0], 1, "client", UINT32_MAX, &client, err);
    if (rc == 0)
        rc = get_text(&f[1], 2, "node", 0, r.node, sizeof r.node, err);
    if (rc == 0)
        rc = get_text(&f[2], 3, "channel", 1, r.channel, sizeof r.channel, err);
    if (rc == 0)
        rc = get_text(&f[3], 4, "event_id", 1, r.event_id, sizeof r.event_id, err);
    if (rc == 0)
        rc = get_uint(&f[4], 5, "sequence", UINT64_MAX, &r.sequence, err);
    if (rc == 0)
        rc = get_text(&f[5], 6, "event_type", 0, r.event_type, sizeof r.event_type, err);
    if (rc == 0)
        rc = get_i64(&f[6], 7, "published_at_us", &r.published_at_us, err);
    if (rc == 0)
        rc = get_i64(&f[7], 8, "received_at_us", &r.received_at_us, err);
    if (rc == 0 && nf == 10)
        rc = get_uint(&f[8], 9, "offset", INT64_MAX, &r.offset, err);
    if (rc == 0 && nf == 10)
        rc = get_uint(&f[9], 10, "recovered", 1, &recovered, err);
    if (rc != 0)
        return rc;
    r.client = (uint32_t)client;
    r.recovered = (int)recovered;
    if (out != NULL)
        *out = r;
    return 0;
}

int pulse_manifest_rec_parse(const char *line, size_t len, pulse_manifest_rec *out, pulse_error *err)
{
    field f[6];
    pulse_manifest_rec r;
    int rc, nf;

    memset(&r, 0, sizeof r);
    nf = split(line, len, f, 6, 5, "manifest record", err);
    if (nf < 0)
        return nf;
    rc = get_text(&f[0], 1, "event_id", 1, r.event_id, sizeof r.event_id, err);
    if (rc == 0)
        rc = get_uint(&f[1], 2, "sequence", UINT64_MAX, &r.sequence, err);
    if (rc == 0)
        rc = get_text(&f[2], 3, "channel", 1, r.channel, sizeof r.channel, err);
    if (rc == 0 && f[3].len > 0) {
        r.priority = pulse_priority_parse(f[3].p, f[3].len);
        if (r.priority == PULSE_PRIO_UNSET) {
            rc = pulse_error_set(err, PULSE_EINVAL, 0,
                                 "field 4 (priority): must be critical, normal or empty");
        }
    }
    if (rc == 0)
        rc = get_i64(&f[4], 5, "published_at_us", &r.published_at_us, err);
    if (rc == 0 && nf == 6)
        rc = get_uint(&f[5], 6, "offset", INT64_MAX, &r.offset, err);
    if (rc != 0)
        return rc;
    if (out != NULL)
        *out = r;
    return 0;
}
