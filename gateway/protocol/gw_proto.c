/*
 * gw_proto.c - the pulse.v1 client protocol: command frames in (parsed with jansson),
 * small control frames out (written by hand, JSON-escaped).
 *
 * Nothing here trusts the client: error reasons quote at most 32 bytes of what the
 * client sent, and only printable ASCII of it, so a reason is always short, one line
 * and valid UTF-8 (a WebSocket text frame must be). gw_proto_error escapes it again
 * for JSON.
 */
#include "gw_proto.h"
#include "pulse_alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 32 /* bytes of client input quoted in a reason */

static const char bad_request[] = "bad_request";
#define BAD_CHANNEL_TEXT "must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"
#define BAD_CHANNEL_NAME "bad channel name: " BAD_CHANNEL_TEXT

/* Copies at most QUOTE_MAX bytes of s[0..n), printable ASCII only ('?' otherwise),
 * plus "..." when cut. */
static const char *quote(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0, i;
    for (i = 0; i < n && i < QUOTE_MAX && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static int reject(const char **code, char *reason, size_t cap, const char *fmt, const char *arg)
{
    *code = bad_request;
    if (reason && cap > 0)
        snprintf(reason, cap, fmt, arg);
    return -1;
}

/* "since":{"offset":N,"epoch":"E"} into *pos; NULL, or why not. */
static const char *parse_since(json_t *since, gw_hpos *pos)
{
    static const char shape[] = "\"since\" must be {\"offset\":N,\"epoch\":\"...\"}";
    if (!json_is_object(since))
        return shape;
    json_t *off = json_object_get(since, "offset"), *ep = json_object_get(since, "epoch");
    if (!json_is_integer(off) || json_integer_value(off) < 0)
        return "\"since\".\"offset\" must be an integer >= 0";
    if (!json_is_string(ep) || gw_hpos_set_epoch(pos, json_string_value(ep), json_string_length(ep)) != 0)
        return "\"since\".\"epoch\" must be 1-32 of [A-Za-z0-9_-]";
    if (json_object_size(since) != 2)
        return shape;
    pos->offset = (uint64_t)json_integer_value(off);
    return NULL;
}

/* The history arguments of subscribe (since) and history (since, limit, reverse). */
static const char *parse_history_args(json_t *root, gw_command *out)
{
    json_t *since = json_object_get(root, "since");
    if (since) {
        if (out->is_pattern)
            return out->op == GW_OP_HISTORY ? "history needs a channel, not a pattern"
                                            : "\"since\" needs a channel, not a pattern";
        const char *why = parse_since(since, &out->since);
        if (why)
            return why;
        out->has_since = true;
    }
    if (out->op != GW_OP_HISTORY)
        return NULL;
    if (out->is_pattern)
        return "history needs a channel, not a pattern";
    json_t *limit = json_object_get(root, "limit"), *rev = json_object_get(root, "reverse");
    if (limit) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
            json_integer_value(limit) > GW_HISTORY_LIMIT_MAX)
            return "\"limit\" must be an integer from 1 to 1000000";
        out->limit = (uint32_t)json_integer_value(limit);
    }
    if (rev) {
        if (!json_is_boolean(rev))
            return "\"reverse\" must be true or false";
        out->reverse = json_is_true(rev);
    }
    return NULL;
}

/* The reject for a frame jansson could not parse. jansson's own text quotes the input
 * ("near '...'"): only its position and kind are passed on. */
static int reject_malformed(const json_error_t *jerr, size_t len, const char **code, char *reason, size_t cap)
{
    char where[80];
    const char *why = "";
    int col = jerr->column > 0 ? jerr->column : 1;
    if (len == 0)
        return reject(code, reason, cap, "%s", "malformed JSON: empty frame");
    switch (json_error_code(jerr)) {
    case json_error_premature_end_of_input: why = ": unexpected end of input"; break;
    case json_error_end_of_input_expected: why = ": trailing data"; break;
    case json_error_invalid_utf8: why = ": invalid UTF-8"; break;
    case json_error_null_character: why = ": NUL character"; break;
    case json_error_duplicate_key: why = ": duplicate key"; break;
    default: break;
    }
    if (jerr->line > 1)
        snprintf(where, sizeof where, "line %d column %d%s", jerr->line, col, why);
    else
        snprintf(where, sizeof where, "column %d%s", col, why);
    return reject(code, reason, cap, "malformed JSON at %s", where);
}

