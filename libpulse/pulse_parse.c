/*
 * pulse_parse.c - strict number parsing for command-line options (see pulse_parse.h).
 */
#include "pulse_parse.h"

#include <errno.h>
#include <stdlib.h>

int pulse_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] == '-' || s[0] == '\0')
        return PULSE_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return PULSE_EINVAL;
    *out = v;
    return 0;
}

int pulse_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
        return PULSE_EINVAL;
    *out = v;
    return 0;
}
