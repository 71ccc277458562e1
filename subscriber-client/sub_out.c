/*
 * sub_out.c - the buffered delivery-log writer of pulse-subscribe (see sub_out.h).
 * Lines are formatted into the buffer by the caller; a flush is one write(2) loop for
 * everything gathered since the last one, so the per-delivery cost is a memcpy-sized
 * format, not a system call.
 */
#include "sub_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sub_out_open(sub_out *o, const char *path, size_t cap)
{
    memset(o, 0, sizeof(*o));
    o->fd = -1;
    snprintf(o->path, sizeof(o->path), "%s", path);
    o->buf = malloc(cap);
    if (o->buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    o->cap = cap;
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        int e = errno;
        free(o->buf);
        o->buf = NULL;
        errno = e;
        return -1;
    }
    return 0;
}

int sub_out_flush(sub_out *o)
{
    size_t off = 0;

    if (o->fd < 0)
        return -1;
    while (off < o->len && !o->failed) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "pulse-subscribe: cannot write %s: %s\n", o->path,
                    n < 0 ? strerror(errno) : "short write");
            o->failed = 1;
            break;
        }
        off += (size_t)n;
    }
    o->len = 0;
    return o->failed ? -1 : 0;
}

int sub_out_close(sub_out *o)
{
    int rc = 0;

    if (o->fd >= 0) {
        if (sub_out_flush(o) != 0)
            rc = -1;
        if (close(o->fd) != 0)
            rc = -1;
        o->fd = -1;
    }
    free(o->buf);
    o->buf = NULL;
    if (o->failed)
        rc = -1;
    return rc;
}
