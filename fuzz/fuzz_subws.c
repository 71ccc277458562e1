/*
 * fuzz_subws.c - libFuzzer target for pulse-subscribe's WebSocket client pieces
 * (subscriber-client/sub_ws.c): the input is what a server sends, a response head then
 * frames, read the way sub_conn.c reads them. sub_ws_head_end must find the head
 * inside the input (or say "more" / "too long"), sub_ws_head_check must not read past
 * it, and every frame sub_ws_frame_parse accepts must lie inside the bytes it was
 * given, respect the payload bound, and keep control frames final and short; a frame it
 * waits on must really be cut (the same bytes plus 1 MiB never turn it into an error).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sub_ws.h"

#define MAX_PAYLOAD (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1); /* exact size: a read past the end is caught */
    const char *why = NULL;
    size_t off = 0;
    long h;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    h = sub_ws_head_end((const char *)copy, size);
    if (h > 0) {
        if ((size_t)h > size || (size_t)h > SUB_WS_HEAD_MAX || copy[h - 1] != '\n')
            abort();
        if (sub_ws_head_check((const char *)copy, (size_t)h, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", &why) != 0 &&
            why == NULL)
            abort();
        off = (size_t)h;
    } else if (h < 0 && size < SUB_WS_HEAD_MAX) {
        abort();
    }
    while (off < size) {
        sub_ws_frame f;
        int rc = sub_ws_frame_parse(copy + off, size - off, MAX_PAYLOAD, &f, &why);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (why == NULL)
                abort();
            break;
        }
        if (f.head_len < 2 || f.head_len > 14 || f.payload_len > MAX_PAYLOAD ||
            f.head_len + f.payload_len > size - off)
            abort();
        if (f.opcode >= 0x8 && (!f.fin || f.payload_len > 125))
            abort();
        if (f.opcode == SUB_WS_PING) { /* the pong we would answer parses back the same */
            unsigned char out[140], mask[4] = {1, 2, 3, 4};
            sub_ws_frame g;
            size_t n = sub_ws_control_frame(out, SUB_WS_PONG, copy + off + f.head_len, f.payload_len, mask);
            if (sub_ws_frame_parse(out, n, MAX_PAYLOAD, &g, &why) != 1 || g.payload_len != f.payload_len)
                abort();
        }
        off += f.head_len + f.payload_len;
    }
    free(copy);
    return 0;
}
