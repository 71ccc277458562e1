/*
 * fuzz_proto.c - libFuzzer target for the client-command parser: gw_proto_parse on the
 * input as one text frame, gw_proto_parse_channel_list on it as a ?channels= value and
 * gw_proto_parse_since_list as a ?since= value.
 * Besides the sanitizers, it checks the parsers' promises: a parsed command has a known
 * op and a valid, NUL-terminated channel; an error has a code and a NUL-terminated
 * reason within its buffer; every channel handed to the callback validates.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_frame.h"
#include "gw_proto.h"
#include "pulse_channel.h"

static int on_channel(void *ud, const char *channel, bool is_pattern)
{
    size_t n = strlen(channel);
    bool pat = false;
    if (n == 0 || n > PULSE_CHANNEL_MAX || pulse_channel_validate_pattern(channel, n, &pat) != 0 || pat != is_pattern)
        abort();
    (*(int *)ud)++;
    return 0;
}

static int on_since(void *ud, const char *channel, const gw_hpos *since)
{
    size_t n = strlen(channel);
    if (n == 0 || n > PULSE_CHANNEL_MAX || pulse_channel_validate(channel, n) != 0 ||
        !gw_epoch_valid(since->epoch, strlen(since->epoch)) || since->offset > INT64_MAX)
        abort();
    (*(int *)ud)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    gw_command cmd;
    memset(&cmd, 0, sizeof cmd);
    const char *code = NULL;
    char reason[200];
    memset(reason, 'R', sizeof reason);
    if (gw_proto_parse(text, size, &cmd, &code, reason, sizeof reason) == 0) {
        switch (cmd.op) {
        case GW_OP_SUBSCRIBE:
        case GW_OP_UNSUBSCRIBE:
        case GW_OP_HISTORY: {
            size_t n = strnlen(cmd.channel, sizeof cmd.channel);
            bool pat = false;
            if (n == 0 || n > PULSE_CHANNEL_MAX || pulse_channel_validate_pattern(cmd.channel, n, &pat) != 0 ||
                pat != cmd.is_pattern)
                abort();
            if (cmd.has_since && (cmd.is_pattern || !gw_epoch_valid(cmd.since.epoch, strlen(cmd.since.epoch))))
                abort();
            if (cmd.op == GW_OP_HISTORY && (cmd.is_pattern || cmd.limit > GW_HISTORY_LIMIT_MAX))
                abort();
            break;
        }
        case GW_OP_PING:
        case GW_OP_AUTH:
        case GW_OP_REFRESH:
        case GW_OP_PUBLISH:
            break;
        default:
            abort();
        }
        gw_command_release(&cmd);
    } else {
        if (code == NULL || memchr(reason, '\0', sizeof reason) == NULL)
            abort();
    }

    int count = 0;
    memset(reason, 'R', sizeof reason);
    int rc = gw_proto_parse_channel_list(text, size, on_channel, &count, reason, sizeof reason);
    if (rc != 0 && memchr(reason, '\0', sizeof reason) == NULL)
        abort();
    memset(reason, 'R', sizeof reason);
    rc = gw_proto_parse_since_list(text, size, on_since, &count, reason, sizeof reason);
    if (rc != 0 && memchr(reason, '\0', sizeof reason) == NULL)
        abort();

    /* the reply writers with whatever channel text we got, bounded */
    char name[PULSE_CHANNEL_MAX + 1];
    size_t n = size < PULSE_CHANNEL_MAX ? size : PULSE_CHANNEL_MAX;
    memcpy(name, data, n);
    name[n] = '\0';
    char out[1024];
    int w = gw_frame_reply(out, sizeof out, "subscribed", name);
    if (w >= (int)sizeof out)
        abort();
    w = gw_frame_error(out, sizeof out, "bad_request", name);
    if (w >= (int)sizeof out)
        abort();
    return 0;
}
