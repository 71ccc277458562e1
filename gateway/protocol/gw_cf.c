/*
 * gw_cf.c - the Centrifugo-compatible client protocol codec (JSON, protocol v2); see
 * gw_cf.h and docs/CENTRIFUGO.md. Commands are parsed with jansson one line at a
 * time; replies and pushes are written by hand into a gw_frame_buf, with every string
 * escaped by gw_frame_str, in one fixed key order (the tests compare bytes).
 *
 * Nothing here trusts the client: error texts never quote its input, every copy is
 * bounded, and a bad command fails alone (->error) unless it cannot be answered.
 */
#include "gw_cf.h"
#include "pulse_alloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- codes ---- */

typedef struct {
    int code;
    const char *text;
} code_text;

static const code_text err_texts[] = {
    {GW_CF_ERR_INTERNAL, "internal server error"},
    {GW_CF_ERR_UNAUTHORIZED, "unauthorized"},
    {GW_CF_ERR_UNKNOWN_CHANNEL, "unknown channel"},
    {GW_CF_ERR_PERMISSION_DENIED, "permission denied"},
    {GW_CF_ERR_METHOD_NOT_FOUND, "method not found"},
    {GW_CF_ERR_ALREADY_SUBSCRIBED, "already subscribed"},
    {GW_CF_ERR_LIMIT_EXCEEDED, "limit exceeded"},
    {GW_CF_ERR_BAD_REQUEST, "bad request"},
    {GW_CF_ERR_NOT_AVAILABLE, "not available"},
    {GW_CF_ERR_TOKEN_EXPIRED, "token expired"},
    {GW_CF_ERR_EXPIRED, "expired"},
    {GW_CF_ERR_TOO_MANY_REQUESTS, "too many requests"},
    {GW_CF_ERR_UNRECOVERABLE_POSITION, "unrecoverable position"},
};

static const code_text disc_texts[] = {
    {GW_CF_DISC_CONNECTION_CLOSED, "connection closed"},
    {GW_CF_DISC_SHUTDOWN, "shutdown"},
    {GW_CF_DISC_SERVER_ERROR, "internal server error"},
    {GW_CF_DISC_EXPIRED, "connection expired"},
    {GW_CF_DISC_SUB_EXPIRED, "subscription expired"},
    {GW_CF_DISC_SLOW, "slow"},
    {GW_CF_DISC_WRITE_ERROR, "write error"},
    {GW_CF_DISC_INSUFFICIENT_STATE, "insufficient state"},
    {GW_CF_DISC_FORCE_RECONNECT, "force reconnect"},
    {GW_CF_DISC_NO_PONG, "no pong"},
    {GW_CF_DISC_TOO_MANY_REQUESTS, "too many requests"},
    {GW_CF_DISC_INVALID_TOKEN, "invalid token"},
    {GW_CF_DISC_BAD_REQUEST, "bad request"},
    {GW_CF_DISC_STALE, "stale"},
    {GW_CF_DISC_FORCE_NO_RECONNECT, "force disconnect"},
    {GW_CF_DISC_CONNECTION_LIMIT, "connection limit"},
    {GW_CF_DISC_CHANNEL_LIMIT, "channel limit"},
    {GW_CF_DISC_INAPPROPRIATE_PROTOCOL, "inappropriate protocol"},
    {GW_CF_DISC_PERMISSION_DENIED, "permission denied"},
    {GW_CF_DISC_NOT_AVAILABLE, "not available"},
    {GW_CF_DISC_TOO_MANY_ERRORS, "too many errors"},
};

static const char *lookup(const code_text *t, size_t n, int code, const char *dflt)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].code == code)
            return t[i].text;
    return dflt;
}

const char *gw_cf_error_message(int code)
{
    return lookup(err_texts, sizeof err_texts / sizeof err_texts[0], code, "error");
}

bool gw_cf_error_temporary(int code)
{
    return code == GW_CF_ERR_INTERNAL || code == GW_CF_ERR_TOO_MANY_REQUESTS;
}

const char *gw_cf_disconnect_reason(int code)
{
    return lookup(disc_texts, sizeof disc_texts / sizeof disc_texts[0], code, "disconnect");
}

bool gw_cf_disconnect_reconnects(int code)
{
    return !((code >= 3500 && code < 4000) || (code >= 4500 && code < 5000));
}

/* ---- parsing ---- */

