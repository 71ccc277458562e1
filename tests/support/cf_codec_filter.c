/*
 * cf_codec_filter.c - a stdin/stdout stand-in for the Centrifugo endpoint, made of the
 * codec alone (gateway/protocol/gw_cf.c), so the unmodified SDK can be run against the
 * codec's own bytes before the endpoint is wired (tests/sdk/cf_codec_check.js drives
 * it; tests/integration/test_cf_codec_sdk.c runs that). Not a server and not Pulse:
 * no Redis, no auth; the answers are scripted.
 *
 * Each stdin line is one WebSocket text frame from the client, as a JSON string; each
 * stdout line is one frame to send back, as a JSON string. Per frame: every command is
 * parsed with gw_cf_parse and answered in one frame (replies separated by gw_cf_sep):
 * connect (ttl 60, ping 25), subscribe (channel "hist" recovers: the two publications
 * after the client's offset, recovered:true; others: position offset 7), publish (then
 * a publication push of the same data at offset 9 and a join push, in a second frame),
 * presence, presence_stats, history (offsets 8 and 9), refused commands with their
 * error; a fatal frame gives a disconnect push. Single-threaded; exits at end of input.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cf.h"

static char out[1 << 16];

/* Writes the frame in f (if any) as one JSON string line. */
static void emit(gw_frame_buf *f)
{
    int n = gw_frame_end(f);
    if (n <= 0)
        return;
    json_t *s = json_stringn(f->buf, (size_t)n);
    char *line = json_dumps(s, JSON_ENCODE_ANY);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    json_decref(s);
}

static void answer(const gw_cf_command *c, gw_frame_buf *f, gw_frame_buf *later, char *later_buf, size_t later_cap)
{
    static const char epoch[] = "AbCd1234";
    switch (c->method) {
    case GW_CF_CONNECT:
        gw_cf_reply_connect(f, c->id, "gw-1:1", "pulse", 60, GW_CF_PING_INTERVAL_S);
        break;
    case GW_CF_SUBSCRIBE:
        if (strcmp(c->channel, "hist") == 0 && c->recover) {
            gw_cf_pub pubs[] = {{"{\"n\":1}", 7, c->offset + 1}, {"{\"n\":2}", 7, c->offset + 2}};
            gw_cf_sub_result r = {.recoverable = true, .positioned = true, .epoch = epoch,
                                  .offset = c->offset + 2, .was_recovering = true,
                                  .recovered = strcmp(c->epoch, epoch) == 0, .pubs = pubs, .n_pubs = 2};
            if (!r.recovered)
                r.n_pubs = 0;
            gw_cf_reply_subscribe(f, c->id, &r);
        } else {
            gw_cf_sub_result r = {.recoverable = true, .positioned = true, .epoch = epoch, .offset = 7};
            gw_cf_reply_subscribe(f, c->id, &r);
        }
        break;
    case GW_CF_PUBLISH: {
        gw_cf_reply_empty(f, c->id, GW_CF_PUBLISH);
        gw_cf_pub p = {c->data, c->data_len, 9};
        gw_frame_begin(later, later_buf, later_cap);
        gw_cf_push_pub(later, c->channel, strlen(c->channel), &p);
        gw_cf_sep(later);
        gw_cf_client_info who = {"gw-1:2", "u2", "{\"name\":\"Ann\"}", 14};
        gw_cf_push_join(later, c->channel, &who, false);
        break;
    }
    case GW_CF_PRESENCE: {
        gw_cf_client_info who[] = {{"gw-1:1", "u1", NULL, 0}, {"gw-1:2", "u2", NULL, 0}};
        gw_cf_reply_presence(f, c->id, who, 2);
        break;
    }
    case GW_CF_PRESENCE_STATS:
        gw_cf_reply_presence_stats(f, c->id, 2, 2);
        break;
    case GW_CF_HISTORY: {
        gw_cf_pub pubs[] = {{"{\"n\":1}", 7, 8}, {"{\"n\":2}", 7, 9}};
        gw_cf_reply_history(f, c->id, pubs, 2, epoch, 9);
        break;
    }
    case GW_CF_UNSUBSCRIBE:
        gw_cf_reply_empty(f, c->id, GW_CF_UNSUBSCRIBE);
        break;
    case GW_CF_REFRESH:
        gw_cf_reply_refresh(f, c->id, "gw-1:1", "pulse", 60);
        break;
    default:
        break;
    }
}

int main(void)
{
    static char line[1 << 17], later_buf[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        json_t *s = json_loads(line, JSON_DECODE_ANY, NULL);
        if (!json_is_string(s)) {
            json_decref(s);
            continue;
        }
        gw_cf_command cmds[GW_CF_MAX_COMMANDS];
        size_t n = 0;
        gw_cf_error err;
        int rc = gw_cf_parse(json_string_value(s), json_string_length(s), cmds, GW_CF_MAX_COMMANDS, &n, &err);
        json_decref(s);
        gw_frame_buf f, later = {0};
        gw_frame_begin(&f, out, sizeof out);
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            if (cmds[i].method == GW_CF_PONG)
                continue;
            if (any)
                gw_cf_sep(&f);
            any = true;
            if (cmds[i].error)
                gw_cf_reply_error(&f, cmds[i].id, cmds[i].error, NULL);
            else
                answer(&cmds[i], &f, &later, later_buf, sizeof later_buf);
        }
        if (rc != 0) {
            if (any)
                gw_cf_sep(&f);
            gw_cf_push_disconnect(&f, err.disconnect, NULL);
            any = true;
        }
        if (any)
            emit(&f);
        if (later.buf)
            emit(&later);
        gw_cf_commands_release(cmds, n);
    }
    return 0;
}
