/*
 * check_subws.c - unit tests for pulse-subscribe's WebSocket client pieces (sub_ws.c):
 * the key/accept pair of RFC 6455's example, the 101 response check, and the frame
 * parser on every length form, masked frames, frames cut at every byte, and what it
 * must refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "sub_ws.h"

START_TEST(test_key_accept)
{
    char key[SUB_WS_KEY_LEN + 1], accept[SUB_WS_ACCEPT_LEN + 1];

    sub_ws_key((const unsigned char *)"the sample nonce", key, accept); /* RFC 6455 1.3 */
    ck_assert_str_eq(key, "dGhlIHNhbXBsZSBub25jZQ==");
    ck_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_head)
{
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
    const char *acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    const char *why = NULL;
    char buf[SUB_WS_HEAD_MAX + 16];
    long n = sub_ws_head_end(ok, strlen(ok));

    ck_assert_int_eq(n, (long)strlen(ok));
    ck_assert_int_eq(sub_ws_head_end(ok, strlen(ok) - 1), 0);
    ck_assert_int_eq(sub_ws_head_check(ok, (size_t)n, acc, &why), 0);
    ck_assert_int_eq(sub_ws_head_check(ok, (size_t)n, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo", &why), -1);
    ck_assert_str_eq(why, "handshake: wrong Sec-WebSocket-Accept");
    ck_assert_int_eq(sub_ws_head_check("HTTP/1.1 403 Forbidden\r\n\r\n", 26, acc, &why), -1);
    ck_assert_str_eq(why, "handshake refused (status not 101)");
    {
        const char *no_upgrade = "HTTP/1.1 101 x\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        ck_assert_int_eq(sub_ws_head_check(no_upgrade, strlen(no_upgrade), acc, &why), -1);
    }
    ck_assert_str_eq(why, "handshake: no Upgrade: websocket");
    memset(buf, 'a', sizeof(buf));
    ck_assert_int_eq(sub_ws_head_end(buf, sizeof(buf)), -1); /* no end in 8 KiB */
}
END_TEST

/* A server frame of opcode and n payload bytes ('x'), unmasked unless mask != NULL. */
static size_t make_frame(unsigned char *out, unsigned b0, size_t n, const unsigned char *mask)
{
    size_t h = 2;

    out[0] = (unsigned char)b0;
    if (n < 126) {
        out[1] = (unsigned char)n;
    } else if (n < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
        h = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    if (mask != NULL) {
        out[1] |= 0x80;
        memcpy(out + h, mask, 4);
        h += 4;
    }
    memset(out + h, 'x', n);
    return h + n;
}

START_TEST(test_frame_lengths)
{
    static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 200000};
    static const unsigned char mask[4] = {1, 2, 3, 4};
    unsigned char *buf = malloc(200016);
    const char *why = "";
    sub_ws_frame f;

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int m = 0; m < 2; m++) {
            size_t len = make_frame(buf, 0x81, sizes[i], m ? mask : NULL);
            ck_assert_int_eq(sub_ws_frame_parse(buf, len, 1 << 20, &f, &why), 1);
            ck_assert(f.fin);
            ck_assert_uint_eq(f.opcode, SUB_WS_TEXT);
            ck_assert_uint_eq(f.payload_len, sizes[i]);
            ck_assert_uint_eq(f.head_len + f.payload_len, len);
            ck_assert(f.masked == (m == 1));
            if (m)
                ck_assert_int_eq(memcmp(f.mask, mask, 4), 0);
            /* one byte short anywhere: wait for more, never a frame or an error */
            for (size_t cut = 0; cut < len && cut < 20; cut++)
                ck_assert_int_eq(sub_ws_frame_parse(buf, cut, 1 << 20, &f, &why), 0);
            ck_assert_int_eq(sub_ws_frame_parse(buf, len - 1, 1 << 20, &f, &why), 0);
        }
    }
    /* two frames back to back: the first is whole, the rest is the second */
    {
        size_t a = make_frame(buf, 0x01, 16384, NULL); /* a first fragment */
        size_t b = make_frame(buf + a, 0x80, 300, NULL); /* its final continuation */
        ck_assert_int_eq(sub_ws_frame_parse(buf, a + b, 1 << 20, &f, &why), 1);
        ck_assert(!f.fin);
        ck_assert_uint_eq(f.payload_len, 16384);
        ck_assert_int_eq(sub_ws_frame_parse(buf + a, b, 1 << 20, &f, &why), 1);
        ck_assert(f.fin);
        ck_assert_uint_eq(f.opcode, SUB_WS_CONT);
    }
    free(buf);
}
END_TEST

START_TEST(test_frame_refused)
{
    unsigned char buf[300];
    const char *why = "";
    sub_ws_frame f;

    make_frame(buf, 0xC1, 3, NULL); /* RSV1 */
    ck_assert_int_eq(sub_ws_frame_parse(buf, 5, 1024, &f, &why), -1);
    ck_assert_str_eq(why, "reserved bits set");
    make_frame(buf, 0x83, 3, NULL);
    ck_assert_int_eq(sub_ws_frame_parse(buf, 5, 1024, &f, &why), -1);
    ck_assert_str_eq(why, "unknown opcode");
    make_frame(buf, 0x89, 126, NULL); /* a ping over 125 bytes */
    ck_assert_int_eq(sub_ws_frame_parse(buf, 130, 1024, &f, &why), -1);
    ck_assert_str_eq(why, "bad control frame");
    make_frame(buf, 0x08, 2, NULL); /* a fragmented close */
    ck_assert_int_eq(sub_ws_frame_parse(buf, 4, 1024, &f, &why), -1);
    make_frame(buf, 0x81, 200, NULL);
    ck_assert_int_eq(sub_ws_frame_parse(buf, 204, 199, &f, &why), -1);
    ck_assert_str_eq(why, "frame too large");
    /* a 64-bit length with the top bit set is refused from its header alone */
    memset(buf, 0xff, 10);
    buf[0] = 0x82;
    buf[1] = 127;
    ck_assert_int_eq(sub_ws_frame_parse(buf, 10, 1 << 20, &f, &why), -1);
}
END_TEST

START_TEST(test_control_frame)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    unsigned char out[140];
    const char *why = "";
    sub_ws_frame f;
    size_t n = sub_ws_control_frame(out, SUB_WS_PONG, "Hello", 5, mask);

    /* RFC 6455 5.7: a masked "Hello" */
    static const unsigned char want[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ck_assert_uint_eq(n, sizeof(want));
    ck_assert_int_eq(memcmp(out, want, n), 0);
    ck_assert_int_eq(sub_ws_frame_parse(out, n, 1024, &f, &why), 1);
    ck_assert(f.masked);
    ck_assert_uint_eq(f.opcode, SUB_WS_PONG);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("subws");
    TCase *tc = ts_tcase(s, "subws", 0);
    tcase_add_test(tc, test_key_accept);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_frame_lengths);
    tcase_add_test(tc, test_frame_refused);
    tcase_add_test(tc, test_control_frame);
    return s;
}