static const struct {
    const char *key;
    gw_cf_method method;
} methods[] = {
    {"connect", GW_CF_CONNECT},         {"subscribe", GW_CF_SUBSCRIBE},
    {"unsubscribe", GW_CF_UNSUBSCRIBE}, {"publish", GW_CF_PUBLISH},
    {"presence", GW_CF_PRESENCE},       {"presence_stats", GW_CF_PRESENCE_STATS},
    {"history", GW_CF_HISTORY},         {"refresh", GW_CF_REFRESH},
    {"sub_refresh", GW_CF_SUB_REFRESH}, {"rpc", GW_CF_RPC},
    {"send", GW_CF_SEND},
};

static int fatal(gw_cf_error *err, int line, int code, const char *why)
{
    err->disconnect = code;
    err->line = line;
    snprintf(err->reason, sizeof err->reason, "command %d: %s", line, why);
    return -1;
}

/* A refusal of this one command (the connection goes on). */
static void refuse(gw_cf_command *c, int code, const char *why)
{
    c->error = code;
    snprintf(c->error_text, sizeof c->error_text, "%s", why);
}

/* Copies a string field (absent: ok, nothing copied). false when it is not a string
 * or longer than max. */
static bool get_str(json_t *req, const char *key, char *out, size_t max)
{
    json_t *v = json_object_get(req, key);
    if (!v)
        return true;
    if (!json_is_string(v) || json_string_length(v) > max || memchr(json_string_value(v), '\0', json_string_length(v)))
        return false;
    memcpy(out, json_string_value(v), json_string_length(v));
    out[json_string_length(v)] = '\0';
    return true;
}

