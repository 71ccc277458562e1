/*
 * ts_internal.h - pieces shared between the fixture files but not part of ts.h:
 * the process registry that cleans up after a failed test, SHA-1 and base64 for the
 * WebSocket handshake (OpenSSL's libcrypto, in ts_ws.c), and socket helpers with
 * deadlines.
 */
#ifndef PULSE_TS_INTERNAL_H
#define PULSE_TS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* SHA-1 of data into out (20 bytes). Only for the handshake check, not for security. */
void ts__sha1(const void *data, size_t len, unsigned char out[20]);
/* Standard base64 with padding into out (NUL-terminated); out needs 4*ceil(len/3)+1. */
void ts__base64(const unsigned char *in, size_t len, char *out);
/* Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC 6455 GUID)) into out. */
void ts__ws_accept(const char *key, char out[32]);
/* Fills buf with random bytes (getrandom, falling back to rand()). */
void ts__random(void *buf, size_t len);

/* Connects a non-blocking, close-on-exec TCP socket to 127.0.0.1:port within
 * timeout_ms. Returns the fd or -1. */
int ts__connect(int port, int timeout_ms);
/* Sends all of data before deadline_ms (monotonic); 0 or -1. MSG_NOSIGNAL. */
int ts__send_all(int fd, const void *data, size_t len, int64_t deadline_ms);
/* Waits for fd to become readable until deadline_ms: 1 readable, 0 timeout, -1 error. */
int ts__wait_readable(int fd, int64_t deadline_ms);

#endif
