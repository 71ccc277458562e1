/*
 * pulse_parse.h - strict number parsing for command-line options, shared by the tools
 * (pulse-publish, pulse-subscribe, pulse-report): the whole string must be the number,
 * nothing before or after it, and it must lie within the given bounds. No I/O, no
 * allocation, thread-safe.
 */
#ifndef PULSE_PARSE_H
#define PULSE_PARSE_H

#include <stdint.h>

#include "pulse_err.h"

/* Parses a decimal unsigned integer (strtoull, base 10) in 0..max into *out. Rejects
 * the empty string, a leading '-', trailing characters and values that overflow or
 * exceed max. Returns 0, or PULSE_EINVAL with *out untouched. */
int pulse_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Parses a floating-point number (strtod) in min..max (inclusive) into *out. Rejects
 * the empty string, trailing characters, overflow, NaN and values out of bounds.
 * Returns 0, or PULSE_EINVAL with *out untouched. */
int pulse_parse_double(const char *s, double min, double max, double *out);

#endif
