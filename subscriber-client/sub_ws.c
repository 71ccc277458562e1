/*
 * sub_ws.c - RFC 6455 client pieces for pulse-subscribe (see sub_ws.h). No I/O, no
 * allocation: everything works on the caller's bytes.
 */
#include "sub_ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void sub_ws_key(const unsigned char raw[16], char *key_out, char *accept_out)
{
    unsigned char cat[SUB_WS_KEY_LEN + sizeof(ws_guid)];
    unsigned char digest[SHA_DIGEST_LENGTH];

    EVP_EncodeBlock((unsigned char *)key_out, raw, 16);
    memcpy(cat, key_out, SUB_WS_KEY_LEN);
    memcpy(cat + SUB_WS_KEY_LEN, ws_guid, sizeof(ws_guid) - 1);
    SHA1(cat, SUB_WS_KEY_LEN + sizeof(ws_guid) - 1, digest);
    EVP_EncodeBlock((unsigned char *)accept_out, digest, SHA_DIGEST_LENGTH);
}

long sub_ws_head_end(const char *buf, size_t len)
{
    size_t n = len < SUB_WS_HEAD_MAX ? len : SUB_WS_HEAD_MAX;

    for (size_t i = 3; i < n; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return (long)(i + 1);
    }
    return len >= SUB_WS_HEAD_MAX ? -1 : 0;
}

/* The value of header `name` (case-insensitive), trimmed, or NULL. */
static const char *header_value(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', len); /* skip the status line */

    while (p != NULL) {
        const char *line = p + 1, *end;
        size_t left = len - (size_t)(line - head);
        p = memchr(line, '\n', left);
        end = p != NULL ? p : head + len;
        if ((size_t)(end - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            *vlen = (size_t)(end - v);
            return v;
        }
    }
    return NULL;
}

int sub_ws_head_check(const char *head, size_t len, const char *accept, const char **why)
{
    const char *v;
    size_t vlen;

    if (len < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
        *why = "handshake refused (status not 101)";
        return -1;
    }
    v = header_value(head, len, "upgrade", &vlen);
    if (v == NULL || vlen != 9 || strncasecmp(v, "websocket", 9) != 0) {
        *why = "handshake: no Upgrade: websocket";
        return -1;
    }
    v = header_value(head, len, "sec-websocket-accept", &vlen);
    if (v == NULL || vlen != strlen(accept) || memcmp(v, accept, vlen) != 0) {
        *why = "handshake: wrong Sec-WebSocket-Accept";
        return -1;
    }
    return 0;
}

int sub_ws_frame_parse(const unsigned char *buf, size_t len, size_t max_payload, sub_ws_frame *f,
                       const char **why)
{
    size_t need = 2;
    uint64_t plen;

    if (len < 2)
        return 0;
    f->fin = (buf[0] & 0x80) != 0;
    f->opcode = buf[0] & 0x0f;
    f->masked = (buf[1] & 0x80) != 0;
    plen = buf[1] & 0x7f;
    if (buf[0] & 0x70) {
        *why = "reserved bits set";
        return -1;
    }
    switch (f->opcode) {
    case SUB_WS_CONT:
    case SUB_WS_TEXT:
    case SUB_WS_BINARY:
        break;
    case SUB_WS_CLOSE:
    case SUB_WS_PING:
    case SUB_WS_PONG:
        if (!f->fin || plen > 125) {
            *why = "bad control frame";
            return -1;
        }
        break;
    default:
        *why = "unknown opcode";
        return -1;
    }
    if (plen == 126) {
        need = 4;
        if (len < need)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
    } else if (plen == 127) {
        need = 10;
        if (len < need)
            return 0;
        plen = 0;
        for (int i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
    }
    if (plen > max_payload) {
        *why = "frame too large";
        return -1;
    }
    if (f->masked) {
        if (len < need + 4)
            return 0;
        memcpy(f->mask, buf + need, 4);
        need += 4;
    }
    f->head_len = need;
    f->payload_len = (size_t)plen;
    return len - need >= plen ? 1 : 0;
}

size_t sub_ws_control_frame(unsigned char *out, unsigned opcode, const void *payload, size_t len,
                            const unsigned char mask[4])
{
    const unsigned char *p = payload;

    if (len > 125)
        len = 125;
    out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    out[1] = (unsigned char)(0x80 | len);
    memcpy(out + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        out[6 + i] = p[i] ^ mask[i & 3];
    return len + 6;
}
