/*
 * gw_evloop.h - the optional libev loop under a worker's libwebsockets context
 * (ws.event_loop = libev): lws 4.1.6 drives it through Debian's evlib plugin
 * (libwebsockets-evlib-ev) with the epoll backend, as a foreign loop that the worker
 * thread runs itself (an lws-owned libev loop would take SIGINT from the node).
 */
#ifndef GW_EVLOOP_H
#define GW_EVLOOP_H

#include <stdbool.h>

typedef struct gw_evloop gw_evloop;

/* A new epoll-backed libev loop, or NULL (libev cannot make one). */
gw_evloop *gw_evloop_new(void);
/* What goes into lws_context_creation_info.foreign_loops (one pointer, one thread). */
void **gw_evloop_foreign(gw_evloop *l);
/* Runs the loop until *stop is true (checked after every round of events). */
void gw_evloop_run(gw_evloop *l, const bool *stop);
/* Frees the loop; after lws_context_destroy of the context that used it. NULL-safe. */
void gw_evloop_free(gw_evloop *l);

#endif