/* The ops that name a channel; 0 for any other name. */
static gw_op channel_op(const char *name)
{
    static const struct {
        const char *name;
        gw_op op;
    } ops[] = {
        {"subscribe", GW_OP_SUBSCRIBE}, {"unsubscribe", GW_OP_UNSUBSCRIBE},
        {"publish", GW_OP_PUBLISH},     {"history", GW_OP_HISTORY},
        {"presence", GW_OP_PRESENCE},   {"presence_stats", GW_OP_PRESENCE_STATS},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(name, ops[i].name) == 0)
            return ops[i].op;
    }
    return 0;
}

/* "channel" into out->channel and out->is_pattern; NULL, or why not. */
static const char *parse_channel(json_t *root, gw_command *out)
{
    json_t *ch = json_object_get(root, "channel");
    if (!ch)
        return "missing \"channel\"";
    if (!json_is_string(ch))
        return "\"channel\" must be a string";
    const char *name = json_string_value(ch);
    size_t n = json_string_length(ch);
    bool is_pattern = false;
    if (n > PULSE_CHANNEL_MAX || pulse_channel_validate_pattern(name, n, &is_pattern) != 0)
        return BAD_CHANNEL_NAME;
    memcpy(out->channel, name, n);
    out->channel[n] = '\0';
    out->is_pattern = is_pattern;
    return NULL;
}

/* What each channel op takes besides the channel; NULL, or why not. */
static const char *parse_op_args(json_t *root, gw_command *out)
{
    if (out->op == GW_OP_PUBLISH) {
        json_t *data = json_object_get(root, "data");
        if (out->is_pattern || !data)
            return out->is_pattern ? "publish needs a channel, not a pattern" : "missing \"data\"";
        out->arg = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!out->arg)
            pulse_oom();
        out->arg_len = strlen(out->arg);
    }
    if ((out->op == GW_OP_PRESENCE || out->op == GW_OP_PRESENCE_STATS) && out->is_pattern)
        return "presence needs a channel, not a pattern";
    if (out->op == GW_OP_SUBSCRIBE || out->op == GW_OP_HISTORY)
        return parse_history_args(root, out);
    return NULL;
}

/* A parsed JSON value as a command: 0, or -1 through reject. */
static int parse_command(json_t *root, gw_command *out, const char **code, char *reason, size_t cap)
{
    char q[QUOTE_MAX + 8];
    if (!json_is_object(root))
        return reject(code, reason, cap, "%s", "a command must be a JSON object");
    json_t *op = json_object_get(root, "op");
    if (!op)
        return reject(code, reason, cap, "%s", "missing \"op\"");
    if (!json_is_string(op))
        return reject(code, reason, cap, "%s", "\"op\" must be a string");
    const char *ops = json_string_value(op);
    size_t opn = json_string_length(op);
    if (strcmp(ops, "ping") == 0) {
        out->op = GW_OP_PING;
        return 0;
    }
    if (strcmp(ops, "auth") == 0 || strcmp(ops, "refresh") == 0) {
        json_t *tok = json_object_get(root, "token");
        if (!json_is_string(tok) || json_string_length(tok) == 0)
            return reject(code, reason, cap, "%s", "\"token\" must be a non-empty string");
        out->op = ops[0] == 'a' ? GW_OP_AUTH : GW_OP_REFRESH;
        out->arg_len = json_string_length(tok);
        out->arg = pulse_xstrndup(json_string_value(tok), out->arg_len);
        return 0;
    }
    out->op = channel_op(ops);
    if (!out->op)
        return reject(code, reason, cap, "unknown op '%s'", quote(ops, opn, q, sizeof q));
    const char *why = parse_channel(root, out);
    if (!why)
        why = parse_op_args(root, out);
    return why ? reject(code, reason, cap, "%s", why) : 0;
}