static bool get_bool(json_t *req, const char *key, bool *out)
{
    json_t *v = json_object_get(req, key);
    if (!v)
        return true;
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

/* A non-negative integer field (protobuf uint64 in JSON: a number). */
static bool get_u64(json_t *req, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(req, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static void get_token(json_t *req, gw_cf_command *c)
{
    json_t *v = json_object_get(req, "token");
    if (!v || c->error)
        return;
    if (!json_is_string(v)) {
        refuse(c, GW_CF_ERR_BAD_REQUEST, "\"token\" must be a string");
        return;
    }
    if (json_string_length(v) > GW_CF_TOKEN_MAX) {
        refuse(c, GW_CF_ERR_BAD_REQUEST, "token too long");
        return;
    }
    if (json_string_length(v) == 0)
        return; /* the SDK leaves it out when empty; "" means none too */
    c->token_len = json_string_length(v);
    c->token = pulse_xstrndup(json_string_value(v), c->token_len);
}

/* "channel": required, a Pulse channel name (no pattern: Centrifugo has none). */
static void get_channel(json_t *req, gw_cf_command *c)
{
    json_t *v = json_object_get(req, "channel");
    if (c->error)
        return;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        refuse(c, GW_CF_ERR_BAD_REQUEST, "\"channel\" must be a non-empty string");
        return;
    }
    size_t n = json_string_length(v);
    if (n > PULSE_CHANNEL_MAX || pulse_channel_validate(json_string_value(v), n) != 0) {
        refuse(c, GW_CF_ERR_UNKNOWN_CHANNEL, "channel must be 1-128 bytes of [A-Za-z0-9._:@-]");
        return;
    }
    memcpy(c->channel, json_string_value(v), n);
    c->channel[n] = '\0';
}

/* offset and epoch of a subscribe request or a history "since" object */
static void get_position(json_t *obj, gw_cf_command *c)
{
    if (c->error)
        return;
    if (!get_u64(obj, "offset", &c->offset))
        refuse(c, GW_CF_ERR_BAD_REQUEST, "\"offset\" must be a non-negative integer");
    else if (!get_str(obj, "epoch", c->epoch, GW_CF_EPOCH_MAX))
        refuse(c, GW_CF_ERR_BAD_REQUEST, "\"epoch\" must be a string of at most 64 bytes");
}

static void parse_fields(gw_cf_command *c, json_t *req)
{
    switch (c->method) {
    case GW_CF_CONNECT:
        get_token(req, c);
        /* name/version are informative only: kept cut for logs, never refused */
        {
            json_t *v = json_object_get(req, "name");
            if (json_is_string(v))
                snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
            v = json_object_get(req, "version");
            if (json_is_string(v))
                snprintf(c->version, sizeof c->version, "%s", json_string_value(v));
            v = json_object_get(req, "subs");
            c->has_subs = json_is_object(v) && json_object_size(v) > 0;
        }
        break;
    case GW_CF_REFRESH:
        get_token(req, c);
        if (!c->error && !c->token)
            refuse(c, GW_CF_ERR_BAD_REQUEST, "refresh needs a \"token\"");
        break;
    case GW_CF_SUBSCRIBE: {
        uint64_t flag = 0;
        get_channel(req, c);
        get_token(req, c);
        if (c->error)
            break;
        if (!get_bool(req, "recover", &c->recover) || !get_bool(req, "positioned", &c->positioned) ||
            !get_bool(req, "recoverable", &c->recoverable) || !get_bool(req, "join_leave", &c->join_leave)) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "recover/positioned/recoverable/join_leave must be booleans");
            break;
        }
        if (!get_u64(req, "flag", &flag) || flag > UINT32_MAX) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "\"flag\" must be a non-negative integer");
            break;
        }
        c->flag = (uint32_t)flag;
        get_position(req, c);
        break;
    }
    case GW_CF_UNSUBSCRIBE:
    case GW_CF_PRESENCE:
    case GW_CF_PRESENCE_STATS:
        get_channel(req, c);
        break;
    case GW_CF_PUBLISH: {
        get_channel(req, c);
        if (c->error)
            break;
        json_t *data = json_object_get(req, "data");
        if (!data) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "publish needs \"data\"");
            break;
        }
        c->data = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!c->data)
            pulse_oom();
        c->data_len = strlen(c->data);
        break;
    }
    case GW_CF_HISTORY: {
        get_channel(req, c);
        if (c->error)
            break;
        json_t *lim = json_object_get(req, "limit");
        if (lim && !json_is_integer(lim)) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "\"limit\" must be an integer");
            break;
        }
        c->limit = lim ? json_integer_value(lim) : 0;
        if (c->limit < 0)
            c->limit = -1;
        if (!get_bool(req, "reverse", &c->reverse)) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "\"reverse\" must be a boolean");
            break;
        }
        json_t *since = json_object_get(req, "since");
        if (since && !json_is_object(since)) {
            refuse(c, GW_CF_ERR_BAD_REQUEST, "\"since\" must be an object");
            break;
        }
        if (since) {
            c->has_since = true;
            get_position(since, c);
        }
        break;
    }
    case GW_CF_SUB_REFRESH:
        get_channel(req, c);
        get_token(req, c);
        if (!c->error)
            refuse(c, GW_CF_ERR_NOT_AVAILABLE, "subscription tokens are not supported: the connection token grants channels");
        break;
    case GW_CF_RPC:
        refuse(c, GW_CF_ERR_NOT_AVAILABLE, "RPC is not supported by Pulse");
        break;
    default:
        break;
    }
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Parses one command line into c; 0, or -1 with err filled (fatal). */
static int parse_line(const char *s, size_t n, int line, gw_cf_command *c, gw_cf_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!root)
        return fatal(err, line, GW_CF_DISC_BAD_REQUEST, "malformed JSON");
    if (!json_is_object(root)) {
        fatal(err, line, GW_CF_DISC_BAD_REQUEST, "a command must be a JSON object");
        goto done;
    }
    json_t *id = json_object_get(root, "id");
    if (id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > UINT32_MAX) {
            fatal(err, line, GW_CF_DISC_BAD_REQUEST, "\"id\" must be an integer 1..4294967295");
            goto done;
        }
        c->id = (uint32_t)json_integer_value(id);
    }
    json_t *req = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        json_t *v = json_object_get(root, methods[i].key);
        if (!v)
            continue;
        if (req) {
            fatal(err, line, GW_CF_DISC_BAD_REQUEST, "more than one method in a command");
            goto done;
        }
        if (!json_is_object(v)) {
            fatal(err, line, GW_CF_DISC_BAD_REQUEST, "a method's request must be a JSON object");
            goto done;
        }
        req = v;
        c->method = methods[i].method;
    }
    if (!req) {
        if (c->id == 0) {
            c->method = GW_CF_PONG; /* {} (no id, no method): the answer to a ping */
            rc = 0;
            goto done;
        }
        c->method = GW_CF_UNKNOWN;
        refuse(c, GW_CF_ERR_METHOD_NOT_FOUND, "method not found");
        rc = 0;
        goto done;
    }
    if (c->method == GW_CF_SEND) {
        fatal(err, line, GW_CF_DISC_NOT_AVAILABLE, "asynchronous messages (send) are not supported");
        goto done;
    }
    if (c->id == 0) {
        fatal(err, line, GW_CF_DISC_BAD_REQUEST, "a command expecting a reply needs an \"id\"");
        goto done;
    }
    parse_fields(c, req);
    rc = 0;
