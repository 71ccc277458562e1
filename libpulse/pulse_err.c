/*
 * pulse_err.c - the error struct helper and code names shared by every Pulse module.
 * Parsers return a negative PULSE_E* code and, when the caller passed a pulse_error,
 * describe the problem in one line of text; pulse_error_set does both in one call.
 */
#include "pulse_err.h"

#include <stdarg.h>
#include <stdio.h>

int pulse_error_set(pulse_error *err, int code, int line, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        err->line = line;
        va_start(ap, fmt);
        /* Truncation is fine: the text is one human-readable line. */
        (void)vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *pulse_strerror(int code)
{
    switch (code) {
    case PULSE_OK: return "ok";
    case PULSE_EINVAL: return "invalid";
    case PULSE_ENOMEM: return "no memory";
    case PULSE_ENOSPC: return "no space";
    case PULSE_ENOENT: return "not found";
    case PULSE_ERANGE: return "out of range";
    case PULSE_EIO: return "i/o error";
    case PULSE_ENOBUFS: return "queue full";
    case PULSE_ENOTCONN: return "not connected";
    case PULSE_ESHUTDOWN: return "shut down";
    default: return "unknown error";
    }
}
