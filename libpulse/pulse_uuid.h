/*
 * pulse_uuid.h - random (version 4) UUIDs from getrandom(2), thread-safe.
 */
#ifndef PULSE_UUID_H
#define PULSE_UUID_H

/* Writes 36 characters plus NUL into out (37 bytes), lowercase hex. */
void pulse_uuid4(char out[37]);
/* 1 when s is 36 characters of the form 8-4-4-4-12 hex, else 0. */
int pulse_uuid_valid(const char *s, unsigned long len);

#endif
