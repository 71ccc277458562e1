/*
 * pulse_channel.h - channel names and patterns.
 * A channel name is 1..128 bytes of [A-Za-z0-9._:@-]. A pattern is the same alphabet
 * plus '*', which matches any run of characters (including none); Redis PSUBSCRIBE
 * gives '*' the same meaning, so a pattern is passed to Redis as is.
 */
#ifndef PULSE_CHANNEL_H
#define PULSE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#define PULSE_CHANNEL_MAX 128

/* 0 when name[0..len) is a valid channel name, else PULSE_EINVAL. */
int pulse_channel_validate(const char *name, size_t len);
/* 0 when it is a valid channel or pattern; *is_pattern says whether it has a '*'. */
int pulse_channel_validate_pattern(const char *name, size_t len, bool *is_pattern);
/* Glob match of a NUL-terminated channel against a NUL-terminated pattern ('*' only). */
bool pulse_channel_match(const char *pattern, const char *channel);

#endif
