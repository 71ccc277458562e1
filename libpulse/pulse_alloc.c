/*
 * pulse_alloc.c - allocate or abort; see pulse_alloc.h.
 */
#include "pulse_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pulse_oom(void)
{
    fputs("pulse: out of memory\n", stderr);
    abort();
}

void *pulse_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        pulse_oom();
    return p;
}

void *pulse_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        pulse_oom();
    return p;
}

void *pulse_xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        pulse_oom();
    return p;
}

char *pulse_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(pulse_xmalloc(n), s, n);
}

char *pulse_xstrndup(const char *s, size_t n)
{
    char *p = pulse_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