done:
    json_decref(root);
    if (rc != 0)
        gw_cf_command_release(c);
    return rc;
}

int gw_cf_parse(const char *frame, size_t len, gw_cf_command *out, size_t cap, size_t *n, gw_cf_error *err)
{
    const char *p = frame, *end = frame + len;
    int line = 0;
    *n = 0;
    memset(err, 0, sizeof *err);
    if (cap > GW_CF_MAX_COMMANDS)
        cap = GW_CF_MAX_COMMANDS;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t ln = (size_t)(stop - p);
        line++;
        if (!blank(p, ln)) {
            if (*n >= cap)
                return fatal(err, line, GW_CF_DISC_BAD_REQUEST, "too many commands in one frame");
            gw_cf_command *c = &out[*n];
            memset(c, 0, sizeof *c);
            if (parse_line(p, ln, line, c, err) != 0)
                return -1;
            (*n)++;
        }
        p = nl ? nl + 1 : end;
    }
    if (*n == 0)
        return fatal(err, 1, GW_CF_DISC_BAD_REQUEST, "empty frame");
    return 0;
}

void gw_cf_command_release(gw_cf_command *cmd)
{
    free(cmd->token);
    cmd->token = NULL;
    cmd->token_len = 0;
    free(cmd->data);
    cmd->data = NULL;
    cmd->data_len = 0;
}

void gw_cf_commands_release(gw_cf_command *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gw_cf_command_release(&cmds[i]);
}

/* ---- writers ---- */

static void str(gw_frame_buf *f, const char *s)
{
    s = s ? s : "";
    gw_frame_str(f, s, strlen(s));
}

static void reply_head(gw_frame_buf *f, uint32_t id, const char *method)
{
    gw_frame_lit(f, "{\"id\":");
    gw_frame_u64(f, id);
    gw_frame_lit(f, ",\"");
    gw_frame_lit(f, method);
    gw_frame_lit(f, "\":{");
}

void gw_cf_sep(gw_frame_buf *f)
{
    gw_frame_raw(f, "\n", 1);
}

/* ,"expires":true,"ttl":T or nothing */
static void expiry(gw_frame_buf *f, uint32_t ttl_s)
{
    if (ttl_s == 0)
        return;
    gw_frame_lit(f, ",\"expires\":true,\"ttl\":");
    gw_frame_u64(f, ttl_s);
}

void gw_cf_reply_connect(gw_frame_buf *f, uint32_t id, const char *client, const char *version, uint32_t ttl_s,
                         uint32_t ping_s)
{
    reply_head(f, id, "connect");
    gw_frame_lit(f, "\"client\":");
    str(f, client);
    gw_frame_lit(f, ",\"version\":");
    str(f, version);
    expiry(f, ttl_s);
    if (ping_s > 0) {
        gw_frame_lit(f, ",\"ping\":");
        gw_frame_u64(f, ping_s);
        gw_frame_lit(f, ",\"pong\":true");
    }
    gw_frame_lit(f, "}}");
}

void gw_cf_reply_refresh(gw_frame_buf *f, uint32_t id, const char *client, const char *version, uint32_t ttl_s)
{
    reply_head(f, id, "refresh");
    gw_frame_lit(f, "\"client\":");
    str(f, client);
    gw_frame_lit(f, ",\"version\":");
    str(f, version);
    expiry(f, ttl_s);
    gw_frame_lit(f, "}}");
}

static void pub_obj(gw_frame_buf *f, const gw_cf_pub *p)
{
    gw_frame_lit(f, "{\"data\":");
    gw_frame_raw(f, p->data, p->data_len);
    if (p->offset > 0) {
        gw_frame_lit(f, ",\"offset\":");
        gw_frame_u64(f, p->offset);
    }
    gw_frame_lit(f, "}");
}

static void pub_array(gw_frame_buf *f, const gw_cf_pub *pubs, size_t n)
{
    gw_frame_lit(f, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            gw_frame_lit(f, ",");
        pub_obj(f, &pubs[i]);
    }
    gw_frame_lit(f, "]");
}

