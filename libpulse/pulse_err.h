/*
 * pulse_err.h - error codes and the caller-owned error struct used across Pulse.
 *
 * The one error contract of every Pulse program (hiredis-style: a code plus errstr):
 * a function returns 0 or a negative code, and, when the caller passes one, fills a
 * pulse_error with one line for humans (like hiredis's errstr or jansson's
 * json_error_t). Codes are unique across Pulse: the PULSE_E* below (negative errno
 * values) for the shared kinds, and from PULSE_ECODE_GATEWAY down the gateway's own
 * (gw_auth.h: the token verdicts), so a code never means two things.
 */
#ifndef PULSE_ERR_H
#define PULSE_ERR_H

#define PULSE_OK 0
#define PULSE_EINVAL (-22)   /* bad input: malformed, wrong type, out of range */
#define PULSE_ENOMEM (-12)
#define PULSE_ENOSPC (-28)   /* output buffer too small */
#define PULSE_ENOENT (-2)    /* not found / not applicable */
#define PULSE_ERANGE (-34)   /* value out of range */
#define PULSE_EIO (-5)
#define PULSE_ENOBUFS (-105)   /* a bounded queue is full: refused, try later */
#define PULSE_ENOTCONN (-107)  /* the connection it needs is not up (yet, or any more) */
#define PULSE_ESHUTDOWN (-108) /* closed for good: the node is stopping */

#define PULSE_ECODE_GATEWAY (-1000) /* gateway codes are PULSE_ECODE_GATEWAY - n */

typedef struct {
    int code;        /* the PULSE_E* code returned */
    int line;        /* 1-based line for file input, 0 when not applicable */
    char text[160];  /* one human-readable line, no trailing newline */
} pulse_error;

/* Fills err (if not NULL) printf-style and returns code, so callers can
 * `return pulse_error_set(err, PULSE_EINVAL, 0, "missing %s", key);` */
int pulse_error_set(pulse_error *err, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A short static name for a code: "invalid", "no memory", ... */
const char *pulse_strerror(int code);

#endif
