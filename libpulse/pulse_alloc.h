/*
 * pulse_alloc.h - allocation for every Pulse program: out of memory is not an input
 * error, so these print one line to stderr and abort() instead of returning NULL.
 * Bad input never reaches them as a failure: callers bound sizes before allocating.
 * Thread-safe (they only call the C library).
 */
#ifndef PULSE_ALLOC_H
#define PULSE_ALLOC_H

#include <stddef.h>

void *pulse_xmalloc(size_t n);               /* n == 0 allocates 1 byte */
void *pulse_xcalloc(size_t n, size_t size);
void *pulse_xrealloc(void *old, size_t n);
char *pulse_xstrdup(const char *s);
char *pulse_xstrndup(const char *s, size_t n); /* copies n bytes, then a NUL */
/* Aborts with the same message: for an allocation that failed elsewhere (a library
 * that returns NULL on out-of-memory). */
_Noreturn void pulse_oom(void);

#endif