/* Writes ,"key":true (or without the comma for the first key). */
static void flag(gw_frame_buf *f, bool *first, const char *key)
{
    if (!*first)
        gw_frame_lit(f, ",");
    *first = false;
    gw_frame_lit(f, "\"");
    gw_frame_lit(f, key);
    gw_frame_lit(f, "\":true");
}

void gw_cf_reply_subscribe(gw_frame_buf *f, uint32_t id, const gw_cf_sub_result *r)
{
    bool first = true;
    reply_head(f, id, "subscribe");
    if (r->recoverable) {
        flag(f, &first, "recoverable");
        gw_frame_lit(f, ",\"epoch\":");
        str(f, r->epoch);
        gw_frame_lit(f, ",\"offset\":");
        gw_frame_u64(f, r->offset);
    }
    if (r->n_pubs > 0) {
        gw_frame_lit(f, first ? "\"publications\":" : ",\"publications\":");
        first = false;
        pub_array(f, r->pubs, r->n_pubs);
    }
    if (r->recovered)
        flag(f, &first, "recovered");
    if (r->positioned)
        flag(f, &first, "positioned");
    if (r->was_recovering)
        flag(f, &first, "was_recovering");
    gw_frame_lit(f, "}}");
}

void gw_cf_reply_empty(gw_frame_buf *f, uint32_t id, gw_cf_method method)
{
    const char *key = "publish";
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].method == method)
            key = methods[i].key;
    reply_head(f, id, key);
    gw_frame_lit(f, "}}");
}

static void client_info(gw_frame_buf *f, const gw_cf_client_info *ci)
{
    gw_frame_lit(f, "{\"client\":");
    str(f, ci->client);
    gw_frame_lit(f, ",\"user\":");
    str(f, ci->user);
    if (ci->conn_info && ci->conn_info_len > 0) {
        gw_frame_lit(f, ",\"conn_info\":");
        gw_frame_raw(f, ci->conn_info, ci->conn_info_len);
    }
    gw_frame_lit(f, "}");
}

void gw_cf_reply_presence(gw_frame_buf *f, uint32_t id, const gw_cf_client_info *clients, size_t n)
{
    reply_head(f, id, "presence");
    gw_frame_lit(f, "\"presence\":{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            gw_frame_lit(f, ",");
        str(f, clients[i].client);
        gw_frame_lit(f, ":");
        client_info(f, &clients[i]);
    }
    gw_frame_lit(f, "}}}");
}

void gw_cf_reply_presence_stats(gw_frame_buf *f, uint32_t id, uint64_t clients, uint64_t users)
{
    reply_head(f, id, "presence_stats");
    gw_frame_lit(f, "\"num_clients\":");
    gw_frame_u64(f, clients);
    gw_frame_lit(f, ",\"num_users\":");
    gw_frame_u64(f, users);
    gw_frame_lit(f, "}}");
}

void gw_cf_reply_history(gw_frame_buf *f, uint32_t id, const gw_cf_pub *pubs, size_t n, const char *epoch,
                         uint64_t top)
{
    reply_head(f, id, "history");
    gw_frame_lit(f, "\"publications\":");
    pub_array(f, pubs, n);
    gw_frame_lit(f, ",\"epoch\":");
    str(f, epoch);
    gw_frame_lit(f, ",\"offset\":");
    gw_frame_u64(f, top);
    gw_frame_lit(f, "}}");
}

void gw_cf_reply_error(gw_frame_buf *f, uint32_t id, int code, const char *message)
{
    reply_head(f, id, "error");
    gw_frame_lit(f, "\"code\":");
    gw_frame_u64(f, code > 0 ? (unsigned)code : 0);
    gw_frame_lit(f, ",\"message\":");
    str(f, message ? message : gw_cf_error_message(code));
    if (gw_cf_error_temporary(code))
        gw_frame_lit(f, ",\"temporary\":true");
    gw_frame_lit(f, "}}");
}

static void push_head(gw_frame_buf *f, const char *channel, size_t channel_len, const char *kind)
{
    gw_frame_lit(f, "{\"push\":{\"channel\":");
    gw_frame_str(f, channel, channel_len);
    gw_frame_lit(f, ",\"");
    gw_frame_lit(f, kind);
    gw_frame_lit(f, "\":");
}

