/*
 * fuzz_cf.c - libFuzzer target for the Centrifugo-protocol codec (gateway/protocol/
 * gw_cf.c): gw_cf_parse on the input as one WebSocket text frame (newline-separated
 * commands). Besides the sanitizers, it checks the parser's promises: at most
 * GW_CF_MAX_COMMANDS commands; each has a known method, an id unless it is a pong,
 * a valid NUL-terminated channel where one is needed (unless refused), owned strings
 * of the stated length, a NUL-terminated refusal text; a fatal error has a disconnect
 * code and a reason. Then it writes the replies the endpoint would send for them
 * (subscribe with the parsed position, publish echo as a publication push, error
 * replies) and checks that each is the one JSON line the SDK splits on: no raw
 * newline inside, balanced outside strings. The same input is also read as a
 * presence entry from Redis (gw_cf_push_join_entry, gw_cf_reply_presence_entries):
 * refused with nothing written, or one valid line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cf.h"
#include "pulse_channel.h"

static void check_line(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n' || (unsigned char)c < 0x20)
            abort();
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    if (depth != 0 || in_str)
        abort();
}

static bool needs_channel(gw_cf_method m)
{
    return m == GW_CF_SUBSCRIBE || m == GW_CF_UNSUBSCRIBE || m == GW_CF_PUBLISH || m == GW_CF_PRESENCE ||
           m == GW_CF_PRESENCE_STATS || m == GW_CF_HISTORY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_cf_command cmds[GW_CF_MAX_COMMANDS + 4];
    size_t n = 999;
    gw_cf_error err;
    int rc = gw_cf_parse((const char *)data, size, cmds, sizeof cmds / sizeof cmds[0], &n, &err);
    if (n > GW_CF_MAX_COMMANDS)
        abort();
    if (rc != 0 && (err.disconnect < 3500 || err.reason[0] == '\0' || !memchr(err.reason, '\0', sizeof err.reason)))
        abort();
    static char out[1 << 17];
    for (size_t i = 0; i < n; i++) {
        gw_cf_command *c = &cmds[i];
        if (c->method < GW_CF_PONG || c->method > GW_CF_UNKNOWN || c->method == GW_CF_SEND)
            abort();
        if ((c->id == 0) != (c->method == GW_CF_PONG))
            abort();
        if (!memchr(c->error_text, '\0', sizeof c->error_text) || !memchr(c->epoch, '\0', sizeof c->epoch) ||
            !memchr(c->name, '\0', sizeof c->name) || !memchr(c->version, '\0', sizeof c->version))
            abort();
        if ((c->token && strlen(c->token) != c->token_len) || c->token_len > GW_CF_TOKEN_MAX)
            abort();
        if (c->data && strlen(c->data) != c->data_len)
            abort();
        if (c->error == 0 && needs_channel(c->method)) {
            size_t cl = strnlen(c->channel, sizeof c->channel);
            if (cl == 0 || cl > PULSE_CHANNEL_MAX || pulse_channel_validate(c->channel, cl) != 0)
                abort();
        }
        if (c->limit < -1)
            abort();

        gw_frame_buf f;
        gw_frame_begin(&f, out, sizeof out);
        if (c->error) {
            gw_cf_reply_error(&f, c->id, c->error, c->error_text);
        } else if (c->method == GW_CF_SUBSCRIBE) {
            gw_cf_sub_result r = {.recoverable = true, .epoch = c->epoch, .offset = c->offset,
                                  .was_recovering = c->recover, .positioned = c->positioned};
            gw_cf_reply_subscribe(&f, c->id, &r);
        } else if (c->method == GW_CF_PUBLISH) {
            gw_cf_pub p = {c->data, c->data_len, c->offset + 1};
            gw_cf_push_pub(&f, c->channel, strlen(c->channel), &p);
        } else if (c->method == GW_CF_CONNECT) {
            gw_cf_reply_connect(&f, c->id, c->name, c->version, 60, GW_CF_PING_INTERVAL_S);
        } else {
            gw_cf_client_info who = {c->channel, c->name, NULL, 0};
            gw_cf_reply_presence(&f, c->id, &who, 1);
        }
        int len = gw_frame_end(&f);
        if (len < 0 || (size_t)len != strlen(out))
            abort();
        check_line(out, (size_t)len);
    }
    gw_cf_commands_release(cmds, n);

    /* The same bytes as a presence entry read back from Redis (join/leave body,
     * presence list): either refused with nothing written, or one valid JSON line. */
    gw_frame_buf f;
    gw_frame_begin(&f, out, sizeof out);
    if (gw_cf_push_join_entry(&f, "room.a", (const char *)data, size, false) == 0) {
        int len = gw_frame_end(&f);
        if (len < 0 || (size_t)len != strlen(out))
            abort();
        check_line(out, (size_t)len);
    } else if (f.len != 0) {
        abort();
    }
    const char *entries[2] = {(const char *)data, (const char *)data};
    size_t lens[2] = {size, size / 2};
    gw_frame_begin(&f, out, sizeof out);
    gw_cf_reply_presence_entries(&f, 7, entries, lens, 2);
    int len = gw_frame_end(&f);
    if (len >= 0)
        check_line(out, (size_t)len);
    return 0;
}
