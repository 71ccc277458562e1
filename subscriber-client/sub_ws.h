/*
 * sub_ws.h - the RFC 6455 pieces pulse-subscribe needs as a client, with no I/O: the
 * Sec-WebSocket-Key / -Accept pair, the check of the gateway's 101 response head, and
 * the frame-header parser. Pure functions over bytes from the network (fuzzed by
 * fuzz/fuzz_subws.c); sub_conn.c does the sockets.
 */
#ifndef SUB_WS_H
#define SUB_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUB_WS_KEY_LEN 24     /* base64 of 16 bytes */
#define SUB_WS_ACCEPT_LEN 28  /* base64 of a SHA-1 */
#define SUB_WS_HEAD_MAX 8192  /* a longer response head is refused */

enum {
    SUB_WS_CONT = 0x0,
    SUB_WS_TEXT = 0x1,
    SUB_WS_BINARY = 0x2,
    SUB_WS_CLOSE = 0x8,
    SUB_WS_PING = 0x9,
    SUB_WS_PONG = 0xA,
};

typedef struct {
    bool fin;
    unsigned opcode;
    bool masked;              /* a server must not mask; tolerated, unmasked by the caller */
    unsigned char mask[4];
    size_t head_len;          /* bytes of header before the payload */
    size_t payload_len;
} sub_ws_frame;

/* key: 16 bytes, encoded into key_out (SUB_WS_KEY_LEN + 1); accept_out
 * (SUB_WS_ACCEPT_LEN + 1) gets the Sec-WebSocket-Accept the server must answer. */
void sub_ws_key(const unsigned char raw[16], char *key_out, char *accept_out);

/* Looks for the end of the response head ("\r\n\r\n") in buf. Returns its length
 * (including the blank line), 0 when more bytes are needed, -1 when the head is
 * longer than SUB_WS_HEAD_MAX. */
long sub_ws_head_end(const char *buf, size_t len);

/* Checks a whole response head: "HTTP/1.1 101", Upgrade: websocket and the expected
 * Sec-WebSocket-Accept. 0, or -1 with *why set to a static reason. */
int sub_ws_head_check(const char *head, size_t len, const char *accept, const char **why);

/* Parses the frame at buf. Returns 1 when the whole frame (header and payload_len bytes
 * of payload) is in buf, 0 when more bytes are needed, -1 on a protocol error (*why:
 * reserved bits, unknown opcode, a fragmented or long control frame, a payload over
 * max_payload). */
int sub_ws_frame_parse(const unsigned char *buf, size_t len, size_t max_payload, sub_ws_frame *f,
                       const char **why);

/* Writes a masked client frame (FIN set) of opcode with payload (<= 125 bytes) into out
 * (at least len + 6 bytes). Returns the frame's length. */
size_t sub_ws_control_frame(unsigned char *out, unsigned opcode, const void *payload, size_t len,
                            const unsigned char mask[4]);

#endif