size_t gw_cf_push_pub_cap(size_t channel_len, size_t data_len)
{
    /* {"push":{"channel":  ,"pub":{"data":  ,"offset":<20 digits>  }}}  = 67 fixed bytes,
     * the channel escaped (at most 6 bytes per byte, plus its quotes), the data, a NUL */
    return 80 + channel_len * 6 + 2 + data_len + 1;
}

void gw_cf_push_pub(gw_frame_buf *f, const char *channel, size_t channel_len, const gw_cf_pub *pub)
{
    push_head(f, channel, channel_len, "pub");
    pub_obj(f, pub);
    gw_frame_lit(f, "}}");
}

void gw_cf_push_join(gw_frame_buf *f, const char *channel, const gw_cf_client_info *info, bool leave)
{
    push_head(f, channel, strlen(channel), leave ? "leave" : "join");
    gw_frame_lit(f, "{\"info\":");
    client_info(f, info);
    gw_frame_lit(f, "}}}");
}

void gw_cf_push_unsubscribe(gw_frame_buf *f, const char *channel, int code, const char *reason)
{
    push_head(f, channel, strlen(channel), "unsubscribe");
    gw_frame_lit(f, "{\"code\":");
    gw_frame_u64(f, code > 0 ? (unsigned)code : 0);
    gw_frame_lit(f, ",\"reason\":");
    str(f, reason);
    gw_frame_lit(f, "}}}");
}

void gw_cf_push_disconnect(gw_frame_buf *f, int code, const char *reason)
{
    gw_frame_lit(f, "{\"push\":{\"disconnect\":{\"code\":");
    gw_frame_u64(f, code > 0 ? (unsigned)code : 0);
    gw_frame_lit(f, ",\"reason\":");
    str(f, reason ? reason : gw_cf_disconnect_reason(code));
    gw_frame_lit(f, gw_cf_disconnect_reconnects(code) ? ",\"reconnect\":true}}}" : ",\"reconnect\":false}}}");
}

void gw_cf_ping(gw_frame_buf *f)
{
    gw_frame_lit(f, "{}");
}

/* ---- Pulse's presence entries as client info ---- */

/* A Pulse presence entry or join/leave body ({"client":C,"user":U[,"info":I],...},
 * gw_frame_presence_entry) as client info; *info_out owns the compact info (free()). */
static int entry_info(const char *json, size_t len, json_t **root, gw_cf_client_info *ci, char **info_out)
{
    *info_out = NULL;
    *root = json_loadb(json, len, 0, NULL);
    json_t *client = json_object_get(*root, "client"), *user = json_object_get(*root, "user");
    if (!json_is_object(*root) || !json_is_string(client) || (user && !json_is_string(user))) {
        json_decref(*root);
        *root = NULL;
        return -1;
    }
    ci->client = json_string_value(client);
    ci->user = user ? json_string_value(user) : "";
    ci->conn_info = NULL;
    ci->conn_info_len = 0;
    json_t *info = json_object_get(*root, "info");
    if (info && !json_is_null(info)) {
        *info_out = json_dumps(info, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        ci->conn_info = *info_out;
        ci->conn_info_len = *info_out ? strlen(*info_out) : 0;
    }
    return 0;
}

int gw_cf_push_join_entry(gw_frame_buf *f, const char *channel, const char *json, size_t len, bool leave)
{
    json_t *root;
    gw_cf_client_info ci;
    char *info;
    if (entry_info(json, len, &root, &ci, &info) != 0)
        return -1;
    json_t *op = json_object_get(root, "op");
    if (json_is_string(op))
        leave = strcmp(json_string_value(op), "leave") == 0;
    gw_cf_push_join(f, channel, &ci, leave);
    free(info);
    json_decref(root);
    return 0;
}

void gw_cf_reply_presence_entries(gw_frame_buf *f, uint32_t id, const char *const *entries, const size_t *lens,
                                  size_t n)
{
    gw_cf_client_info *ci = pulse_xcalloc(n + 1, sizeof(*ci));
    json_t **roots = pulse_xcalloc(n + 1, sizeof(*roots));
    char **infos = pulse_xcalloc(n + 1, sizeof(*infos));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (entry_info(entries[i], lens[i], &roots[k], &ci[k], &infos[k]) == 0)
            k++;
    gw_cf_reply_presence(f, id, ci, k);
    for (size_t i = 0; i < k; i++) {
        free(infos[i]);
        json_decref(roots[i]);
    }
    free(infos);
    free(roots);
    free(ci);
}
