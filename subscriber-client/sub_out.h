/*
 * sub_out.h - an append-only output file behind one large buffer: callers format lines
 * straight into the buffer's free tail and the file sees one write(2) per buffer, never
 * one per line. Single-threaded (pulse-subscribe's lws thread).
 */
#ifndef SUB_OUT_H
#define SUB_OUT_H

#include <stddef.h>

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
    char path[1024];
    int failed;        /* a write failed: later writes are dropped, sub_out_close says so */
} sub_out;

/* Creates (truncates) path with a buffer of cap bytes. 0, or -1 with errno set. */
int sub_out_open(sub_out *o, const char *path, size_t cap);
/* Free space at the tail; make room with sub_out_flush when it is too small. */
static inline char *sub_out_tail(sub_out *o, size_t *room)
{
    *room = o->cap - o->len;
    return o->buf + o->len;
}
static inline void sub_out_commit(sub_out *o, size_t n) { o->len += n; }
/* Writes the whole buffer out. 0 or -1. */
int sub_out_flush(sub_out *o);
/* Flushes, closes and frees. 0, or -1 when any write failed. Safe on a closed sub_out. */
int sub_out_close(sub_out *o);

#endif