int gw_proto_parse(const char *frame, size_t len, gw_command *out, const char **code, char *reason,
                   size_t reason_cap)
{
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    /* Duplicate keys are refused: {"op":"ping","op":"subscribe"} has no one meaning. */
    json_t *root = json_loadb(frame, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return reject_malformed(&jerr, len, code, reason, reason_cap);
    int rc = parse_command(root, out, code, reason, reason_cap);
    json_decref(root);
    if (rc != 0) {
        gw_command_release(out);
        memset(out, 0, sizeof *out); /* a refused command holds nothing */
    }
    return rc;
}

void gw_command_release(gw_command *cmd)
{
    free(cmd->arg);
    cmd->arg = NULL;
    cmd->arg_len = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_sep(const char *p, const char *end, size_t *seplen)
{
    if (p < end && *p == ',') {
        *seplen = 1;
        return true;
    }
    if (end - p >= 3 && p[0] == '%' && p[1] == '2' && (p[2] == 'C' || p[2] == 'c')) {
        *seplen = 3;
        return true;
    }
    return false;
}

/* The next non-empty item of a ','- (or "%2C"-) separated list at *p: true with
 * *start, *n set and *p moved past it and its separator; false at the end. Empty items
 * ("a,,b", a trailing comma) are skipped. */
static bool next_item(const char **p, const char *end, const char **start, size_t *n)
{
    while (*p < end) {
        *start = *p;
        size_t seplen = 0;
        while (*p < end && !is_sep(*p, end, &seplen))
            (*p)++;
        *n = (size_t)(*p - *start);
        if (*p < end)
            *p += seplen;
        if (*n > 0)
            return true;
    }
    return false;
}

/* Percent-decodes item[0..n) into out (max + 1 bytes). Returns the decoded length,
 * or -1 for a bad escape or an item longer than max. A name never holds '%', so
 * decoding a value the caller already decoded changes nothing that was valid. */
static int decode_item(const char *item, size_t n, char *out, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = item[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(item[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(item[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o >= max)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

int gw_proto_parse_channel_list(const char *list, size_t len,
                                int (*cb)(void *ud, const char *channel, bool is_pattern), void *ud,
                                char *reason, size_t reason_cap)
{
    const char *p = list, *end = list + len, *start;
    size_t n;
    while (next_item(&p, end, &start, &n)) {
        char name[PULSE_CHANNEL_MAX + 1];
        bool is_pattern = false;
        int dn = decode_item(start, n, name, PULSE_CHANNEL_MAX);
        if (dn <= 0 || memchr(name, '\0', (size_t)dn) ||
            pulse_channel_validate_pattern(name, (size_t)dn, &is_pattern) != 0) {
            char q[QUOTE_MAX + 8];
            if (reason && reason_cap > 0)
                snprintf(reason, reason_cap, "bad channel name '%s': %s", quote(start, n, q, sizeof q),
                         BAD_CHANNEL_TEXT);
            return -1;
        }
        int rc = cb(ud, name, is_pattern);
        if (rc != 0) {
            /* The callback refused it (a limit, say): stop there, with a reason. */
            if (reason && reason_cap > 0)
                snprintf(reason, reason_cap, "channel '%s' not accepted", name);
            return rc;
        }
    }
    return 0;
}

/* "N:E" at the end of item[0..n): splits off the offset and the epoch; returns the
 * channel's length, or -1. */
static int split_since_item(const char *item, size_t n, gw_hpos *pos)
{
    const char *c2 = memrchr(item, ':', n);
    if (!c2 || c2 == item)
        return -1;
    const char *c1 = memrchr(item, ':', (size_t)(c2 - item));
    if (!c1 || c1 == item)
        return -1;
    const char *ds = c1 + 1;
    size_t dn = (size_t)(c2 - ds);
    if (dn == 0 || dn > 19 || (dn > 1 && ds[0] == '0'))
        return -1;
    uint64_t off = 0;
    for (size_t i = 0; i < dn; i++) {
        if (ds[i] < '0' || ds[i] > '9')
            return -1;
        off = off * 10 + (uint64_t)(ds[i] - '0');
    }
    if (off > INT64_MAX || gw_hpos_set_epoch(pos, c2 + 1, n - (size_t)(c2 + 1 - item)) != 0)
        return -1;
    pos->offset = off;
    return (int)(c1 - item);
}

int gw_proto_parse_since_list(const char *list, size_t len,
                              int (*cb)(void *ud, const char *channel, const gw_hpos *since), void *ud,
                              char *reason, size_t reason_cap)
{
    /* an item is a channel plus ":" + 19 digits + ":" + an epoch */
    enum { ITEM_MAX = PULSE_CHANNEL_MAX + 2 + 19 + GW_EPOCH_MAX };
    const char *p = list, *end = list + len, *start;
    size_t n;
    while (next_item(&p, end, &start, &n)) {
        char item[ITEM_MAX + 1];
        gw_hpos pos = {0, ""};
        int dn = decode_item(start, n, item, ITEM_MAX);
        int cn = dn > 0 && !memchr(item, '\0', (size_t)dn) ? split_since_item(item, (size_t)dn, &pos) : -1;
        if (cn > 0)
            item[cn] = '\0';
        if (cn <= 0 || pulse_channel_validate(item, (size_t)cn) != 0) {
            char q[QUOTE_MAX + 8];
            if (reason && reason_cap > 0)
                snprintf(reason, reason_cap, "bad since item '%s': must be channel:offset:epoch",
                         quote(start, n, q, sizeof q));
            return -1;
        }
        int rc = cb(ud, item, &pos);
        if (rc != 0) {
            if (reason && reason_cap > 0)
                snprintf(reason, reason_cap, "since for '%s' not accepted", item);
            return rc;
        }
    }
    return 0;
}

