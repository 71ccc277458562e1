/*
 * pulse_channel.c - validation of channel names and patterns, and the glob match the
 * gateway uses to route a Redis pmessage to local pattern subscribers. The match is the
 * classic iterative two-pointer glob (remember the last '*' and retry from there), so
 * it is linear-ish and never backtracks exponentially, whatever the pattern.
 */
#include "pulse_channel.h"

#include "pulse_err.h"

static bool channel_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
}

int pulse_channel_validate(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > PULSE_CHANNEL_MAX)
        return PULSE_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (!channel_char_ok((unsigned char)name[i]))
            return PULSE_EINVAL;
    }
    return 0;
}

int pulse_channel_validate_pattern(const char *name, size_t len, bool *is_pattern)
{
    bool star = false;
    if (is_pattern != NULL)
        *is_pattern = false;
    if (name == NULL || len == 0 || len > PULSE_CHANNEL_MAX)
        return PULSE_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '*')
            star = true;
        else if (!channel_char_ok(c))
            return PULSE_EINVAL;
    }
    if (is_pattern != NULL)
        *is_pattern = star;
    return 0;
}

bool pulse_channel_match(const char *pattern, const char *channel)
{
    const char *p = pattern;
    const char *c = channel;
    const char *star_p = NULL; /* position just after the last '*' seen */
    const char *star_c = NULL; /* channel position that '*' is currently matched up to */

    if (pattern == NULL || channel == NULL)
        return false;
    while (*c != '\0') {
        if (*p == '*') {
            star_p = ++p;
            star_c = c;
        } else if (*p != '\0' && *p == *c) {
            p++;
            c++;
        } else if (star_p != NULL) {
            /* Let the last '*' swallow one more character and retry after it. */
            p = star_p;
            c = ++star_c;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}
